#!/usr/bin/env node
// The compatibility matrix: the adapter tests (BullMQ, Redis Streams, Asynq's producer, the Redis
// replay store) run again against the majors of bullmq and ioredis the project does not install.
// The peer ranges in package.json name what is supported ("^5.81.5 || ^6.7.0"); each
// alternative's minimum is tested: the installed one by the main suite, every other one here,
// installed exactly into .scratch/compat-<versions>/ (ignored by git, reused while its versions
// match).
//
// bullmq and ioredis are then resolved from that folder by a module hook
// (compat-matrix-register.mjs, given to every process through NODE_OPTIONS, so forked workers and
// BullMQ's sandboxed processors get it too); everything else resolves as usual.
//
//   node scripts/compat-matrix.mjs [substring ...] [--tap-dir DIR]
//
// Substrings pick test files, as in run-tests.mjs. With --tap-dir, each combination's TAP report
// is written there as compat-<name>.tap (run-tests.mjs sums them into its totals).
// A registry that cannot be reached skips the matrix with a message, except with CI=true: fails.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
const PEERS = ['bullmq', 'ioredis'];
const CI = process.env.CI === 'true';

const args = process.argv.slice(2);
let tapDir;
const only = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tap-dir') tapDir = args[++i];
  else only.push(args[i]);
}

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const major = (v) => Number(v.split('.')[0]);
const pkg = readJson(join(ROOT, 'package.json'));

/** The minimum of each alternative of a peer range ("^5.81.5 || ^6.7.0" -> ['5.81.5', '6.7.0']). */
function minimums(name) {
  const range = pkg.peerDependencies?.[name];
  const alts = String(range).split('||').map((s) => s.trim());
  return alts.map((alt) => {
    const m = /^\^(\d+\.\d+\.\d+)$/.exec(alt);
    if (!m) throw new Error(`compat-matrix: peerDependencies.${name} is "${range}"; each alternative must be ^x.y.z (its tested minimum)`);
    return m[1];
  });
}

const installed = Object.fromEntries(PEERS.map((n) => [n, readJson(join(ROOT, 'node_modules', n, 'package.json')).version]));

// One combination per major of bullmq (with the ioredis of the same major), minus the installed one.
const bullmqs = minimums('bullmq');
const ioredises = minimums('ioredis');
const combos = bullmqs
  .map((b) => ({ bullmq: b, ioredis: ioredises.find((i) => major(i) === major(b)) ?? ioredises.at(-1) }))
  .filter((c) => !(major(c.bullmq) === major(installed.bullmq) && major(c.ioredis) === major(installed.ioredis)));

// The tests to run: each adapter's (for Asynq, the Node producer's), the Redis replay store's
// (its isolation check and the CLI's --replay redis:// included), the protocol test, and the
// declarations test (which reads SEALQ_COMPAT_MODULES itself). A fixed list, so that a new test
// file does not grow the suite's time unnoticed: add it here when it tests bullmq or ioredis.
const MATRIX = [
  /^test\/integration\/bullmq[\w-]*\.test\.ts$/,
  /^test\/integration\/redis-(streams|store|resp3)\.test\.ts$/,
  /^test\/integration\/(replay-isolation|cli-replay)\.test\.ts$/,
  /^test\/integration\/asynq-(producer|layout)\.test\.ts$/,
  /^test\/declarations\.test\.ts$/,
];
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const files = walk(join(ROOT, 'test'))
  .map((f) => relative(ROOT, f).split(sep).join('/'))
  .sort()
  .filter((f) => MATRIX.some((re) => re.test(f)))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)));

function writeTap(name, lines) {
  if (tapDir === undefined) return;
  writeFileSync(join(tapDir, `compat-${name}.tap`), ['TAP version 13', ...lines, ''].join('\n'));
}

/** Installs exactly these versions into the combination's folder, unless they already are. Returns an error text or undefined. */
function install(dir, combo) {
  const have = (n) => {
    const p = join(dir, 'node_modules', n, 'package.json');
    return existsSync(p) && readJson(p).version === combo[n];
  };
  if (PEERS.every(have)) return undefined;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // The project's overrides too (they pin what its own install needs).
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'sealq-compat', private: true, type: 'module', dependencies: combo, overrides: pkg.overrides ?? {} }, null, 2));
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', '--fetch-retries=1', '--fetch-timeout=60000', '--loglevel=error'], {
    cwd: dir,
    encoding: 'utf8',
    shell: process.platform === 'win32',
    timeout: 300_000,
  });
  if (r.status === 0 && PEERS.every(have)) return undefined;
  return (r.stderr || r.stdout || String(r.error ?? 'npm install failed')).trim();
}

const OFFLINE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED|network|socket hang up|offline/i;
const hookUrl = pathToFileURL(join(ROOT, 'scripts', 'compat-matrix-register.mjs')).href;

let failed = false;
if (combos.length === 0) console.log('compat-matrix: every supported major is the installed one; nothing more to run');
if (files.length === 0) console.log('compat-matrix: no test file matches');
for (const combo of files.length === 0 ? [] : combos) {
  const name = `bullmq${combo.bullmq}-ioredis${combo.ioredis}`;
  const dir = join(ROOT, '.scratch', `compat-${name}`);
  console.log(`\ncompat-matrix: ${files.length} test files with bullmq ${combo.bullmq} and ioredis ${combo.ioredis} (installed: bullmq ${installed.bullmq}, ioredis ${installed.ioredis}): ${files.join(' ')}`);
  const error = install(dir, combo);
  if (error !== undefined) {
    // npm's error code (ECONNREFUSED, ETARGET, ...), else its first line: never the whole text,
    // which can name the registry's address.
    const last = /^npm error code (\S+)/m.exec(error)?.[1] ?? error.split('\n')[0].slice(0, 200);
    if (OFFLINE.test(error) && !CI) {
      const msg = `could not install bullmq@${combo.bullmq} ioredis@${combo.ioredis}: the npm registry is not reachable (${last}); skipped (with CI=true this fails)`;
      console.log(`compat-matrix: ${msg}`);
      writeTap(name, [`ok 1 - compatibility matrix ${name} # SKIP ${msg.replace(/#/g, '')}`, '1..1', '# tests 1', '# pass 0', '# fail 0', '# skipped 1']);
      continue;
    }
    console.log(`compat-matrix: could not install bullmq@${combo.bullmq} ioredis@${combo.ioredis} (${last})${OFFLINE.test(error) ? '; CI=true: the matrix must not be skipped' : ''}`);
    writeTap(name, [`not ok 1 - compatibility matrix ${name}: install failed`, '1..1', '# tests 1', '# pass 0', '# fail 1']);
    failed = true;
    continue;
  }
  const env = {
    ...process.env,
    NODE_NO_WARNINGS: '1',
    SEALQ_COMPAT_MODULES: dir,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${hookUrl}`.trim(),
  };
  // The hook must really redirect: check which copies a process with it loads.
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { readFileSync } from 'node:fs';
    const v = (n) => {
      const url = import.meta.resolve(n);
      return JSON.parse(readFileSync(new URL(url.slice(0, url.lastIndexOf('/node_modules/' + n + '/')) + '/node_modules/' + n + '/package.json'), 'utf8')).version;
    };
    process.stdout.write(JSON.stringify({ bullmq: v('bullmq'), ioredis: v('ioredis') }));`], { cwd: ROOT, env, encoding: 'utf8' });
  const seen = probe.status === 0 ? probe.stdout : probe.stderr;
  if (seen !== JSON.stringify({ bullmq: combo.bullmq, ioredis: combo.ioredis })) {
    console.log(`compat-matrix: the module hook did not take effect (loaded ${seen.trim()})`);
    writeTap(name, [`not ok 1 - compatibility matrix ${name}: module hook`, '1..1', '# tests 1', '# pass 0', '# fail 1']);
    failed = true;
    continue;
  }
  const reporter = tapDir === undefined ? [] : ['--test-reporter=tap', `--test-reporter-destination=${join(tapDir, `compat-${name}.tap`)}`];
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', '--test-reporter-destination=stdout', ...reporter, ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env,
    // A hung test process must fail the run, not stall CI until its own limit.
    timeout: 10 * 60_000,
    killSignal: 'SIGKILL',
  });
  if (r.error !== undefined) console.log(`compat-matrix: ${name} did not finish within 10 minutes; killed`);
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
