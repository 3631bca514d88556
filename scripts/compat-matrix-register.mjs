// Loaded with --import (through NODE_OPTIONS, so every child process gets it too): makes
// `bullmq` and `ioredis` resolve from the folder in SEALQ_COMPAT_MODULES. See compat-matrix.mjs.
import { register } from 'node:module';

const modules = process.env.SEALQ_COMPAT_MODULES;
if (modules !== undefined && modules !== '') register('./compat-matrix-hooks.mjs', import.meta.url, { data: { modules } });
