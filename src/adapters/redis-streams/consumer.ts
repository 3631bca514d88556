import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { openAndClaim, parseLease, DEFAULT_LEASE_MS } from '../../claim.js';
import type { ClaimedMessage } from '../../claim.js';
import { randomId } from '../../envelope/id.js';
import { CompletionNotRecordedError, InvalidArgumentError, MalformedError, RejectionError, isSealqError } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { UNREAD_HEADER } from '../../open.js';
import type { OpenedMessage, OpenOptions } from '../../open.js';
import { modeFor } from '../../report-mode.js';
import { AdapterVerdicts } from '../verdicts.js';
import type { SourceLogger } from '../../keys/sources.js';
import { enforceStoreIsolation } from '../../replay/isolation-policy.js';
import type { ReplayStore } from '../../replay/store.js';
import { DEAD_LETTER_SUFFIX, deadLetterFields, HANDLER_FAILED } from './dead-letter.js';
import type { DeadLetter, DeadLetterCode } from './dead-letter.js';
import { ENVELOPE_FIELD } from './producer.js';
import { readReplyEntries } from './replies.js';
import { durationOption, renewalInterval } from '../shared/consumer-durations.js';
import { errorOf } from '../shared/error-of.js';
import { openOptionsOf } from '../shared/open-options.js';
import { scopeReplayStore } from '../shared/scoped-replay-store.js';

type Client = Redis | Cluster;

/** What the handler receives: the verified message and where it came from. */
export interface StreamMessage extends OpenedMessage {
  readonly stream: string;
  readonly entryId: string;
  /** The entry's other fields. NOT signed: anyone who can write to Redis can change them. */
  readonly fields: Readonly<Record<string, string>>;
  /** True when the entry had been delivered before (reclaimed after a crash, failure or timeout). */
  readonly redelivered: boolean;
}

export interface SealedStreamConsumerOptions extends Omit<OpenOptions, 'ctx' | 'now'> {
  /** Client for acks, dead letters and reclaims. The consumer duplicates it for its blocking reads. */
  redis: Client;
  keyring: Keyring | KeyringSource;
  stream: string;
  /** Consumer group; created (with the stream) when missing. */
  group: string;
  /** This consumer's name in the group. Default: host, pid and a random suffix. */
  consumer?: string;
  /**
   * Where completed messages are remembered; the consumer scopes it to its group. It must live
   * where writers of the stream cannot write: `start()` checks that `redis` cannot change its
   * records (see docs/redis.md, "Isolating the replay store").
   */
  replay: ReplayStore;
  /**
   * Run even though the replay store's isolation check fails (it then only warns). Without it,
   * `start()` refuses such a store in production (NODE_ENV=production) with ERR_STORE_NOT_ISOLATED.
   */
  unsafeSharedReplayStore?: boolean;
  /**
   * Where start-up warnings go (the isolation check; default: console), and one line per entry
   * dead-lettered as rejected or let through in report mode (`mode`), rate-limited, pino-style
   * `warn(fields, message)`; none without a logger.
   */
  logger?: SourceLogger;
  /** Runs once per message. Resolving acks the entry; throwing leaves it pending for a retry. */
  handler: (message: StreamMessage) => unknown;
  /** Contexts accepted; default the stream name. */
  ctx?: string | readonly string[];
  /** Entries processed at once. Default 10. */
  concurrency?: number;
  /** How long one XREADGROUP waits for new entries. Default 5s. */
  block?: number | string;
  /** An entry pending this long (its consumer crashed, or the handler failed) is reclaimed and retried. Default 60s. */
  minIdle?: number | string;
  /** How often pending entries are looked for (XAUTOCLAIM). Default: minIdle / 2, at most 30s. */
  claimInterval?: number | string;
  /** Replay lease, renewed while the handler runs. Default 30s. */
  lease?: number | string;
  /** Where rejected entries go. Default `<stream>:dead`. */
  deadLetter?: string;
  /** Dead-letter an entry whose handler failed this many deliveries (ERR_HANDLER_FAILED). Default: retry forever. */
  maxDeliveries?: number;
  /** Where a new group starts reading: `0` (everything in the stream, the default) or `$` (new entries only). */
  startId?: string;
  /** Something went wrong that did not lose a message (a handler failed, Redis was unreachable, ...). Default: console.error. */
  onError?: (error: Error, entryId?: string) => void;
  /** An entry was moved to the dead-letter stream: what was written there, its original fields included. */
  onDeadLetter?: (deadLetter: DeadLetter) => void;
}

export interface StreamConsumerStats {
  processed: number;
  deadLettered: number;
  /** Left pending for a later retry (handler failed, in flight elsewhere, store unavailable). */
  retried: number;
}

export { HANDLER_FAILED };

const sleep = (t: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, t));

type Entry = [id: Buffer, fields: Buffer[] | null];

/**
 * Reads a stream in a consumer group and hands each verified message to `handler`, once:
 * - opens the `sealq` field and claims the message in the replay store (scoped to the group);
 * - handler resolves: complete, then XACK; if the completion cannot be recorded, dead-letter it as
 *   ERR_COMPLETION_NOT_RECORDED (it ran: never retried automatically), then XACK;
 * - handler throws: release, leave the entry pending: it is reclaimed (XAUTOCLAIM) after minIdle;
 * - rejected (forged, tampered, replayed, expired, wrong stream, unsigned): XADD to the dead-letter
 *   stream with the code, reason, time, group and original fields, then XACK;
 * - in flight elsewhere or replay store unavailable: left pending, retried later, never dead-lettered.
 * Needs Redis 6.2 or later (XAUTOCLAIM).
 */
export class SealedStreamConsumer {
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetter: string;
  readonly stats: StreamConsumerStats = { processed: 0, deadLettered: 0, retried: 0 };
  readonly #o: SealedStreamConsumerOptions;
  readonly #redis: Client;
  readonly #replay: ReplayStore;
  readonly #open: OpenOptions;
  readonly #concurrency: number;
  readonly #block: number;
  readonly #minIdle: number;
  readonly #claimEvery: number;
  readonly #lease: number;
  readonly #onError: (error: Error, entryId?: string) => void;
  readonly #verdicts: AdapterVerdicts;
  #reader: Client | undefined;
  #readerId: number | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #active = new Map<string, Promise<void>>();
  #slotFreed: (() => void) | undefined;
  #cursor = '0-0';
  #nextClaim = 0;

  constructor(options: SealedStreamConsumerOptions) {
    const o = options;
    if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('SealedStreamConsumer needs options');
    for (const k of ['stream', 'group'] as const) {
      if (typeof o[k] !== 'string' || o[k].length === 0) throw new InvalidArgumentError(`${k} must be a non-empty string`);
    }
    if (typeof o.handler !== 'function') throw new InvalidArgumentError('handler must be a function');
    if (typeof o.redis?.duplicate !== 'function') throw new InvalidArgumentError('redis must be an ioredis client');
    if (o.replay === undefined) throw new InvalidArgumentError('replay must be a replay store (a RedisReplayStore for several consumers)');
    this.#o = o;
    this.stream = o.stream;
    this.group = o.group;
    this.consumer = o.consumer ?? `${hostname()}-${process.pid}-${randomId().slice(0, 6)}`;
    this.deadLetter = o.deadLetter ?? o.stream + DEAD_LETTER_SUFFIX;
    if (this.deadLetter === this.stream) throw new InvalidArgumentError('the dead-letter stream must differ from the stream');
    this.#redis = o.redis;
    this.#replay = scopeReplayStore(o.replay, `xgroup:${o.group}`);
    this.#open = openOptionsOf(o, o.ctx ?? o.stream);
    this.#verdicts = new AdapterVerdicts({ adapter: 'redis-streams', consumerCtx: typeof this.#open.ctx === 'string' ? this.#open.ctx : this.#open.ctx[0]!, keptIn: this.deadLetter, logger: o.logger });
    this.#concurrency = o.concurrency ?? 10;
    if (!Number.isSafeInteger(this.#concurrency) || this.#concurrency < 1) throw new InvalidArgumentError('concurrency must be a positive whole number');
    this.#block = durationOption(o.block, 5000, 'block');
    this.#minIdle = durationOption(o.minIdle, 60_000, 'minIdle');
    this.#claimEvery = Math.max(10, durationOption(o.claimInterval, Math.min(30_000, Math.floor(this.#minIdle / 2)), 'claimInterval'));
    this.#lease = o.lease === undefined ? DEFAULT_LEASE_MS : parseLease(o.lease);
    if (o.maxDeliveries !== undefined && (!Number.isSafeInteger(o.maxDeliveries) || o.maxDeliveries < 1)) throw new InvalidArgumentError('maxDeliveries must be a positive whole number');
    this.#onError = o.onError ?? ((e, id) => console.error(`sealq redis-streams ${this.stream}/${this.group}${id === undefined ? '' : ` entry ${id}`}: ${e.message}`));
  }

  /**
   * Checks that the replay store is isolated from `redis` (refusing in production with
   * ERR_STORE_NOT_ISOLATED, warning elsewhere), creates the group if needed and starts reading.
   * Resolves once reading has begun.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    // Before reading anything: a store the stream's writers can change protects nothing.
    await enforceStoreIsolation(this.#o.replay, { queue: this.#redis, unsafeSharedReplayStore: this.#o.unsafeSharedReplayStore, logger: this.#o.logger, who: `stream consumer ${this.stream}/${this.group}` });
    await this.#ensureGroup();
    const reader = (this.#redis as Redis).duplicate();
    reader.on('error', () => undefined); // reported by the read loop instead
    this.#reader = reader;
    // Its CLIENT ID lets stop() wake a blocked read (standalone Redis; on Cluster stop() waits for the block to end).
    const learnId = (): Promise<void> =>
      (reader.client('ID') as Promise<unknown>).then((id) => void (this.#readerId = Number(id)), () => void (this.#readerId = undefined));
    if ((reader as { isCluster?: boolean }).isCluster !== true) {
      await learnId();
      reader.on('ready', () => void learnId());
    }
    this.#running = true;
    this.#nextClaim = 0;
    this.#loop = this.#run();
  }

  /** Stops reading, waits for the handlers already running, then closes the reading connection. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#slotFreed?.();
    const loop = this.#loop;
    let done = false;
    void loop?.finally(() => (done = true));
    // Wake the blocked XREADGROUP (it returns as if timed out, so no entry is stranded).
    for (const until = Date.now() + this.#block + 1000; !done && Date.now() < until; ) {
      if (this.#readerId !== undefined) await this.#redis.call('CLIENT', 'UNBLOCK', this.#readerId).catch(() => undefined);
      await Promise.race([loop, sleep(50)]);
    }
    await loop;
    await Promise.allSettled([...this.#active.values()]);
    this.#reader?.disconnect();
    this.#reader = undefined;
  }

  async #ensureGroup(): Promise<void> {
    try {
      await this.#redis.call('XGROUP', 'CREATE', this.stream, this.group, this.#o.startId ?? '0', 'MKSTREAM');
    } catch (e) {
      if (!/BUSYGROUP/.test(String((e as Error)?.message))) throw e;
    }
  }

  async #run(): Promise<void> {
    let backoff = 100;
    while (this.#running) {
      try {
        await this.#freeSlot();
        if (!this.#running) break;
        if (Date.now() >= this.#nextClaim) {
          await this.#reclaim();
          this.#nextClaim = Date.now() + this.#claimEvery;
        }
        const free = this.#concurrency - this.#active.size;
        if (free <= 0) continue;
        const block = Math.max(1, Math.min(this.#block, this.#nextClaim - Date.now()));
        const reply: unknown = await this.#reader!.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', free, 'BLOCK', block, 'STREAMS', this.stream, '>');
        for (const e of readReplyEntries(reply)) this.#dispatch(e, false); // RESP2 and RESP3 shapes
        backoff = 100;
      } catch (e) {
        if (!this.#running) break;
        if (/NOGROUP/.test(String((e as Error)?.message))) {
          await this.#ensureGroup().catch(() => undefined); // the stream or group was deleted
        } else {
          this.#onError(errorOf(e));
        }
        await sleep(backoff);
        backoff = Math.min(5000, backoff * 2);
      }
    }
  }

  #freeSlot(): Promise<void> {
    if (this.#active.size < this.#concurrency) return Promise.resolve();
    return new Promise((resolve) => (this.#slotFreed = resolve));
  }

  /** XAUTOCLAIM: takes over entries pending longer than minIdle (crashed consumers, failed handlers). */
  async #reclaim(): Promise<void> {
    const free = this.#concurrency - this.#active.size;
    if (free <= 0) return;
    const reply = (await this.#redis.callBuffer('XAUTOCLAIM', this.stream, this.group, this.consumer, this.#minIdle, this.#cursor, 'COUNT', free)) as [Buffer, Entry[], Buffer[]?];
    this.#cursor = String(reply[0]);
    for (const e of reply[1]) {
      if (e === null || e[1] === null) {
        // Deleted from the stream (trimmed) while pending (Redis 6.2 lists these): nothing left to process.
        if (e !== null) await this.#redis.call('XACK', this.stream, this.group, String(e[0]));
        continue;
      }
      if (!this.#active.has(String(e[0]))) this.#dispatch(e, true);
    }
  }

  #dispatch(entry: Entry, redelivered: boolean): void {
    const id = String(entry[0]);
    if (this.#active.has(id)) return;
    const p = this.#process(id, entry[1] ?? [], redelivered)
      .catch((e: unknown) => this.#onError(errorOf(e), id))
      .finally(() => {
        this.#active.delete(id);
        const wake = this.#slotFreed;
        this.#slotFreed = undefined;
        wake?.();
      });
    this.#active.set(id, p);
  }

  async #process(id: string, fields: Buffer[], redelivered: boolean): Promise<void> {
    let envelope: Buffer | undefined;
    const extra: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!.toString('utf8');
      if (name === ENVELOPE_FIELD && envelope === undefined) envelope = fields[i + 1]!;
      else if (name !== ENVELOPE_FIELD) extra[name] = fields[i + 1]!.toString('utf8');
    }
    let msg: ClaimedMessage;
    if (envelope === undefined) {
      const unsigned = new MalformedError(`stream entry has no "${ENVELOPE_FIELD}" field: it was not sealed (added with a plain XADD?)`);
      const typ = this.#open.typ;
      const report = modeFor(this.#open.mode, this.#verdicts.consumerCtx, typeof typ === 'string' ? typ : undefined) === 'report';
      this.#verdicts.rejectedBeforeOpen(unsigned.code, report);
      if (!report) {
        await this.#toDeadLetter(id, fields, redelivered, unsigned);
        return;
      }
      // Report mode: the handler gets the entry's fields, no payload, nothing verified and nothing claimed.
      const done = async (): Promise<void> => undefined;
      msg = { payload: Buffer.alloc(0), header: UNREAD_HEADER, validUntil: 0, wouldReject: unsigned, complete: done, release: done, extend: async () => true };
    } else try {
      msg = await openAndClaim(this.#o.keyring, envelope, { ...this.#open, replay: this.#replay, lease: this.#lease });
    } catch (e) {
      if (isSealqError(e) && e.retryable) {
        this.stats.retried++; // in flight elsewhere, or the replay store could not answer: try later
        this.#onError(e, id);
      } else if (e instanceof RejectionError) {
        await this.#toDeadLetter(id, fields, redelivered, e);
      } else {
        this.stats.retried++; // a usage error (bad options): keep the entry until that is fixed
        this.#onError(errorOf(e), id);
      }
      return;
    }
    if (msg.wouldReject !== undefined) this.#verdicts.letThrough(msg);
    const keepAlive = this.#keepAlive(id, msg);
    try {
      const m: StreamMessage = { payload: msg.payload, header: msg.header, validUntil: msg.validUntil, stream: this.stream, entryId: id, fields: extra, redelivered };
      await this.#o.handler(msg.wouldReject === undefined ? m : { ...m, wouldReject: msg.wouldReject });
    } catch (e) {
      clearInterval(keepAlive);
      await msg.release().catch(() => undefined); // the lease expires anyway
      if (this.#o.maxDeliveries !== undefined && (await this.#deliveries(id)) >= this.#o.maxDeliveries) {
        await this.#toDeadLetter(id, fields, redelivered, { code: HANDLER_FAILED, message: `handler failed on every one of ${this.#o.maxDeliveries} deliveries; last error: ${errorOf(e).message}` });
        return;
      }
      this.stats.retried++;
      this.#onError(errorOf(e), id);
      return;
    }
    clearInterval(keepAlive);
    if (!(await this.#complete(id, msg, fields, redelivered))) return;
    await this.#redis.call('XACK', this.stream, this.group, id);
    this.stats.processed++;
  }

  /**
   * Records the completion (complete() retries while the lease holds), resetting the entry's idle
   * time meanwhile so that nobody reclaims it. If it cannot be recorded the handler did run: the
   * entry is dead-lettered as ERR_COMPLETION_NOT_RECORDED and acked, for an operator to decide,
   * never retried automatically (that would run it twice); false then.
   */
  async #complete(id: string, msg: ClaimedMessage, fields: Buffer[], redelivered: boolean): Promise<boolean> {
    const touch = setInterval(() => void this.#redis.call('XCLAIM', this.stream, this.group, this.consumer, 0, id, 'JUSTID').catch(() => undefined), renewalInterval(this.#minIdle));
    try {
      await msg.complete();
      return true;
    } catch (e) {
      if (!(e instanceof CompletionNotRecordedError)) throw e;
      await this.#toDeadLetter(id, fields, redelivered, e);
      return false;
    } finally {
      clearInterval(touch);
    }
  }

  /** While the handler runs: renew the replay lease and reset the entry's idle time, so nobody reclaims it. */
  #keepAlive(id: string, msg: ClaimedMessage): NodeJS.Timeout {
    const every = renewalInterval(Math.min(this.#lease, this.#minIdle));
    return setInterval(() => {
      msg.extend(this.#lease).catch(() => undefined);
      this.#redis.call('XCLAIM', this.stream, this.group, this.consumer, 0, id, 'JUSTID').catch(() => undefined);
    }, every);
  }

  async #deliveries(id: string): Promise<number> {
    try {
      const r = (await this.#redis.call('XPENDING', this.stream, this.group, id, id, 1)) as Array<[string, string, number, number]>;
      return Number(r[0]?.[3] ?? 0);
    } catch {
      return 0;
    }
  }

  async #toDeadLetter(id: string, fields: Buffer[], redelivered: boolean, e: { code: DeadLetterCode; message: string }): Promise<void> {
    const d = { code: e.code, reason: e.message, at: new Date().toISOString(), stream: this.stream, group: this.group, consumer: this.consumer, entryId: id, redelivered };
    // XADD first: if the XACK is lost the entry is dead-lettered again, never dropped.
    await this.#redis.call('XADD', this.deadLetter, '*', ...deadLetterFields(d, fields));
    await this.#redis.call('XACK', this.stream, this.group, id);
    this.stats.deadLettered++;
    this.#verdicts.deadLettered(e.code, envelopeIn(fields));
    this.#o.onDeadLetter?.({ ...d, fields });
  }
}

/** The envelope field of an entry, if it has one. */
function envelopeIn(fields: readonly Buffer[]): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString('utf8') === ENVELOPE_FIELD) return fields[i + 1];
  return undefined;
}
