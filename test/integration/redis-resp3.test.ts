// Whatever protocol the user's ioredis client speaks: ioredis 6 speaks RESP3 by default, where
// XREADGROUP answers with a map (flattened, or an object with replyMapping "resp3"); ioredis 5
// speaks RESP2. With ioredis 5 every variant below is RESP2; the compatibility matrix
// (scripts/compat-matrix.mjs) runs this file with the other major too.
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { Keyring } from '../../src/index.js';
import { RedisReplayStore } from '../../src/replay/redis.js';
import { SealedStreamConsumer, parseDeadLetter, xaddSealed } from '../../src/adapters/redis-streams/index.js';
import type { StreamMessage } from '../../src/adapters/redis-streams/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching } from '../helpers/redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const IOREDIS_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('ioredis')), 'utf8')) as { version: string }).version;
const IOREDIS_MAJOR = Number(IOREDIS_VERSION.split('.')[0]);

// What a user's `new Redis(url, options)` gets, and the protocol it should speak with this ioredis.
const VARIANTS: Array<{ name: string; options: Record<string, unknown>; proto: number }> = [
  { name: 'default options', options: {}, proto: IOREDIS_MAJOR >= 6 ? 3 : 2 },
  { name: 'protocol 3, replyMapping "resp3"', options: { protocol: 3, replyMapping: 'resp3' }, proto: IOREDIS_MAJOR >= 6 ? 3 : 2 },
  { name: 'protocol 2', options: { protocol: 2 }, proto: 2 },
];

/** The protocol the connection speaks, from HELLO (any reply shape). */
async function protocolOf(redis: Redis): Promise<number> {
  const hello: unknown = await redis.call('HELLO');
  if (Array.isArray(hello)) return Number(hello[hello.indexOf('proto') + 1]);
  return Number((hello as { proto: unknown }).proto);
}

/** A client with these options; `cleanUp` runs after the test, before the client is closed. */
function client(t: TestContext, options: Record<string, unknown>, cleanUp: (redis: Redis) => Promise<unknown>): Redis {
  const redis = new Redis(REDIS_URL, options as RedisOptions);
  t.after(async () => {
    await cleanUp(redis);
    redis.disconnect();
  });
  return redis;
}

describe(`Redis Streams and the replay store, whatever protocol the client speaks (ioredis ${IOREDIS_VERSION})`, () => {
  for (const v of VARIANTS) {
    test(`${v.name}: each entry is handled on its first read (not redelivered), a forged one is dead-lettered, nothing is reported`, async (t) => {
      if (!(await needBroker(t, 'redis'))) return;
      const stream = uniqueName('sealq-test-resp');
      const prefix = `${uniqueName('sealq-test-resp-replay')}:`;
      let consumer: SealedStreamConsumer | undefined;
      const redis = client(t, v.options, async (r) => {
        await consumer?.stop();
        await r.del(stream, `${stream}:dead`);
        await deleteMatching(r, `${prefix}*`);
      });
      assert.equal(await protocolOf(redis), v.proto, `the client speaks RESP${v.proto}`);
      const kr = Keyring.generate('EdDSA');
      const replay = new RedisReplayStore({ redis, prefix });
      const errors: string[] = [];
      const got: StreamMessage[] = [];
      let wake!: () => void;
      const done = new Promise<void>((resolve) => (wake = resolve));
      consumer = new SealedStreamConsumer({
        redis,
        keyring: kr,
        stream,
        group: 'g',
        replay,
        block: 200,
        // One client for the stream and the store keeps the test to the protocol; isolation has its own tests.
        unsafeSharedReplayStore: true,
        logger: { warn: () => undefined, error: () => undefined },
        // Far beyond the test: an entry missed by XREADGROUP would only come back through XAUTOCLAIM, marked redelivered.
        minIdle: '10m',
        onError: (e) => {
          errors.push(e.message);
          wake();
        },
        onDeadLetter: () => wake(),
        handler: (m) => {
          got.push(m);
          if (got.length === 3) wake();
        },
      });
      await consumer.start();
      for (const n of [1, 2, 3]) await xaddSealed(redis, kr, stream, `message ${n}`, { fields: { n } });
      await done;
      assert.deepEqual(errors, []);
      assert.deepEqual(got.map((m) => [m.payload.toString(), m.fields.n, m.redelivered]), [['message 1', '1', false], ['message 2', '2', false], ['message 3', '3', false]]);

      const dead = new Promise<void>((resolve) => (wake = resolve));
      await redis.call('XADD', stream, '*', 'sealq', 'not an envelope');
      await dead;
      assert.deepEqual(errors, []);
      const entries = (await redis.xrangeBuffer(`${stream}:dead`, '-', '+')) as Array<[Buffer, Buffer[]]>;
      assert.equal(entries.length, 1);
      assert.equal(parseDeadLetter(entries[0]![1])?.code, 'ERR_MALFORMED');
      assert.deepEqual(consumer.stats, { processed: 3, deadLettered: 1, retried: 0 });
    });

    test(`${v.name}: the replay store claims, refuses a second claim, completes and remembers`, async (t) => {
      if (!(await needBroker(t, 'redis'))) return;
      const prefix = `${uniqueName('sealq-test-resp-store')}:`;
      const redis = client(t, v.options, (r) => deleteMatching(r, `${prefix}*`));
      const store = new RedisReplayStore({ redis, prefix });
      const key = { ctx: 'q', id: 'm1' };
      const first = await store.claim(key, 30_000, 60_000);
      assert.equal(first.status, 'claimed');
      assert.deepEqual(await store.claim(key, 30_000, 60_000), { status: 'in-flight' });
      assert.equal(await store.extend(key, first.status === 'claimed' ? first.token : '', 30_000), true);
      assert.equal(await store.complete(key, first.status === 'claimed' ? first.token : '', 60_000), true);
      assert.deepEqual(await store.claim(key, 30_000, 60_000), { status: 'completed' });
      assert.ok(Array.isArray(await store.checkServer()));
    });
  }

  test('a replay store made from a URL speaks what ioredis speaks by default, and works', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const prefix = `${uniqueName('sealq-test-resp-owned')}:`;
    const store = new RedisReplayStore({ redis: REDIS_URL, prefix });
    t.after(async () => {
      await deleteMatching(store.client as Redis, `${prefix}*`);
      await store.close();
    });
    const c = await store.claim({ ctx: 'q', id: 'm1' }, 30_000, 60_000);
    assert.equal(c.status, 'claimed');
    assert.equal(await protocolOf(store.client as Redis), IOREDIS_MAJOR >= 6 ? 3 : 2);
    assert.equal(await store.release({ ctx: 'q', id: 'm1' }, c.status === 'claimed' ? c.token : ''), true);
  });
});
