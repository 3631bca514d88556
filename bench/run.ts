/**
 * `npm run bench [-- NAME...] [--quick] [--markdown] [--json FILE]`
 * Finds bench/*.bench.ts, runs each in its own Node process (so one benchmark's JIT state, heap
 * and connections cannot colour the next), then sums up the headline ratios against their targets.
 */
import { fork } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeTarget, fmt, renderTable } from './harness.js';
import type { BenchReport } from './harness.js';

const USAGE = `usage: npm run bench [-- [NAME...] [--quick] [--clock wall|cpu] [--markdown] [--json FILE]]
  NAME          run only the bench files whose name contains NAME (e.g. core, redis, bullmq)
  --quick       fewer, shorter rounds: a quick look, noisier figures
  --clock CLOCK time every micro-benchmark by wall time or by this process's CPU time
                (default: each bench file's choice; cpu resists a busy machine better)
  --markdown    print tables as GitHub markdown (for docs/benchmarks.md)
  --json FILE   also write every figure to FILE as JSON`;

interface Args {
  filters: string[];
  quick: boolean;
  markdown: boolean;
  clock?: 'wall' | 'cpu';
  json?: string;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { filters: [], quick: false, markdown: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]!;
    if (v === '--quick') a.quick = true;
    else if (v === '--markdown') a.markdown = true;
    else if (v === '--json') {
      const file = argv[++i];
      if (file === undefined) usage('--json needs a file name');
      a.json = file;
    } else if (v === '--clock') {
      const clock = argv[++i];
      if (clock !== 'wall' && clock !== 'cpu') usage('--clock must be wall or cpu');
      a.clock = clock;
    } else if (v === '--help' || v === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (v.startsWith('-')) usage(`unknown option ${v}`);
    else a.filters.push(v);
  }
  return a;
}

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
const nameOf = (file: string): string => basename(file, '.bench.ts');

function discover(filters: readonly string[]): string[] {
  const all = readdirSync(here).filter((f) => f.endsWith('.bench.ts'));
  // core first: it is the reference the others are read against
  all.sort((a, b) => Number(nameOf(b) === 'core') - Number(nameOf(a) === 'core') || a.localeCompare(b));
  const picked = filters.length === 0 ? all : all.filter((f) => filters.some((x) => nameOf(f).includes(x)));
  if (picked.length === 0) usage(`no bench file matches ${filters.join(', ')}; available: ${all.map(nameOf).join(', ')}`);
  return picked.map((f) => join(here, f));
}

function machine(): Record<string, string> {
  const c = cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    cpu: `${c[0]?.model.trim() ?? 'unknown'} × ${c.length}`,
    os: `${process.platform} ${process.arch}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free)`,
    load: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

function runOne(file: string, args: Args): Promise<{ report?: BenchReport; code: number | null }> {
  return new Promise((resolve) => {
    const flags = [...(args.quick ? ['--quick'] : []), ...(args.markdown ? ['--markdown'] : []), ...(args.clock ? [`--clock=${args.clock}`] : [])];
    const child = fork(join(here, 'run-one.ts'), [file, ...flags], {
      // --expose-gc: the harness collects garbage between whole workloads (compareRuns), untimed
      execArgv: [...process.execArgv, '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: BenchReport | undefined;
    child.on('message', (m) => (report = m as BenchReport));
    child.on('exit', (code) => resolve({ report, code }));
  });
}

const args = parseArgs(process.argv.slice(2));
const files = discover(args.filters);
const info = machine();
const out = (t: string): boolean => process.stdout.write(t);

out('sealq benchmarks\n');
out(Object.entries(info).map(([k, v]) => `  ${k.padEnd(7)} ${v}`).join('\n') + '\n');
out('Absolute figures depend on the machine and its load; compare ratios, which are measured\n');
out('case against case in the same rounds and carry over between machines far better.\n');
if (args.quick) out('--quick: fewer, shorter rounds; expect noisier figures.\n');
if (args.clock !== undefined) out(`--clock ${args.clock}: every micro-benchmark is timed by ${args.clock === 'cpu' ? 'CPU' : 'wall'} time.\n`);

const results: Record<string, BenchReport | { failed: string }> = {};
let failed = false;
for (const file of files) {
  const name = nameOf(file);
  out(`\n######## ${name} (bench/${basename(file)}) ########\n`);
  const { report, code } = await runOne(file, args);
  if (code !== 0 || report === undefined) {
    failed = true;
    results[name] = { failed: `exited with code ${code}` };
    out(`${name}: FAILED (exit code ${code})\n`);
  } else {
    results[name] = report;
  }
}

const rows: string[][] = [];
for (const [name, r] of Object.entries(results)) {
  if ('failed' in r) rows.push([name, 'failed', '', '']);
  else if (r.skipped !== undefined) rows.push([name, `skipped: ${r.skipped}`, '', '']);
  else for (const x of r.ratios) rows.push([name, x.label, fmt.ratio(x.value), describeTarget(x).replace(/^ \((.*)\)$/, '$1')]);
}
if (rows.length > 0) {
  out('\n######## summary: headline ratios ########\n');
  out(renderTable(['bench', 'ratio', 'value', 'target'], rows, [2], args.markdown));
}
out(`\nload average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
if (args.json !== undefined) {
  writeFileSync(args.json, JSON.stringify({ date: new Date().toISOString(), machine: info, quick: args.quick, clock: args.clock ?? 'per bench', results }, null, 2) + '\n');
  out(`\nfigures written to ${args.json}\n`);
}
process.exit(failed ? 1 : 0);
