/**
 * A BullMQ Worker in a process of its own, for bench/bullmq-instructions.ts (which runs it under
 * valgrind): concurrency 50, a processor that does nothing, plain or sealed (sealedProcessor with
 * the Redis replay store). Connects and says `ready`; on `{ run: n }` processes jobs until n more
 * have completed, pauses, and answers `{ done, cpuMs }` with how many completed meanwhile (a few
 * more than n: the jobs already running finish) and its CPU time; on `exit` closes and exits.
 * Not a bench file itself (no `.bench.ts`): the runner skips it.
 * argv: queue mode(plain|sealed); the Redis URL in SEALQ_BENCH_REDIS_URL (it may hold a
 * password), the keyring JWKS in SEALQ_KEYRING, the replay store's key prefix in SEALQ_BENCH_PREFIX.
 */
import { Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { keyringFromEnv } from 'sealq';
import { sealedProcessor } from 'sealq/bullmq';
import { RedisReplayStore } from 'sealq/redis';
import { connectionOf } from './bullmq-shared.js';

const [name, mode] = process.argv.slice(2) as [string, string];
const url = process.env.SEALQ_BENCH_REDIS_URL!;
const noop = async (): Promise<undefined> => undefined;
const quiet = { warn: () => undefined, error: (m: string) => console.error(m) };
let replay: RedisReplayStore | undefined;
let processor: (job: Job) => Promise<unknown> = noop;
if (mode === 'sealed') {
  replay = new RedisReplayStore({ redis: url, prefix: process.env.SEALQ_BENCH_PREFIX ?? 'sealq-bench:' });
  await replay.checkServer();
  processor = sealedProcessor(noop, { keyring: keyringFromEnv(), replay, unsafeSharedReplayStore: true, logger: quiet });
}
const worker = new Worker(name, processor, { connection: connectionOf(url), concurrency: 50, autorun: false });
worker.on('failed', (job: Job | undefined, err: Error) => {
  console.error(`job ${job?.id} failed: ${err.message}; the benchmark would measure a failing path`);
  process.exit(1);
});
let completed = 0;
let target = Infinity;
let reached: () => void = () => undefined;
worker.on('completed', () => {
  if (++completed === target) reached();
});
await worker.waitUntilReady();
let started = false;

process.on('message', async (m: unknown) => {
  if (m === 'exit') {
    await Promise.all([worker.close(), replay?.close()]);
    process.exit(0);
  }
  const n = (m as { run?: number }).run;
  if (typeof n !== 'number') return;
  const from = completed;
  const c0 = process.cpuUsage();
  const all = new Promise<void>((resolve) => (reached = resolve));
  target = completed + n;
  if (!started) {
    started = true;
    void worker.run();
  } else {
    worker.resume();
  }
  await all;
  await worker.pause(); // waits for the jobs still running
  const c = process.cpuUsage(c0);
  process.send!({ done: completed - from, cpuMs: (c.user + c.system) / 1000 });
});
process.send!('ready');
