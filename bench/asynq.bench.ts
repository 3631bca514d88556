/**
 * Asynq end to end (Go): tasks/s through a real Asynq queue, plain Asynq against sealed tasks
 * (HS256, asynqseal.Sealer on the producer, the asynqseal middleware with the Redis replay store
 * on the worker). Each run is go/asynqseal/internal/asynqbench: a fresh queue, one asynq.Server
 * process (concurrency 50) started first, then a producer process enqueueing 20,000 tasks of
 * 1 KiB from 16 goroutines; timed from the producer's first enqueue to the worker's last handled
 * task. The handler does nothing, which makes the overhead look as large as it can. Needs Go and
 * Redis on 127.0.0.1:6379 (REDIS_URL to override); skipped without either.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Harness } from './harness.js';
import { needRedis, REDIS_URL } from './redis-util.js';

const run$ = promisify(execFile);
const goDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'go');

interface RunResult {
  ops: number;
  ms: number;
  producerCpuMs: number;
  workerCpuMs: number;
  redisCpuMs: number;
}

export async function run(h: Harness): Promise<void> {
  const total = h.quick ? 5_000 : 20_000;
  h.section(
    'Asynq end to end (Go)',
    `${total.toLocaleString('en-US')} tasks of 1 KiB per run; one asynq.Server process (concurrency 50) started first, then a producer process ` +
      'enqueueing from 16 goroutines; timed from the first enqueue to the last handled task. Sealed: HS256 seal per task in the producer ' +
      '(asynqseal.Sealer); open, claim and complete in the Redis replay store per task in the worker (asynqseal middleware). The handler does nothing.',
  );
  let goVersion: string;
  try {
    goVersion = (await run$('go', ['version'], { cwd: goDir })).stdout.trim();
  } catch {
    h.skip('the Go toolchain (go) is not installed');
    return;
  }
  if (!(await needRedis(h))) return;
  const dir = mkdtempSync(join(tmpdir(), 'sealq-asynqbench-'));
  try {
    const bin = join(dir, 'asynqbench');
    await run$('go', ['build', '-o', bin, './asynqseal/internal/asynqbench'], { cwd: goDir });
    h.note(`${goVersion}; asynq v0.26.0`);
    const cpu: Record<string, RunResult[]> = { plain: [], sealed: [] };
    const once = async (sealed: boolean, n: number): Promise<RunResult> => {
      // The URL travels in the environment: it may hold a password.
      const { stdout } = await run$(bin, [`-sealed=${sealed}`, '-n', String(n)], { env: { ...process.env, SEALQ_BENCH_REDIS_URL: REDIS_URL }, maxBuffer: 1 << 20 });
      return JSON.parse(stdout.trim().split('\n').pop()!) as RunResult;
    };
    const timed = async (sealed: boolean): Promise<{ ops: number; ms: number }> => {
      const r = await once(sealed, total);
      cpu[sealed ? 'sealed' : 'plain']!.push(r);
      return { ops: r.ops, ms: r.ms };
    };
    // An untimed short run of each first, as in the BullMQ bench.
    await once(false, Math.ceil(total / 4));
    await once(true, Math.ceil(total / 4));
    const c = await h.compareRuns('Asynq tasks/s (enqueue + process)', [
      { name: 'plain Asynq', run: () => timed(false) },
      { name: 'sealed HS256 + Redis replay store', run: () => timed(true) },
    ], h.quick ? {} : { rounds: 5 });
    const perTask = (rs: RunResult[], k: keyof RunResult): string => {
      const v = rs.map((r) => (r[k] * 1000) / r.ops).sort((a, b) => a - b);
      return `${v[Math.floor(v.length / 2)]!.toFixed(0)} µs`;
    };
    h.table(
      ['CPU per task (median)', 'producer', 'worker', 'Redis (whole server)'],
      (['plain', 'sealed'] as const).map((k) => [k, perTask(cpu[k]!, 'producerCpuMs'), perTask(cpu[k]!, 'workerCpuMs'), perTask(cpu[k]!, 'redisCpuMs')]),
      [1, 2, 3],
    );
    h.ratio('Asynq sealed / plain tasks/s', c.ratio('sealed HS256 + Redis replay store', 'plain Asynq'), { atLeast: 0.85 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
