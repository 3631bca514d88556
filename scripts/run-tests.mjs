#!/usr/bin/env node
// Runs every test file under test/ with node's own test runner, TypeScript loaded by tsx, each file
// in a process of its own. Integration tests (test/integration) run one file at a time, since they
// share real brokers; unit tests two at a time.
import { spawn, spawnSync } from 'node:child_process';
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
const addTotals = (tapText) => {
  for (const k of Object.keys(total)) {
    const m = new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tapText);
    if (m) total[k] += Number(m[1]);
  }
};
for (const [name, files, concurrency, limitMs] of [['unit', unit, 2, 5 * 60_000], ['integration', integration, 1, 8 * 60_000]]) {
  if (files.length === 0) continue;
  const results = await runFiles(name, files, concurrency, limitMs);
  for (const r of results) {
    if (!r.ok) failed = true;
    addTotals(r.tap);
  }
}

/**
 * Runs each file in a process of its own (at most `concurrency` at a time), its report printed in
 * one piece when it ends. A file's process that outlives `limitMs` is killed: a failure, unless its
 * report already holds every result and a summary with nothing failed, which is a process that
 * hung on its way out after its tests passed (a rare Node 20 shutdown deadlock with the module
 * hooks thread); that is said in a warning and counts as what its report says.
 */
async function runFiles(name, files, concurrency, limitMs) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await runFile(files[i], join(tapDir, `${name}-${i}.tap`), limitMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return results;
}

function runFile(file, tapFile, limitMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath,
      ['--import', 'tsx', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, file],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    const out = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => out.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      process.stdout.write(Buffer.concat(out));
      const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
      const finished = /^# fail 0$/m.test(tap) && /^# cancelled 0$/m.test(tap) && /^# pass \d+$/m.test(tap);
      if (timedOut && finished) {
        console.log(`warning: ${file}: every test passed, but its process did not exit within ${limitMs / 1000} s and was killed`);
        resolve({ ok: true, tap });
      } else if (timedOut) {
        console.log(`${file}: did not finish within ${limitMs / 1000} s; killed`);
        resolve({ ok: false, tap: `${tap}\n# fail 1\n` });
      } else {
        resolve({ ok: code === 0, tap });
      }
    });
  });
}
// The compatibility matrix (scripts/compat-matrix.mjs): the tests that use bullmq or ioredis, again
// against the supported majors not installed. Runs with the whole suite, or when a substring is
// "compat" (then the other substrings pick its files).
if (only.length === 0 || only.includes('compat')) {
  const r = spawnSync(process.execPath, ['scripts/compat-matrix.mjs', '--tap-dir', tapDir, ...only.filter((o) => o !== 'compat')], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
  for (const f of readdirSync(tapDir).filter((n) => n.startsWith('compat-'))) addTotals(readFileSync(join(tapDir, f), 'utf8'));
}
// The Go module (go/): gofmt (must list nothing), go vet and go test, when a Go toolchain is on
// PATH. Without one it is skipped with a message, except with CI=true, where that fails the run.
// Runs with the whole suite, or when a substring is "go".
if (only.length === 0 || only.includes('go')) {
  const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (goVersion.error !== undefined || goVersion.status !== 0) {
    const msg = 'go: the Go toolchain is not on PATH, so the Go tests did not run; install Go 1.24 or later';
    if (process.env.CI === 'true') {
      console.error(`${msg} (CI=true: failing)`);
      failed = true;
    } else {
      console.log(msg);
      total.skipped++;
    }
  } else {
    console.log(`\n# Go module (${goVersion.stdout.trim()})`);
    const goroot = spawnSync('go', ['env', 'GOROOT'], { encoding: 'utf8' }).stdout.trim();
    const gofmt = spawnSync(join(goroot, 'bin', 'gofmt'), ['-l', '.'], { cwd: 'go', encoding: 'utf8' });
    if (gofmt.status !== 0 || gofmt.stdout.trim() !== '') {
      console.error(`go: gofmt -l lists files that are not formatted (run gofmt -w in go/):\n${gofmt.stdout}${gofmt.stderr ?? ''}`);
      failed = true;
    }
    if (spawnSync('go', ['vet', './...'], { cwd: 'go', stdio: 'inherit' }).status !== 0) failed = true;
    // -json, so the Go tests count in the closing line; package results and failures are printed.
    const test = spawnSync('go', ['test', '-json', './...'], { cwd: 'go', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
    if (test.status !== 0) failed = true;
    const outputs = new Map();
    for (const line of (test.stdout ?? '').split('\n')) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line);
      const id = `${e.Package} ${e.Test ?? ''}`;
      if (e.Action === 'output') {
        if (e.Test === undefined) process.stdout.write(e.Output);
        else outputs.set(id, (outputs.get(id) ?? '') + e.Output);
      } else if (e.Test !== undefined && !e.Test.includes('/') && ['pass', 'fail', 'skip'].includes(e.Action)) {
        total[{ pass: 'pass', fail: 'fail', skip: 'skipped' }[e.Action]]++;
        if (e.Action === 'fail') process.stdout.write(outputs.get(id) ?? '');
        if (e.Action === 'skip') process.stdout.write(`--- SKIP: ${e.Test} (${e.Package}): ${(outputs.get(id) ?? '').split('\n').filter((l) => /\.go:\d+:/.test(l)).map((l) => l.trim()).join(' ')}\n`);
      }
    }
  }
}
rmSync(tapDir, { recursive: true, force: true });
if (total.fail + total.cancelled > 0) failed = true;
console.log(`\ntests: ${total.pass} passed, ${total.fail + total.cancelled} failed, ${total.skipped} skipped`);
process.exit(failed ? 1 : 0);
