// The handler ran, but the replay store could not record the completion: a distinct outcome,
// ERR_COMPLETION_NOT_RECORDED, never retried automatically (a retry would run the work twice),
// kept where an operator sees it: BullMQ's failed set, the Streams dead-letter stream.
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Keyring, MemoryReplayStore } from '../../src/index.js';
import type { ReplayKey, ReplayStore, SourceLogger } from '../../src/index.js';
import { failedCode, sealedProcessor, sealedQueue } from '../../src/adapters/bullmq/index.js';
import { SealedStreamConsumer, parseDeadLetter, xaddSealed } from '../../src/adapters/redis-streams/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { Fixture, settled, until } from '../fixtures/bullmq/harness.js';

const keyring = Keyring.generate('HS256');
const quiet: SourceLogger = { warn: () => undefined, error: () => undefined };

/** A working in-memory store whose completions always fail (a Redis that turned read-only, say). */
function completionsFail(): ReplayStore & { completions: number } {
  const inner = new MemoryReplayStore();
  const store = {
    completions: 0,
    claim: (key: ReplayKey, lease: number, retain: number) => inner.claim(key, lease, retain),
    complete: async () => {
      store.completions++;
      throw new Error("READONLY You can't write against a read only replica.");
    },
    release: (key: ReplayKey, token: string) => inner.release(key, token),
    extend: (key: ReplayKey, token: string, lease: number) => inner.extend(key, token, lease),
  };
  return store;
}

describe('completion not recorded', () => {
  test('BullMQ: the job fails as ERR_COMPLETION_NOT_RECORDED after one attempt, though it has more', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName('sealq-unrecorded');
    const queue = sealedQueue<{ n: number }>(f.queue(name), { keyring });
    const replay = completionsFail();
    let calls = 0;
    f.worker(name, sealedProcessor(async () => void calls++, { keyring, replay, completeRetryFor: 300, logger: quiet }));
    const job = await queue.add('work', { n: 1 }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    const { job: done, state } = await settled(queue.unsealed, job.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(done), 'ERR_COMPLETION_NOT_RECORDED');
    assert.match(done.failedReason, /^ERR_COMPLETION_NOT_RECORDED: .*ran/);
    assert.equal(done.attemptsMade, 1);
    assert.equal(calls, 1);
    assert.ok(replay.completions > 1, 'kept trying while the lease held');
  });

  test('Redis Streams: the entry is dead-lettered with ERR_COMPLETION_NOT_RECORDED and acked, never run again', async (t: TestContext) => {
    if (!(await needBroker(t, 'redis'))) return;
    const raw = new Redis('redis://127.0.0.1:6379');
    const stream = uniqueName('sealq-test-unrecorded');
    t.after(async () => {
      await raw.del(stream, `${stream}:dead`);
      raw.disconnect();
    });
    const redis = new Redis('redis://127.0.0.1:6379');
    let calls = 0;
    const consumer = new SealedStreamConsumer({
      redis,
      keyring,
      replay: completionsFail(),
      stream,
      group: 'workers',
      lease: 300,
      block: 100,
      minIdle: 200,
      claimInterval: 50,
      logger: quiet,
      onError: () => undefined,
      handler: () => void calls++,
    });
    await consumer.start();
    t.after(async () => {
      await consumer.stop();
      redis.disconnect();
    });
    const entry = await xaddSealed(raw, keyring, stream, 'charge 42');
    // Before the fix the entry stayed pending and a reclaim ran the handler again.
    await until('a dead letter or a second run', async () => ((await raw.xlen(`${stream}:dead`)) > 0 || calls > 1 ? true : undefined));
    assert.equal(calls, 1);
    const dead = ((await raw.xrangeBuffer(`${stream}:dead`, '-', '+')) as Array<[Buffer, Buffer[]]>).map(([, fields]) => parseDeadLetter(fields)!);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.code, 'ERR_COMPLETION_NOT_RECORDED');
    assert.equal(dead[0]!.entryId, entry);
    assert.match(dead[0]!.reason, /processed/);
    const pending = (await raw.xpending(stream, 'workers')) as [number, ...unknown[]];
    assert.equal(Number(pending[0]), 0, 'acked: no reclaim can run it again');
    assert.equal(consumer.stats.deadLettered, 1);
    assert.equal(consumer.stats.processed, 0);
  });
});
