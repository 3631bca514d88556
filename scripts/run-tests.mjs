#!/usr/bin/env node
// Runs every test file under test/ with node's own test runner, TypeScript loaded by tsx.
// Node 20's --test takes no globs, so the files are listed here. Integration tests (test/integration)
// run one file at a time, since they share real brokers; unit tests run in parallel.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const only = process.argv.slice(2);
const all = walk('test').sort();
const pick = (files) => (only.length === 0 ? files : files.filter((f) => only.some((o) => f.includes(o))));
const unit = pick(all.filter((f) => !f.startsWith(join('test', 'integration'))));
const integration = pick(all.filter((f) => f.startsWith(join('test', 'integration'))));

let failed = false;
for (const [files, concurrency] of [[unit, 2], [integration, 1]]) {
  if (files.length === 0) continue;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
    stdio: 'inherit',
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
