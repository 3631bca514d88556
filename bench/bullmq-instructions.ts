/**
 * Instructions per BullMQ job, plain against sealed, counted by valgrind (callgrind): a figure
 * the machine's load cannot move, next to the wall-clock ratios of bench/bullmq.bench.ts.
 *
 * For each mode (plain, sealed HS256, sealed EdDSA): a redis-server of its own, a producer
 * process (bench/bullmq-producer.ts: addBulk in batches of 1,000) that enqueues every job, then a
 * Worker process (bench/bullmq-worker.ts: concurrency 50, a processor that does nothing; sealed:
 * sealedProcessor with the Redis replay store) that processes them, each of the three under
 * callgrind. Each process first does a warm-up share of the work (start-up and compilation are
 * left out); callgrind_control then dumps its counters before and after the measured share, so
 * the count is that share alone. Thread-pool work (EdDSA verification) is counted: callgrind
 * counts every thread. Kernel time (socket reads and writes) is not: valgrind counts the
 * process's own instructions.
 *
 *   node --import tsx bench/bullmq-instructions.ts [--jobs 2000] [--warmup 1000] [--modes plain,HS256,EdDSA] [--keep DIR]
 *
 * --keep DIR keeps callgrind's files there, for callgrind_annotate (the measured share of each
 * process is its `.2` file; Redis's are `.2`, enqueueing, and `.4`, processing).
 *
 * Needs valgrind and redis-server, and `npm run build` first (the library is imported as a user
 * imports it). Slow: valgrind runs Node some 50 times slower; a few minutes per mode.
 */
import { execFile, fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Keyring } from 'sealq';
import type { Alg } from 'sealq';

type Mode = 'plain' | Alg;
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const N = Number(opt('jobs', '2000'));
const WARMUP = Number(opt('warmup', '1000'));
const modes = opt('modes', 'plain,HS256,EdDSA').split(',') as Mode[];
const keep = args.includes('--keep') ? opt('keep', '') : '';
const dir = keep !== '' ? keep : mkdtempSync(join(tmpdir(), 'sealq-instructions-'));
const execFile$ = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const exited = (p: ChildProcess): Promise<number | null> => new Promise((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.once('exit', resolve)));

/** A process under callgrind whose counters can be dumped at chosen moments. */
class Ground {
  #dumps = 0;
  constructor(
    readonly proc: ChildProcess,
    readonly out: string,
    readonly wake: () => void,
  ) {}

  /**
   * Dumps the counters (which also zeroes them) and returns what was counted since the last dump.
   * Callgrind takes the request when the process next runs: `wake` makes an idle one run.
   */
  async dump(): Promise<number> {
    const file = `${this.out}.${++this.#dumps}`;
    await execFile$('callgrind_control', ['--dump', String(this.proc.pid)]);
    for (let i = 0; !existsSync(file); i++) {
      if (i > 600) throw new Error(`callgrind did not dump ${file}`);
      this.wake();
      await sleep(100);
    }
    await sleep(200); // written in one go, but give it a moment
    const m = /^(?:summary|totals): (\d+)/m.exec(readFileSync(file, 'utf8'));
    if (m === null) throw new Error(`no instruction count in ${file}`);
    return Number(m[1]);
  }
}

const grindArgs = (out: string): string[] => ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`];

/** Forks a bench helper (bench/bullmq-producer.ts or bench/bullmq-worker.ts) under callgrind; resolves on `ready`. */
async function grindFork(file: string, argv: string[], name: string, env: NodeJS.ProcessEnv): Promise<{ g: Ground; open(queue: string): Promise<void>; run(n: number): Promise<number>; exit(): Promise<void> }> {
  const out = join(dir, name);
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), argv, {
    execPath: 'valgrind',
    execArgv: [...grindArgs(out), process.execPath, '--import', 'tsx'],
    env,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const failed = exited(child).then((code) => {
    throw new Error(`${file} exited with code ${code}: ${stderr.split('\n').filter((l) => !l.startsWith('==')).join('\n').slice(-2000)}`);
  });
  const next = <T>(pick: (m: unknown) => T | undefined): Promise<T> =>
    Promise.race([
      new Promise<T>((resolve) => {
        const on = (m: unknown): void => {
          const v = pick(m);
          if (v === undefined) return;
          child.off('message', on);
          resolve(v);
        };
        child.on('message', on);
      }),
      failed,
    ]);
  await next((m) => (m === 'ready' ? true : undefined));
  return {
    g: new Ground(child, out, () => child.send('ping')),
    open: async (queue) => {
      child.send({ queue });
      await next((m) => ((m as { opened?: string })?.opened === queue ? true : undefined));
    },
    run: (n) => {
      child.send({ run: n });
      return next((m) => (m as { done?: number })?.done);
    },
    exit: async () => {
      void failed.catch(() => undefined);
      child.send('exit');
      await exited(child);
    },
  };
}

interface PerJob {
  producer: number;
  worker: number;
  redis: number;
}

/** One mode: own Redis, producer, worker; instructions per job of each. */
async function measure(mode: Mode): Promise<PerJob> {
  const keyring = mode === 'plain' ? undefined : Keyring.generate(mode);
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  // hz 1: the server's background cron runs once a second (and lets callgrind take a dump request while idle).
  const redisOut = join(dir, `redis-${mode}.out`);
  const redisProc = spawn('valgrind', [...grindArgs(redisOut), 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--hz', '1'], { stdio: 'ignore' });
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  for (let i = 0; ; i++) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      if (i > 120) throw new Error('the redis-server under valgrind did not answer');
      client.disconnect();
      await sleep(500);
    }
  }
  const redis = new Ground(redisProc, redisOut, () => void client.ping().catch(() => undefined));
  const env: NodeJS.ProcessEnv = { ...process.env, SEALQ_BENCH_REDIS_URL: url, SEALQ_BENCH_PREFIX: 'sealq-bench:' };
  if (keyring !== undefined) env.SEALQ_KEYRING = JSON.stringify(keyring.toPrivateJwks());
  const queue = `sealq-bench-instr-${mode}`;
  const sealed = mode === 'plain' ? 'plain' : 'sealed';
  try {
    const producer = await grindFork('./bullmq-producer.ts', [sealed, String(WARMUP + N), '1000'], `producer-${mode}.out`, env);
    await producer.open(queue);
    await producer.run(WARMUP);
    await Promise.all([producer.g.dump(), redis.dump()]);
    await producer.run(N);
    const [producerCount, redisEnqueue] = await Promise.all([producer.g.dump(), redis.dump()]);
    await producer.exit();

    const worker = await grindFork('./bullmq-worker.ts', [queue, sealed], `worker-${mode}.out`, env);
    const warm = await worker.run(WARMUP);
    await Promise.all([worker.g.dump(), redis.dump()]);
    const measured = await worker.run(WARMUP + N - warm);
    const [workerCount, redisProcess] = await Promise.all([worker.g.dump(), redis.dump()]);
    await worker.exit();
    if (warm + measured !== WARMUP + N) throw new Error(`the worker completed ${warm + measured} jobs, not ${WARMUP + N}`);
    return { producer: producerCount / N, worker: workerCount / measured, redis: redisEnqueue / N + redisProcess / measured };
  } finally {
    await client.call('shutdown', 'nosave').catch(() => undefined);
    client.disconnect();
    await exited(redisProc);
  }
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
try {
  const rows: Array<{ mode: Mode; perJob: PerJob }> = [];
  for (const mode of modes) {
    const perJob = await measure(mode);
    rows.push({ mode, perJob });
    console.log(`${mode}: ${fmt(perJob.producer)} producer, ${fmt(perJob.worker)} worker, ${fmt(perJob.redis)} Redis instructions per job`);
  }
  const plain = rows.find((r) => r.mode === 'plain');
  const total = (c: PerJob): number => c.producer + c.worker + c.redis;
  console.log(`\nInstructions per job (callgrind; ${N.toLocaleString('en-US')} jobs measured after ${WARMUP.toLocaleString('en-US')} of warm-up):\n`);
  console.log('| | producer | worker | Redis | all three | plain / this (all three) | plain / this (worker) |');
  console.log('|:---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const vs = (k: (c: PerJob) => number): string => (plain === undefined ? '' : `${(k(plain.perJob) / k(r.perJob)).toFixed(2)}x`);
    console.log(`| ${r.mode === 'plain' ? 'plain BullMQ' : `sealed ${r.mode} + Redis replay store`} | ${fmt(r.perJob.producer)} | ${fmt(r.perJob.worker)} | ${fmt(r.perJob.redis)} | ${fmt(total(r.perJob))} | ${vs(total)} | ${vs((c) => c.worker)} |`);
  }
} finally {
  if (keep === '') rmSync(dir, { recursive: true, force: true });
}
