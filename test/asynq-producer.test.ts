/**
 * sealq/asynq without Redis: the TaskMessage encoder against the bytes asynq's own Go client
 * stored for the same tasks (test/fixtures/asynq-go/task-messages.json, made by
 * `go run . golden` there), and enqueue options resolved as asynq.Client resolves them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AsynqClient, DEFAULT_MAX_RETRY, encodeTaskMessage, uniqueKey } from '../src/adapters/asynq/index.js';
import { planMessage, planTask } from '../src/adapters/asynq/plan.js';
import type { AsynqEnqueueOptions } from '../src/adapters/asynq/plan.js';
import type { TaskMessage } from '../src/adapters/asynq/task-message.js';
import { inspect } from 'node:util';
import { Keyring, exportPrivateJwk } from '../src/index.js';
import { decodeTaskMessage, taskFields } from './helpers/protobuf-wire.js';

interface Spec {
  type: string;
  payload: string | null;
  headers: Record<string, string> | null;
  queue: string;
  taskId: string;
  maxRetry?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  uniqueMs?: number;
  processAtMs?: number;
  retentionMs?: number;
}

const golden = JSON.parse(readFileSync(new URL('./fixtures/asynq-go/task-messages.json', import.meta.url), 'utf8')) as Array<{ spec: Spec; msg: string }>;
const NOW = 1_800_000_000_000;

/** The Node options for a fixture task; its `sealq` header stands in for the seal. */
function nodeOptions(s: Spec): AsynqEnqueueOptions {
  // maxValidity: one fixture task is due in 2100; the seal's window is not in the message bytes.
  const o: AsynqEnqueueOptions = { queue: s.queue, taskId: s.taskId, now: NOW, maxValidity: 100 * 365 * 86_400_000 };
  if (s.maxRetry !== undefined) o.maxRetry = s.maxRetry;
  if (s.timeoutMs !== undefined) o.timeout = s.timeoutMs;
  if (s.deadlineMs !== undefined) o.deadline = s.deadlineMs;
  if (s.uniqueMs !== undefined) o.unique = s.uniqueMs;
  if (s.processAtMs !== undefined) o.processAt = s.processAtMs;
  if (s.retentionMs !== undefined) o.retention = s.retentionMs;
  const { sealq: _seal, ...extra } = s.headers ?? {};
  if (Object.keys(extra).length > 0) o.headers = extra;
  return o;
}

function nodeMessage(s: Spec): Buffer {
  const plan = planTask(s.type, s.payload === null ? undefined : Buffer.from(s.payload, 'base64'), nodeOptions(s));
  return planMessage(plan, s.headers?.sealq);
}

describe('TaskMessage bytes, against asynq v0.26 Go client', () => {
  for (const { spec, msg } of golden) {
    test(`${spec.taskId}: ${spec.type}`, () => {
      const go = Buffer.from(msg, 'base64');
      const node = nodeMessage(spec);
      if (Object.keys(spec.headers ?? {}).length <= 1) {
        assert.equal(node.toString('hex'), go.toString('hex'));
      } else {
        // asynq writes map entries in Go's random map order; compare them as a set, and all else exactly.
        assert.deepEqual(taskFields(node), taskFields(go));
        assert.equal(node.length, go.length);
      }
    });
  }

  test('the test decoder reads every fixture message back to the same bytes', () => {
    for (const { spec, msg } of golden) {
      const go = Buffer.from(msg, 'base64');
      assert.deepEqual(taskFields(encodeTaskMessage(decodeTaskMessage(go))), taskFields(go), spec.taskId);
    }
  });

  test('the fixture covers what the producer writes', () => {
    const specs = golden.map((g) => g.spec);
    for (const k of ['maxRetry', 'timeoutMs', 'deadlineMs', 'uniqueMs', 'processAtMs', 'retentionMs'] as const) {
      assert.ok(specs.some((s) => s[k] !== undefined), k);
    }
    assert.ok(specs.some((s) => s.payload === null));
    assert.ok(specs.some((s) => s.payload === ''));
    assert.ok(specs.some((s) => Object.keys(s.headers ?? {}).length > 2));
  });
});

describe('encodeTaskMessage', () => {
  const base = { type: 't', payload: new Uint8Array(0), headers: {}, id: '', queue: '', retry: 0, retried: 0, errorMsg: '', lastFailedAt: 0, timeout: 0, deadline: 0, uniqueKey: '', groupKey: '', retention: 0, completedAt: 0 };

  test('zero values are left out (proto3)', () => {
    assert.equal(encodeTaskMessage(base).toString('hex'), '0a0174');
  });

  test('negative integers are 10-byte two\'s complement varints, as protobuf-go writes int32/int64', () => {
    assert.equal(encodeTaskMessage({ ...base, type: '', retried: -1 }).toString('hex'), '30ffffffffffffffffff01');
    assert.equal(encodeTaskMessage({ ...base, type: '', lastFailedAt: -2 }).toString('hex'), '58feffffffffffffffff01');
  });

  test('every field, in field-number order', () => {
    const m = encodeTaskMessage({ type: 'a', payload: Buffer.from('b'), headers: { k: 'v' }, id: 'c', queue: 'd', retry: 1, retried: 2, errorMsg: 'e', lastFailedAt: 3, timeout: 4, deadline: 5, uniqueKey: 'f', groupKey: 'g', retention: 6, completedAt: 7 });
    assert.deepEqual([...taskFields(m).map(([n]) => n)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });

  test('strings asynq could not decode (lone surrogates) are refused', () => {
    const bads: Array<Partial<TaskMessage>> = [{ type: 'a\ud800' }, { id: '\udc00' }, { queue: 'q\ud800' }, { headers: { h: 'x\ud800' } }, { headers: { ['\ud800']: 'x' } }];
    for (const bad of bads) {
      assert.throws(() => encodeTaskMessage({ ...base, ...bad }), { code: 'ERR_INVALID_ARGUMENT' });
    }
  });

  test('integers out of range are refused', () => {
    assert.throws(() => encodeTaskMessage({ ...base, retry: 2 ** 31 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => encodeTaskMessage({ ...base, timeout: 1.5 }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('enqueue options, as asynq.Client resolves them', () => {
  const plan = (o: AsynqEnqueueOptions, ...payload: [string | undefined] | []) => planTask('t', payload.length === 0 ? 'p' : payload[0], { now: NOW, ...o });

  test('defaults: queue "default", 25 retries, a UUID task id, 30m timeout, pending now', () => {
    const p = plan({});
    assert.equal(p.queue, 'default');
    assert.equal(p.retry, DEFAULT_MAX_RETRY);
    assert.match(p.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(plan({}).id, p.id);
    assert.equal(p.timeout, 1800);
    assert.equal(p.deadline, 0);
    assert.equal(p.scheduled, false);
    assert.equal(p.lock, undefined);
  });

  test('timeout and deadline: the default timeout only when neither is given', () => {
    assert.equal(plan({ timeout: '90s' }).timeout, 90);
    assert.equal(plan({ timeout: 0 }).timeout, 1800);
    assert.deepEqual([plan({ deadline: NOW + 1500 }).timeout, plan({ deadline: NOW + 1500 }).deadline], [0, NOW / 1000 + 1]);
    assert.equal(plan({ deadline: new Date(NOW) }).deadline, NOW / 1000);
  });

  test('processAt / processIn: scheduled when later than now, pending otherwise', () => {
    assert.deepEqual([plan({ processIn: '5m' }).scheduled, plan({ processIn: '5m' }).processAt], [true, NOW + 300_000]);
    assert.equal(plan({ processAt: NOW - 1 }).scheduled, false);
    assert.equal(plan({ processAt: NOW }).scheduled, false);
    assert.equal(plan({ processAt: new Date(NOW + 1) }).scheduled, true);
    assert.throws(() => plan({ processAt: NOW, processIn: 1 }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  test('unique: queue, type and the MD5 of the payload; a scheduled lock lasts until TTL after it is due', () => {
    const md5 = createHash('md5').update('p').digest('hex');
    assert.deepEqual(plan({ unique: '1m', queue: 'q' }).lock, { key: `asynq:{q}:unique:t:${md5}`, ttl: 60 });
    assert.deepEqual(plan({ unique: '1m', queue: 'q', processIn: '10m' }).lock?.ttl, 660);
    assert.equal(plan({ unique: '1m' }, undefined).lock?.key, 'asynq:{default}:unique:t:');
    assert.equal(uniqueKey('q', 't', new Uint8Array(0)), 'asynq:{q}:unique:t:d41d8cd98f00b204e9800998ecf8427e');
    assert.throws(() => plan({ unique: 999 }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  test('what asynq refuses is refused', () => {
    for (const [type, o] of [
      [' ', {}],
      ['t', { queue: '  ' }],
      ['t', { taskId: '' }],
      ['t', { maxRetry: 1.5 }],
      ['t', { maxRetry: 2 ** 31 }],
      ['t', { timeout: -1 }],
      ['t', { deadline: Number.NaN }],
      ['t', { processIn: '5 minutes' }],
      ['t', { headers: { sealq: 'x' } }],
      ['t', { headers: { a: 1 as unknown as string } }],
      ['t', { now: new Date() as unknown as number }],
    ] as Array<[string, AsynqEnqueueOptions]>) {
      assert.throws(() => planTask(type, 'p', o), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify([type, o]));
    }
    assert.equal(planTask('t', 'p', { maxRetry: -3 }).retry, 0);
  });
});

describe('AsynqClient', () => {
  const keyring = Keyring.generate('HS256', { kid: 'hs-1' });

  test('needs an ioredis client and a keyring; refuses a client with a keyPrefix', () => {
    const fake = { evalsha() {}, sadd() {}, options: {} } as never;
    assert.throws(() => new AsynqClient({} as never, { keyring }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new AsynqClient(fake, {} as never), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new AsynqClient({ evalsha() {}, sadd() {}, options: { keyPrefix: 'app:' } } as never, { keyring }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.ok(new AsynqClient(fake, { keyring }));
  });

  test('the keyring does not show in util.inspect or JSON.stringify of the client', () => {
    const k = Buffer.from(String(exportPrivateJwk(keyring.primary!).k), 'base64url');
    const client = new AsynqClient({ evalsha() {}, sadd() {}, options: {} } as never, { keyring });
    for (const text of [inspect(client, { depth: 10, showHidden: true }), JSON.stringify(client)]) {
      for (const needle of [k.toString('base64url'), k.toString('base64'), k.toString('hex')]) assert.ok(!text.includes(needle), text);
    }
  });
});
