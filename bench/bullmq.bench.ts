/**
 * BullMQ end to end: jobs/s through a real queue, plain BullMQ against sealed jobs (sealedQueue on
 * the producer, sealedProcessor with the Redis replay store on the worker). The processor does
 * nothing, which makes the overhead look as large as it can. Needs Redis on 127.0.0.1:6379
 * (REDIS_URL to override); skipped when unreachable.
 *
 * - Deployment shape: the producer in a process of its own (bench/bullmq-producer.ts), the Worker
 *   (concurrency 50) in this one; plain, sealed HS256 and sealed EdDSA. Each run: a fresh queue,
 *   the Worker and the producer connected first, then 20,000 jobs of 1 KiB enqueued with addBulk
 *   (batches of 1,000); timed from the producer's start to the worker's last completion. CPU per
 *   job is measured in each process (process.cpuUsage), and for the whole Redis server (INFO).
 * - Earlier shape (the figures first published): producer and Worker on one Node thread, HS256.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Keyring } from 'sealq';
import type { Alg } from 'sealq';
import { sealedProcessor, sealedQueue } from 'sealq/bullmq';
import { RedisReplayStore } from 'sealq/redis';
import { connectionOf, jobData } from './bullmq-shared.js';
import type { Harness } from './harness.js';
import { deleteByPrefix, needRedis, REDIS_URL } from './redis-util.js';

const CONCURRENCY = 50;
const BATCH = 1000;
const jobOpts = { removeOnComplete: true, removeOnFail: false };
// The bench's queue and replay store share one Redis, which the store's isolation check would
// refuse to trust in production (docs/redis.md): said here once, not logged per run.
const quiet = { info: () => undefined, warn: () => undefined, error: (m: string) => console.error(m) };

interface RunFigures {
  ops: number;
  ms: number;
  workerCpuMs: number;
  producerCpuMs: number;
  redisCpuMs: number;
}

/** Redis's own CPU time so far (whole server, user + system), in ms. */
async function redisCpuMs(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const get = (k: string): number => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
}

/** A producer process (bench/bullmq-producer.ts), started once per variant and kept for every round, as a deployment keeps its producers. */
interface Producer {
  /** Opens the queue of the next run. */
  open(queue: string): Promise<void>;
  /** Enqueues `n` jobs; resolves with the producer's CPU time for them (ms). */
  go(n: number): Promise<number>;
  exit(): void;
}

async function startProducer(mode: 'plain' | 'sealed', jobs: number, keyring: Keyring | undefined): Promise<Producer> {
  const env: NodeJS.ProcessEnv = { ...process.env, SEALQ_BENCH_REDIS_URL: REDIS_URL };
  if (keyring !== undefined) env.SEALQ_KEYRING = JSON.stringify(keyring.toPrivateJwks());
  const child = fork(fileURLToPath(new URL('./bullmq-producer.ts', import.meta.url)), [mode, String(jobs), String(BATCH)], {
    execArgv: ['--import', 'tsx'],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const failed = new Promise<never>((_, reject) => child.once('exit', (code) => code !== 0 && reject(new Error(`the producer exited with code ${code}`))));
  failed.catch(() => undefined);
  const next = <T>(pick: (m: unknown) => T | undefined): Promise<T> =>
    Promise.race([
      new Promise<T>((resolve) => {
        const on = (m: unknown): void => {
          const v = pick(m);
          if (v !== undefined) {
            child.off('message', on);
            resolve(v);
          }
        };
        child.on('message', on);
      }),
      failed,
    ]);
  await next((m) => (m === 'ready' ? true : undefined));
  return {
    open: async (queue) => {
      child.send({ queue });
      await next((m) => ((m as { opened?: string })?.opened === queue ? true : undefined));
    },
    go: (n) => {
      child.send({ run: n });
      return next((m) => (m as { cpuMs?: number })?.cpuMs);
    },
    exit: () => void child.send('exit'),
  };
}

export async function run(h: Harness): Promise<void> {
  const total = h.quick ? 5_000 : 20_000;
  h.section(
    'BullMQ end to end, deployment shape',
    `${total.toLocaleString('en-US')} jobs of 1 KiB per run from a producer process (addBulk, batches of ${BATCH}) to one Worker (concurrency ${CONCURRENCY}) in another; ` +
      'timed from the producer\'s start to the last completion. Sealed: seal per job in the producer (sealedQueue); open, claim and complete in the Redis replay store per job in the worker (sealedProcessor). ' +
      'Producer, worker and Redis share the machine. The processor does nothing.',
  );
  if (!(await needRedis(h))) return;
  const connection = connectionOf(REDIS_URL);
  const prefix = `sealq-bench:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const bullmqVersion = (await import('bullmq/package.json', { with: { type: 'json' } }).catch(() => ({ default: { version: '?' } }))).default.version;
  h.note(`bullmq ${bullmqVersion}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; queue and replay store on the same Redis (unsafeSharedReplayStore: a bench, not a deployment)`);
  const admin = new Redis(REDIS_URL);
  const keyrings: Partial<Record<Alg, Keyring>> = { HS256: Keyring.generate('HS256'), EdDSA: Keyring.generate('EdDSA') };

  const producers = new Map<string, Producer>();
  /** One run in the deployment shape: `alg` undefined is plain BullMQ. */
  const deployed = async (n: number, alg: Alg | undefined): Promise<RunFigures> => {
    const name = `sealq-bench-bullmq-${process.pid}-${randomBytes(4).toString('hex')}`;
    const keyring = alg === undefined ? undefined : keyrings[alg]!;
    let replay: RedisReplayStore | undefined;
    let done = 0;
    let finish!: () => void;
    let fail!: (e: Error) => void;
    const all = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
    const noop = async (): Promise<undefined> => undefined;
    let processor: (job: Job) => Promise<unknown> = noop;
    if (keyring !== undefined) {
      replay = new RedisReplayStore({ redis: REDIS_URL, prefix });
      await replay.checkServer(); // connected before the clock starts, as the Worker is
      processor = sealedProcessor(noop, { keyring, replay, unsafeSharedReplayStore: true, logger: quiet });
    }
    const worker = new Worker(name, processor, { connection, concurrency: CONCURRENCY });
    worker.on('completed', () => {
      if (++done === n) finish();
    });
    worker.on('failed', (job: Job | undefined, err: Error) => fail(new Error(`job ${job?.id} failed: ${err.message}; the benchmark would measure a failing path`)));
    try {
      await worker.waitUntilReady();
      const key = alg ?? 'plain';
      let p = producers.get(key);
      if (p === undefined) producers.set(key, (p = await startProducer(keyring === undefined ? 'plain' : 'sealed', total, keyring)));
      await p.open(name);
      const r0 = await redisCpuMs(admin);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const [producerCpuMs] = await Promise.all([p.go(n), all]);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const redis = (await redisCpuMs(admin)) - r0;
      return { ops: n, ms, workerCpuMs: (c.user + c.system) / 1000, producerCpuMs, redisCpuMs: redis };
    } finally {
      await worker.close();
      const q = new Queue(name, { connection });
      await q.obliterate({ force: true });
      await q.close();
      await replay?.close();
    }
  };

  const cases = [
    { name: 'plain BullMQ', alg: undefined },
    { name: 'sealed HS256 + Redis replay store', alg: 'HS256' as const },
    { name: 'sealed EdDSA + Redis replay store', alg: 'EdDSA' as const },
  ];
  const figures = new Map<string, RunFigures[]>(cases.map((c) => [c.name, []]));
  try {
    // One short untimed run of each first: the rounds then compare steady states, not how soon
    // BullMQ's, ioredis's and sealq's code gets compiled. Five rounds: a shared machine swings.
    for (const c of cases) await deployed(Math.min(5_000, Math.ceil(total / 4)), c.alg);
    const cmp = await h.compareRuns('BullMQ jobs/s, producer in its own process', cases.map((c) => ({
      name: c.name,
      run: async () => {
        const f = await deployed(total, c.alg);
        figures.get(c.name)!.push(f);
        return { ops: f.ops, ms: f.ms };
      },
    })), h.quick ? {} : { rounds: 5 });
    const perJob = (name: string, k: 'workerCpuMs' | 'producerCpuMs' | 'redisCpuMs'): string => {
      const v = figures.get(name)!.map((f) => (f[k] * 1000) / f.ops).sort((a, b) => a - b);
      return `${v[v.length >> 1]!.toFixed(0)} µs`;
    };
    h.table(
      ['CPU per job (median of rounds)', 'worker process', 'producer process', 'Redis (whole server)'],
      cases.map((c) => [c.name, perJob(c.name, 'workerCpuMs'), perJob(c.name, 'producerCpuMs'), perJob(c.name, 'redisCpuMs')]),
      [1, 2, 3],
    );
    h.ratio('BullMQ sealed HS256 / plain jobs/s (producer in its own process)', cmp.ratio(cases[1]!.name, cases[0]!.name), { atLeast: 0.85 });
    h.ratio('BullMQ sealed EdDSA / plain jobs/s (producer in its own process)', cmp.ratio(cases[2]!.name, cases[0]!.name), { atLeast: 0.8 });

    await earlierShape(h, total, connection, prefix, keyrings.HS256!);
  } finally {
    for (const p of producers.values()) p.exit();
    await deleteByPrefix(REDIS_URL, prefix);
    admin.disconnect();
  }
}

/**
 * The shape of the figures first published: producer and Worker on one Node thread, so the
 * producer's sealing and the worker's opening share one core. Kept as a row of its own.
 */
async function earlierShape(h: Harness, total: number, connection: ReturnType<typeof connectionOf>, prefix: string, keyring: Keyring): Promise<void> {
  h.section(
    'BullMQ end to end, one process (earlier shape)',
    `The figures first published: ${total.toLocaleString('en-US')} jobs of 1 KiB, the Queue and one Worker (concurrency ${CONCURRENCY}) in this one process, addBulk in batches of ${BATCH}; ` +
      'timed from the first addBulk to the last completion. Sealed: HS256 and the Redis replay store.',
  );
  const once = async (n: number, sealed: boolean): Promise<{ ops: number; ms: number }> => {
    const name = `sealq-bench-bullmq-${process.pid}-${randomBytes(4).toString('hex')}`;
    let done = 0;
    let finish!: () => void;
    let fail!: (e: Error) => void;
    const all = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
    const raw = new Queue(name, { connection, defaultJobOptions: jobOpts });
    const queue = sealed ? sealedQueue(raw, { keyring }) : raw;
    const replay = sealed ? new RedisReplayStore({ redis: REDIS_URL, prefix }) : undefined;
    await replay?.checkServer();
    const noop = async (): Promise<undefined> => undefined;
    const worker = new Worker(name, replay === undefined ? noop : sealedProcessor(noop, { keyring, replay, unsafeSharedReplayStore: true, logger: quiet }), { connection, concurrency: CONCURRENCY });
    worker.on('completed', () => {
      if (++done === n) finish();
    });
    worker.on('failed', (job: Job | undefined, err: Error) => fail(new Error(`job ${job?.id} failed: ${err.message}; the benchmark would measure a failing path`)));
    await worker.waitUntilReady();
    const data = Array.from({ length: n }, (_, i) => ({ name: 'order', data: jobData(i) }));
    try {
      const t0 = performance.now();
      for (let i = 0; i < n; i += BATCH) await queue.addBulk(data.slice(i, i + BATCH));
      await all;
      return { ops: n, ms: performance.now() - t0 };
    } finally {
      await worker.close();
      await raw.obliterate({ force: true });
      await raw.close();
      await replay?.close();
    }
  };
  const warmup = Math.min(5_000, Math.ceil(total / 4));
  await once(warmup, false);
  await once(warmup, true);
  const c = await h.compareRuns('BullMQ jobs/s, one process (earlier shape)', [
    { name: 'plain BullMQ', run: () => once(total, false) },
    { name: 'sealed HS256 + Redis replay store', run: () => once(total, true) },
  ], h.quick ? {} : { rounds: 5 });
  h.ratio('BullMQ sealed HS256 / plain jobs/s (one process, earlier shape)', c.ratio('sealed HS256 + Redis replay store', 'plain BullMQ'), { about: 0.75 });
}
