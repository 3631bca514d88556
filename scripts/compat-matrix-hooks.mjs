// Module resolution hook for the compatibility matrix: `bullmq` and `ioredis` (and their
// subpaths) resolve from the matrix's scratch folder instead of the project's node_modules.
// Everything else resolves as usual. Loaded by compat-matrix-register.mjs.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const REDIRECTED = /^(bullmq|ioredis)(\/|$)/;
let parentURL;

export function initialize(data) {
  parentURL = pathToFileURL(join(data.modules, 'package.json')).href;
}

export function resolve(specifier, context, next) {
  if (parentURL !== undefined && REDIRECTED.test(specifier)) return next(specifier, { ...context, parentURL });
  return next(specifier, context);
}
