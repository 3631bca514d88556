/**
 * BullMQ end to end: jobs/s through a real queue, plain BullMQ against sealed jobs (HS256,
 * sealedQueue on the producer, sealedProcessor with the Redis replay store on the worker).
 * Each run: a fresh queue, one Worker (concurrency 50) started first, then 20,000 jobs of 1 KiB
 * enqueued with addBulk (batches of 1,000); timed from the first addBulk to the last completion,
 * so sealing, verification, claim and complete are all inside the figure. The processor does
 * nothing, which makes the overhead look as large as it can. Same Redis, same options, rounds
 * interleaved after an untimed warm-up run of each. Needs Redis on 127.0.0.1:6379 (REDIS_URL to
 * override); skipped when unreachable.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { Keyring } from 'sealq';
import { sealedProcessor, sealedQueue } from 'sealq/bullmq';
import { RedisReplayStore } from 'sealq/redis';
import type { Harness } from './harness.js';
import { deleteByPrefix, needRedis, REDIS_URL } from './redis-util.js';

const CONCURRENCY = 50;
const BATCH = 1000;
const PAYLOAD_BYTES = 1024;

/** BullMQ takes ioredis options, not a URL. */
function connectionOf(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } {
  const u = new URL(url);
  const c: { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } = { host: u.hostname, port: Number(u.port || 6379) };
  if (u.username !== '') c.username = decodeURIComponent(u.username);
  if (u.password !== '') c.password = decodeURIComponent(u.password);
  if (u.pathname.length > 1) c.db = Number(u.pathname.slice(1));
  if (u.protocol === 'rediss:') c.tls = {};
  return c;
}

/** A 1 KiB JSON job (its JSON text is exactly 1,024 bytes). */
function jobData(i: number): { orderId: string; customer: string; items: Array<{ sku: string; qty: number }>; note: string } {
  const base = { orderId: `ord_${String(i).padStart(8, '0')}`, customer: 'cus_7F2Q', items: [{ sku: 'A-100', qty: 2 }, { sku: 'B-220', qty: 1 }], note: '' };
  return { ...base, note: 'x'.repeat(PAYLOAD_BYTES - Buffer.byteLength(JSON.stringify(base))) };
}

interface Variant {
  add(jobs: Array<{ name: string; data: unknown }>): Promise<unknown>;
  worker: Worker;
  close(): Promise<void>;
}

/** One run: worker up, then enqueue everything and wait for every completion. */
async function runOnce(total: number, make: (queueName: string, onDone: () => void) => Promise<Variant>): Promise<{ ops: number; ms: number }> {
  const name = `sealq-bench-bullmq-${process.pid}-${randomBytes(4).toString('hex')}`;
  let done = 0;
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const all = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
  const v = await make(name, () => {
    if (++done === total) finish();
  });
  v.worker.on('failed', (job: Job | undefined, err: Error) => fail(new Error(`job ${job?.id} failed: ${err.message}; the benchmark would measure a failing path`)));
  await v.worker.waitUntilReady();
  const data = Array.from({ length: total }, (_, i) => ({ name: 'order', data: jobData(i) }));
  try {
    const t0 = performance.now();
    for (let i = 0; i < total; i += BATCH) await v.add(data.slice(i, i + BATCH));
    await all;
    const ms = performance.now() - t0;
    return { ops: total, ms };
  } finally {
    await v.close();
  }
}

export async function run(h: Harness): Promise<void> {
  const total = h.quick ? 5_000 : 20_000;
  h.section(
    'BullMQ end to end',
    `${total.toLocaleString('en-US')} jobs of 1 KiB per run, one Worker with concurrency ${CONCURRENCY}, enqueued with addBulk in batches of ${BATCH}; ` +
      'timed from the first addBulk to the last completion. Sealed: HS256 seal per job on the producer; open, claim and complete in the Redis replay store per job on the worker. The processor does nothing.',
  );
  if (!(await needRedis(h))) return;
  const connection = connectionOf(REDIS_URL);
  const keyring = Keyring.generate('HS256');
  const jobOpts = { removeOnComplete: true, removeOnFail: false };
  const prefix = `sealq-bench:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const bullmqVersion = (await import('bullmq/package.json', { with: { type: 'json' } }).catch(() => ({ default: { version: '?' } }))).default.version;
  h.note(`bullmq ${bullmqVersion}`);

  const plain = async (name: string, onDone: () => void): Promise<Variant> => {
    const queue = new Queue(name, { connection, defaultJobOptions: jobOpts });
    const worker = new Worker(name, async () => undefined, { connection, concurrency: CONCURRENCY });
    worker.on('completed', onDone);
    return {
      add: (jobs) => queue.addBulk(jobs),
      worker,
      close: async () => {
        await worker.close();
        await queue.obliterate({ force: true });
        await queue.close();
      },
    };
  };

  const sealed = async (name: string, onDone: () => void): Promise<Variant> => {
    const queue = sealedQueue(new Queue(name, { connection, defaultJobOptions: jobOpts }), { keyring });
    const replay = new RedisReplayStore({ redis: REDIS_URL, prefix });
    // Connected before the clock starts, as the Worker is (checkServer waits for the connection).
    const warnings = await replay.checkServer();
    if (warnings.length > 0) h.note(`replay store: ${warnings.join('; ')}`);
    const worker = new Worker(name, sealedProcessor(async () => undefined, { keyring, replay }), { connection, concurrency: CONCURRENCY });
    worker.on('completed', onDone);
    return {
      add: (jobs) => queue.addBulk(jobs),
      worker,
      close: async () => {
        await worker.close();
        await queue.obliterate({ force: true });
        await queue.close();
        await replay.close();
      },
    };
  };

  try {
    // One short untimed run of each first: the rounds then compare steady states, not how soon
    // BullMQ's, ioredis's and sealq's code gets compiled (the first round would favour whichever
    // ran second). Five rounds rather than three: a shared machine swings from run to run.
    const warmup = Math.min(5_000, Math.ceil(total / 4));
    await runOnce(warmup, plain);
    await runOnce(warmup, sealed);
    const c = await h.compareRuns('BullMQ jobs/s (enqueue + process)', [
      { name: 'plain BullMQ', run: () => runOnce(total, plain) },
      { name: 'sealed HS256 + Redis replay store', run: () => runOnce(total, sealed) },
    ], h.quick ? {} : { rounds: 5 });
    h.ratio('BullMQ sealed / plain jobs/s', c.ratio('sealed HS256 + Redis replay store', 'plain BullMQ'), { atLeast: 0.85 });
  } finally {
    await deleteByPrefix(REDIS_URL, prefix);
  }
}
