/**
 * Redis replay store: claims/s through RedisReplayStore (each claim one atomic script, concurrent
 * claims pipelined by the store) against raw pipelined `SET key value NX PX ttl`, the cheapest
 * command that could remember an id at all. Same count, same batch size, same Redis, interleaved.
 * The library is imported as a user imports it (`sealq/redis`, the built dist).
 * Needs Redis on 127.0.0.1:6379 (REDIS_URL to override); skipped when it is not reachable.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { RedisReplayStore } from 'sealq/redis';
import type { Harness } from './harness.js';
import { deleteByPrefix, needRedis, REDIS_URL } from './redis-util.js';

const BATCH = 10_000;
const LEASE_MS = 30_000;
const RETAIN_MS = 600_000;

export async function run(h: Harness): Promise<void> {
  h.section('Redis replay store', `Claims of fresh message ids, ${BATCH.toLocaleString('en-US')} issued at once per batch, against raw pipelined SET NX PX of the same count.`);
  if (!(await needRedis(h))) return;
  const total = h.quick ? 20_000 : 100_000;
  const prefix = `sealq-bench:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const store = new RedisReplayStore({ redis: REDIS_URL, prefix: `${prefix}store:` });
  const raw = new Redis(REDIS_URL);
  const ids = Array.from({ length: total }, () => randomBytes(16).toString('base64url'));
  let round = 0;
  try {
    const info = String(await raw.info('server'));
    h.note(`Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}; ${total.toLocaleString('en-US')} claims per round; ctx "orders", 22-character ids`);

    // Each round uses fresh keys (a round number in the ctx / key), so every claim is a first claim.
    const storeRun = async (): Promise<{ ops: number; ms: number }> => {
      const ctx = `orders-${round++}`;
      const t0 = performance.now();
      for (let b = 0; b < total; b += BATCH) {
        const batch: Promise<unknown>[] = [];
        for (let i = b; i < Math.min(total, b + BATCH); i++) batch.push(store.claim({ ctx, id: ids[i]! }, LEASE_MS, RETAIN_MS));
        const out = await Promise.all(batch);
        if ((out[0] as { status: string }).status !== 'claimed') throw new Error('sanity check failed: a fresh id was not claimed');
      }
      const ms = performance.now() - t0;
      await deleteByPrefix(raw, `${prefix}store:`);
      return { ops: total, ms };
    };
    const rawRun = async (): Promise<{ ops: number; ms: number }> => {
      const p = `${prefix}raw:${round++}:`;
      const t0 = performance.now();
      for (let b = 0; b < total; b += BATCH) {
        const pipe = raw.pipeline();
        for (let i = b; i < Math.min(total, b + BATCH); i++) pipe.set(p + ids[i]!, '1', 'PX', RETAIN_MS, 'NX');
        const out = await pipe.exec();
        if (out?.[0]?.[1] !== 'OK') throw new Error('sanity check failed: SET NX of a fresh key did not answer OK');
      }
      const ms = performance.now() - t0;
      await deleteByPrefix(raw, `${prefix}raw:`);
      return { ops: total, ms };
    };
    // For context: a whole message (claim, then complete), and claims awaited one at a time.
    const messageRun = async (): Promise<{ ops: number; ms: number }> => {
      const ctx = `orders-${round++}`;
      const t0 = performance.now();
      for (let b = 0; b < total; b += BATCH) {
        const batch: Promise<unknown>[] = [];
        for (let i = b; i < Math.min(total, b + BATCH); i++) {
          const key = { ctx, id: ids[i]! };
          batch.push(store.claim(key, LEASE_MS, RETAIN_MS).then((o) => (o.status === 'claimed' ? store.complete(key, o.token, RETAIN_MS) : Promise.reject(new Error('not claimed')))));
        }
        await Promise.all(batch);
      }
      const ms = performance.now() - t0;
      await deleteByPrefix(raw, `${prefix}store:`);
      return { ops: total, ms };
    };
    const sequential = Math.min(total, 5000);
    const sequentialRun = async (): Promise<{ ops: number; ms: number }> => {
      const ctx = `orders-${round++}`;
      const t0 = performance.now();
      for (let i = 0; i < sequential; i++) await store.claim({ ctx, id: ids[i]! }, LEASE_MS, RETAIN_MS);
      const ms = performance.now() - t0;
      await deleteByPrefix(raw, `${prefix}store:`);
      return { ops: sequential, ms };
    };
    h.note('"claim + complete" counts whole messages (two store operations each); "one at a time" awaits each claim before the next (one round trip each).');
    const c = await h.compareRuns(
      'Redis replay claims',
      [
        { name: 'raw pipelined SET NX PX', run: rawRun },
        { name: 'RedisReplayStore.claim', run: storeRun },
        { name: 'RedisReplayStore claim + complete', run: messageRun },
        { name: 'RedisReplayStore.claim one at a time', run: sequentialRun },
      ],
      { rounds: h.quick ? 1 : 5 },
    );
    h.ratio('RedisReplayStore claims / raw pipelined SET NX PX', c.ratio('RedisReplayStore.claim', 'raw pipelined SET NX PX'), { atLeast: 0.7 });
  } finally {
    await deleteByPrefix(raw, prefix);
    await store.close();
    raw.disconnect();
  }
}
