import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { parseDuration } from './duration.js';
import { InvalidArgumentError, isSealqErrorCode } from './errors.js';
import type { SourceLogger } from './keys/sources.js';

/**
 * Rejection logs: one structured line per rejected (or, in report mode, let-through) message,
 * rate-limited so that a flood writes a bounded number of lines per interval plus one summary
 * line with the exact counts of what was not written one by one. Never a payload byte or key
 * material: a line holds the code and the header fields as the message claimed them.
 *
 * The logger is called pino-style, `logger.warn(fields, message)`. The fields object also reads
 * as the whole line when a logger treats it as text (its toString), so a SourceLogger that
 * formats `${m}` and console.warn both print something readable.
 */

/** What is logged about one rejection. */
export interface Rejection {
  readonly code: string;
  /** As the message claimed them: unverified. */
  readonly kid?: string;
  readonly ctx?: string;
  readonly typ?: string;
  readonly id?: string;
  /** The adapter that rejected it (bullmq, redis-streams, amqp, ...). */
  readonly adapter?: string;
  /** The context the consumer serves (its queue, stream, subject). */
  readonly consumerCtx?: string;
  /** Where the message was kept: dead-letter stream, queue, subject, or BullMQ's failed set. */
  readonly keptIn?: string;
  /** 'report': not rejected but processed (report-only mode), with the code it would have got. */
  readonly mode?: 'report';
}

export interface RejectionLogOptions {
  /** Lines written one by one per interval; past it rejections are only counted. Default 10. */
  maxLines?: number;
  /** The interval (ms or `1m`, `30s`). Default 1 minute. */
  interval?: number | string;
  /** Clock (ms), for tests. */
  now?: () => number;
}

export const DEFAULT_REJECTION_LOG_LINES = 10;
export const DEFAULT_REJECTION_LOG_INTERVAL_MS = 60_000;

const MAX_VALUE = 128;
const bounded = (v: string | undefined): string | undefined => (v === undefined || v.length <= MAX_VALUE ? v : `${v.slice(0, MAX_VALUE)}...`);
const quoted = (v: string | undefined): string => (v === undefined ? '-' : JSON.stringify(v)); // escapes line breaks and control characters

/** One log line's fields (enumerable) and its text form (toString, not enumerable). */
class RejectionLine {
  readonly sealq: 'rejected' | 'reported';
  readonly code: string;
  /** As the message claimed them: nothing here was verified. */
  readonly unverified: { kid?: string; ctx?: string; typ?: string; id?: string };
  readonly adapter?: string;
  readonly consumerCtx?: string;
  readonly keptIn?: string;

  constructor(r: Rejection) {
    this.sealq = r.mode === 'report' ? 'reported' : 'rejected';
    this.code = isCode(r.code) ? r.code : 'ERR_OTHER';
    const u: RejectionLine['unverified'] = {};
    for (const f of ['kid', 'ctx', 'typ', 'id'] as const) {
      const v = r[f];
      if (typeof v === 'string' && v !== '') u[f] = bounded(v);
    }
    this.unverified = u;
    if (typeof r.adapter === 'string') this.adapter = bounded(r.adapter);
    if (typeof r.consumerCtx === 'string') this.consumerCtx = bounded(r.consumerCtx);
    if (typeof r.keptIn === 'string') this.keptIn = bounded(r.keptIn);
  }

  message(): string {
    return this.sealq === 'reported'
      ? `sealq would reject a message (${this.code}) but let it through: report mode`
      : `sealq rejected a message (${this.code})`;
  }

  toString(): string {
    const u = this.unverified;
    const where = [
      this.adapter === undefined ? '' : ` adapter=${this.adapter}`,
      this.consumerCtx === undefined ? '' : ` on=${quoted(this.consumerCtx)}`,
      this.keptIn === undefined ? '' : ` kept-in=${quoted(this.keptIn)}`,
    ].join('');
    return `${this.message()}: claimed (unverified) kid=${quoted(u.kid)} ctx=${quoted(u.ctx)} typ=${quoted(u.typ)} id=${quoted(u.id)}${where}`;
  }
}
Object.defineProperty(RejectionLine.prototype, 'toString', { enumerable: false });

/** The summary of the rejections counted but not written one by one. */
class SummaryLine {
  readonly sealq = 'rejections-not-logged';
  constructor(
    /** How many, exactly. */
    readonly count: number,
    /** Exactly how many per code (report-mode verdicts under `reported:<code>`). */
    readonly byCode: Record<string, number>,
    readonly from: string,
    readonly to: string,
    readonly maxLines: number,
    readonly intervalMs: number,
  ) {}

  message(): string {
    return `sealq: ${this.count} more rejection${this.count === 1 ? ' was' : 's were'} counted but not logged one by one (at most ${this.maxLines} lines per ${this.intervalMs / 1000}s)`;
  }

  toString(): string {
    return `${this.message()} from ${this.from} to ${this.to}: ${Object.entries(this.byCode).map(([c, n]) => `${c}=${n}`).join(' ')}`;
  }
}

const isCode = (c: unknown): c is string => isSealqErrorCode(c) || c === 'ERR_HANDLER_FAILED';

/**
 * A rate-limited rejection log around a logger. Adapters keep one per consumer (their `logger`
 * option); `logRejections` keeps one for every open() in the process.
 */
export class RejectionLog {
  readonly #logger: SourceLogger;
  readonly #max: number;
  readonly #interval: number;
  readonly #now: () => number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #lines = 0;
  #count = 0;
  #from = 0;
  // Keys are codes from a fixed set (anything else is ERR_OTHER), so this stays small in any flood.
  readonly #byCode = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(logger: SourceLogger, options: RejectionLogOptions = {}) {
    if (typeof logger?.warn !== 'function') throw new InvalidArgumentError('a rejection log needs a logger with a warn method (pino, console, or { warn, error })');
    this.#logger = logger;
    this.#max = options.maxLines ?? DEFAULT_REJECTION_LOG_LINES;
    if (!Number.isSafeInteger(this.#max) || this.#max < 0) throw new InvalidArgumentError('maxLines must be a whole number, 0 or more');
    this.#interval = options.interval === undefined ? DEFAULT_REJECTION_LOG_INTERVAL_MS : parseDuration(options.interval, 'interval');
    if (this.#interval <= 0) throw new InvalidArgumentError('interval must be longer than 0');
    this.#now = options.now ?? Date.now;
  }

  /** Logs one rejection, or counts it when this interval's lines are used up. Never throws. */
  log(r: Rejection): void {
    const now = this.#now();
    if (now - this.#windowStart >= this.#interval) {
      this.flush();
      this.#windowStart = now;
      this.#lines = 0;
    }
    if (this.#lines < this.#max) {
      this.#lines++;
      const line = new RejectionLine(r);
      this.#write(line, line.message());
      return;
    }
    if (this.#count === 0) this.#from = now;
    this.#count++;
    const key = `${r.mode === 'report' ? 'reported:' : ''}${isCode(r.code) ? r.code : 'ERR_OTHER'}`;
    this.#byCode.set(key, (this.#byCode.get(key) ?? 0) + 1);
    if (this.#timer === undefined) {
      // The summary is written when the interval ends, even if the flood stopped.
      this.#timer = setTimeout(() => this.flush(), Math.max(0, this.#windowStart + this.#interval - now));
      this.#timer.unref?.();
    }
  }

  /** Writes the summary line of what was counted but not logged, if anything was. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count === 0) return;
    const line = new SummaryLine(this.#count, Object.fromEntries(this.#byCode), new Date(this.#from).toISOString(), new Date(this.#now()).toISOString(), this.#max, this.#interval);
    this.#count = 0;
    this.#byCode.clear();
    this.#write(line, line.message());
  }

  #write(fields: object, message: string): void {
    try {
      (this.#logger.warn as unknown as (fields: object, message: string) => void).call(this.#logger, fields, message);
    } catch {
      // A failing logger must never stop a consumer.
    }
  }
}

/**
 * Logs every rejection of open() and openAndClaim() in this process (from the audit channels),
 * rate-limited; for code that calls them directly. Adapters take a `logger` option instead,
 * whose lines also say where the message was kept: use one or the other, or lines are doubled.
 * Returns a function that stops logging (and writes the pending summary).
 *
 *     const stop = logRejections(pino());
 */
export function logRejections(logger: SourceLogger, options: RejectionLogOptions = {}): () => void {
  const log = new RejectionLog(logger, options);
  const onOpen = (m: unknown): void => {
    const e = m as Record<string, unknown>;
    if (e?.outcome !== 'rejected' || typeof e.code !== 'string') return;
    log.log({ code: e.code, kid: str(e.kid), ctx: str(e.ctx), typ: str(e.typ), id: str(e.id), consumerCtx: str(e.consumerCtx), mode: e.mode === 'report' ? 'report' : undefined });
  };
  const onClaim = (m: unknown): void => {
    const e = m as Record<string, unknown>;
    const code = e?.outcome === 'replayed' ? 'ERR_REPLAYED' : e?.outcome === 'error' && e.op === 'claim' ? 'ERR_REPLAY_STORE_UNAVAILABLE' : undefined;
    if (code === undefined) return;
    // A claim follows a verified open: these fields are authentic, but logged the same way.
    log.log({ code, ctx: str(e.ctx), id: str(e.id), consumerCtx: str(e.ctx), mode: e.mode === 'report' ? 'report' : undefined });
  };
  subscribe('sealq:open', onOpen);
  subscribe('sealq:claim', onClaim);
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    unsubscribe('sealq:open', onOpen);
    unsubscribe('sealq:claim', onClaim);
    log.flush();
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
