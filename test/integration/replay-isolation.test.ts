// The replay store must live where queue writers cannot write. On a redis-server of the test's own
// with ACL users: with a store user and a queue user the attack (the queue's credentials delete a
// completed record, then add the message again) fails and the message runs once; with one user for
// both, or one client, the start-up check reports it, and in production the adapters refuse to run.
import { after, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { Keyring, MemoryReplayStore, StoreNotIsolatedError } from '../../src/index.js';
import type { SourceLogger } from '../../src/index.js';
import { RedisReplayStore, assertStoreIsolated, checkStoreIsolation } from '../../src/replay/redis.js';
import { failedCode, sealedProcessor, sealedQueue } from '../../src/adapters/bullmq/index.js';
import type { SealedJobData } from '../../src/adapters/bullmq/index.js';
import { SealedStreamConsumer, parseDeadLetter, xaddSealed } from '../../src/adapters/redis-streams/index.js';
import { uniqueName } from '../helpers/brokers.js';
import { startRedisServer } from '../helpers/redis.js';
import type { OwnRedisServer } from '../helpers/redis.js';
import { Fixture, settled, until } from '../fixtures/bullmq/harness.js';

const STORE_PW = 'store-secret-pw';
const APP_PW = 'app-secret-pw';
const SHARED_PW = 'shared-secret-pw';

/** The ACL users of the safe setup, as docs/redis.md gives them, and one user for everything (the unsafe setup). */
async function acl(admin: Redis): Promise<void> {
  await admin.call('ACL', 'SETUSER', 'sealq-replay', 'on', `>${STORE_PW}`, 'resetkeys', '~sealq:r:*', 'resetchannels', '-@all', '+eval', '+evalsha', '+get', '+set', '+pttl', '+pexpire', '+del', '+info', '+ping');
  await admin.call('ACL', 'SETUSER', 'app', 'on', `>${APP_PW}`, 'resetkeys', '~bull:*', '~sealq-iso-*', 'resetchannels', '+@all', '-@dangerous', '+info');
  await admin.call('ACL', 'SETUSER', 'shared', 'on', `>${SHARED_PW}`, 'resetkeys', '~*', 'resetchannels', '+@all', '-@dangerous', '+info');
}

interface Server {
  port: number;
  admin: Redis;
  url(user: 'sealq-replay' | 'app' | 'shared'): string;
  conn(user: 'app' | 'shared'): { host: string; port: number; username: string; password: string };
}

// Our servers stop after the whole file, so that every test's own clean-up (workers, consumers,
// clients, registered with t.after) runs while its server still answers.
const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const stop of stops) await stop();
});
function ownServer(args: string[] = []): Promise<OwnRedisServer> {
  return startRedisServer({ after: (fn: () => Promise<void>) => void stops.push(fn) } as unknown as TestContext, { args });
}

/** An ioredis client closed after the test. */
function client(t: TestContext, url: string): Redis {
  const c = new Redis(url);
  c.on('error', () => undefined);
  t.after(() => c.disconnect());
  return c;
}

/** Our own three-master Redis Cluster, every node with the users above. */
async function ownCluster(): Promise<Array<{ host: string; port: number }>> {
  const dir = await mkdtemp(join(tmpdir(), 'sealq-iso-cluster-'));
  const nodes: Array<{ host: string; port: number }> = [];
  for (let i = 0; i < 3; i++) {
    const { port } = await ownServer(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir]);
    nodes.push({ host: '127.0.0.1', port });
  }
  stops.push(() => rm(dir, { recursive: true, force: true }));
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  for (const n of nodes) {
    const r = new Redis(n);
    try {
      await acl(r);
      // ioredis's Cluster client reads the slot map and the cluster's state as the store's user.
      await r.call('ACL', 'SETUSER', 'sealq-replay', '+cluster|slots', '+cluster|info');
      for (let i = 0; !/cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO'))); i++) {
        if (i > 200) throw new Error('the test cluster did not become ready');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      r.disconnect();
    }
  }
  return nodes;
}

/** Our own redis-server with the users above; `default` stays the administrator. */
async function server(t: TestContext): Promise<Server> {
  const srv = await ownServer();
  const admin = client(t, srv.url);
  await acl(admin);
  const pw = { 'sealq-replay': STORE_PW, app: APP_PW, shared: SHARED_PW } as const;
  return {
    port: srv.port,
    admin,
    url: (user) => `redis://${user}:${pw[user]}@127.0.0.1:${srv.port}`,
    conn: (user) => ({ host: '127.0.0.1', port: srv.port, username: user, password: pw[user] }),
  };
}

function store(t: TestContext, redis: string | Redis): RedisReplayStore {
  const s = new RedisReplayStore({ redis });
  t.after(() => s.close());
  return s;
}

/** Sets NODE_ENV for this test only. */
function nodeEnv(t: TestContext, value: string | undefined): void {
  const before = process.env.NODE_ENV;
  if (value === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = value;
  t.after(() => {
    if (before === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = before;
  });
}

function recordingLogger(): SourceLogger & { warnings: string[]; errors: string[] } {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, warn: (m) => void warnings.push(m), error: (m) => void errors.push(m) };
}

const headerOf = (data: string): { id: string; ctx: string } => JSON.parse((JSON.parse(data) as SealedJobData).signatures[0]!.header) as { id: string; ctx: string };

const keyring = Keyring.generate('HS256');

describe('checkStoreIsolation', () => {
  test('a store user limited to its prefix and a queue user without it: isolated by ACL', async (t) => {
    const s = await server(t);
    const replay = store(t, s.url('sealq-replay'));
    const report = await checkStoreIsolation(replay, s.url('app'));
    assert.deepEqual(report, { isolated: true, by: 'acl', queueUser: 'app', problems: [] });
    assert.equal((await assertStoreIsolated(replay, s.conn('app'))).isolated, true);
    assert.equal((await checkStoreIsolation(replay, client(t, s.url('app')))).isolated, true, 'an ioredis client as the queue connection');
  });

  test('one user for store and queue: not isolated, says what the queue may do and how to fix it; nothing is executed', async (t) => {
    const s = await server(t);
    await s.admin.set('sealq-iso-canary', 'still here');
    const replay = store(t, s.url('shared'));
    const report = await checkStoreIsolation(replay, s.url('shared'));
    assert.equal(report.isolated, false);
    assert.equal(report.by, undefined);
    assert.equal(report.queueUser, 'shared');
    assert.match(report.problems.join('\n'), /may run DEL, UNLINK, SET, .*EVAL.* on the store's keys/);

    // The default user may do anything, FLUSHALL included: reported, and never executed.
    const everything = await checkStoreIsolation(replay, `redis://127.0.0.1:${s.port}`);
    assert.match(everything.problems.join('\n'), /may run FLUSHALL, FLUSHDB, SWAPDB, CONFIG SET, ACL SETUSER/);
    assert.equal(await s.admin.get('sealq-iso-canary'), 'still here');
    assert.equal(await s.admin.call('ACL', 'GETUSER', 'sealq-isolation-check'), null);

    const err = await assertStoreIsolated(replay, s.url('shared')).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StoreNotIsolatedError);
    assert.equal(err.code, 'ERR_STORE_NOT_ISOLATED');
    assert.match(err.message, /ACL SETUSER sealq-replay on >PASSWORD resetkeys ~sealq:r:\*/);
    assert.match(err.message, /separate Redis/);
    assert.doesNotMatch(err.message, new RegExp(SHARED_PW));

    // The store's own client as the queue's: not isolated without asking Redis.
    const shared = client(t, s.url('shared'));
    const same = new RedisReplayStore({ redis: shared });
    assert.match((await checkStoreIsolation(same, shared)).problems[0]!, /the queue's own ioredis client/);
  });

  test('the queue on another database of the same server: not isolated (ACL patterns span databases)', async (t) => {
    const s = await server(t);
    const replay = store(t, `${s.url('shared')}/2`);
    const report = await checkStoreIsolation(replay, `${s.url('shared')}/0`);
    assert.equal(report.isolated, false);
  });

  test('the store on a separate Redis: isolated, even though the queue may do anything on its own', async (t) => {
    const a = await ownServer();
    const b = await ownServer();
    const replay = store(t, a.url);
    assert.deepEqual(await checkStoreIsolation(replay, b.url), { isolated: true, by: 'separate-server', queueUser: 'default', problems: [] });
  });

  test('Redis Cluster: every master is checked; one node whose queue user may write the store is reported', async (t) => {
    const nodes = await ownCluster();
    const cluster = (user: 'sealq-replay' | 'app', password: string): Cluster => {
      const c = new Cluster(nodes, { redisOptions: { username: user, password } });
      c.on('error', () => undefined);
      t.after(() => c.disconnect());
      return c;
    };
    const replay = new RedisReplayStore({ redis: cluster('sealq-replay', STORE_PW) });
    const queue = cluster('app', APP_PW);
    assert.deepEqual(await checkStoreIsolation(replay, queue), { isolated: true, by: 'acl', queueUser: 'app', problems: [] });

    // One node where the queue's user was given the store's keys too (ACLs are per node).
    const admin = new Redis(nodes[1]!);
    t.after(() => admin.disconnect());
    await admin.call('ACL', 'SETUSER', 'app', '~sealq:r:*');
    const report = await checkStoreIsolation(replay, queue);
    assert.equal(report.isolated, false);
    assert.match(report.problems.join('\n'), /"app" may run DEL, UNLINK, SET/);
  });

  test('unknown or unreachable queue connection: not isolated, with the reason', async (t) => {
    const s = await server(t);
    const replay = store(t, s.url('sealq-replay'));
    assert.match((await checkStoreIsolation(replay, undefined)).problems[0]!, /not known/);
    const down = await checkStoreIsolation(replay, 'redis://127.0.0.1:1');
    assert.equal(down.isolated, false);
    assert.match(down.problems[0]!, /could not run/);
    const wrongPassword = await checkStoreIsolation(replay, `redis://app:nope@127.0.0.1:${s.port}`);
    assert.equal(wrongPassword.isolated, false);
    assert.doesNotMatch(JSON.stringify(wrongPassword), /nope/);
    assert.deepEqual(await new MemoryReplayStore().checkIsolation(), { isolated: true, by: 'in-process', problems: [] });
  });
});

describe('BullMQ: the replay store and the queue on one Redis', () => {
  test('safe setup: the queue\'s credentials cannot delete the completed record; the re-added job is a replay and runs once', async (t) => {
    const s = await server(t);
    nodeEnv(t, 'production');
    const logger = recordingLogger();
    const replay = store(t, s.url('sealq-replay'));
    const f = new Fixture(t, s.conn('app'));
    const name = f.queueName('sealq-iso');
    const queue = sealedQueue<{ to: string }>(f.queue(name), { keyring });
    let calls = 0;
    f.worker(name, sealedProcessor(async () => void calls++, { keyring, replay, logger }));
    const job = await queue.add('welcome', { to: 'a@example.com' });
    assert.equal((await settled(queue.unsealed, job.id!)).state, 'completed');
    assert.equal(calls, 1);
    assert.deepEqual(logger.warnings, []);
    assert.deepEqual(logger.errors, []);

    // The intruder holds the queue's password and computes the completed record's key.
    const intruder = f.raw();
    const data = (await intruder.hget(`bull:${name}:${job.id}`, 'data'))!;
    const recordKey = replay.keyOf({ ctx: name, id: headerOf(data).id });
    assert.equal(await s.admin.get(recordKey), '1');
    await assert.rejects(intruder.del(recordKey), /NOPERM/);
    await assert.rejects(intruder.unlink(recordKey), /NOPERM/);
    await assert.rejects(intruder.pexpire(recordKey, 1), /NOPERM/);
    await assert.rejects(intruder.set(recordKey, 'x'), /NOPERM/);
    await assert.rejects(intruder.rename(recordKey, 'bull:stolen'), /NOPERM/);
    await assert.rejects(intruder.eval("return redis.call('DEL', KEYS[1])", 1, recordKey), /NOPERM/);
    await assert.rejects(intruder.eval(`return redis.call('DEL', '${recordKey}')`, 0), /can't access at least one of the keys|NOPERM/, 'a script runs with the caller\'s permissions');
    await assert.rejects(intruder.flushall(), /NOPERM/);
    assert.equal(await s.admin.get(recordKey), '1');

    const again = await f.queue(name).add('welcome', JSON.parse(data), { attempts: 3 });
    const { job: done, state } = await settled(queue.unsealed, again.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(done), 'ERR_REPLAYED');
    assert.equal(calls, 1);
  });

  test('unsafe setup (one user): the attack works, so the check refuses it in production; the opt-out runs with a warning', async (t) => {
    const s = await server(t);
    const replay = store(t, s.url('shared'));
    const f = new Fixture(t, s.conn('shared'));

    // Production, no opt-out: nothing runs, the job waits in the delayed set, the error says why.
    nodeEnv(t, 'production');
    const refused = recordingLogger();
    const name = f.queueName('sealq-iso');
    const queue = sealedQueue<{ to: string }>(f.queue(name), { keyring });
    let calls = 0;
    f.worker(name, sealedProcessor(async () => void calls++, { keyring, replay, logger: refused }));
    const job = await queue.add('welcome', { to: 'a@example.com' }, { attempts: 1 });
    await until('the refused job back in the delayed set', async () => ((await queue.unsealed.getJobState(job.id!)) === 'delayed' ? true : undefined));
    assert.equal(calls, 0);
    assert.equal(refused.errors.length, 1);
    assert.match(refused.errors[0]!, /ERR_STORE_NOT_ISOLATED|not isolated from the queue/);
    assert.match(refused.errors[0]!, /"shared" may run DEL/);
    assert.match(refused.errors[0]!, /unsafeSharedReplayStore/);
    assert.doesNotMatch(refused.errors.join('\n'), new RegExp(SHARED_PW));

    // The explicit opt-out: runs, warns once.
    const warned = recordingLogger();
    const name2 = f.queueName('sealq-iso');
    const queue2 = sealedQueue<{ to: string }>(f.queue(name2), { keyring });
    let calls2 = 0;
    f.worker(name2, sealedProcessor(async () => void calls2++, { keyring, replay, logger: warned, unsafeSharedReplayStore: true }));
    const first = await queue2.add('welcome', { to: 'b@example.com' });
    const second = await queue2.add('welcome', { to: 'c@example.com' });
    assert.equal((await settled(queue2.unsealed, first.id!)).state, 'completed');
    assert.equal((await settled(queue2.unsealed, second.id!)).state, 'completed');
    assert.equal(warned.warnings.length, 1);
    assert.match(warned.warnings[0]!, /Running anyway: unsafeSharedReplayStore is set/);

    // And this is why: the queue's credentials delete the record and the job runs a second time.
    const intruder = f.raw();
    const data = (await intruder.hget(`bull:${name2}:${first.id}`, 'data'))!;
    assert.equal(await intruder.del(replay.keyOf({ ctx: name2, id: headerOf(data).id })), 1);
    const again = await f.queue(name2).add('welcome', JSON.parse(data));
    assert.equal((await settled(queue2.unsealed, again.id!)).state, 'completed');
    assert.equal(calls2, 3, 'the replayed job ran again');
  });

  test('outside production the unsafe setup runs and warns once', async (t) => {
    const s = await server(t);
    nodeEnv(t, 'development');
    const replay = store(t, s.url('shared'));
    const f = new Fixture(t, s.conn('shared'));
    const logger = recordingLogger();
    const name = f.queueName('sealq-iso');
    const queue = sealedQueue<{ to: string }>(f.queue(name), { keyring });
    f.worker(name, sealedProcessor(async () => undefined, { keyring, replay, logger }));
    const jobs = await Promise.all([queue.add('a', { to: 'x' }), queue.add('b', { to: 'y' })]);
    for (const j of jobs) assert.equal((await settled(queue.unsealed, j.id!)).state, 'completed');
    assert.equal(logger.warnings.length, 1);
    assert.match(logger.warnings[0]!, /would refuse to run/);
    assert.equal(logger.errors.length, 0);
  });
});

describe('Redis Streams: the replay store and the stream on one Redis', () => {
  async function until2(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
    await until(what, async () => ((await cond()) ? true : undefined));
  }

  test('safe setup: the stream writer cannot delete the completed record; the re-added entry is dead-lettered as ERR_REPLAYED', async (t) => {
    const s = await server(t);
    nodeEnv(t, 'production');
    const replay = store(t, s.url('sealq-replay'));
    const app = client(t, s.url('app'));
    const stream = uniqueName('sealq-iso-stream');
    const handled: string[] = [];
    const logger = recordingLogger();
    const consumer = new SealedStreamConsumer({ redis: app, keyring, replay, stream, group: 'billing', block: 100, minIdle: 300, claimInterval: 100, logger, onError: () => undefined, handler: (m) => void handled.push(m.payload.toString()) });
    await consumer.start();
    t.after(() => consumer.stop());
    assert.deepEqual(logger.warnings, []);
    const entry = await xaddSealed(app, keyring, stream, 'pay 10');
    await until2('processed', () => consumer.stats.processed === 1);

    const [[, fields]] = (await app.xrangeBuffer(stream, entry, entry)) as Array<[Buffer, Buffer[]]>;
    const envelope = String(fields![1]);
    const id = (JSON.parse(Buffer.from(envelope.split('.')[1]!, 'base64url').toString()) as { id: string }).id;
    // The consumer scopes the store to its group (scopeReplayStore): the ctx of the key says so.
    const recordKey = replay.keyOf({ ctx: `${'xgroup:billing'.length}:xgroup:billing|${stream}`, id });
    assert.equal(await s.admin.get(recordKey), '1');
    await assert.rejects(app.del(recordKey), /NOPERM/);
    await assert.rejects(app.eval(`return redis.call('DEL', '${recordKey}')`, 0), /can't access at least one of the keys|NOPERM/);

    await app.xadd(stream, '*', ...fields!);
    await until2('the replay dead-lettered', async () => (await app.xlen(`${stream}:dead`)) === 1);
    const [[, dead]] = (await app.xrangeBuffer(`${stream}:dead`, '-', '+')) as Array<[Buffer, Buffer[]]>;
    assert.equal(parseDeadLetter(dead!)?.code, 'ERR_REPLAYED');
    assert.deepEqual(handled, ['pay 10']);
  });

  test('unsafe setup: start() refuses in production with ERR_STORE_NOT_ISOLATED; the opt-out and other environments warn', async (t) => {
    const s = await server(t);
    const replay = store(t, s.url('shared'));
    const shared = client(t, s.url('shared'));
    const stream = uniqueName('sealq-iso-stream');
    const make = (extra: { unsafeSharedReplayStore?: boolean; logger: SourceLogger }): SealedStreamConsumer =>
      new SealedStreamConsumer({ redis: shared, keyring, replay, stream, group: 'billing', block: 100, onError: () => undefined, handler: () => undefined, ...extra });

    nodeEnv(t, 'production');
    const refused = recordingLogger();
    const err = await make({ logger: refused }).start().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StoreNotIsolatedError, String(err));
    assert.match(err.message, /stream consumer .*\/billing: the replay store is not isolated/);
    assert.match(err.message, /unsafeSharedReplayStore: true/);
    assert.doesNotMatch(err.message, new RegExp(SHARED_PW));
    assert.equal(await shared.exists(stream), 0, 'nothing was created or read');

    const optedOut = recordingLogger();
    const c1 = make({ logger: optedOut, unsafeSharedReplayStore: true });
    await c1.start();
    await c1.stop();
    assert.equal(optedOut.warnings.length, 1);

    process.env.NODE_ENV = 'test';
    const dev = recordingLogger();
    const c2 = make({ logger: dev });
    await c2.start();
    await c2.stop();
    assert.match(dev.warnings[0]!, /would refuse to run/);
  });
});
