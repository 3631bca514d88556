import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { Keyring, openAndClaim, openOnce, seal } from '../../src/index.js';
import { RedisReplayStore } from '../../src/replay/redis.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching, freePort, startRedisServer } from '../helpers/redis.js';

const URL = 'redis://127.0.0.1:6379';

/** A raw client and a fresh prefix, both cleaned up after the test. */
function setup(t: TestContext): { raw: Redis; prefix: string } {
  const raw = new Redis(URL);
  const prefix = `${uniqueName('sealq-test-store')}:`;
  t.after(async () => {
    await deleteMatching(raw, `${prefix}*`);
    raw.disconnect();
  });
  return { raw, prefix };
}

function store(t: TestContext, prefix: string, extra: Partial<ConstructorParameters<typeof RedisReplayStore>[0]> = {}): RedisReplayStore {
  const s = new RedisReplayStore({ redis: URL, prefix, ...extra });
  t.after(() => s.close());
  return s;
}

const key = (id: string, ctx = 'orders') => ({ ctx, id });

/** Our own three-master Redis Cluster. */
async function ownCluster(t: TestContext): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sealq-cluster-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { port } = await startRedisServer(t, { args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir] });
    ports.push(port);
  }
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
  for (const port of ports) {
    const r = new Redis({ port, host: '127.0.0.1' });
    try {
      for (let i = 0; !/cluster_state:ok/.test(await r.cluster('INFO')); i++) {
        if (i > 200) throw new Error('the test cluster did not become ready');
        await sleep(50);
      }
    } finally {
      r.disconnect();
    }
  }
  return ports;
}

const code = (e: unknown): string | undefined => (e as { code?: string }).code;

describe('RedisReplayStore', () => {
  test('claim, in-flight, release, claim again, complete, replay', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { prefix } = setup(t);
    const s = store(t, prefix);
    const k = key('m1');
    const first = await s.claim(k, 30_000, 60_000);
    assert.equal(first.status, 'claimed');
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'in-flight' });
    const token = first.status === 'claimed' ? first.token : '';
    assert.equal(await s.release(k, 'not-the-token'), false);
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'in-flight' });
    assert.equal(await s.release(k, token), true);
    const second = await s.claim(k, 30_000, 60_000);
    assert.equal(second.status, 'claimed');
    const token2 = second.status === 'claimed' ? second.token : '';
    assert.notEqual(token2, token);
    assert.equal(await s.complete(k, token2, 60_000), true);
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'completed' });
    assert.equal(await s.release(k, token2), false, 'a completed id cannot be released');
    assert.equal(await s.extend(k, token2, 30_000), false, 'a completed id has no lease to extend');
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'completed' });
  });

  test('a completed id is kept at least retainMs (PTTL), plus the extra retention, never shortened', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { raw, prefix } = setup(t);
    const s = store(t, prefix, { extraRetain: '1m' });
    const k = key('ttl');
    const c = await s.claim(k, 5_000, 600_000);
    assert.equal(c.status, 'claimed');
    assert.ok((await raw.pttl(s.keyOf(k))) <= 5_000, 'while leased the key lives as long as the lease');
    await s.complete(k, c.status === 'claimed' ? c.token : '', 600_000);
    const ttl = await raw.pttl(s.keyOf(k));
    assert.ok(ttl >= 600_000, `PTTL ${ttl} must be at least retainMs`);
    assert.ok(ttl <= 660_000, `PTTL ${ttl} is retainMs plus the extra minute`);
    // A late complete by a consumer that lost its lease asks for less: the expiry stays.
    assert.equal(await s.complete(k, 'lost-token', 1_000), false);
    assert.ok((await raw.pttl(s.keyOf(k))) >= 600_000 - 60_000, 'a completed id is never forgotten sooner');
    // A longer retention extends it.
    await s.complete(k, 'other', 3_600_000);
    assert.ok((await raw.pttl(s.keyOf(k))) >= 3_600_000);
  });

  test('lease expiry lets another consumer claim; the old holder can no longer release or extend', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { prefix } = setup(t);
    const s = store(t, prefix);
    const k = key('lease');
    const a = await s.claim(k, 200, 60_000);
    assert.equal(a.status, 'claimed');
    await sleep(400);
    const b = await s.claim(k, 30_000, 60_000);
    assert.equal(b.status, 'claimed', 'an expired lease may be claimed again');
    const ta = a.status === 'claimed' ? a.token : '';
    assert.equal(await s.release(k, ta), false);
    assert.equal(await s.extend(k, ta, 30_000), false);
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'in-flight' }, 'the old holder did not release the new lease');
    // The old holder finishing late still marks it completed (the work was done), but reports the lost lease.
    assert.equal(await s.complete(k, ta, 60_000), false);
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'completed' });
  });

  test('extend keeps a lease alive past its first deadline', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { raw, prefix } = setup(t);
    const s = store(t, prefix);
    const k = key('extend');
    const a = await s.claim(k, 300, 60_000);
    assert.equal(a.status, 'claimed');
    const token = a.status === 'claimed' ? a.token : '';
    assert.equal(await s.extend(k, token, 10_000), true);
    assert.ok((await raw.pttl(s.keyOf(k))) > 5_000);
    await sleep(500);
    assert.deepEqual(await s.claim(k, 30_000, 60_000), { status: 'in-flight' });
    assert.equal(await s.complete(k, token, 60_000), true);
  });

  test('keys: one per message, the (ctx, id) pair as hash tag, braces escaped, no collisions', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { raw, prefix } = setup(t);
    const s = store(t, prefix);
    assert.equal(s.keyOf({ ctx: 'orders', id: 'abc' }), `${prefix}{6:orders:abc}`);
    assert.equal(s.keyOf({ ctx: 'a}b{', id: '%x' }), `${prefix}{4:a%7Db%7B:%25x}`);
    // (ctx "a:b", id "c") and (ctx "a", id "b:c") must not share a key.
    assert.notEqual(s.keyOf({ ctx: 'a:b', id: 'c' }), s.keyOf({ ctx: 'a', id: 'b:c' }));
    const x = await s.claim({ ctx: 'a:b', id: 'c' }, 30_000, 60_000);
    const y = await s.claim({ ctx: 'a', id: 'b:c' }, 30_000, 60_000);
    assert.equal(x.status, 'claimed');
    assert.equal(y.status, 'claimed');
    const weird = { ctx: 'q{1}', id: '}{' };
    assert.equal((await s.claim(weird, 30_000, 60_000)).status, 'claimed');
    assert.equal(await raw.exists(s.keyOf(weird)), 1);
    assert.throws(() => new RedisReplayStore({ redis: URL, prefix: 'sealq:{x}:' }), (e: unknown) => code(e) === 'ERR_INVALID_ARGUMENT');
  });

  test('many concurrent operations in one flush, batched and one per call, each answered on its own', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { raw, prefix } = setup(t);
    for (const batch of [256, 7, 1]) {
      const s = store(t, `${prefix}${batch}:`, { batch });
      const ids = Array.from({ length: 1000 }, (_, i) => `id-${i}`);
      // A key another program wrote at one message's place fails that operation only, closed.
      await raw.hset(s.keyOf(key('id-500')), 'not', 'ours');
      const out = await Promise.allSettled(ids.map((id) => s.claim(key(id), 30_000, 60_000)));
      for (const [i, r] of out.entries()) {
        if (i === 500) {
          assert.equal(r.status, 'rejected');
          assert.equal(code((r as PromiseRejectedResult).reason), 'ERR_REPLAY_STORE_UNAVAILABLE');
        } else {
          assert.equal(r.status === 'fulfilled' && r.value.status, 'claimed', `batch ${batch}, id ${i}`);
        }
      }
      const again = await Promise.all(ids.filter((_, i) => i !== 500).map((id) => s.claim(key(id), 30_000, 60_000)));
      assert.ok(again.every((r) => r.status === 'in-flight'));
    }
  });

  test('8 consumers on separate connections claim the same ids at once: exactly one winner each', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { prefix } = setup(t);
    const stores = Array.from({ length: 8 }, () => store(t, prefix));
    const ids = Array.from({ length: 300 }, (_, i) => `race-${i}`);
    const results = await Promise.all(stores.map((s) => Promise.all(ids.map((id) => s.claim(key(id), 30_000, 60_000)))));
    for (const [i] of ids.entries()) {
      const winners = results.filter((r) => r[i]!.status === 'claimed');
      assert.equal(winners.length, 1, `id ${ids[i]} claimed by ${winners.length} consumers`);
      assert.ok(results.every((r) => r[i]!.status !== 'completed'));
    }
    // The winners complete; every consumer then sees a replay.
    await Promise.all(results.flatMap((r, s) => r.map((o, i) => (o.status === 'claimed' ? stores[s]!.complete(key(ids[i]!), o.token, 60_000) : undefined))));
    const after = await Promise.all(stores.map((s) => Promise.all(ids.map((id) => s.claim(key(id), 30_000, 60_000)))));
    assert.ok(after.every((r) => r.every((o) => o.status === 'completed')));
  });

  test('with openOnce: processed once, a failed run is retried, a replay is ERR_REPLAYED', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { prefix } = setup(t);
    const replay = store(t, prefix);
    const kr = Keyring.generate('HS256');
    const env = seal(kr, '{"order":1}', { ctx: 'orders', typ: 'order.created' });
    let runs = 0;
    await assert.rejects(openOnce(kr, env, { ctx: 'orders', replay }, () => {
      runs++;
      throw new Error('transient');
    }), /transient/);
    assert.equal(await openOnce(kr, env, { ctx: 'orders', replay }, (m) => (runs++, m.payload.toString())), '{"order":1}');
    await assert.rejects(openOnce(kr, env, { ctx: 'orders', replay }, () => runs++), (e: unknown) => code(e) === 'ERR_REPLAYED');
    assert.equal(runs, 2);
    // A second consumer on another connection agrees.
    const other = store(t, prefix);
    await assert.rejects(openAndClaim(kr, env, { ctx: 'orders', replay: other }), (e: unknown) => code(e) === 'ERR_REPLAYED');
  });

  test('a client passed in is used as it is and left open by close()', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { raw, prefix } = setup(t);
    const s = new RedisReplayStore({ redis: raw, prefix });
    assert.equal((await s.claim(key('mine'), 30_000, 60_000)).status, 'claimed');
    await s.close();
    assert.equal(await raw.ping(), 'PONG');
    assert.deepEqual(await s.checkServer(), []);
  });

  test('fails closed when Redis is unreachable: ERR_REPLAY_STORE_UNAVAILABLE, retryable', async (t) => {
    const port = await freePort();
    const s = new RedisReplayStore({ redis: `redis://127.0.0.1:${port}`, timeout: 500 });
    t.after(() => s.close());
    const started = Date.now();
    for (const op of [() => s.claim(key('x'), 30_000, 60_000), () => s.complete(key('x'), 't', 60_000), () => s.release(key('x'), 't'), () => s.extend(key('x'), 't', 1000)]) {
      await assert.rejects(op(), (e: unknown) => code(e) === 'ERR_REPLAY_STORE_UNAVAILABLE' && (e as { retryable: boolean }).retryable === true);
    }
    assert.ok(Date.now() - started < 30_000, 'bounded by the timeout, not by reconnection attempts');
    // Through the core: never passed through.
    const kr = Keyring.generate('HS256');
    await assert.rejects(openAndClaim(kr, seal(kr, 'x', { ctx: 'q' }), { ctx: 'q', replay: s }), (e: unknown) => code(e) === 'ERR_REPLAY_STORE_UNAVAILABLE');
  });

  test('fails closed when Redis stops answering (paused server), works again once it answers', async (t) => {
    // Our own server: pausing it never disturbs the shared one.
    const { url, proc } = await startRedisServer(t);
    const s = new RedisReplayStore({ redis: url, timeout: 300 });
    t.after(() => s.close());
    assert.equal((await s.claim(key('before'), 30_000, 60_000)).status, 'claimed');
    // The script cache is flushed (as after a restart or failover): the store reloads the script.
    const admin = new Redis(url);
    t.after(() => admin.disconnect());
    await admin.script('FLUSH');
    assert.equal((await s.claim(key('after-flush'), 30_000, 60_000)).status, 'claimed');
    proc.kill('SIGSTOP');
    try {
      await assert.rejects(s.claim(key('paused'), 300, 60_000), (e: unknown) => code(e) === 'ERR_REPLAY_STORE_UNAVAILABLE');
      await assert.rejects(s.release(key('before'), 'x'), (e: unknown) => code(e) === 'ERR_REPLAY_STORE_UNAVAILABLE');
    } finally {
      proc.kill('SIGCONT');
    }
    assert.equal((await s.claim(key('resumed'), 30_000, 60_000)).status, 'claimed');
    // The claim that timed out may still have reached Redis: at most it leaves a lease, which expires.
    await sleep(400);
    assert.equal((await s.claim(key('paused'), 30_000, 60_000)).status, 'claimed');
    assert.deepEqual(await s.claim(key('before'), 30_000, 60_000), { status: 'in-flight' });
  });

  test('on Redis Cluster: message keys spread over every shard, same semantics, one winner across clients', async (t) => {
    const ports = await ownCluster(t);
    const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
    const clients = [0, 1].map(() => new Cluster(nodes, { enableAutoPipelining: true }));
    t.after(() => clients.forEach((c) => c.disconnect()));
    const [a, b] = clients.map((redis) => new RedisReplayStore({ redis, prefix: 'sealq:r:' }));
    const ids = Array.from({ length: 600 }, (_, i) => `c-${i}`);
    const [ra, rb] = await Promise.all([a!, b!].map((s) => Promise.all(ids.map((id) => s.claim(key(id), 30_000, 60_000)))));
    for (const [i] of ids.entries()) {
      assert.equal([ra![i]!, rb![i]!].filter((o) => o.status === 'claimed').length, 1, `id ${ids[i]}`);
    }
    await Promise.all(ids.map((id, i) => {
      const o = ra![i]!.status === 'claimed' ? ra![i]! : rb![i]!;
      return (o === ra![i] ? a! : b!).complete(key(id), o.status === 'claimed' ? o.token : '', 60_000);
    }));
    assert.ok((await Promise.all(ids.map((id) => b!.claim(key(id), 30_000, 60_000)))).every((o) => o.status === 'completed'));
    const sizes = await Promise.all(clients[0]!.nodes('master').map((n) => n.dbsize()));
    assert.equal(sizes.length, 3);
    assert.ok(sizes.every((n) => n > 100), `keys per shard: ${sizes.join(', ')}`);
  });
});
