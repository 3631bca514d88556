#!/usr/bin/env node
// Runs every test file under test/ with node's own test runner, TypeScript loaded by tsx.
// Node 20's --test takes no globs, so the files are listed here. Integration tests (test/integration)
// run one file at a time, since they share real brokers; unit tests run in parallel.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

// Besides the readable report, each run writes TAP to a file, so the totals of both runs can be
// summed into one closing line.
const tapDir = mkdtempSync(join(tmpdir(), 'sealq-tests-'));
const total = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
let failed = false;
for (const [name, files, concurrency] of [['unit', unit, 2], ['integration', integration, 1]]) {
  if (files.length === 0) continue;
  const tap = join(tapDir, `${name}.tap`);
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`,
      '--test-reporter=spec', '--test-reporter-destination=stdout',
      '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files],
    { stdio: 'inherit', env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  if (r.status !== 0) failed = true;
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  for (const k of Object.keys(total)) {
    const m = new RegExp(`^# ${k} (\\d+)$`, 'm').exec(text);
    if (m) total[k] += Number(m[1]);
  }
}
rmSync(tapDir, { recursive: true, force: true });
if (total.fail + total.cancelled > 0) failed = true;
console.log(`\ntests: ${total.pass} passed, ${total.fail + total.cancelled} failed, ${total.skipped} skipped`);
process.exit(failed ? 1 : 0);
