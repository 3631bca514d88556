import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { ALGS } from '../../crypto/algorithms.js';
import { InvalidArgumentError, isSealqErrorCode } from '../../errors.js';
import { current } from '../../keys/keyring.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { isRetired } from '../../keys/rotation.js';

/**
 * sealq's metrics on a prom-client registry, fed from the audit channels ('sealq:seal',
 * 'sealq:open', 'sealq:claim', 'sealq:dead-letter') that the core and every adapter publish on.
 * Events are tallied in plain objects (a few nanoseconds each) and handed to prom-client only
 * when the registry is scraped, so metrics cost the message path almost nothing.
 *
 * No label holds a message id or anything from a payload. Label values that a message (or an
 * attacker) can choose are bounded: ctx and kid values past a cap fold into `other`; codes and
 * algorithms outside sealq's own sets become `other`.
 */

export interface SealqMetricsOptions {
  /** Most distinct ctx label values; further ones are counted as `other`. Default 50. */
  maxContexts?: number;
  /** Most distinct kid label values; further ones are counted as `other`. Default 50. */
  maxKids?: number;
  /** Buckets of sealq_verify_duration_seconds. Default 10 µs to 1 s, most of them under 1 ms. */
  buckets?: readonly number[];
  /** The keyring (or source) this process verifies with: adds sealq_key_info (status, retired) per key. */
  keyring?: Keyring | KeyringSource;
}

export interface SealqMetrics {
  /** Unsubscribes and removes sealq's metrics from the registry. */
  stop(): void;
}

export const DEFAULT_VERIFY_BUCKETS: readonly number[] = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];
export const OTHER = 'other';

const ALG_SET: ReadonlySet<string> = new Set(ALGS);
const code = (c: unknown): string => (isSealqErrorCode(c) || c === 'ERR_HANDLER_FAILED' ? c : OTHER);
const alg = (a: unknown): string => (typeof a === 'string' && ALG_SET.has(a) ? a : a === undefined ? 'none' : OTHER);

/** A bounded set of label values: the first `max` seen keep their own value. */
class Capped {
  readonly #seen = new Set<string>();
  constructor(readonly max: number) {}
  get(v: unknown): string {
    if (typeof v !== 'string' || v === '') return 'none';
    if (this.#seen.has(v)) return v;
    if (this.#seen.size >= this.max) return OTHER;
    this.#seen.add(v);
    return v;
  }
}

interface Cell {
  readonly labels: Record<string, string>;
  value: number;
}

/** Counts per label set, keyed by the label values joined (only built for a new set or a rare event). */
class Cells {
  readonly map = new Map<string, Cell>();
  constructor(readonly names: readonly string[]) {}
  cell(...values: string[]): Cell {
    const key = values.join('\u0000');
    let c = this.map.get(key);
    if (c === undefined) {
      const labels: Record<string, string> = {};
      this.names.forEach((n, i) => (labels[n] = values[i]!));
      c = { labels, value: 0 };
      this.map.set(key, c);
    }
    return c;
  }
}

type HistValue = { labels: Record<string, string | number>; value: number; metricName: string; sharedLabels?: Record<string, string> };

interface HistCell {
  readonly labels: Record<string, string>;
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A prom-client histogram whose values are tallied by sealq and read at scrape time. */
const VERIFY_NAME = 'sealq_verify_duration_seconds';
const VERIFY_HELP = 'Time open() took from the call to its verdict, by algorithm and outcome';

class TalliedHistogram extends Histogram<'alg' | 'outcome'> {
  readonly cells = new Map<string, HistCell>();
  readonly bounds: readonly number[];

  constructor(registry: Registry, bounds: readonly number[]) {
    super({ name: VERIFY_NAME, help: VERIFY_HELP, labelNames: ['alg', 'outcome'], buckets: [...bounds], registers: [registry] });
    this.bounds = bounds;
  }

  cell(a: string, outcome: string): HistCell {
    const key = a + outcome;
    let c = this.cells.get(key);
    if (c === undefined) {
      c = { labels: { alg: a, outcome }, counts: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  record(c: HistCell, seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    if (i < b.length) c.counts[i]!++;
    c.sum += seconds;
    c.count++;
  }

  #values(splay: boolean): HistValue[] {
    const out: HistValue[] = [];
    const name = VERIFY_NAME;
    for (const c of this.cells.values()) {
      const shared = (labels: Record<string, string | number>): Record<string, string | number> => (splay ? { ...c.labels, ...labels } : labels);
      const extra = splay ? {} : { sharedLabels: c.labels };
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += c.counts[i]!;
        out.push({ labels: shared({ le }), value: acc, metricName: `${name}_bucket`, ...extra });
      });
      out.push({ labels: shared({ le: '+Inf' }), value: c.count, metricName: `${name}_bucket`, ...extra });
      out.push({ labels: shared({}), value: c.sum, metricName: `${name}_sum`, ...extra });
      out.push({ labels: shared({}), value: c.count, metricName: `${name}_count`, ...extra });
    }
    return out;
  }

  // prom-client renders the text exposition from getForPromString (labels shared per series) and
  // JSON from get() (labels merged); both answer from sealq's tallies.
  async getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: HistValue[]; aggregator: 'sum' }> {
    return { name: VERIFY_NAME, help: VERIFY_HELP, type: 'histogram', values: this.#values(false), aggregator: 'sum' };
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<'alg' | 'outcome'>['get']>>> {
    return { name: VERIFY_NAME, help: VERIFY_HELP, type: 'histogram', values: this.#values(true), aggregator: 'sum' } as unknown as Awaited<ReturnType<Histogram<'alg' | 'outcome'>['get']>>;
  }

  override reset(): void {
    // prom-client's constructor resets before this class's fields exist.
    (this.cells as Map<string, HistCell> | undefined)?.clear();
  }
}

function counter(registry: Registry, name: string, help: string, cells: Cells): string {
  new Counter({
    name,
    help,
    labelNames: [...cells.names],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of cells.map.values()) if (c.value > 0) this.inc(c.labels, c.value);
    },
  });
  return name;
}

const positive = (v: number | undefined, what: string, dflt: number): number => {
  const n = v ?? dflt;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive whole number`);
  return n;
};

/**
 * Registers sealq's metrics on `registry` (and no default metrics) and starts counting every
 * seal, open, replay-store claim and dead letter in this process. Call once per registry.
 *
 *     const registry = new Registry();
 *     registerMetrics(registry);
 *     http.createServer(async (_, res) => res.end(await registry.metrics())).listen(9464);
 */
export function registerMetrics(registry: Registry, options: SealqMetricsOptions = {}): SealqMetrics {
  if (typeof registry?.registerMetric !== 'function') throw new InvalidArgumentError('registerMetrics needs a prom-client Registry (new Registry(), or the default register)');
  const ctxs = new Capped(positive(options.maxContexts, 'maxContexts', 50));
  const kids = new Capped(positive(options.maxKids, 'maxKids', 50));
  const bounds = [...(options.buckets ?? DEFAULT_VERIFY_BUCKETS)];
  if (bounds.length === 0 || bounds.some((b, i) => !(b > 0) || !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) {
    throw new InvalidArgumentError('buckets must be increasing positive numbers of seconds');
  }

  const seals = new Cells(['kid', 'alg']);
  const opens = new Cells(['ctx', 'outcome', 'code']);
  const claims = new Cells(['ctx', 'outcome']);
  const storeErrors = new Cells(['op']);
  const keyUses = new Cells(['kid', 'op', 'outcome', 'code']);
  const deadLetters = new Cells(['adapter', 'ctx', 'code', 'destination']);
  const wouldReject = new Cells(['ctx', 'code']);
  const destinations = new Capped(positive(options.maxContexts, 'maxContexts', 50));
  const adapters = new Capped(20);

  // The message path: per ctx (and per kid), the cells of the common outcomes, found with one lookup.
  const okOpens = new Map<string, Map<string | undefined, { open: Cell; use: Cell; time: HistCell }>>();
  const okSeals = new Map<string, { seal: Cell; use: Cell }>();
  // Last use per kid and operation, to the scrape: a scrape that finds a use count grown since the
  // one before stamps its own time (no clock read on the message path).
  const lastUse = new Map<Cell, { labels: Record<string, string>; seen: number; at: number }>();
  const watchUse = (use: Cell, kid: string, op: string): void => {
    if (!lastUse.has(use)) lastUse.set(use, { labels: { kid, op }, seen: 0, at: 0 });
  };

  const metrics: string[] = [
    counter(registry, 'sealq_seals_total', 'Messages sealed, by key and algorithm', seals),
    counter(registry, 'sealq_opens_total', 'Messages opened, by the ctx the consumer serves, outcome (ok, rejected, reported: let through in report mode) and code', opens),
    counter(registry, 'sealq_replay_claims_total', 'Replay-store claims by ctx and outcome (claimed, replayed, in_flight, error)', claims),
    counter(registry, 'sealq_replay_store_errors_total', 'Replay-store operations that failed, by operation (claim, complete, release, extend)', storeErrors),
    counter(registry, 'sealq_key_uses_total', 'Seals and opens per key id (on a rejection the kid is as claimed), by operation, outcome and code', keyUses),
    counter(registry, 'sealq_dead_letters_total', 'Messages kept in a dead-letter destination (or BullMQ failed set), by adapter, ctx, code and destination', deadLetters),
    counter(registry, 'sealq_would_reject_total', 'Report mode: messages processed although they would have been rejected, by ctx and the code they would have got', wouldReject),
    'sealq_key_last_used_timestamp_seconds',
  ];
  new Gauge({
      name: 'sealq_key_last_used_timestamp_seconds',
      help: 'Last successful seal or open per key id (Unix time, to the scrape: the first scrape that saw it)',
      labelNames: ['kid', 'op'],
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const [use, l] of lastUse) {
          if (use.value !== l.seen) {
            l.seen = use.value;
            l.at = now;
          }
          if (l.at > 0) this.set(l.labels, l.at / 1000);
        }
      },
  });
  const hist = new TalliedHistogram(registry, bounds);
  metrics.push(VERIFY_NAME);
  if (options.keyring !== undefined) {
    const source = options.keyring;
    metrics.push('sealq_key_info');
    new Gauge({
      name: 'sealq_key_info',
      help: 'Keys of the keyring this process verifies with: status, and whether retired (1 per key)',
      labelNames: ['kid', 'alg', 'status', 'retired'],
      registers: [registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const k of current(source).keys()) this.set({ kid: kids.get(k.kid), alg: k.alg, status: k.status, retired: String(isRetired(k, now)) }, 1);
      },
    });
  }

  const onSeal = (m: unknown): void => {
    const e = m as { outcome?: string; kid?: string; alg?: string };
    const kid = kids.get(e.kid);
    let s = okSeals.get(kid);
    if (s === undefined) {
      s = { seal: seals.cell(kid, alg(e.alg)), use: keyUses.cell(kid, 'seal', 'ok', '') };
      watchUse(s.use, kid, 'seal');
      okSeals.set(kid, s);
    }
    s.seal.value++;
    s.use.value++;
  };

  const onOpen = (m: unknown): void => {
    const e = m as { outcome?: string; code?: string; kid?: string; ctx?: string; alg?: string; consumerCtx?: string; seconds?: number; mode?: string };
    const ctx = ctxs.get(e.consumerCtx ?? e.ctx);
    if (e.outcome === 'ok') {
      let byKid = okOpens.get(ctx);
      if (byKid === undefined) okOpens.set(ctx, (byKid = new Map()));
      let o = byKid.get(e.kid);
      if (o === undefined) {
        const kid = kids.get(e.kid);
        // A kid's algorithm is its key's, so the histogram cell is found once with the rest.
        o = { open: opens.cell(ctx, 'ok', ''), use: keyUses.cell(kid, 'open', 'ok', ''), time: hist.cell(alg(e.alg), 'ok') };
        watchUse(o.use, kid, 'open');
        byKid.set(e.kid, o);
      }
      o.open.value++;
      o.use.value++;
      if (e.seconds !== undefined) hist.record(o.time, e.seconds);
      return;
    }
    const outcome = e.mode === 'report' ? 'reported' : 'rejected';
    const c = code(e.code);
    opens.cell(ctx, outcome, c).value++;
    keyUses.cell(kids.get(e.kid), 'open', outcome, c).value++;
    if (outcome === 'reported') wouldReject.cell(ctx, c).value++;
    if (e.seconds !== undefined) hist.record(hist.cell(alg(e.alg), 'rejected'), e.seconds);
  };

  const onClaim = (m: unknown): void => {
    const e = m as { op?: string; outcome?: string; ctx?: string; mode?: string };
    const op = e.op === 'claim' || e.op === 'complete' || e.op === 'release' || e.op === 'extend' ? e.op : OTHER;
    if (e.outcome === 'error') storeErrors.cell(op).value++;
    if (op !== 'claim') return;
    const ctx = ctxs.get(e.ctx);
    const outcome = e.outcome === 'claimed' || e.outcome === 'replayed' || e.outcome === 'error' ? e.outcome : e.outcome === 'in-flight' ? 'in_flight' : OTHER;
    claims.cell(ctx, outcome).value++;
    if (e.mode === 'report') wouldReject.cell(ctx, outcome === 'replayed' ? 'ERR_REPLAYED' : 'ERR_REPLAY_STORE_UNAVAILABLE').value++;
  };

  const onDeadLetter = (m: unknown): void => {
    const e = m as { adapter?: string; code?: string; consumerCtx?: string; destination?: string };
    deadLetters.cell(adapters.get(e.adapter), ctxs.get(e.consumerCtx), code(e.code), destinations.get(e.destination)).value++;
  };

  const subs: Array<[string, (m: unknown) => void]> = [['sealq:seal', onSeal], ['sealq:open', onOpen], ['sealq:claim', onClaim], ['sealq:dead-letter', onDeadLetter]];
  for (const [n, f] of subs) subscribe(n, f);
  let active = true;
  return {
    stop() {
      if (!active) return;
      active = false;
      for (const [n, f] of subs) unsubscribe(n, f);
      for (const name of metrics) registry.removeSingleMetric(name);
    },
  };
}
