/**
 * End to end on the real Redis: tasks sealed and enqueued by the Node producer (sealq/asynq) run
 * on a real asynq.Server in Go with sealq's middleware (test/fixtures/asynq-go worker, which
 * prints one JSON line per handler run). Every good task reaches its handler once with its exact
 * payload; a task that fails once is retried and completes; what an attacker with write access
 * to Redis made of a task is archived with its code and never reaches the handler.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { AsynqClient, encodeTaskMessage, pendingKey, taskKey } from '../../src/adapters/asynq/index.js';
import { Keyring } from '../../src/index.js';
import { asynqFixture, fixtureJson, needGo } from '../helpers/asynq-go.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching } from '../helpers/redis.js';
import { decodeTaskMessage } from '../helpers/protobuf-wire.js';

interface RunEvent {
  event: 'ready' | 'run';
  queue?: string;
  id?: string;
  type?: string;
  payload?: string;
  sealId?: string;
  retried?: number;
  result?: 'ok' | 'fail';
}

interface Good {
  id: string;
  queue: string;
  type: string;
  payload: Buffer;
  sealId: string;
}

/** Until `done()` holds; the limit only keeps a broken run from hanging, it asserts no speed. */
async function until(what: string, done: () => Promise<boolean> | boolean, limitMs = 120_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

test('Node producer -> Go asynq worker: each task runs once with its payload, attacks are archived with their code', async (t) => {
  if (!(await needBroker(t, 'redis')) || !(await needGo(t))) return;
  const bin = await asynqFixture();
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  await redis.connect();
  const base = uniqueName('asynq-e2e');
  const [qa, qb] = [`${base}-a`, `${base}-b`];
  const replayPrefix = `sealq:r:${base}:`;
  t.after(async () => {
    await deleteMatching(redis, `asynq:{${base}-*`);
    await deleteMatching(redis, `${replayPrefix}*`);
    await redis.srem('asynq:queues', qa, qb);
    redis.disconnect();
  });

  const keyring = Keyring.generate('EdDSA', { kid: 'asynq-e2e' });
  const client = new AsynqClient(redis, { keyring });
  const good: Good[] = [];
  const add = async (queue: string, type: string, payload: string | Buffer | undefined, options: Parameters<AsynqClient['enqueue']>[2] = {}): Promise<Good> => {
    const info = await client.enqueue(type, payload, { ...options, queue });
    const g = { id: info.id, queue, type, payload: payload === undefined ? Buffer.alloc(0) : Buffer.from(payload), sealId: info.sealId };
    good.push(g);
    return g;
  };

  // Good tasks, of every shape the producer writes.
  await add(qa, 'email:welcome', JSON.stringify({ to: 'ada@example.com' }));
  await add(qa, 'bytes', Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  await add(qa, 'empty', '');
  await add(qa, 'nil', undefined);
  await add(qa, 'unicode:✓', 'été 😀 ☃');
  await add(qa, 'big', Buffer.alloc(64 * 1024, 7));
  for (let i = 0; i < 10; i++) await add(qa, 'many', `task ${i}`);
  await add(qb, 'later', 'scheduled', { processIn: '1s' });
  await add(qb, 'unique', 'once', { unique: '1m' });
  const retained = await add(qb, 'kept', 'retained', { retention: '1h' });
  await add(qb, 'fail-once', 'fails then succeeds', { maxRetry: 3 });
  await add(qb, 'traced', 'with a header of its own', { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });

  // What someone with write access to Redis does to tasks (before any worker runs).
  const attacks = new Map<string, string>(); // task id -> code it must be archived with
  const rewrite = async (queue: string, id: string, change: (m: ReturnType<typeof decodeTaskMessage>) => void): Promise<void> => {
    const m = decodeTaskMessage((await redis.hgetBuffer(taskKey(queue, id), 'msg'))!);
    change(m);
    await redis.hset(taskKey(queue, id), 'msg', encodeTaskMessage(m));
  };
  const victim = async (type: string, payload: string, queue = qa): Promise<string> => (await client.enqueue(type, payload, { queue })).id;

  let id = await victim('pay', 'amount=10');
  await rewrite(qa, id, (m) => (m.payload = Buffer.from('amount=99999')));
  attacks.set(id, 'ERR_SIGNATURE_INVALID');

  id = await victim('report:small', 'r');
  await rewrite(qa, id, (m) => (m.type = 'admin:delete-everything'));
  attacks.set(id, 'ERR_TYPE_MISMATCH');

  id = await victim('stripped', 's');
  await rewrite(qa, id, (m) => (m.headers = {}));
  attacks.set(id, 'ERR_MALFORMED');

  const stranger = new AsynqClient(redis, { keyring: Keyring.generate('EdDSA', { kid: 'not-trusted' }) });
  id = (await stranger.enqueue('forged', 'f', { queue: qa })).id;
  attacks.set(id, 'ERR_KEY_UNKNOWN');

  // Sealed for queue b, moved to queue a.
  id = await victim('moved', 'm', qb);
  const movedMsg = decodeTaskMessage((await redis.hgetBuffer(taskKey(qb, id), 'msg'))!);
  movedMsg.queue = qa;
  await redis.multi().lrem(pendingKey(qb), 0, id).del(taskKey(qb, id)).hset(taskKey(qa, id), 'msg', encodeTaskMessage(movedMsg), 'state', 'pending', 'pending_since', String(Date.now() * 1e6)).lpush(pendingKey(qa), id).exec();
  attacks.set(id, 'ERR_CONTEXT_MISMATCH');

  // Unsigned, from asynq's own Go client.
  const [plain] = await fixtureJson<Array<{ id: string }>>('enqueue', [{ type: 'plain', payload: Buffer.from('p').toString('base64'), headers: null, queue: qa }]);
  attacks.set(plain!.id, 'ERR_MALFORMED');

  // The worker.
  const proc = spawn(bin, ['worker'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const events: RunEvent[] = [];
  createInterface({ input: proc.stdout }).on('line', (l) => events.push(JSON.parse(l) as RunEvent));
  proc.stdin.end(JSON.stringify({ jwks: keyring.toPublicJwks(), queues: [qa, qb], replayPrefix, concurrency: 4 }));
  await until('the worker to start', () => events.some((e) => e.event === 'ready') || proc.exitCode !== null);
  assert.equal(proc.exitCode, null, `worker exited: ${stderr}`);

  const runs = (): RunEvent[] => events.filter((e) => e.event === 'run');
  const archived = async (): Promise<number> => (await redis.zcard(`asynq:{${qa}}:archived`)) + (await redis.zcard(`asynq:{${qb}}:archived`));
  await until('every task to run or be archived', async () => runs().filter((e) => e.result === 'ok').length >= good.length && (await archived()) >= attacks.size);

  // A completed task's message, enqueued again under a new task id.
  const kept = decodeTaskMessage((await redis.hgetBuffer(taskKey(qb, retained.id), 'msg'))!);
  const replayId = `${retained.id}-again`;
  kept.id = replayId;
  await redis.multi().hset(taskKey(qb, replayId), 'msg', encodeTaskMessage(kept), 'state', 'pending', 'pending_since', String(Date.now() * 1e6)).lpush(pendingKey(qb), replayId).exec();
  attacks.set(replayId, 'ERR_REPLAYED');
  await until('the replay to be archived', async () => (await archived()) >= attacks.size);

  proc.kill('SIGTERM');
  assert.equal(await exited, 0, `worker exit: ${stderr}`);

  // Each good task ran once, with its exact payload and verified seal; fail-once twice (fail, then ok).
  const byId = new Map<string, RunEvent[]>();
  for (const e of runs()) byId.set(e.id!, [...(byId.get(e.id!) ?? []), e]);
  for (const g of good) {
    const seen = byId.get(g.id) ?? [];
    const want = g.type === 'fail-once' ? ['fail', 'ok'] : ['ok'];
    assert.deepEqual(seen.map((e) => e.result), want, `${g.type} ${g.id}`);
    for (const e of seen) {
      assert.deepEqual(Buffer.from(e.payload ?? '', 'base64'), g.payload, `${g.type} payload`);
      assert.deepEqual([e.queue, e.type, e.sealId], [g.queue, g.type, g.sealId], g.type);
    }
  }
  // No attack reached the handler; each is archived with its code as the last error.
  for (const aid of attacks.keys()) assert.equal(byId.has(aid), false, `${attacks.get(aid)} task ${aid} reached the handler`);
  assert.equal(runs().length, good.length + 1);
  const views = await fixtureJson<Array<{ id: string; state: string; lastErr?: string }>>(
    'inspect',
    [...attacks.keys()].map((aid) => ({ queue: aid === replayId ? qb : qa, id: aid })),
  );
  for (const v of views) {
    assert.equal(v.state, 'archived', v.id);
    assert.match(v.lastErr ?? '', new RegExp(`^${attacks.get(v.id)}: `), `${v.id}: ${v.lastErr}`);
  }
  // Nothing left to run; the retained task kept as completed.
  for (const q of [qa, qb]) {
    for (const k of ['pending', 'active', 'retry', 'scheduled']) assert.equal(await redis.exists(`asynq:{${q}}:${k}`), 0, `${q} ${k}`);
  }
  assert.notEqual(await redis.zscore(`asynq:{${qb}}:completed`, retained.id), null);
});
