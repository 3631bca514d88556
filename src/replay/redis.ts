import { Command, Redis } from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';
import { parseDuration } from '../duration.js';
import { randomId } from '../envelope/id.js';
import { InvalidArgumentError, ReplayStoreUnavailableError } from '../errors.js';
import { checkStoreIsolation } from './isolation.js';
import { positiveMs } from './positive-ms.js';
import { INSPECT } from '../redact.js';
import type { CheckStoreIsolationOptions, QueueConnection } from './isolation.js';
import { REPLAY_SCRIPT, REPLAY_SCRIPT_SHA } from './redis-script.js';
import type { ScriptOp } from './redis-script.js';
import type { ClaimOutcome, ReplayKey, ReplayStore, StoreIsolationReport } from './store.js';

export { checkStoreIsolation, assertStoreIsolated, DEFAULT_ISOLATION_CHECK_TIMEOUT_MS } from './isolation.js';
export type { CheckStoreIsolationOptions, QueueConnection } from './isolation.js';
export type { StoreIsolationReport } from './store.js';

/**
 * The distributed replay store (DESIGN "Replay and retries"): one Redis key per message, moved
 * through leased -> completed by one Lua script (see redis-script.ts).
 *
 * Key: <prefix>{<len(ctx)>:<ctx>:<id>}, with "{", "}" and "%" inside ctx and id %-escaped. The
 * whole (ctx, id) pair is the hash tag, so on Redis Cluster every message key hashes to its own
 * slot (an even spread), and the prefix can carry no tag of its own.
 *
 * Operations issued before the event loop turns are sent together: on a standalone Redis as
 * script calls of up to `batch` operations each (usually one), written straight to the
 * connection; on Cluster as one script call per operation (ioredis groups those per node when the
 * client auto-pipelines).
 */

export type RedisClient = Redis | Cluster;

export interface RedisReplayStoreOptions {
  /**
   * The Redis to use: an ioredis client (Redis or Cluster) you own, a `redis://` / `rediss://`
   * URL, or ioredis options. From a URL or options the store creates its own client and
   * `close()` closes it; a client you pass stays yours. Default: redis://127.0.0.1:6379.
   */
  redis?: RedisClient | string | RedisOptions;
  /** Key prefix (default `sealq:r:`). May not contain `{` or `}` (a hash tag would change the slot). */
  prefix?: string;
  /** An operation that has not answered within this time fails with ERR_REPLAY_STORE_UNAVAILABLE. Default 2s. */
  timeout?: number | string;
  /**
   * Kept on top of the retention the core asks for, to cover clock differences between consumers
   * (one consumer's "still valid" may last longer than another's). Default 60s.
   */
  extraRetain?: number | string;
  /**
   * Most operations per script call on a standalone Redis (default 256). 1 sends one script call
   * per operation, as on Cluster; a server that refuses keys of several slots in one call (a
   * proxy in front of a cluster) is detected and switched to 1 automatically.
   */
  batch?: number;
}

export const DEFAULT_REDIS_PREFIX = 'sealq:r:';
export const DEFAULT_REDIS_TIMEOUT_MS = 2000;
export const DEFAULT_EXTRA_RETAIN_MS = 60_000;
export const DEFAULT_REDIS_BATCH = 256;

interface Op {
  readonly op: ScriptOp;
  readonly key: string;
  readonly value: string;
  readonly ms: number;
  readonly resolve: (v: number) => void;
  readonly reject: (e: Error) => void;
  settled: boolean;
}

type ScriptClient = { sealqReplayV1(key: string, op: string, value: string, ms: number): Promise<unknown> };

const WHAT: Record<ScriptOp, string> = { c: 'claim the message', d: 'mark the message completed', r: 'release the message', e: 'extend the lease' };

const isClient = (v: unknown): v is RedisClient =>
  typeof v === 'object' && v !== null && typeof (v as { defineCommand?: unknown }).defineCommand === 'function' && typeof (v as { pipeline?: unknown }).pipeline === 'function';

const TAG_CHAR = /[{}%]/;
const TAG_CHARS = /[{}%]/g;
const escapeTag = (s: string): string => (TAG_CHAR.test(s) ? s.replace(TAG_CHARS, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()) : s);

/** Only the error's message, shortened: ioredis messages name host and port, never a password. */
const why = (e: unknown): string => String((e as Error)?.message ?? e).slice(0, 200);

const CROSS_SLOT = /CROSSSLOT|cross.?slot|same slot/i;

/** EVALSHA / EVAL arguments: the script (or its SHA), numkeys, KEYS, then op, value, ms per key (the script's ARGV layout). */
function scriptArgs(chunk: readonly Op[], script: string): Array<string | number> {
  const n = chunk.length;
  const args: Array<string | number> = new Array(2 + n * 4);
  args[0] = script;
  args[1] = n;
  for (let i = 0; i < n; i++) {
    const o = chunk[i]!;
    args[2 + i] = o.key;
    args[2 + n + 3 * i] = o.op;
    args[2 + n + 3 * i + 1] = o.value;
    args[2 + n + 3 * i + 2] = o.ms;
  }
  return args;
}

/** Settles an operation once: whichever of reply, error or timeout comes first wins. */
function settle(op: Op, err: Error | undefined, value?: number): void {
  if (op.settled) return;
  op.settled = true;
  if (err === undefined) op.resolve(value!);
  else op.reject(err);
}

/**
 * Replay store in Redis (standalone, Sentinel or Cluster) shared by any number of consumers.
 * Fails closed: Redis unreachable, erroring, or slower than `timeout` -> ERR_REPLAY_STORE_UNAVAILABLE
 * (retryable), and the message is not processed.
 */
export class RedisReplayStore implements ReplayStore {
  // Private, behind a getter: the client's options hold the password, and a spread or a logger
  // walking the store's own properties must not reach them.
  readonly #client: RedisClient;
  readonly prefix: string;
  readonly #owned: boolean;
  readonly #timeout: number;
  readonly #extra: number;
  readonly #cluster: boolean;
  #batch: number;
  #lastError: string | undefined;
  #fatal: string | undefined;
  #queue: Op[] = [];
  #scheduled = false;
  readonly #inflight = new Set<Promise<void>>();
  #readyWait: Promise<void> | undefined;
  // Lease tokens only need to be unique (they tell this claim from any other, and anyone who can
  // read Redis sees them anyway): 128 random bits per store and a counter.
  readonly #tokenBase = randomId() + '.';
  #tokens = 0;
  #lastCtx: string | undefined;
  #ctxPart = '';

  constructor(options: RedisReplayStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('RedisReplayStore options must be an object');
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (typeof this.prefix !== 'string' || /[{}]/.test(this.prefix)) {
      throw new InvalidArgumentError('prefix must be a string without "{" or "}": a hash tag in the prefix would put every message key in one Redis Cluster slot');
    }
    this.#timeout = options.timeout === undefined ? DEFAULT_REDIS_TIMEOUT_MS : parseDuration(options.timeout, 'timeout');
    if (this.#timeout < 1) throw new InvalidArgumentError('timeout must be at least 1 ms');
    this.#extra = options.extraRetain === undefined ? DEFAULT_EXTRA_RETAIN_MS : parseDuration(options.extraRetain, 'extraRetain');
    this.#batch = options.batch ?? DEFAULT_REDIS_BATCH;
    if (!Number.isSafeInteger(this.#batch) || this.#batch < 1 || this.#batch > 10_000) throw new InvalidArgumentError('batch must be a whole number from 1 to 10000');

    const r = options.redis ?? 'redis://127.0.0.1:6379';
    if (isClient(r)) {
      this.#client = r;
      this.#owned = false;
    } else {
      const ours: RedisOptions = {
        // Nothing is held back while disconnected: an operation that already failed (timed out
        // during an outage) must never reach Redis later, after a reconnect, and leave a lease
        // nobody holds. The store itself waits for the connection, within the timeout.
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 1,
        // A connection that stops answering (a paused server, a lost route) is dropped and redialled.
        socketTimeout: Math.max(10_000, 5 * this.#timeout),
        connectTimeout: Math.max(1000, this.#timeout),
      };
      if (typeof r === 'string') {
        if (!/^rediss?:\/\//i.test(r)) throw new InvalidArgumentError('redis must be an ioredis client, ioredis options, or a redis:// or rediss:// URL');
        this.#client = new Redis(r, ours);
      } else if (typeof r === 'object' && r !== null) {
        this.#client = new Redis({ ...ours, ...r });
      } else {
        throw new InvalidArgumentError('redis must be an ioredis client, ioredis options, or a redis:// or rediss:// URL');
      }
      this.#owned = true;
      // Without a listener ioredis prints every connection error; the next call reports it instead.
      this.#client.on('error', (e: unknown) => {
        this.#lastError = why(e);
        // ioredis carries on in database 0 when SELECT fails: refuse rather than use another database.
        if (/DB index|invalid DB/i.test(this.#lastError)) this.#fatal = `Redis refused the database in the URL (${this.#lastError})`;
      });
    }
    this.#cluster = (this.#client as { isCluster?: boolean }).isCluster === true;
    if (this.#cluster && typeof (this.#client as unknown as Partial<ScriptClient>).sealqReplayV1 !== 'function') {
      // EVALSHA, falling back to EVAL on NOSCRIPT; auto-pipelined per node when the client
      // auto-pipelines (ioredis routes by the first argument, so the key must come first).
      this.#client.defineCommand('sealqReplayV1', { numberOfKeys: 1, lua: REPLAY_SCRIPT });
    }
  }

  /**
   * The ioredis client the store talks through. One the store created queues nothing while
   * disconnected (`enableOfflineQueue: false`): wait for its `ready` event before using it yourself.
   * Its options hold the Redis password: do not log it.
   */
  get client(): RedisClient {
    return this.#client;
  }

  /** Where the store is, for logs: the server with the password replaced by `[redacted]`. */
  #describe(): { redis: string; prefix: string } {
    const o = ((this.#client as { options?: Partial<RedisOptions> }).options ?? {}) as Partial<RedisOptions> & { sentinels?: unknown[]; name?: string };
    let redis: string;
    if (this.#cluster) {
      redis = 'Redis Cluster';
    } else {
      const auth = o.username || o.password ? `${o.username ?? ''}${o.password ? ':[redacted]' : ''}@` : '';
      const where = Array.isArray(o.sentinels) && o.sentinels.length > 0 ? `sentinel/${o.name ?? ''}` : o.path ? o.path : `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
      redis = `${o.tls ? 'rediss' : 'redis'}://${auth}${where}${o.db ? `/${o.db}` : ''}`;
    }
    return { redis, prefix: this.prefix };
  }

  [INSPECT](): string {
    const d = this.#describe();
    return `RedisReplayStore { redis: ${JSON.stringify(d.redis)}, prefix: ${JSON.stringify(d.prefix)} }`;
  }

  toJSON(): { redis: string; prefix: string } {
    return this.#describe();
  }

  /** The Redis key that remembers (ctx, id). */
  keyOf(key: ReplayKey): string {
    // Escaping is per character, so ctx and id are escaped apart; the ctx part (a queue name,
    // the same for most calls) is kept from the last call.
    if (key.ctx !== this.#lastCtx) {
      this.#lastCtx = key.ctx;
      this.#ctxPart = `${this.prefix}{${key.ctx.length}:${escapeTag(key.ctx)}:`;
    }
    return `${this.#ctxPart}${escapeTag(key.id)}}`;
  }

  async claim(key: ReplayKey, leaseMs: number, retainMs: number): Promise<ClaimOutcome> {
    positiveMs(retainMs, 'retainMs');
    const token = this.#tokenBase + (++this.#tokens).toString(36);
    const r = await this.#call('c', key, 'l' + token, positiveMs(leaseMs, 'leaseMs'));
    if (r === 0) return { status: 'claimed', token };
    return r === 2 ? { status: 'in-flight' } : { status: 'completed' };
  }

  async complete(key: ReplayKey, token: string, retainMs: number): Promise<boolean> {
    return (await this.#call('d', key, 'l' + token, positiveMs(retainMs, 'retainMs') + this.#extra)) === 1;
  }

  async release(key: ReplayKey, token: string): Promise<boolean> {
    return (await this.#call('r', key, 'l' + token, 0)) === 1;
  }

  async extend(key: ReplayKey, token: string, leaseMs: number): Promise<boolean> {
    return (await this.#call('e', key, 'l' + token, positiveMs(leaseMs, 'leaseMs'))) === 1;
  }

  /**
   * Reads the server's settings and returns what would weaken replay protection (an eviction
   * policy that may drop remembered ids before they expire). Empty when all is well.
   */
  async checkServer(): Promise<string[]> {
    if (this.#owned && this.#client.status !== 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#ready(), new Promise((resolve) => (timer = setTimeout(resolve, this.#timeout)))]);
      clearTimeout(timer);
    }
    const info = String(await this.#client.info('memory'));
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy === undefined || policy === 'noeviction') return [];
    return [`maxmemory-policy is ${policy}: under memory pressure Redis may evict remembered message ids and allow replays; use noeviction (writes then fail, and the store fails closed)`];
  }

  /**
   * Shows whether `queue` (the connection queue writers use: an ioredis client, URL or options)
   * can change this store's records. See checkStoreIsolation.
   */
  checkIsolation(queue: QueueConnection | undefined, options?: CheckStoreIsolationOptions): Promise<StoreIsolationReport> {
    return checkStoreIsolation(this, queue, options);
  }

  /** Closes the client if the store created it (after answers to operations already sent); a client you passed stays open. */
  async close(): Promise<void> {
    if (!this.#owned || this.#client.status === 'end') return;
    await new Promise((resolve) => setImmediate(resolve)); // operations issued just before close() go out first
    if (this.#inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.#inflight]), new Promise((resolve) => (timer = setTimeout(resolve, this.#timeout)))]);
      clearTimeout(timer);
    }
    // disconnect, not QUIT: a QUIT to a server that has gone away would leave ioredis's socket timer running.
    this.#client.disconnect();
  }

  #call(op: ScriptOp, key: ReplayKey, value: string, ms: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ op, key: this.keyOf(key), value, ms, resolve, reject, settled: false });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // Like ioredis's auto-pipelining: what was issued until the event loop turns goes out together.
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    const ops = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    // One timer for the whole flush: it bounds every operation in it, waiting for a connection
    // and retries included.
    let expired!: () => void;
    const deadline = new Promise<void>((resolve) => (expired = resolve));
    const timer = setTimeout(() => {
      for (const op of ops) if (!op.settled) settle(op, this.#timedOut(op));
      expired();
    }, this.#timeout);
    const sent = this.#dispatch(ops, deadline).then(
      () => clearTimeout(timer),
      (e: unknown) => {
        clearTimeout(timer);
        for (const op of ops) settle(op, this.#failed(op, e));
      },
    );
    this.#inflight.add(sent);
    void sent.finally(() => this.#inflight.delete(sent));
  };

  async #dispatch(ops: Op[], deadline: Promise<void>): Promise<void> {
    if (this.#owned && this.#client.status !== 'ready') {
      // Our client queues nothing while disconnected (see the constructor): wait for it here,
      // within the timeout, and send only what has not failed meanwhile.
      await Promise.race([this.#ready(), deadline]);
      ops = ops.filter((op) => !op.settled);
      if (ops.length === 0) return;
    }
    if (this.#cluster) {
      await Promise.all(ops.map((op) => this.#sendOne(op)));
      return;
    }
    const size = this.#batch;
    if (ops.length <= size) return this.#sendChunk(ops, false);
    const chunks: Array<Promise<void>> = [];
    for (let i = 0; i < ops.length; i += size) chunks.push(this.#sendChunk(ops.slice(i, i + size), false));
    await Promise.all(chunks);
  }

  /** Resolves once the client is ready (or has ended for good, when sending fails by itself). */
  #ready(): Promise<void> {
    if (this.#client.status === 'wait') this.#client.connect().catch(() => undefined); // lazyConnect
    return (this.#readyWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.#client.off('ready', done);
        this.#client.off('end', done);
        this.#readyWait = undefined;
        resolve();
      };
      this.#client.on('ready', done);
      this.#client.on('end', done);
    }));
  }

  #failed(op: Op, e: unknown): ReplayStoreUnavailableError {
    // ioredis reports an unreachable server as "max retries per request": say what happened instead.
    const reason = /max retries per request|Connection is closed/i.test(why(e)) && this.#lastError !== undefined ? `Redis is not reachable (${this.#lastError})` : why(e);
    return new ReplayStoreUnavailableError(`Redis replay store could not ${WHAT[op.op]}: ${reason}; the message can be retried`, { cause: e });
  }

  #timedOut(op: Op): ReplayStoreUnavailableError {
    const last = this.#lastError === undefined ? '' : ` (last connection error: ${this.#lastError})`;
    return new ReplayStoreUnavailableError(`Redis replay store did not ${WHAT[op.op]} within ${this.#timeout} ms${last}; nothing was marked, the message can be retried`);
  }

  #deliver(chunk: readonly Op[], reply: unknown): void {
    if (!Array.isArray(reply) || reply.length !== chunk.length) {
      for (const op of chunk) settle(op, this.#failed(op, new Error('unexpected reply from the replay script')));
      return;
    }
    for (let i = 0; i < chunk.length; i++) {
      const op = chunk[i]!;
      const v = Number(reply[i]);
      if (v >= 0) settle(op, undefined, v);
      else settle(op, this.#failed(op, new Error(`key ${JSON.stringify(op.key.slice(0, 300))} holds a value that is not a sealq replay record; remove it or use another prefix`)));
    }
  }

  /**
   * One script call for a chunk of operations, written straight to the connection (a pipeline or
   * the client's auto-pipelining would only add a round of bookkeeping: the chunk already is the
   * batch). NOSCRIPT (the server's script cache was flushed: restart, failover) resends it once
   * with the script itself (EVAL, which also caches it again); a cross-slot refusal switches to
   * one operation per call and resends once.
   */
  async #sendChunk(chunk: Op[], retried: boolean): Promise<void> {
    if (this.#fatal !== undefined) throw new Error(this.#fatal);
    const n = chunk.length;
    const args = scriptArgs(chunk, retried ? REPLAY_SCRIPT : REPLAY_SCRIPT_SHA);
    let reply: unknown;
    try {
      reply = await this.#client.sendCommand(new Command(retried ? 'eval' : 'evalsha', args, { replyEncoding: 'utf8', keyPrefix: (this.#client as Redis).options.keyPrefix }));
    } catch (e) {
      if (!retried && /NOSCRIPT/.test(why(e))) return this.#sendChunk(chunk, true);
      if (!retried && n > 1 && CROSS_SLOT.test(why(e))) {
        this.#batch = 1;
        await Promise.all(chunk.map((op) => this.#sendChunk([op], false)));
        return;
      }
      for (const op of chunk) settle(op, this.#failed(op, e));
      return;
    }
    if (this.#fatal !== undefined) throw new Error(this.#fatal);
    this.#deliver(chunk, reply);
  }

  async #sendOne(op: Op): Promise<void> {
    try {
      this.#deliver([op], await (this.#client as unknown as ScriptClient).sealqReplayV1(op.key, op.op, op.value, op.ms));
    } catch (e) {
      settle(op, this.#failed(op, e));
    }
  }
}

