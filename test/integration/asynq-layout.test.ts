/**
 * sealq/asynq against asynq v0.26 itself, on the real Redis: the same enqueues made by the Node
 * producer and by asynq's Go client (test/fixtures/asynq-go) leave the same Redis state, key by
 * key and byte by byte (only clocks and random ids differ, checked against their bounds), and
 * asynq's own inspector decodes what Node wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { AsynqClient } from '../../src/adapters/asynq/index.js';
import type { AsynqEnqueueOptions } from '../../src/adapters/asynq/index.js';
import { Keyring, SealqError, open } from '../../src/index.js';
import { fixtureJson, needGo } from '../helpers/asynq-go.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching } from '../helpers/redis.js';
import { taskFields } from '../helpers/protobuf-wire.js';

/** One enqueue call, in the units both producers take. */
interface Call {
  q: number;
  type: string;
  payload: Buffer | undefined;
  headers?: Record<string, string>;
  taskId?: string;
  maxRetry?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  uniqueMs?: number;
  processAtMs?: number;
  processInMs?: number;
  retentionMs?: number;
}

const T0 = Date.now();
const HOUR = 3_600_000;
const bin = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));

const CALLS: Call[] = [
  { q: 0, type: 'email:welcome', payload: Buffer.from('{"to":"a@example.com"}'), taskId: 'a1' },
  { q: 1, type: 'email:welcome', payload: Buffer.from('x') },
  { q: 2, type: 'report:nightly', payload: undefined, uniqueMs: 60_000, taskId: 'c1' },
  { q: 2, type: 'report:nightly', payload: undefined, uniqueMs: 60_000, taskId: 'c2' },
  { q: 3, type: 'report:nightly', payload: Buffer.alloc(0), uniqueMs: 5_000, taskId: 'd1' },
  { q: 4, type: 'img:resize', payload: Buffer.from('{"w":640}'), taskId: 'e1', maxRetry: 3, timeoutMs: 90_500, retentionMs: 3_600_500, headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tenant: 'acme' } },
  { q: 5, type: 'img:resize', payload: Buffer.from('1'), taskId: 'f1', deadlineMs: T0 + HOUR + 123 },
  { q: 5, type: 'img:resize', payload: Buffer.from('2'), taskId: 'f2', timeoutMs: 60_000, deadlineMs: T0 + HOUR + 999 },
  { q: 6, type: 'later', payload: Buffer.from('1'), taskId: 'g1', processAtMs: T0 + HOUR + 456 },
  { q: 6, type: 'later', payload: Buffer.from('2'), taskId: 'g2', processAtMs: T0 + 2 * HOUR, uniqueMs: 120_000 },
  { q: 7, type: 'later', payload: Buffer.from('1'), taskId: 'h1', processInMs: 600_000 },
  { q: 7, type: 'later', payload: Buffer.from('2'), taskId: 'h2', processInMs: 600_000, uniqueMs: 60_000 },
  { q: 8, type: 'now', payload: Buffer.from('past'), taskId: 'i1', processAtMs: T0 - HOUR },
  { q: 9, type: 'dup', payload: Buffer.from('1'), taskId: 'j1' },
  { q: 9, type: 'dup', payload: Buffer.from('2'), taskId: 'j1' },
  // asynq takes the unique lock before it finds the id taken, and leaves the lock: so must we.
  { q: 9, type: 'dup', payload: Buffer.from('3'), taskId: 'j1', uniqueMs: 30_000 },
  { q: 10, type: 'письмо:отправить', payload: bin, taskId: 'k1-ü' },
  { q: 11, type: 't', payload: Buffer.from('x'), taskId: 'l1', maxRetry: -4 },
  { q: 11, type: 't', payload: Buffer.from('x'), taskId: 'l2', maxRetry: 0 },
  { q: 11, type: 't', payload: Buffer.from('x'), taskId: 'l3', timeoutMs: 500 },
];

const queueName = (base: string, q: number): string => (q === 10 ? `${base}-${q}-ü✓` : `${base}-${q}`);

function nodeOptions(c: Call, queue: string): AsynqEnqueueOptions {
  const o: AsynqEnqueueOptions = { queue };
  if (c.headers !== undefined) o.headers = c.headers;
  if (c.taskId !== undefined) o.taskId = c.taskId;
  if (c.maxRetry !== undefined) o.maxRetry = c.maxRetry;
  if (c.timeoutMs !== undefined) o.timeout = c.timeoutMs;
  if (c.deadlineMs !== undefined) o.deadline = c.deadlineMs;
  if (c.uniqueMs !== undefined) o.unique = c.uniqueMs;
  if (c.processAtMs !== undefined) o.processAt = c.processAtMs;
  if (c.processInMs !== undefined) o.processIn = c.processInMs;
  if (c.retentionMs !== undefined) o.retention = c.retentionMs;
  return o;
}

/** The same call for asynq's client (the fixture's JSON), with the seal Node made as its header. */
function goSpec(c: Call, queue: string, seal: string): Record<string, unknown> {
  const { q: _q, payload, headers, ...rest } = c;
  return { ...rest, queue, payload: payload === undefined ? null : payload.toString('base64'), headers: { ...headers, sealq: seal } };
}

type Outcome = { id: string; state: string } | { err: string };

interface KeyDump {
  type: string;
  value: unknown;
}

/** Everything under asynq:{<queue>}:, plus the queue's membership in asynq:queues. */
async function dump(redis: Redis, queues: string[]): Promise<Record<string, KeyDump | boolean>> {
  const out: Record<string, KeyDump | boolean> = {};
  for (const q of queues) {
    out[`member ${q}`] = (await redis.sismember('asynq:queues', q)) === 1;
    let cursor = '0';
    const keys: string[] = [];
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `asynq:{${q}}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    for (const k of keys.sort()) {
      const type = await redis.type(k);
      if (type === 'hash') {
        const h = await redis.hgetallBuffer(k);
        out[k] = { type, value: Object.fromEntries(Object.entries(h).map(([f, v]) => [f, f === 'msg' ? v.toString('hex') : v.toString('utf8')])) };
      } else if (type === 'list') {
        out[k] = { type, value: await redis.lrange(k, '0', '-1') };
      } else if (type === 'zset') {
        // RESP2 answers a flat list, RESP3 (ioredis 6's default) [member, score] pairs.
        out[k] = { type, value: ((await redis.call('ZRANGE', k, '0', '-1', 'WITHSCORES')) as unknown[]).flat().map(String) };
      } else if (type === 'string') {
        out[k] = { type, value: { value: await redis.get(k), ttl: await redis.ttl(k) } };
      } else {
        out[k] = { type, value: null };
      }
    }
  }
  return out;
}

/**
 * Replaces what depends on the clock or on randomness by placeholders, after checking each
 * against its bounds: pending_since (Unix ns between `from` and `to`), lock TTLs (compared
 * between the two sides by the caller), scores of processIn tasks, and the random task id.
 */
function normalise(d: Record<string, KeyDump | boolean>, from: number, to: number, randomId: string | undefined, base: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k0, v] of Object.entries(d)) {
    const k = randomId === undefined ? k0 : k0.replaceAll(randomId, 'RANDOM-ID');
    if (typeof v === 'boolean') {
      out[k] = v;
      continue;
    }
    if (v.type === 'hash') {
      const h = { ...(v.value as Record<string, string>) };
      if (h.pending_since !== undefined) {
        const ns = BigInt(h.pending_since);
        assert.ok(ns >= BigInt(from) * 1_000_000n && ns <= BigInt(to + 1) * 1_000_000n, `${k} pending_since ${h.pending_since} within the enqueue`);
        h.pending_since = 'NOW';
      }
      let msg = Buffer.from(h.msg!, 'hex');
      if (randomId !== undefined) msg = Buffer.from(msg.toString('latin1').replaceAll(randomId, 'X'.repeat(randomId.length)), 'latin1');
      h.msg = JSON.stringify(taskFields(msg));
      out[k] = { type: 'hash', value: h };
    } else if (v.type === 'list') {
      out[k] = { type: 'list', value: (v.value as string[]).map((id) => (id === randomId ? 'RANDOM-ID' : id)) };
    } else if (v.type === 'zset' && k === `asynq:{${base}-7}:scheduled`) {
      // processIn: the score is the enqueuer's now + 10m, in Unix seconds.
      const z = [...(v.value as string[])];
      for (let i = 1; i < z.length; i += 2) {
        const s = Number(z[i]);
        assert.ok(s >= Math.floor((from + 600_000) / 1000) && s <= Math.floor((to + 600_000) / 1000), `${k} score ${s}`);
        z[i] = 'NOW+10m';
      }
      out[k] = { type: 'zset', value: z };
    } else if (v.type === 'string') {
      const { value, ttl } = v.value as { value: string; ttl: number };
      assert.ok(ttl > 0, `${k} has a TTL`);
      out[k] = { type: 'string', value, ttl: 'TTL' };
    } else {
      out[k] = v;
    }
  }
  return out;
}

function ttls(d: Record<string, KeyDump | boolean>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(d)) if (typeof v !== 'boolean' && v.type === 'string') out[k] = (v.value as { ttl: number }).ttl;
  return out;
}

test('the Node producer leaves the Redis state asynq v0.26 client leaves, and asynq decodes it', async (t) => {
  if (!(await needBroker(t, 'redis')) || !(await needGo(t))) return;
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  await redis.connect();
  const base = uniqueName('asynq-layout');
  const queues = [...new Set(CALLS.map((c) => queueName(base, c.q)))];
  const clean = async (): Promise<void> => {
    await deleteMatching(redis, `asynq:{${base}-*`);
    if (queues.length > 0) await redis.srem('asynq:queues', ...queues);
  };
  t.after(async () => {
    await clean();
    redis.disconnect();
  });

  // Node first.
  const keyring = Keyring.generate('HS256', { kid: 'asynq-layout' });
  const client = new AsynqClient(redis, { keyring });
  const nodeFrom = Date.now();
  const node: Outcome[] = [];
  const seals: string[] = [];
  for (const c of CALLS) {
    try {
      const info = await client.enqueue(c.type, c.payload, nodeOptions(c, queueName(base, c.q)));
      node.push({ id: info.id, state: info.state });
      seals.push(info.seal);
    } catch (e) {
      if (!(e instanceof SealqError)) throw e;
      node.push({ err: e.code === 'ERR_DUPLICATE_TASK' ? 'duplicate' : e.code === 'ERR_TASK_ID_CONFLICT' ? 'conflict' : e.code });
      seals.push(seals[0]!);
    }
  }
  const nodeTo = Date.now();
  const randomId = (node[1] as { id: string }).id;
  assert.match(randomId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const nodeState = await dump(redis, queues);

  // asynq's inspector reads every task Node wrote.
  const written = CALLS.map((c, i) => ({ c, i, o: node[i]! })).filter((x) => 'id' in x.o);
  const views = await fixtureJson<Array<Record<string, unknown>>>('inspect', written.map(({ c, o }) => ({ queue: queueName(base, c.q), id: (o as { id: string }).id })));
  for (const [n, { c, i, o }] of written.entries()) {
    const v = views[n]!;
    assert.equal(v.err, undefined, `task ${i}: ${String(v.err)}`);
    const want: Record<string, unknown> = {
      id: (o as { id: string }).id,
      queue: queueName(base, c.q),
      type: c.type,
      payload: c.payload === undefined || c.payload.length === 0 ? null : c.payload.toString('base64'),
      headers: { ...c.headers, sealq: seals[i] },
      state: (o as { state: string }).state,
      maxRetry: c.maxRetry === undefined ? 25 : Math.max(0, c.maxRetry),
      retried: 0,
      timeoutS: c.timeoutMs !== undefined && c.timeoutMs !== 0 ? Math.trunc(c.timeoutMs / 1000) : c.deadlineMs === undefined ? 1800 : 0,
      deadlineUnix: c.deadlineMs === undefined ? 0 : Math.floor(c.deadlineMs / 1000),
      retentionS: Math.trunc((c.retentionMs ?? 0) / 1000),
    };
    const got = { ...v };
    delete got.nextProcessUnix;
    assert.deepEqual(got, want, `task ${i}`);
    if (c.processAtMs !== undefined && c.processAtMs > nodeTo) assert.equal(v.nextProcessUnix, Math.floor(c.processAtMs / 1000), `task ${i} process at`);
    // What asynq hands a handler opens: the payload it decoded and the seal in its headers.
    const opened = open(keyring, { seal: (v.headers as Record<string, string>).sealq!, payload: Buffer.from((v.payload as string | null) ?? '', 'base64') }, { ctx: queueName(base, c.q), typ: c.type, now: Math.max(Date.now(), (c.processAtMs ?? 0) + 1, nodeFrom + (c.processInMs ?? 0) + 1000) });
    assert.deepEqual(opened.payload, c.payload ?? Buffer.alloc(0), `task ${i} opens`);
  }

  // Then asynq's client, on the same (emptied) queues.
  await clean();
  const goFrom = Date.now();
  const go = await fixtureJson<Array<{ id?: string; state?: string; err?: string }>>('enqueue', CALLS.map((c, i) => goSpec(c, queueName(base, c.q), seals[i]!)));
  const goTo = Date.now();
  const goRandomId = go[1]!.id!;
  const goState = await dump(redis, queues);

  assert.deepEqual(
    go.map((r) => (r.err === undefined ? { id: r.id === goRandomId ? 'RANDOM-ID' : r.id, state: r.state } : { err: r.err })),
    node.map((r) => ('err' in r ? r : { id: r.id === randomId ? 'RANDOM-ID' : r.id, state: r.state })),
  );
  assert.deepEqual(Object.keys(goState).map((k) => k.replaceAll(goRandomId, 'RANDOM-ID')), Object.keys(nodeState).map((k) => k.replaceAll(randomId, 'RANDOM-ID')));
  assert.deepEqual(normalise(nodeState, nodeFrom, nodeTo, randomId, base), normalise(goState, goFrom, goTo, goRandomId, base));
  // Lock TTLs: the same within the seconds between the two runs.
  const [nodeTtl, goTtl] = [ttls(nodeState), ttls(goState)];
  assert.deepEqual(Object.keys(goTtl), Object.keys(nodeTtl));
  for (const k of Object.keys(nodeTtl)) assert.ok(Math.abs(goTtl[k]! - nodeTtl[k]!) <= 2 + Math.ceil((goTo - nodeFrom) / 1000), `${k}: TTL ${nodeTtl[k]} (node) vs ${goTtl[k]} (go)`);

  // Byte for byte where the task has one header (map order is Go's random order otherwise).
  for (const [k, v] of Object.entries(nodeState)) {
    if (typeof v === 'boolean' || v.type !== 'hash' || k.includes(randomId)) continue;
    const g = goState[k] as KeyDump;
    const [nm, gm] = [(v.value as { msg: string }).msg, (g.value as { msg: string }).msg];
    if (taskFields(Buffer.from(nm, 'hex')).filter(([f]) => f === 15).length <= 1) assert.equal(nm, gm, k);
  }
});
