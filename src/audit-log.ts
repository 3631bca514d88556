import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { AuditEvent } from './audit.js';
import { InvalidArgumentError } from './errors.js';

/**
 * Consumers of the audit events that seal() and open() publish on the diagnostics channels
 * 'sealq:seal' and 'sealq:open': a subscribe helper for a logger callback, and per-kid usage
 * counters that show which keys are still in use before one is retired.
 */

/** An audit event as delivered to onAudit callbacks: only these fields, never payload or key material. */
export interface AuditRecord extends AuditEvent {
  /** When the event was received (ms since the epoch). */
  readonly at: number;
}

const CHANNELS = { seal: 'sealq:seal', open: 'sealq:open' } as const;
const MAX_FIELD = 256;

/** Copies only the known fields, as bounded strings: whatever a publisher put in, no more goes out. */
function record(message: unknown, at: number): AuditRecord | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.op !== 'seal' && m.op !== 'open') return undefined;
  if (m.outcome !== 'ok' && m.outcome !== 'rejected') return undefined;
  const r: { -readonly [K in keyof AuditRecord]: AuditRecord[K] } = { op: m.op, outcome: m.outcome, at };
  for (const f of ['kid', 'ctx', 'typ', 'id', 'code'] as const) {
    const v = m[f];
    if (typeof v === 'string') r[f] = v.length > MAX_FIELD ? `${v.slice(0, MAX_FIELD)}...` : v;
  }
  if (m.mode === 'report') r.mode = 'report'; // a rejection let through (report-only mode)
  return r;
}

export interface OnAuditOptions {
  /** Which operations to deliver. Default both. */
  ops?: ReadonlyArray<'seal' | 'open'>;
  /** Called when the callback throws (it never breaks a seal or open). Default: ignore. */
  onError?: (error: unknown) => void;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/**
 * Calls `callback` for every seal, open and rejection in this process (all sealq copies: the
 * channels are global by name). Returns a function that unsubscribes. The event is a fresh
 * object with kid, ctx, typ, id, outcome, code and a timestamp; on a rejection those header
 * fields are as the message claimed them (unverified). Runs synchronously inside seal/open: keep
 * it cheap (hand the event to a logger, do not await I/O in it).
 *
 *   const stop = onAudit((e) => logger.info(e, 'sealq audit'));
 */
export function onAudit(callback: (event: AuditRecord) => void, options: OnAuditOptions = {}): () => void {
  if (typeof callback !== 'function') throw new InvalidArgumentError('onAudit needs a callback function');
  const ops = options.ops ?? ['seal', 'open'];
  const now = options.now ?? Date.now;
  const handler = (message: unknown): void => {
    const r = record(message, now());
    if (r === undefined) return;
    try {
      callback(r);
    } catch (e) {
      // diagnostics_channel would rethrow asynchronously as an uncaught exception: contain it here.
      try {
        options.onError?.(e);
      } catch {
        /* nothing left to tell */
      }
    }
  };
  const names = ops.map((op) => CHANNELS[op]);
  for (const n of names) subscribe(n, handler);
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    for (const n of names) unsubscribe(n, handler);
  };
}

/** How much one key has been used, as seen by this process. */
export interface KeyUsageStats {
  readonly kid: string;
  /** Messages this process sealed with the key. */
  readonly seals: number;
  /** Messages that opened with the key. */
  readonly opens: number;
  /** Rejected messages that claimed the key (the claim is unverified: forgeries count here too). */
  readonly rejections: number;
  /** Last successful seal or open (ms), if any: the figure to check before retiring a key. */
  readonly lastUsed?: number;
  /** Last rejection claiming the key (ms), if any. */
  readonly lastRejected?: number;
}

export interface KeyUsageOptions {
  /**
   * Most distinct kids tracked. Rejected messages may claim any kid (an attacker chooses them),
   * so past the limit new kids are counted together under '(other)'. Default 1000.
   */
  maxKids?: number;
  now?: () => number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The key under which usage for kids past the limit (or without a kid) is counted. */
export const OTHER_KID = '(other)';

/**
 * Usage counters per kid, fed by the audit channels: `const usage = new KeyUsage().start()`.
 * Before retiring a key, check that its lastUsed is older than the longest message validity
 * (and that its seals stopped: producers have switched). toJSON() gives a snapshot to save;
 * `sealq key list --usage FILE` shows a saved snapshot next to the keys.
 */
export class KeyUsage {
  readonly #stats = new Map<string, Mutable<KeyUsageStats>>();
  readonly #maxKids: number;
  readonly #now: () => number;
  #stop: (() => void) | undefined;

  constructor(options: KeyUsageOptions = {}) {
    this.#maxKids = options.maxKids ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Subscribes to the audit channels (idempotent). */
  start(): this {
    this.#stop ??= onAudit((e) => this.record(e), { now: this.#now });
    return this;
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  /** Counts one audit event (start() does this for every event; tests and replays may call it directly). */
  record(event: AuditEvent & { at?: number }): void {
    const at = event.at ?? this.#now();
    const s = this.#entry(event.kid);
    if (event.outcome === 'rejected') {
      s.rejections++;
      s.lastRejected = at;
      return;
    }
    if (event.op === 'seal') s.seals++;
    else s.opens++;
    s.lastUsed = at;
  }

  #entry(kid: string | undefined): Mutable<KeyUsageStats> {
    let k = kid ?? OTHER_KID;
    let s = this.#stats.get(k);
    if (s === undefined) {
      if (this.#stats.size >= this.#maxKids) {
        k = OTHER_KID;
        s = this.#stats.get(k);
      }
      if (s === undefined) {
        s = { kid: k, seals: 0, opens: 0, rejections: 0 };
        this.#stats.set(k, s);
      }
    }
    return s;
  }

  get(kid: string): KeyUsageStats | undefined {
    const s = this.#stats.get(kid);
    return s === undefined ? undefined : { ...s };
  }

  /** Every tracked kid, most recently used first. */
  all(): KeyUsageStats[] {
    return [...this.#stats.values()].map((s) => ({ ...s })).sort((a, b) => (b.lastUsed ?? 0) - (a.lastUsed ?? 0));
  }

  reset(): void {
    this.#stats.clear();
  }

  /** A snapshot for saving: { keys: [...] } with timestamps as ms. */
  toJSON(): { keys: KeyUsageStats[] } {
    return { keys: this.all() };
  }

  /** Counters from a saved snapshot (as written by toJSON); invalid entries are skipped. */
  static fromJSON(snapshot: unknown, options: KeyUsageOptions = {}): KeyUsage {
    const u = new KeyUsage(options);
    const keys = (snapshot as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new InvalidArgumentError('a key usage snapshot is an object with a "keys" array, as written by KeyUsage.toJSON()');
    const count = (v: unknown): number => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : 0);
    for (const k of keys as unknown[]) {
      const e = k as Record<string, unknown> | null;
      if (typeof e?.kid !== 'string') continue;
      const s = u.#entry(e.kid);
      s.seals += count(e.seals);
      s.opens += count(e.opens);
      s.rejections += count(e.rejections);
      if (typeof e.lastUsed === 'number') s.lastUsed = Math.max(s.lastUsed ?? 0, e.lastUsed);
      if (typeof e.lastRejected === 'number') s.lastRejected = Math.max(s.lastRejected ?? 0, e.lastRejected);
    }
    return u;
  }
}
