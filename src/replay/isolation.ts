import { Redis } from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';
import { parseDuration } from '../duration.js';
import { randomId } from '../envelope/id.js';
import { InvalidArgumentError, StoreNotIsolatedError } from '../errors.js';
import { storeIsolationMessage } from './isolation-policy.js';
import { REPLAY_SCRIPT_SHA } from './redis-script.js';
import type { RedisReplayStore } from './redis.js';
import type { StoreIsolationReport } from './store.js';

/**
 * The start-up check that the Redis replay store lives where queue writers cannot write
 * (DESIGN "Replay and retries"; docs/redis.md "Isolating the replay store").
 *
 * Mechanism: on a connection of its own made with the queue's credentials, the check opens a
 * transaction (MULTI), issues every command that could erase or rewrite a store record (DEL,
 * UNLINK, SET, EXPIRE, RENAME, EVAL, ... on a key under the store's prefix) and every server-wide
 * one that could (FLUSHALL, SWAPDB, CONFIG SET, ACL SETUSER, REPLICAOF, ...), and then discards
 * the transaction: nothing is ever executed. Redis checks ACL permissions when it queues a
 * command, so each answer is QUEUED (the queue's user may run it) or NOPERM (it may not). This
 * needs no administrative command (ACL DRYRUN would need ACL rights the store and queue users
 * should not have) and works on Redis 6 and later, standalone, Sentinel and Cluster (every master).
 *
 * If the queue's user may run any of them, the check asks whether the queue's connection reaches
 * the store's data at all: the store writes a marker record, and the queue's connection looks for
 * it. Not found: the store is on a separate Redis, which is isolated too. Found, or no way to
 * tell: not isolated.
 */

/** The connection queue writers use: an ioredis client (Redis or Cluster), a redis:// URL, or ioredis options. */
export type QueueConnection = Redis | Cluster | RedisOptions | string;

export interface CheckStoreIsolationOptions {
  /** Bound on the whole check. Default 10s. */
  timeout?: number | string;
}

export const DEFAULT_ISOLATION_CHECK_TIMEOUT_MS = 10_000;

/** The replay context of the check's marker record: no queue's messages use it. */
const MARKER_CTX = 'sealq.isolation-check';

type Args = Array<string | number>;
/** Commands that erase or rewrite one key: run against a store key `k` (`k2`: another one in the same slot). */
const KEY_COMMANDS: ReadonlyArray<readonly [string, (k: string, k2: string) => Args]> = [
  ['DEL', (k) => ['DEL', k]],
  ['UNLINK', (k) => ['UNLINK', k]],
  ['SET', (k) => ['SET', k, '1']],
  ['GETDEL', (k) => ['GETDEL', k]],
  ['GETEX', (k) => ['GETEX', k, 'PERSIST']],
  ['EXPIRE', (k) => ['EXPIRE', k, 1]],
  ['PEXPIRE', (k) => ['PEXPIRE', k, 1]],
  ['EXPIREAT', (k) => ['EXPIREAT', k, 1]],
  ['PEXPIREAT', (k) => ['PEXPIREAT', k, 1]],
  ['PERSIST', (k) => ['PERSIST', k]],
  ['RENAME', (k, k2) => ['RENAME', k2, k]],
  ['RENAMENX', (k, k2) => ['RENAMENX', k2, k]],
  ['COPY', (k, k2) => ['COPY', k2, k, 'REPLACE']],
  ['MOVE', (k) => ['MOVE', k, 1]],
  ['RESTORE', (k) => ['RESTORE', k, 0, 'x', 'REPLACE']],
  ['MIGRATE', (k) => ['MIGRATE', '127.0.0.1', 1, k, 0, 1]],
  ['APPEND', (k) => ['APPEND', k, 'x']],
  ['HSET', (k) => ['HSET', k, 'f', 'v']],
  ['EVAL', (k) => ['EVAL', 'return 1', 1, k]],
  ['EVALSHA', (k) => ['EVALSHA', REPLAY_SCRIPT_SHA, 1, k, 'r', 'x', 0]],
  ['FCALL', (k) => ['FCALL', 'sealq_isolation_check', 1, k]],
];
/** Server-wide commands that erase the store or hand the server to someone else. Never executed (see above). */
const SERVER_COMMANDS: ReadonlyArray<readonly [string, Args]> = [
  ['FLUSHALL', ['FLUSHALL']],
  ['FLUSHDB', ['FLUSHDB']],
  ['SWAPDB', ['SWAPDB', 0, 0]],
  ['CONFIG SET', ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']],
  ['ACL SETUSER', ['ACL', 'SETUSER', 'sealq-isolation-check']],
  ['ACL DELUSER', ['ACL', 'DELUSER', 'sealq-isolation-check']],
  ['REPLICAOF', ['REPLICAOF', 'NO', 'ONE']],
  ['SLAVEOF', ['SLAVEOF', 'NO', 'ONE']],
  ['FAILOVER', ['FAILOVER', 'ABORT']],
  ['DEBUG', ['DEBUG', 'SLEEP', 0]],
  ['MODULE LOAD', ['MODULE', 'LOAD', 'sealq-isolation-check.so']],
];

/**
 * Probe connections: nothing queued while disconnected, nothing resent after a reconnect (a
 * command resent on a new connection would run outside the transaction), no reconnecting.
 */
const PROBE_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
  reconnectOnError: () => false,
  enableReadyCheck: false,
  enableAutoPipelining: false,
  keyPrefix: '',
  connectTimeout: 5000,
};

const isClient = (v: unknown): v is Redis | Cluster => typeof v === 'object' && v !== null && typeof (v as { duplicate?: unknown }).duplicate === 'function';
const isCluster = (v: unknown): boolean => (v as { isCluster?: unknown })?.isCluster === true;
const message = (e: unknown): string => String((e as Error)?.message ?? e).slice(0, 200);

type Verdict = 'allowed' | 'denied' | 'unclear';

function verdict(r: PromiseSettledResult<unknown>): Verdict {
  if (r.status === 'fulfilled') return r.value === 'QUEUED' ? 'allowed' : 'unclear';
  const m = message(r.reason);
  if (/^NOPERM/.test(m)) return 'denied';
  // Refused before any ACL check, for every user: not on this server, or disabled in its configuration.
  if (/^ERR unknown (command|subcommand)/i.test(m) || /^ERR (DEBUG|MODULE) command not allowed/.test(m)) return 'denied';
  // Redis checks ACLs before cluster routing: a redirect means the user may run it.
  if (/^(MOVED|ASK|CROSSSLOT|CLUSTERDOWN|TRYAGAIN)\b/.test(m)) return 'allowed';
  return 'unclear';
}

interface ProbeResult {
  user?: string;
  allowedOnKeys: string[];
  allowedOnServer: string[];
  unclear: string[];
  failed?: string;
}

/** Queues every command in a transaction on `conn`, then discards it; reads whether each was allowed. */
async function probe(conn: Redis, k: string, k2: string): Promise<ProbeResult> {
  const out: ProbeResult = { allowedOnKeys: [], allowedOnServer: [], unclear: [] };
  out.user = await conn.call('ACL', 'WHOAMI').then((u) => String(u), () => undefined);
  try {
    await conn.call('MULTI');
  } catch (e) {
    out.failed = `the queue's connection may not run MULTI (${message(e)}), which the check needs: allow MULTI and DISCARD`;
    return out;
  }
  // Nothing more is sent unless the server queues commands now: a proxy that passed MULTI on
  // without transaction semantics would otherwise run them.
  const canary = await conn.call('PING').then((v) => v, (e: unknown) => message(e));
  if (canary !== 'QUEUED') {
    conn.disconnect();
    out.failed = `the queue's connection does not behave like a Redis transaction after MULTI (PING answered ${JSON.stringify(String(canary).slice(0, 60))})`;
    return out;
  }
  const keyCalls = KEY_COMMANDS.map(([, args]) => conn.call(...(args(k, k2) as [string, ...Args])));
  const serverCalls = SERVER_COMMANDS.map(([, args]) => conn.call(...(args as [string, ...Args])));
  const [keyReplies, serverReplies] = await Promise.all([Promise.allSettled(keyCalls), Promise.allSettled(serverCalls)]);
  await conn.call('DISCARD').catch(() => undefined);
  keyReplies.forEach((r, i) => {
    const v = verdict(r);
    if (v === 'allowed') out.allowedOnKeys.push(KEY_COMMANDS[i]![0]);
    else if (v === 'unclear') out.unclear.push(`${KEY_COMMANDS[i]![0]} (${r.status === 'rejected' ? message(r.reason) : String(r.value)})`);
  });
  serverReplies.forEach((r, i) => {
    const v = verdict(r);
    if (v === 'allowed') out.allowedOnServer.push(SERVER_COMMANDS[i]![0]);
    else if (v === 'unclear') out.unclear.push(`${SERVER_COMMANDS[i]![0]} (${r.status === 'rejected' ? message(r.reason) : String(r.value)})`);
  });
  return out;
}

/** Connections of our own with the queue's credentials: one, or one per master of a Cluster. */
async function connect(queue: Redis | Cluster | RedisOptions | string, opened: Array<Redis | Cluster>): Promise<Redis[]> {
  const open = async (c: Redis): Promise<Redis> => {
    opened.push(c);
    c.on('error', () => undefined); // reported by the commands that fail
    await c.connect();
    return c;
  };
  if (typeof queue === 'string') {
    if (!/^rediss?:\/\//i.test(queue)) throw new InvalidArgumentError('the queue connection must be an ioredis client, ioredis options, or a redis:// or rediss:// URL');
    return [await open(new Redis(queue, PROBE_OPTIONS))];
  }
  if (!isClient(queue)) return [await open(new Redis({ ...queue, ...PROBE_OPTIONS }))];
  if (!isCluster(queue)) return [await open((queue as Redis).duplicate(PROBE_OPTIONS))];
  // Cluster: ACLs are per node, so every master is checked on a connection of its own.
  const cluster = (queue as Cluster).duplicate(undefined, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: () => null, enableReadyCheck: true });
  opened.push(cluster);
  cluster.on('error', () => undefined);
  await cluster.connect();
  const masters = cluster.nodes('master');
  if (masters.length === 0) throw new Error('the queue\'s Redis Cluster lists no masters');
  return Promise.all(masters.map((n) => open(new Redis({ ...n.options, ...PROBE_OPTIONS }))));
}

const dbOf = (c: unknown): number => Number((c as { options?: { db?: unknown } }).options?.db ?? 0) || 0;

/**
 * Whether the queue's connections see the store's data: the store writes a marker record (a lease
 * that lapses by itself), each connection looks it up in the store's database.
 * 'yes', 'no', or why it could not tell.
 */
async function reachesStore(store: RedisReplayStore, conns: Redis[]): Promise<'yes' | 'no' | string> {
  const marker = { ctx: MARKER_CTX, id: randomId() };
  const claimed = await store.claim(marker, 30_000, 30_000);
  if (claimed.status !== 'claimed') return 'the store did not accept the check\'s marker record';
  const key = ((store.client as { options?: { keyPrefix?: string } }).options?.keyPrefix ?? '') + store.keyOf(marker);
  const storeDb = isCluster(store.client) ? 0 : dbOf(store.client);
  const unclear: string[] = [];
  try {
    for (const c of conns) {
      try {
        if (dbOf(c) !== storeDb) await c.call('SELECT', storeDb);
        if ((await c.call('GET', key)) !== null) return 'yes';
      } catch (e) {
        if (/^(MOVED|ASK)\b/.test(message(e))) continue; // another master holds the marker
        unclear.push(message(e));
      }
    }
    return unclear.length === 0 ? 'no' : `could not tell whether the queue's connection reaches the store's Redis: looking up a store key answered ${unclear.join('; ')}`;
  } finally {
    await store.release(marker, claimed.token).catch(() => undefined); // it lapses by itself anyway
  }
}

async function run(store: RedisReplayStore, queue: QueueConnection, opened: Array<Redis | Cluster>): Promise<StoreIsolationReport> {
  const conns = await connect(queue, opened);
  // Keys under the store's prefix, in the store's key format (k2 shares k's hash tag, so its slot).
  const k = ((store.client as { options?: { keyPrefix?: string } }).options?.keyPrefix ?? '') + store.keyOf({ ctx: MARKER_CTX, id: randomId() });
  const results = [];
  for (const c of conns) results.push(await probe(c, k, `${k}:2`));
  const queueUser = results.find((r) => r.user !== undefined)?.user;
  const failed = results.flatMap((r) => (r.failed === undefined ? [] : [r.failed]));
  const onKeys = [...new Set(results.flatMap((r) => r.allowedOnKeys))];
  const onServer = [...new Set(results.flatMap((r) => r.allowedOnServer))];
  const unclear = [...new Set(results.flatMap((r) => r.unclear))];
  const who = queueUser === undefined ? "the queue's Redis user" : `the queue's Redis user "${queueUser}"`;
  const user = queueUser === undefined ? {} : { queueUser };
  if (failed.length === 0 && onKeys.length === 0 && onServer.length === 0 && unclear.length === 0) return { isolated: true, by: 'acl', ...user, problems: [] };

  const reach = await reachesStore(store, conns);
  if (reach === 'no') return { isolated: true, by: 'separate-server', ...user, problems: [] };
  const problems: string[] = [...failed];
  if (onKeys.length > 0) problems.push(`${who} may run ${onKeys.join(', ')} on the store's keys (prefix "${store.prefix}")`);
  if (onServer.length > 0) problems.push(`${who} may run ${onServer.join(', ')} on the store's server`);
  if (unclear.length > 0) problems.push(`could not tell whether ${who} may run ${unclear.join(', ')}`);
  if (reach !== 'yes') problems.push(reach);
  return { isolated: false, ...user, problems };
}

/**
 * Checks that the queue's credentials cannot change the replay store's records (see the top of
 * this file for how). `queue` is what queue writers connect with: the producer's or worker's
 * ioredis client, URL or options. Nothing is executed with the queue's credentials.
 * Never throws for an unsafe or unreachable setup: the report says what was found.
 */
export async function checkStoreIsolation(store: RedisReplayStore, queue: QueueConnection | undefined, options: CheckStoreIsolationOptions = {}): Promise<StoreIsolationReport> {
  const timeout = options.timeout === undefined ? DEFAULT_ISOLATION_CHECK_TIMEOUT_MS : parseDuration(options.timeout, 'timeout');
  if (timeout <= 0) throw new InvalidArgumentError('timeout must be more than 0');
  if (queue === undefined || queue === null) {
    return { isolated: false, problems: ["the queue's Redis connection is not known, so nothing shows that queue writers cannot change the store's records"] };
  }
  if (typeof queue !== 'string' && typeof queue !== 'object') throw new InvalidArgumentError('the queue connection must be an ioredis client, ioredis options, or a redis:// or rediss:// URL');
  if (queue === store.client) return { isolated: false, problems: ["the store uses the queue's own ioredis client, so the queue's credentials write the store's records"] };
  const opened: Array<Redis | Cluster> = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      run(store, queue, opened),
      new Promise<StoreIsolationReport>((resolve) => {
        timer = setTimeout(() => resolve({ isolated: false, problems: [`the check did not finish within ${timeout} ms`] }), timeout);
      }),
    ]);
  } catch (e) {
    return { isolated: false, problems: [`the check could not run: ${message(e)}`] };
  } finally {
    clearTimeout(timer);
    for (const c of opened) c.disconnect(); // also ends any transaction still open: nothing was executed
  }
}

/** checkStoreIsolation, throwing StoreNotIsolatedError (ERR_STORE_NOT_ISOLATED, saying how to fix it) unless isolated. */
export async function assertStoreIsolated(store: RedisReplayStore, queue: QueueConnection | undefined, options: CheckStoreIsolationOptions = {}): Promise<StoreIsolationReport> {
  const report = await checkStoreIsolation(store, queue, options);
  if (!report.isolated) throw new StoreNotIsolatedError(storeIsolationMessage(report, store.prefix));
  return report;
}
