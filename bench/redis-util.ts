/**
 * What the bench files that need Redis share: which Redis, skipping when it does not answer, and
 * removing the keys a run created. Not a bench file itself (no `.bench.ts`): the runner skips it.
 */
import { Redis } from 'ioredis';
import type { Harness } from './harness.js';

/** The Redis the benchmarks use: 127.0.0.1:6379, or REDIS_URL. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function reachable(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Call first: false (and the file is reported as skipped) when Redis does not answer. */
export async function needRedis(h: Harness, url: string = REDIS_URL): Promise<boolean> {
  if (await reachable(url)) return true;
  // Never print a password that REDIS_URL may hold.
  h.skip(`Redis is not reachable at ${url.replace(/\/\/[^@/]*@/, '//')}`);
  return false;
}

/** Deletes every key starting with `prefix` (SCAN, never KEYS); returns how many. A URL gets a client of its own for it. */
export async function deleteByPrefix(redis: Redis | string, prefix: string): Promise<number> {
  const r = typeof redis === 'string' ? new Redis(redis) : redis;
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    if (typeof redis === 'string') r.disconnect();
  }
  return n;
}
