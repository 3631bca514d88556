/**
 * Many consumers, duplicated deliveries, crashes and a replay-store restart: every message is
 * processed exactly once. STORM_MESSAGES (default 1000) sets the size of the main storm; each
 * message is delivered 3 times.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Keyring } from '../../src/index.js';
import { failedCode, sealJobData, sealedProcessor } from '../../src/adapters/bullmq/index.js';
import type { SealedJobData } from '../../src/adapters/bullmq/index.js';
import { RedisReplayStore } from '../../src/replay/redis.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { Fixture, REDIS, counts, deleteKeys, settled, shuffle, until } from '../fixtures/bullmq/harness.js';

const keyring = Keyring.generate('HS256');
const MESSAGES = Number(process.env.STORM_MESSAGES ?? 1000);
const COPIES = 3;
const CONSUMERS = 8;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Seals `n` messages and returns every one `copies` times, shuffled: redeliveries in random order. */
function deliveries(queueName: string, n: number, copies: number, opts: object): Array<{ name: string; data: SealedJobData; opts: object }> {
  const out: Array<{ name: string; data: SealedJobData; opts: object }> = [];
  for (let i = 0; i < n; i++) {
    const data = sealJobData(keyring, queueName, 'work', { i });
    for (let c = 0; c < copies; c++) out.push({ name: 'work', data, opts });
  }
  return shuffle(out);
}

async function addAll(queue: Queue, jobs: Array<{ name: string; data: SealedJobData; opts: object }>): Promise<void> {
  for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
}

/** Every failed job's sealq code, counted. */
async function failedCodes(queue: Queue): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const total = await queue.getFailedCount();
  for (let i = 0; i < total; i += 1000) {
    for (const j of await queue.getFailed(i, i + 999)) {
      const c = failedCode(j) ?? `other: ${j.failedReason}`;
      out[c] = (out[c] ?? 0) + 1;
    }
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * A redis-server of this test's own (never the shared one: this test kills it). Append-only file
 * with fsync on every write: the replay store's memory must survive the restart. A store that
 * forgets on restart (no persistence) forgets which messages completed and which are leased, so
 * after a restart it would let a redelivered, already-processed message run again: it cannot
 * promise "once" across restarts.
 */
class OwnRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'sealq-redis-'));
  #proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const p = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir, '--daemonize', 'no'], { stdio: 'ignore' });
    this.#proc = p;
    await until(`redis-server on port ${this.port}`, async () => {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        return (await c.ping()) === 'PONG' ? true : undefined;
      } catch {
        return undefined;
      } finally {
        c.disconnect();
      }
    }, 15_000);
  }

  /** A crash, not a shutdown: SIGKILL. */
  async kill(): Promise<void> {
    const p = this.#proc;
    if (p === undefined || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
    this.#proc = undefined;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('sealq/bullmq storm', () => {
  test(`${CONSUMERS} consumers, ${MESSAGES} messages each delivered ${COPIES} times in random order, some failing once: each processed exactly once`, async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName('sealq-storm');
    const queue = f.queue(name);
    const prefix = `${uniqueName('sealq-storm')}:`;
    const url = `redis://${REDIS.host}:${REDIS.port}`;
    f.onClose(() => deleteKeys(url, prefix));

    const processed = new Map<number, number>();
    const thrown = new Set<number>();
    for (let w = 0; w < CONSUMERS; w++) {
      // Each consumer has its own connections, to BullMQ and to the replay store (shared state in Redis).
      const replay = new RedisReplayStore({ redis: url, prefix });
      f.onClose(() => replay.close());
      f.worker(name, sealedProcessor<{ i: number }>(async (job) => {
        const { i } = job.data;
        // One message in 20 fails on its first run: BullMQ retries it and it still completes once.
        if (i % 20 === 0 && !thrown.has(i)) {
          thrown.add(i);
          throw new Error('transient failure');
        }
        processed.set(i, (processed.get(i) ?? 0) + 1);
      }, { keyring, replay, inFlightDelay: 100 }), { concurrency: 10 });
    }
    await addAll(queue, deliveries(name, MESSAGES, COPIES, { attempts: 3, backoff: { type: 'fixed', delay: 20 }, removeOnComplete: false }));

    const c = await counts(queue, MESSAGES * COPIES, 120_000 + MESSAGES * 30);
    assert.equal(processed.size, MESSAGES, 'every message processed');
    const twice = [...processed].filter(([, n]) => n !== 1);
    assert.deepEqual(twice, [], 'no message processed more than once');
    assert.equal(c.completed, MESSAGES);
    assert.equal(c.failed, MESSAGES * (COPIES - 1));
    assert.deepEqual(await failedCodes(queue), { ERR_REPLAYED: MESSAGES * (COPIES - 1) });
    assert.equal(thrown.size, Math.ceil(MESSAGES / 20));
  });

  test('a consumer that dies mid-processing: its lease lapses and another consumer processes the message once', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName('sealq-dying');
    const queue = f.queue(name);
    const prefix = `${uniqueName('sealq-dying')}:`;
    const url = `redis://${REDIS.host}:${REDIS.port}`;
    f.onClose(() => deleteKeys(url, prefix));
    const data = sealJobData(keyring, name, 'work', { i: 1 });
    const first = await queue.add('work', data, { attempts: 3 });

    // The doomed consumer runs in a process of its own, so that dying is real: SIGKILL, no cleanup.
    const child = fork(fileURLToPath(new URL('../fixtures/bullmq/dying-worker.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, SEALQ_TEST_QUEUE: name, SEALQ_TEST_KEYRING: JSON.stringify(keyring.toPrivateJwks()), SEALQ_TEST_REPLAY_PREFIX: prefix, SEALQ_TEST_LEASE_MS: '3000', SEALQ_TEST_LOCK_MS: '2000' },
    });
    t.after(() => void child.kill('SIGKILL'));
    const started = await new Promise<{ started: string; envelope: string }>((resolve, reject) => {
      child.on('message', (m: { started?: string; envelope?: string }) => m.started !== undefined && resolve(m as { started: string; envelope: string }));
      child.once('exit', (code) => reject(new Error(`the dying worker exited early (${code})`)));
    });
    assert.equal(started.started, first.id);
    await new Promise<void>((r) => {
      child.once('exit', () => r());
      child.kill('SIGKILL');
    });

    // A redelivered copy as well: of the two jobs, exactly one may run.
    const second = await queue.add('work', data, { attempts: 3 });
    const replay = new RedisReplayStore({ redis: url, prefix });
    f.onClose(() => replay.close());
    const runs: string[] = [];
    f.worker(name, sealedProcessor(async (job) => void runs.push(job.id!), { keyring, replay, lease: 3000, inFlightDelay: 200 }), { lockDuration: 2000, stalledInterval: 500 });
    const a = await settled(queue, first.id!);
    const b = await settled(queue, second.id!);
    assert.equal(runs.length, 1, 'processed once after the crash');
    const states = [a, b].map((x) => (x.state === 'completed' ? 'completed' : failedCode(x.job))).sort();
    assert.deepEqual(states, ['ERR_REPLAYED', 'completed']);
  });

  test('the replay store\'s Redis restarted mid-run: ERR_REPLAY_STORE_UNAVAILABLE, retries, and still no message processed twice', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    // The replay store lives on a Redis of this test's own, which it crashes and restarts. The
    // queue stays on the shared Redis: BullMQ keeps delivering while the store is gone, so what
    // is tested is how the sealed processor copes, not how BullMQ survives losing its own data.
    const own = new OwnRedis(await freePort());
    t.after(() => own.destroy());
    await own.start();

    const f = new Fixture(t);
    const name = f.queueName('sealq-restart');
    const queue = f.queue(name);
    const n = 400;
    const processed = new Map<number, number>();
    const unavailable: string[] = [];
    for (let w = 0; w < 4; w++) {
      const replay = new RedisReplayStore({ redis: own.url, timeout: 500 });
      f.onClose(() => replay.close());
      const worker = f.worker(name, sealedProcessor<{ i: number }>(async (job) => {
        await sleep(2 + Math.floor(Math.random() * 10));
        processed.set(job.data.i, (processed.get(job.data.i) ?? 0) + 1);
      }, { keyring, replay, lease: 5000, inFlightDelay: 100 }), { concurrency: 8 });
      worker.on('failed', (_job, err) => {
        if ((err as { code?: string }).code === 'ERR_REPLAY_STORE_UNAVAILABLE') unavailable.push(err.message);
      });
    }
    await addAll(queue, deliveries(name, n, 2, { attempts: 1000, backoff: { type: 'fixed', delay: 100 } }));

    await until('a third of the messages to complete', async () => ((await queue.getCompletedCount()) >= n / 3 ? true : undefined), 60_000);
    await own.kill();
    await until('workers to see the store unavailable', () => (unavailable.length > 0 ? true : undefined), 30_000);
    await sleep(300);
    await own.start();

    const c = await counts(queue, 2 * n, 120_000);
    assert.ok(unavailable.length > 0);
    assert.ok(unavailable.every((m) => m.startsWith('ERR_REPLAY_STORE_UNAVAILABLE: ')));
    assert.equal(processed.size, n, 'every message processed');
    assert.deepEqual([...processed].filter(([, k]) => k !== 1), [], 'no message processed twice');
    assert.equal(c.completed, n);
    assert.deepEqual(await failedCodes(queue), { ERR_REPLAYED: n });
  });
});
