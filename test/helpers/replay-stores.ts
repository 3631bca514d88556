/**
 * Replay stores for integration tests: Redis ones under a prefix of the test's own, removed after
 * it; and flaky ones that play an unreachable store.
 */
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { ReplayStore } from '../../src/index.js';
import { RedisReplayStore } from '../../src/replay/redis.js';
import { uniqueName } from './brokers.js';
import { deleteMatching } from './redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** `n` stores sharing one prefix `<name>-…:` on the local Redis, closed and their keys deleted after the test. */
export function redisReplayStores(t: TestContext, name: string, n = 1): { stores: RedisReplayStore[]; prefix: string } {
  const prefix = `${uniqueName(name)}:`;
  const stores = Array.from({ length: n }, () => new RedisReplayStore({ redis: REDIS_URL, prefix }));
  t.after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    const r = new Redis(REDIS_URL);
    await deleteMatching(r, `${prefix}*`);
    r.disconnect();
  });
  return { stores, prefix };
}

/**
 * `inner`, failing as an unreachable store would: `claim`, the first that many claims, or while the
 * function says so; `complete`, every completion.
 */
export function flakyStore(inner: ReplayStore, fail: { claim?: number | (() => boolean); complete?: boolean }): ReplayStore {
  let claims = 0;
  const claimFails = typeof fail.claim === 'function' ? fail.claim : (): boolean => ++claims <= ((fail.claim as number | undefined) ?? 0);
  return {
    claim: async (k, l, r) => {
      if (claimFails()) throw new Error('connection refused');
      return inner.claim(k, l, r);
    },
    complete: async (k, tk, r) => {
      if (fail.complete === true) throw new Error('connection refused');
      return inner.complete(k, tk, r);
    },
    release: (k, tk) => inner.release(k, tk),
    extend: (k, tk, l) => inner.extend(k, tk, l),
  };
}
