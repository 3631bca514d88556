import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Keyring, seal } from '../../src/index.js';
import { RedisReplayStore } from '../../src/replay/redis.js';
import { SealedStreamConsumer, parseDeadLetter, xaddSealed } from '../../src/adapters/redis-streams/index.js';
import type { DeadLetter, SealedStreamConsumerOptions, StreamMessage } from '../../src/adapters/redis-streams/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching, freePort } from '../helpers/redis.js';

const URL = 'redis://127.0.0.1:6379';

interface Env {
  raw: Redis;
  stream: string;
  prefix: string;
  kr: Keyring;
  replay: RedisReplayStore;
  consumer(options: Partial<SealedStreamConsumerOptions> & Pick<SealedStreamConsumerOptions, 'handler'>): Promise<SealedStreamConsumer>;
  deadLetters(): Promise<DeadLetter[]>;
}

/** A fresh stream, replay prefix and clients; everything is removed after the test. */
function setup(t: TestContext): Env {
  const raw = new Redis(URL);
  const stream = uniqueName('sealq-test-stream');
  const prefix = `${uniqueName('sealq-test-streams-replay')}:`;
  const kr = Keyring.generate('HS256');
  const replay = new RedisReplayStore({ redis: URL, prefix });
  const consumers: SealedStreamConsumer[] = [];
  const clients: Redis[] = [];
  t.after(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    for (const c of clients) c.disconnect();
    await replay.close();
    await raw.del(stream, `${stream}:dead`);
    await deleteMatching(raw, `${prefix}*`);
    raw.disconnect();
  });
  return {
    raw,
    stream,
    prefix,
    kr,
    replay,
    async consumer(options) {
      const redis = new Redis(URL);
      clients.push(redis);
      const c = new SealedStreamConsumer({
        redis,
        keyring: kr,
        stream,
        group: 'workers',
        replay,
        block: 200,
        minIdle: 300,
        claimInterval: 100,
        onError: () => undefined,
        ...options,
      });
      consumers.push(c);
      await c.start();
      return c;
    },
    async deadLetters() {
      const entries = (await raw.xrangeBuffer(`${stream}:dead`, '-', '+')) as Array<[Buffer, Buffer[]]>;
      return entries.map(([, f]) => parseDeadLetter(f)!);
    },
  };
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

async function pendingCount(raw: Redis, stream: string, group: string): Promise<number> {
  const summary = (await raw.xpending(stream, group)) as [number, ...unknown[]];
  return Number(summary[0]);
}

describe('Redis Streams adapter', () => {
  test('round trip: sealed with XADD, opened, handled once, acked; extra fields arrive unsigned', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    const seen: StreamMessage[] = [];
    const c = await env.consumer({ handler: (m) => void seen.push(m), typ: 'order.created' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await xaddSealed(env.raw, env.kr, env.stream, `{"order":${i}}`, { typ: 'order.created', fields: { source: 'web' } }));
    await waitFor('5 messages', () => c.stats.processed === 5);
    assert.deepEqual(seen.map((m) => m.entryId), ids);
    assert.deepEqual(seen.map((m) => m.payload.toString()), [0, 1, 2, 3, 4].map((i) => `{"order":${i}}`));
    assert.ok(seen.every((m) => m.header.ctx === env.stream && m.header.typ === 'order.created' && m.fields.source === 'web' && !m.redelivered));
    assert.equal(await pendingCount(env.raw, env.stream, 'workers'), 0);
    assert.equal((await env.deadLetters()).length, 0);
  });

  test('attacks with a raw client are dead-lettered with their code, originals kept, nothing reaches the handler', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    const handled: string[] = [];
    const c = await env.consumer({ handler: (m) => void handled.push(m.payload.toString()) });
    const good = await xaddSealed(env.raw, env.kr, env.stream, 'legit', { fields: { note: 'x' } });
    await waitFor('the legitimate message', () => c.stats.processed === 1);

    // Forged: sealed with a key the consumer does not have.
    const forged = await env.raw.xadd(env.stream, '*', 'sealq', seal(Keyring.generate('HS256'), 'forged', { ctx: env.stream }));
    // Replayed: a copy of the processed entry's fields, byte for byte.
    const [[, goodFields]] = (await env.raw.xrangeBuffer(env.stream, good, good)) as Array<[Buffer, Buffer[]]>;
    const replayed = await env.raw.xadd(env.stream, '*', ...goodFields!);
    // Unsigned: a plain XADD.
    const unsigned = await env.raw.xadd(env.stream, '*', 'data', '{"order":666}');
    // Moved: sealed (with the right key) for another stream.
    const moved = await env.raw.xadd(env.stream, '*', 'sealq', seal(env.kr, 'elsewhere', { ctx: `${env.stream}-other` }));
    // Tampered: the payload of a valid envelope rewritten.
    const parts = seal(env.kr, 'amount=1', { ctx: env.stream }).split('.');
    parts[2] = Buffer.from('amount=1000000').toString('base64url');
    const tampered = await env.raw.xadd(env.stream, '*', 'sealq', parts.join('.'));

    await waitFor('5 dead letters', async () => (await env.deadLetters()).length === 5);
    const dead = await env.deadLetters();
    const byEntry = new Map(dead.map((d) => [d.entryId, d]));
    assert.equal(byEntry.get(forged!)?.code, 'ERR_KEY_UNKNOWN');
    assert.equal(byEntry.get(replayed!)?.code, 'ERR_REPLAYED');
    assert.equal(byEntry.get(unsigned!)?.code, 'ERR_MALFORMED');
    assert.equal(byEntry.get(moved!)?.code, 'ERR_CONTEXT_MISMATCH');
    assert.equal(byEntry.get(tampered!)?.code, 'ERR_SIGNATURE_INVALID');
    for (const d of dead) {
      assert.equal(d.stream, env.stream);
      assert.equal(d.group, 'workers');
      assert.equal(d.consumer, c.consumer);
      assert.ok(!Number.isNaN(Date.parse(d.at)));
      assert.ok(d.reason.length > 0);
    }
    // Nothing lost: the original fields are there as they were.
    assert.deepEqual(byEntry.get(replayed!)!.fields, goodFields);
    assert.deepEqual(byEntry.get(unsigned!)!.fields.map(String), ['data', '{"order":666}']);
    assert.deepEqual(handled, ['legit']);
    // The counter moves after the XACK that follows each dead letter's XADD: wait for it too.
    await waitFor('5 dead letters counted', () => c.stats.deadLettered === 5);
    assert.equal(await pendingCount(env.raw, env.stream, 'workers'), 0, 'dead-lettered entries are acked');
  });

  test('a handler that throws once is retried via XAUTOCLAIM and processed exactly once', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    let attempts = 0;
    const done: StreamMessage[] = [];
    const c = await env.consumer({
      handler: (m) => {
        if (++attempts === 1) throw new Error('transient failure');
        done.push(m);
      },
    });
    await xaddSealed(env.raw, env.kr, env.stream, 'job');
    await waitFor('the retry', () => done.length === 1);
    await sleep(800); // longer than minIdle: a second retry would have happened by now
    assert.equal(attempts, 2);
    assert.equal(done.length, 1);
    assert.equal(done[0]!.redelivered, true);
    assert.equal(c.stats.retried, 1);
    assert.equal(await pendingCount(env.raw, env.stream, 'workers'), 0);
  });

  test('a handler failing on every delivery ends in the dead-letter stream after maxDeliveries', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    let attempts = 0;
    await env.consumer({
      maxDeliveries: 2,
      handler: () => {
        attempts++;
        throw new Error('always fails');
      },
    });
    await xaddSealed(env.raw, env.kr, env.stream, 'poison');
    await waitFor('the dead letter', async () => (await env.deadLetters()).length === 1);
    const [d] = await env.deadLetters();
    assert.equal(d!.code, 'ERR_HANDLER_FAILED');
    assert.match(d!.reason, /always fails/);
    assert.equal(attempts, 2);
  });

  test('two consumers in one group: each message processed once; another group processes it once too', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    const counts = new Map<string, number>();
    const other = new Map<string, number>();
    const count = (m: Map<string, number>) => (msg: StreamMessage) => void m.set(msg.payload.toString(), (m.get(msg.payload.toString()) ?? 0) + 1);
    // Each consumer has its own connections, including its own replay-store connection.
    const storeB = new RedisReplayStore({ redis: URL, prefix: env.prefix });
    t.after(() => storeB.close());
    const a = await env.consumer({ handler: count(counts), concurrency: 5 });
    const b = await env.consumer({ handler: count(counts), concurrency: 5, replay: storeB });
    const g = await env.consumer({ handler: count(other), group: 'auditors' });
    const n = 200;
    await Promise.all(Array.from({ length: n }, (_, i) => xaddSealed(env.raw, env.kr, env.stream, `m${i}`)));
    await waitFor('all messages in both groups', () => a.stats.processed + b.stats.processed === n && g.stats.processed === n);
    assert.equal(counts.size, n);
    assert.ok([...counts.values()].every((v) => v === 1));
    assert.equal(other.size, n);
    assert.ok([...other.values()].every((v) => v === 1));
    assert.ok(a.stats.processed > 0 && b.stats.processed > 0, `both consumers worked (${a.stats.processed} / ${b.stats.processed})`);
  });

  test('replay store unavailable: entries stay pending (never dead-lettered) and are processed once it is back', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    const down = new RedisReplayStore({ redis: `redis://127.0.0.1:${await freePort()}`, prefix: env.prefix, timeout: 200 });
    t.after(() => down.close());
    const errors: string[] = [];
    const handled: string[] = [];
    const first = await env.consumer({ replay: down, handler: (m) => void handled.push(m.payload.toString()), onError: (e) => void errors.push((e as { code?: string }).code ?? e.message) });
    await xaddSealed(env.raw, env.kr, env.stream, 'waits');
    await waitFor('a retryable failure', () => errors.length > 0);
    await first.stop();
    assert.equal(errors[0], 'ERR_REPLAY_STORE_UNAVAILABLE');
    assert.equal(handled.length, 0);
    assert.equal(await pendingCount(env.raw, env.stream, 'workers'), 1);
    assert.equal((await env.deadLetters()).length, 0);
    const second = await env.consumer({ handler: (m) => void handled.push(m.payload.toString()) });
    await waitFor('the reclaimed message', () => second.stats.processed === 1);
    assert.deepEqual(handled, ['waits']);
    assert.equal(await pendingCount(env.raw, env.stream, 'workers'), 0);
  });

  test('stop() lets running handlers finish and ack before it resolves', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const env = setup(t);
    let started = 0;
    let finished = 0;
    const c = await env.consumer({
      block: 5000,
      handler: async () => {
        started++;
        await sleep(300);
        finished++;
      },
    });
    await xaddSealed(env.raw, env.kr, env.stream, 'slow');
    await waitFor('the handler to start', () => started === 1);
    await c.stop();
    assert.equal(finished, 1);
    assert.equal(c.stats.processed, 1);
    assert.equal(await pendingCount(env.raw, env.stream, 'workers'), 0);
  });
});
