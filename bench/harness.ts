/**
 * The benchmark harness: what every bench/*.bench.ts file receives (contract in bench/README.md).
 * Dependency-free. Cases are measured interleaved over several rounds, so a slow phase of a shared
 * machine hits every case alike; figures are medians over rounds, ratios are medians of per-round
 * ratios (both cases of a ratio ran in the same round, moments apart).
 */
import { performance } from 'node:perf_hooks';

/** One operation measured in a time slice: `fn` is called repeatedly (awaited when it returns a promise). */
export interface Case {
  readonly name: string;
  /** One call. A returned promise is awaited before the next call (sequential, as a user's loop would). */
  readonly fn: () => unknown;
  /** Operations done per call (default 1), e.g. 64 for a Promise.all of 64 operations. */
  readonly ops?: number;
}

/** One whole workload (e.g. 20,000 jobs through a queue), timed end to end once per round. */
export interface Workload {
  readonly name: string;
  /**
   * Does the work and returns how many operations it did, or `{ ops, ms }` when it times itself
   * (to keep set-up and clean-up out of the figure).
   */
  readonly run: () => Promise<number | { ops: number; ms: number }>;
}

/**
 * wall: elapsed time, what a user waits for. cpu: CPU time of the whole process (all threads),
 * which a busy shared machine disturbs far less (time spent descheduled does not count), but
 * which leaves out idle waits (an async call waiting on the thread pool).
 */
export type Clock = 'wall' | 'cpu';

export interface CompareOptions {
  /** Name of the case the others are compared to (default: the first). */
  baseline?: string;
  /** Rounds over all cases (default 8, or 3 with --quick; workloads: 3, or 1 with --quick). */
  rounds?: number;
  /** Time each case runs per round, in ms (default 150, or 50 with --quick). */
  sliceMs?: number;
  /** Warm-up per case before measuring, in ms (default 300, or 100 with --quick). */
  warmupMs?: number;
  /** Which time ops/s is computed from (default wall); `--clock` on the command line overrides it. */
  clock?: Clock;
}

export interface CaseResult {
  readonly name: string;
  /** Median over rounds. */
  readonly opsPerSec: number;
  /** ops/s of each round, in round order. */
  readonly rounds: readonly number[];
  /** Median absolute deviation of the rounds, relative to the median (0.02 = ±2%). */
  readonly spread: number;
  /** Median over rounds of (this case / baseline) in the same round. */
  readonly vsBaseline: number;
}

export interface Comparison {
  readonly title: string;
  readonly baseline: string;
  readonly cases: readonly CaseResult[];
  get(name: string): CaseResult;
  /** Median over rounds of ops/s(a) / ops/s(b), both measured in the same round. */
  ratio(a: string, b: string): number;
}

export interface RatioTarget {
  /** The ratio must be at least this (a target: reported as met or MISSED). */
  atLeast?: number;
  /** The ratio is expected to be about this (informational, never a failure). */
  about?: number;
}

export interface RatioResult {
  readonly label: string;
  readonly value: number;
  readonly target?: RatioTarget;
  /** true / false for an atLeast target, undefined when there is none. */
  readonly met?: boolean;
}

/** Everything one bench file produced, as sent to the runner. */
export interface BenchReport {
  readonly comparisons: Array<Omit<Comparison, 'get' | 'ratio'>>;
  readonly ratios: RatioResult[];
  readonly skipped?: string;
}

export interface HarnessOptions {
  /** Fewer and shorter rounds, for a quick look (figures are noisier). */
  quick: boolean;
  /** Print tables as GitHub markdown (for pasting into docs). */
  markdown: boolean;
  /** Forces the clock of every compare() (from `--clock`). */
  clock?: Clock;
  write?: (text: string) => void;
}

// Every result goes here, so no call can be optimised away as unused.
let sink: unknown;
/** The last result a case returned (exported, so the sink is observably read). */
export function consumed(): unknown {
  return sink;
}

const gc = (globalThis as { gc?: () => void }).gc;

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function mad(xs: readonly number[]): number {
  const m = median(xs);
  return m === 0 ? 0 : median(xs.map((x) => Math.abs(x - m))) / m;
}

function runSync(fn: () => unknown, calls: number): void {
  for (let i = 0; i < calls; i++) sink = fn();
}

async function runAsync(fn: () => unknown, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) sink = await fn();
}

/**
 * Calls `fn` in batches for about `ms` of wall time; returns the calls made, the wall time they
 * took and the CPU time this process spent meanwhile (all threads, user + system).
 */
async function slice(fn: () => unknown, async: boolean, batch: number, ms: number): Promise<{ calls: number; wallMs: number; cpuMs: number }> {
  let calls = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  do {
    if (async) await runAsync(fn, batch);
    else runSync(fn, batch);
    calls += batch;
    t = performance.now();
  } while (t - t0 < ms);
  const c = process.cpuUsage(c0);
  return { calls, wallMs: t - t0, cpuMs: (c.user + c.system) / 1000 };
}

export const fmt = {
  int: (n: number): string => Math.round(n).toLocaleString('en-US'),
  // Rounded down, so that a ratio shown as meeting a target does meet it (0.899 is 0.89x, not 0.90x).
  ratio: (r: number): string => (r >= 10 ? (Math.floor(r * 10) / 10).toFixed(1) : (Math.floor(r * 100) / 100).toFixed(2)) + 'x',
  pct: (f: number): string => '±' + (f * 100).toFixed(1) + '%',
  perOp: (opsPerSec: number): string => {
    const us = 1e6 / opsPerSec;
    return us >= 1000 ? (us / 1000).toFixed(2) + ' ms' : us.toFixed(2) + ' µs';
  },
};

export class Harness {
  readonly quick: boolean;
  readonly markdown: boolean;
  readonly clock: Clock | undefined;
  readonly #write: (text: string) => void;
  readonly #report: { comparisons: BenchReport['comparisons']; ratios: RatioResult[]; skipped?: string } = { comparisons: [], ratios: [] };

  constructor(options: HarnessOptions) {
    this.quick = options.quick;
    this.markdown = options.markdown;
    this.clock = options.clock;
    this.#write = options.write ?? ((t) => process.stdout.write(t));
  }

  /** Starts a section: a heading and an optional paragraph. */
  section(title: string, text?: string): void {
    this.#write(this.markdown ? `\n### ${title}\n\n` : `\n== ${title} ==\n`);
    if (text !== undefined) this.note(text);
  }

  /** A line of text (what a case includes, versions of competitors, ...). */
  note(text: string): void {
    this.#write(this.markdown ? text + '\n\n' : text + '\n');
  }

  /** A plain table (e.g. bytes per remembered message). */
  table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAlign: readonly number[] = []): void {
    this.#write(this.markdown ? renderTable(headers, rows, rightAlign, true) + '\n' : renderTable(headers, rows, rightAlign, false));
  }

  /** Says this file measured nothing, and why (e.g. Redis not reachable). */
  skip(reason: string): void {
    this.#report.skipped = reason;
    this.note(`skipped: ${reason}`);
  }

  /**
   * Measures each case in time slices, interleaved: every round runs every case once, the order
   * rotating by one each round. Prints ops/s (median of rounds), time per op, spread and the ratio
   * to the baseline; returns the figures.
   */
  async compare(title: string, cases: readonly Case[], options: CompareOptions = {}): Promise<Comparison> {
    const rounds = options.rounds ?? (this.quick ? 3 : 8);
    const sliceMs = options.sliceMs ?? (this.quick ? 50 : 150);
    const warmupMs = options.warmupMs ?? (this.quick ? 100 : 300);
    const clock = this.clock ?? options.clock ?? 'wall';
    const baseline = this.#baseline(title, cases, options.baseline);

    // First call: fails early on a broken case, and tells sync from async.
    const kinds: boolean[] = [];
    for (const c of cases) {
      const r = c.fn();
      kinds.push(isThenable(r));
      sink = await r;
    }
    // Warm-up (the JIT settles) and calibration: batches of about 2 ms between clock reads.
    const batches: number[] = [];
    for (const [i, c] of cases.entries()) {
      const w = await slice(c.fn, kinds[i]!, 1, warmupMs);
      batches.push(Math.max(1, Math.round((2 * w.calls) / w.wallMs)));
    }
    const perRound: number[][] = cases.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < cases.length; k++) {
        const i = (k + r) % cases.length;
        // No forced GC here: the sweeping it leaves behind would be charged to the next slice
        // (visibly so with the CPU clock). Each case pays for its own garbage within its slice.
        const s = await slice(cases[i]!.fn, kinds[i]!, batches[i]!, sliceMs);
        perRound[i]!.push((s.calls * (cases[i]!.ops ?? 1) * 1000) / (clock === 'cpu' ? s.cpuMs : s.wallMs));
      }
    }
    const comparison = this.#finish(title, cases.map((c) => c.name), perRound, baseline);
    this.#print(comparison, `${clock === 'cpu' ? 'CPU' : 'wall'} time; ${rounds} rounds × ${sliceMs} ms per case, interleaved; median`);
    return comparison;
  }

  /**
   * Runs each workload once per round, interleaved, and reports ops/s (ops / elapsed time), median
   * of rounds, and the ratio to the baseline. For end-to-end runs such as jobs through a queue.
   */
  async compareRuns(title: string, workloads: readonly Workload[], options: Pick<CompareOptions, 'baseline' | 'rounds'> = {}): Promise<Comparison> {
    const rounds = options.rounds ?? (this.quick ? 1 : 3);
    const baseline = this.#baseline(title, workloads, options.baseline);
    const perRound: number[][] = workloads.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < workloads.length; k++) {
        const i = (k + r) % workloads.length;
        gc?.(); // a workload's old garbage (thousands of jobs) must not land on the next one
        const t0 = performance.now();
        const out = await workloads[i]!.run();
        const elapsed = performance.now() - t0;
        const { ops, ms } = typeof out === 'number' ? { ops: out, ms: elapsed } : out;
        perRound[i]!.push((ops * 1000) / ms);
      }
    }
    const comparison = this.#finish(title, workloads.map((w) => w.name), perRound, baseline);
    this.#print(comparison, `wall time; ${rounds} round${rounds === 1 ? '' : 's'}, interleaved; median`);
    return comparison;
  }

  /** Records a headline ratio, with its target if it has one; the runner sums them up at the end. */
  ratio(label: string, value: number, target?: RatioTarget): RatioResult {
    const met = target?.atLeast === undefined ? undefined : value >= target.atLeast;
    const result: RatioResult = target === undefined ? { label, value } : { label, value, target, ...(met === undefined ? {} : { met }) };
    this.#report.ratios.push(result);
    this.note(`ratio: ${label} = ${fmt.ratio(value)}${describeTarget(result)}`);
    return result;
  }

  /** What this file produced (sent to the runner). */
  report(): BenchReport {
    return this.#report;
  }

  #baseline(title: string, cases: ReadonlyArray<{ name: string }>, wanted: string | undefined): string {
    if (cases.length === 0) throw new Error(`${title}: no cases`);
    const names = new Set(cases.map((c) => c.name));
    if (names.size !== cases.length) throw new Error(`${title}: two cases share a name`);
    const baseline = wanted ?? cases[0]!.name;
    if (!names.has(baseline)) throw new Error(`${title}: baseline "${baseline}" is not one of the cases`);
    return baseline;
  }

  #finish(title: string, names: readonly string[], perRound: number[][], baseline: string): Comparison {
    const index = new Map(names.map((n, i) => [n, i]));
    const roundsOf = (name: string): number[] => {
      const i = index.get(name);
      if (i === undefined) throw new Error(`${title}: no case named "${name}"`);
      return perRound[i]!;
    };
    const ratio = (a: string, b: string): number => {
      const ra = roundsOf(a);
      const rb = roundsOf(b);
      return median(ra.map((x, r) => x / rb[r]!));
    };
    const cases: CaseResult[] = names.map((name, i) => ({
      name,
      opsPerSec: median(perRound[i]!),
      rounds: perRound[i]!,
      spread: mad(perRound[i]!),
      vsBaseline: ratio(name, baseline),
    }));
    const get = (name: string): CaseResult => {
      const i = index.get(name);
      if (i === undefined) throw new Error(`${title}: no case named "${name}"`);
      return cases[i]!;
    };
    this.#report.comparisons.push({ title, baseline, cases });
    return { title, baseline, cases, get, ratio };
  }

  #print(c: Comparison, method: string): void {
    if (this.markdown) this.#write(`\n**${c.title}** (${method})\n\n`);
    else this.#write(`\n${c.title}  (${method})\n`);
    const rows = c.cases.map((x) => [
      x.name,
      fmt.int(x.opsPerSec),
      fmt.perOp(x.opsPerSec),
      fmt.pct(x.spread),
      x.name === c.baseline ? '1.00x (baseline)' : fmt.ratio(x.vsBaseline),
    ]);
    this.table(['case', 'ops/s', 'time/op', 'spread', `vs ${c.baseline}`], rows, [1, 2, 3, 4]);
  }
}

export function describeTarget(r: RatioResult): string {
  if (r.target === undefined) return '';
  const parts: string[] = [];
  if (r.target.atLeast !== undefined) parts.push(`target >= ${fmt.ratio(r.target.atLeast)}: ${r.met ? 'met' : 'MISSED'}`);
  if (r.target.about !== undefined) parts.push(`expected about ${fmt.ratio(r.target.about)}`);
  return ` (${parts.join('; ')})`;
}

export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAlign: readonly number[], markdown: boolean): string {
  const right = new Set(rightAlign);
  if (markdown) {
    const line = (cells: readonly string[]): string => `| ${cells.map((s) => s.replaceAll('|', '\\|')).join(' | ')} |`;
    const rule = `|${headers.map((_, i) => (right.has(i) ? '---:' : ':---')).join('|')}|`;
    return [line(headers), rule, ...rows.map(line)].join('\n') + '\n';
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    '  ' + cells.map((s, i) => (right.has(i) ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
