// A lease of 0 or less, NaN or Infinity would let a second consumer claim a message while the
// first still runs it: refused with ERR_INVALID_ARGUMENT by the claim flow, both stores and the
// adapters, before any message is opened or any store is asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Keyring, MemoryReplayStore, openAndClaim, openOnce, seal } from '../src/index.js';
import type { ReplayStore } from '../src/index.js';
import { RedisReplayStore } from '../src/replay/redis.js';
import { sealedProcessor } from '../src/adapters/bullmq/index.js';
import { SealedStreamConsumer } from '../src/adapters/redis-streams/index.js';

const BAD_LEASES: unknown[] = [0, -1, -30_000, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '0s', '0ms', new Date(), '30', null];
const invalid = { code: 'ERR_INVALID_ARGUMENT' };
const keyring = Keyring.generate('HS256');
const envelope = seal(keyring, 'x', { ctx: 'q' });

/** A store that fails the test if it is asked anything. */
const untouchable: ReplayStore = {
  claim: () => assert.fail('the store was asked to claim'),
  complete: () => assert.fail('the store was asked to complete'),
  release: () => assert.fail('the store was asked to release'),
  extend: () => assert.fail('the store was asked to extend'),
};

test('openAndClaim and openOnce refuse a lease that is not a positive duration, before the store is asked', async () => {
  for (const lease of BAD_LEASES) {
    const options = { ctx: 'q', replay: untouchable, lease: lease as number };
    await assert.rejects(openAndClaim(keyring, envelope, options), invalid, `lease ${String(lease)}`);
    await assert.rejects(openOnce(keyring, envelope, options, () => assert.fail('ran')), invalid, `lease ${String(lease)}`);
  }
});

test('extend() refuses a lease that is not a positive duration', async () => {
  const msg = await openAndClaim(keyring, envelope, { ctx: 'q', replay: new MemoryReplayStore(), lease: 1000 });
  for (const lease of BAD_LEASES) await assert.rejects(msg.extend(lease as number), invalid, `lease ${String(lease)}`);
  assert.equal(await msg.extend(2000), true);
});

test('the stores refuse a lease or retention that is not a positive number of milliseconds', async () => {
  const redis = new RedisReplayStore({ redis: { lazyConnect: true, port: 1 } });
  try {
    for (const store of [new MemoryReplayStore(), redis]) {
      const k = { ctx: 'q', id: 'a' };
      for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '1000' as unknown as number]) {
        await assert.rejects(store.claim(k, ms, 1000), invalid, `${store.constructor.name} claim lease ${ms}`);
        await assert.rejects(store.claim(k, 1000, ms), invalid, `${store.constructor.name} claim retain ${ms}`);
        await assert.rejects(store.extend(k, 'token', ms), invalid, `${store.constructor.name} extend ${ms}`);
        await assert.rejects(store.complete(k, 'token', ms), invalid, `${store.constructor.name} complete ${ms}`);
      }
    }
  } finally {
    await redis.close();
  }
});

test('the BullMQ processor and the Streams consumer refuse such a lease when they are made', () => {
  const client = new Redis({ lazyConnect: true, port: 1 });
  for (const lease of BAD_LEASES) {
    assert.throws(() => sealedProcessor(async () => undefined, { keyring, replay: untouchable, lease: lease as number }), invalid, `processor lease ${String(lease)}`);
    assert.throws(
      () => new SealedStreamConsumer({ redis: client, keyring, replay: untouchable, stream: 's', group: 'g', handler: () => undefined, lease: lease as number }),
      invalid,
      `consumer lease ${String(lease)}`,
    );
  }
  client.disconnect();
});
