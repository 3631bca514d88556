import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, Keyring, MemoryReplayStore } from '../../src/index.js';
import type { Header } from '../../src/index.js';
import {
  DEFAULT_GRACE_MS,
  PER_RUN_ID_PREFIX,
  failedCode,
  resealJob,
  sealFlow,
  sealJobData,
  sealedFlowProducer,
  sealedProcessor,
  sealedQueue,
} from '../../src/adapters/bullmq/index.js';
import type { SealedJobData } from '../../src/adapters/bullmq/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { Fixture, REDIS, counts, deleteKeys, settled, until } from '../fixtures/bullmq/harness.js';

interface Email {
  to: string;
  n?: number;
}

const keyring = Keyring.generate('HS256');

/** The processor every attack test runs: it must never be called with forged data. */
function recorder(): { calls: Array<{ data: unknown; header: Header; jobId: string | undefined }>; processor: ReturnType<typeof sealedProcessor> } {
  const calls: Array<{ data: unknown; header: Header; jobId: string | undefined }> = [];
  return { calls, processor: sealedProcessor<Email>(async (job) => void calls.push({ data: job.data, header: job.seal.header, jobId: job.id }), { keyring, replay: new MemoryReplayStore() }) };
}

const headerOf = (d: SealedJobData): Header => JSON.parse(d.signatures[0]!.header) as Header;

describe('sealq/bullmq: sealJobData', () => {
  test('validity: due time, not-before, grace; the payload is the JSON text of the data', () => {
    const now = 1_700_000_000_000;
    const plain = sealJobData(keyring, 'emails', 'welcome', { to: 'a' }, { now });
    assert.equal(plain.payload, '{"to":"a"}');
    assert.deepEqual({ ...headerOf(plain), kid: '', id: '' }, { kid: '', alg: 'HS256', id: '', iat: now, exp: now + DEFAULT_GRACE_MS, ctx: 'emails', typ: 'welcome', ct: 'application/json' });
    const delayed = headerOf(sealJobData(keyring, 'emails', 'welcome', {}, { now, delay: 5000, grace: '1h' }));
    assert.equal(delayed.nbf, now + 5000);
    assert.equal(delayed.exp, now + 5000 + 3_600_000);
    assert.equal(sealJobData(keyring, 'emails', 'welcome', undefined).payload, '{}');
  });

  test('per-run (scheduler) seals: marked id, no not-before, long validity or endDate + grace', () => {
    const now = 1_700_000_000_000;
    const h = headerOf(sealJobData(keyring, 'emails', 'digest', {}, { now, perRun: true }));
    assert.ok(h.id.startsWith(PER_RUN_ID_PREFIX));
    assert.equal(h.nbf, undefined);
    assert.equal(h.exp, now + 30 * 86_400_000); // the default maxValidity a worker accepts
    const end = new Date(now + 86_400_000);
    assert.equal(headerOf(sealJobData(keyring, 'emails', 'digest', {}, { now, perRun: true, endDate: end, grace: '1h' })).exp, end.getTime() + 3_600_000);
    assert.equal(headerOf(sealJobData(keyring, 'emails', 'digest', {}, { now, perRun: true, schedulerValidity: '7d' })).exp, now + 7 * 86_400_000);
    // A distant endDate is cut to maxValidity, so workers still accept the seal (ERR_VALIDITY_TOO_LONG otherwise).
    const far = now + 365 * 86_400_000;
    assert.equal(headerOf(sealJobData(keyring, 'emails', 'digest', {}, { now, perRun: true, endDate: far })).exp, now + 30 * 86_400_000);
    assert.equal(headerOf(sealJobData(keyring, 'emails', 'digest', {}, { now, perRun: true, endDate: far, maxValidity: '400d' })).exp, far + 86_400_000);
    // A job delayed beyond maxValidity is refused with a message that says what to raise.
    assert.throws(() => sealJobData(keyring, 'emails', 'later', {}, { now, delay: 40 * 86_400_000 }), /maxValidity/);
  });

  test('refuses what it cannot seal faithfully', () => {
    assert.throws(() => sealJobData(keyring, 'emails', 'x', { n: 1n }), InvalidArgumentError);
    assert.throws(() => sealJobData(keyring, 'emails', 'x', () => 1), InvalidArgumentError);
    assert.throws(() => sealJobData(keyring, 'emails', 'x', {}, { id: `${PER_RUN_ID_PREFIX}abc` }), InvalidArgumentError);
    assert.throws(() => sealJobData(keyring, '', 'x', {}), InvalidArgumentError);
    assert.throws(() => sealedProcessor(async () => undefined, { keyring } as never), /replay store/);
    assert.throws(() => sealedQueue({} as never, { keyring }), InvalidArgumentError);
  });
});

describe('sealq/bullmq: producer and worker', () => {
  test('a sealed job opens in the worker with its verified data; the job data is the envelope', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const job = await queue.add('welcome', { to: 'a@example.com', n: 1 });

    // What sits in Redis is the JSON-safe envelope: the exact header text and payload text.
    const stored = JSON.parse((await f.raw().hget(`bull:${name}:${job.id}`, 'data'))!) as SealedJobData;
    assert.equal(stored.sealq, 1);
    assert.equal(stored.payload, JSON.stringify({ to: 'a@example.com', n: 1 }));
    const header = JSON.parse(stored.signatures[0]!.header) as Header;
    assert.equal(header.ctx, name);
    assert.equal(header.typ, 'welcome');
    assert.equal(header.ct, 'application/json');
    assert.equal(header.exp, header.iat + DEFAULT_GRACE_MS);
    assert.equal(header.nbf, undefined);

    const seen: Array<{ data: Email; header: Header; attemptsMade: number }> = [];
    f.worker(name, sealedProcessor<Email, string>(async (j) => {
      seen.push({ data: j.data, header: j.seal.header, attemptsMade: j.attemptsMade });
      return `sent to ${j.data.to}`;
    }, { keyring, replay: new MemoryReplayStore() }));
    const { job: done, state } = await settled(queue.unsealed, job.id!);
    assert.equal(state, 'completed');
    assert.equal(done.returnvalue, 'sent to a@example.com');
    assert.deepEqual(seen.map((s) => s.data), [{ to: 'a@example.com', n: 1 }]);
    assert.equal(seen[0]!.header.id, header.id);
    assert.equal(seen[0]!.attemptsMade, 0);
  });

  test('add() with repeat: a per-run seal where BullMQ repeats the job (5), an ordinary one where it runs once (6)', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const queue = sealedQueue<Email>(f.queue(f.queueName()), { keyring });
    const repeats = typeof (queue.unsealed as unknown as { removeRepeatable?: unknown }).removeRepeatable === 'function';
    const job = await (queue.add as (n: string, d: Email, o: unknown) => Promise<{ data: SealedJobData }>)('digest', { to: 'a@example.com' }, { repeat: { every: 60_000, limit: 1 } });
    const id = headerOf(job.data).id;
    assert.equal(id.startsWith(PER_RUN_ID_PREFIX), repeats, `bullmq ${repeats ? '5' : '6'}: envelope id ${id}`);
  });

  test('addBulk seals every job for its own name', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const jobs = await queue.addBulk([
      { name: 'welcome', data: { to: 'a@example.com' } },
      { name: 'reminder', data: { to: 'b@example.com' }, opts: { priority: 2 } },
    ]);
    const seen: string[] = [];
    f.worker(name, sealedProcessor<Email>(async (j) => void seen.push(`${j.name}:${j.data.to}:${j.seal.header.typ}`), { keyring, replay: new MemoryReplayStore() }));
    for (const j of jobs) assert.equal((await settled(queue.unsealed, j.id!)).state, 'completed');
    assert.deepEqual(seen.sort(), ['reminder:b@example.com:reminder', 'welcome:a@example.com:welcome']);
  });

  test('a processor that throws is retried by BullMQ (attempts) and completes once', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const replay = new MemoryReplayStore();
    let runs = 0;
    let completions = 0;
    f.worker(name, sealedProcessor<Email>(async () => {
      runs++;
      if (runs === 1) throw new Error('smtp timeout');
      completions++;
    }, { keyring, replay }));
    const job = await queue.add('welcome', { to: 'a@example.com' }, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
    const { job: done, state } = await settled(queue.unsealed, job.id!);
    assert.equal(state, 'completed');
    assert.equal(runs, 2);
    assert.equal(completions, 1);
    assert.equal(done.attemptsMade, 2);
  });

  test('a delayed job is valid from its due time; promoted early, it waits for its not-before', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<Email>(f.queue(name), { keyring, grace: '1h' });
    const delay = 1500;
    const before = Date.now();
    const job = await queue.add('later', { to: 'a@example.com' }, { delay });
    const header = JSON.parse((job.data as SealedJobData).signatures[0]!.header) as Header;
    assert.ok(header.nbf! >= before + delay && header.nbf! <= Date.now() + delay);
    assert.equal(header.exp, header.nbf! + 3_600_000);

    // An operator (or intruder) promotes it now: with no clock skew allowed, the worker must put
    // it back to the delayed set until its signed not-before, not run it and not fail it.
    await job.promote();
    const ran: number[] = [];
    f.worker(name, sealedProcessor(async () => void ran.push(Date.now()), { keyring, replay: new MemoryReplayStore(), clockSkew: 0 }));
    const { job: done, state } = await settled(queue.unsealed, job.id!);
    assert.equal(state, 'completed');
    assert.equal(ran.length, 1);
    assert.ok(ran[0]! >= header.nbf!, 'the processor ran before the job was valid');
    assert.equal(done.attemptsMade, 1);
  });

  test('with notYetValid "reject", a job promoted before its not-before fails as ERR_NOT_YET_VALID', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const job = await queue.add('later', { to: 'a@example.com' }, { delay: 60_000, attempts: 3 });
    await job.promote();
    let calls = 0;
    f.worker(name, sealedProcessor(async () => void calls++, { keyring, replay: new MemoryReplayStore(), clockSkew: 0, notYetValid: 'reject' }));
    const { job: done, state } = await settled(queue.unsealed, job.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(done), 'ERR_NOT_YET_VALID');
    assert.equal(calls, 0);
  });

  test('a job held back past its validity fails as ERR_EXPIRED', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const old = sealJobData(keyring, name, 'welcome', { to: 'a@example.com' }, { now: Date.now() - 7_200_000, grace: '1h' });
    const job = await f.queue(name).add('welcome', old, { attempts: 3 });
    const r = recorder();
    f.worker(name, r.processor);
    const { job: done, state } = await settled(f.queue(name), job.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(done), 'ERR_EXPIRED');
    assert.equal(done.attemptsMade, 1);
    assert.equal(r.calls.length, 0);
  });

  test('a job scheduler runs each repetition once, from one long-lived seal', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const replay = new MemoryReplayStore();
    const runs: Array<{ jobId: string; envelopeId: string; key: string }> = [];
    f.worker(name, sealedProcessor<Email>(async (j) => void runs.push({ jobId: j.id!, envelopeId: j.seal.header.id, key: j.seal.replayKey.id }), { keyring, replay }));
    await queue.upsertJobScheduler('digest', { every: 300, limit: 3 }, { name: 'digest', data: { to: 'team@example.com' } });
    const c = await counts(queue.unsealed, 3);
    assert.deepEqual(c, { completed: 3, failed: 0 });
    assert.equal(runs.length, 3);
    assert.equal(new Set(runs.map((r) => r.jobId)).size, 3, 'each run is its own job');
    assert.equal(new Set(runs.map((r) => r.envelopeId)).size, 1, 'every run carries the one scheduler seal');
    assert.ok(runs[0]!.envelopeId.startsWith(PER_RUN_ID_PREFIX));
    for (const r of runs) assert.equal(r.key, `${r.envelopeId}/${r.jobId}`);
    await queue.removeJobScheduler('digest');
  });

  test('with replayKey "envelope", a scheduler\'s second run is a replay', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue(f.queue(name), { keyring });
    let runs = 0;
    f.worker(name, sealedProcessor(async () => void runs++, { keyring, replay: new MemoryReplayStore(), replayKey: 'envelope' }));
    await queue.upsertJobScheduler('tick', { every: 200, limit: 2 });
    await counts(queue.unsealed, 2);
    assert.equal(runs, 1);
    const [failed] = await queue.getFailed();
    assert.equal(failedCode(failed!), 'ERR_REPLAYED');
    await queue.removeJobScheduler('tick');
  });

  test('FlowProducer: every node is sealed for its own queue and name, and opens there', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const parents = f.queueName('sealq-flow-parent');
    const children = f.queueName('sealq-flow-child');
    f.queue(parents);
    f.queue(children);
    const flows = sealedFlowProducer<{ part: string }>(f.flowProducer(), { keyring });
    const replay = new MemoryReplayStore();
    const seen: string[] = [];
    f.worker(children, sealedProcessor<{ part: string }, string>(async (j) => {
      seen.push(`${j.seal.header.ctx}/${j.seal.header.typ}/${j.data.part}`);
      return j.data.part.toUpperCase();
    }, { keyring, replay }));
    f.worker(parents, sealedProcessor<{ part: string }, string>(async (j) => {
      seen.push(`${j.seal.header.ctx}/${j.seal.header.typ}/${j.data.part}`);
      const values = Object.values(await j.getChildrenValues<string>()).sort();
      return `${j.data.part}:${values.join(',')}`;
    }, { keyring, replay }));
    const node = await flows.add({
      name: 'assemble',
      queueName: parents,
      data: { part: 'car' },
      children: [
        { name: 'build', queueName: children, data: { part: 'wheel' } },
        { name: 'build', queueName: children, data: { part: 'door' }, children: [{ name: 'paint', queueName: children, data: { part: 'red' } }] },
      ],
    });
    const stored = JSON.parse((await f.raw().hget(`bull:${children}:${node.children![0]!.job.id}`, 'data'))!) as SealedJobData;
    assert.equal(JSON.parse(stored.signatures[0]!.header).ctx, children);
    const { job: root, state } = await settled(f.queue(parents), node.job.id!);
    assert.equal(state, 'completed');
    assert.equal(root.returnvalue, 'car:DOOR,WHEEL');
    assert.deepEqual(seen.sort(), [`${children}/build/door`, `${children}/build/wheel`, `${children}/paint/red`, `${parents}/assemble/car`]);

    // sealFlow alone seals the tree for a FlowProducer you call yourself.
    const tree = await sealFlow(keyring, { name: 'a', queueName: parents, data: { part: 'x' }, children: [{ name: 'b', queueName: children, data: { part: 'y' } }] });
    assert.equal(JSON.parse((tree.children![0]!.data as SealedJobData).signatures[0]!.header).ctx, children);
  });

  test('resealJob replaces the data of a running job under a fresh seal; job.updateData is refused', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const queue = sealedQueue<{ step: number }>(f.queue(name), { keyring });
    const steps: number[] = [];
    const refusals: string[] = [];
    const envelopeIds = new Set<string>();
    f.worker(name, sealedProcessor<{ step: number }>(async (j) => {
      steps.push(j.data.step);
      envelopeIds.add(j.seal.header.id);
      if (j.data.step === 1) {
        await (j as unknown as { updateData(d: unknown): Promise<void> }).updateData({ step: 99 }).catch((e: Error) => refusals.push(e.message));
        await resealJob(j, { step: 2 }, { keyring });
        assert.deepEqual(j.data, { step: 2 });
        throw new Error('crash after checkpoint');
      }
    }, { keyring, replay: new MemoryReplayStore() }));
    const job = await queue.add('multi-step', { step: 1 }, { attempts: 2, backoff: { type: 'fixed', delay: 50 } });
    assert.equal((await settled(queue.unsealed, job.id!)).state, 'completed');
    assert.deepEqual(steps, [1, 2]);
    assert.equal(envelopeIds.size, 1, 'the reseal keeps the envelope id: one message for the replay store');
    assert.match(refusals[0]!, /resealJob/);
  });

  test('a duplicate of a message being processed waits (delayed), then fails as a replay', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName();
    const raw = f.queue(name);
    const data = sealJobData(keyring, name, 'charge', { amount: 10 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    f.worker(name, sealedProcessor(async () => {
      runs++;
      await gate;
    }, { keyring, replay: new MemoryReplayStore(), inFlightDelay: 100 }), { concurrency: 2 });
    const a = await raw.add('charge', data);
    await until('the first copy to run', () => (runs === 1 ? true : undefined));
    const b = await raw.add('charge', data);
    await until('the copy to be put back as delayed', async () => ((await raw.getJob(b.id!))?.attemptsStarted ?? 0) >= 1 && (await raw.getJob(b.id!))!.getState().then((s) => (s === 'delayed' ? true : undefined)));
    release();
    assert.equal((await settled(raw, a.id!)).state, 'completed');
    const { job: copy, state } = await settled(raw, b.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(copy), 'ERR_REPLAYED');
    assert.equal(runs, 1);
  });
});

describe('sealq/bullmq: attacks through Redis are rejected and kept in the failed set', () => {
  /** Adds a sealed job that waits (no worker yet), lets `attack` tamper with Redis, then runs a worker. */
  async function attack(t: import('node:test').TestContext, tamper: (ctx: { f: Fixture; name: string; jobId: string }) => Promise<string | void>): Promise<{ code: string | undefined; attemptsMade: number; calls: number; forgedCalls: number; reason: string }> {
    const f = new Fixture(t);
    const name = f.queueName('sealq-attack');
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const job = await queue.add('welcome', { to: 'a@example.com' }, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    const target = (await tamper({ f, name, jobId: job.id! })) ?? job.id!;
    const r = recorder();
    f.worker(name, r.processor);
    const { job: done, state } = await settled(queue.unsealed, target);
    assert.equal(state, 'failed');
    return { code: failedCode(done), attemptsMade: done.attemptsMade, calls: r.calls.length, forgedCalls: r.calls.filter((c) => (c.data as Email).to !== 'a@example.com').length, reason: done.failedReason };
  }

  test('rewriting a waiting job\'s data in its hash: ERR_SIGNATURE_INVALID', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const r = await attack(t, async ({ f, name, jobId }) => {
      const redis = f.raw();
      const key = `bull:${name}:${jobId}`;
      const data = JSON.parse((await redis.hget(key, 'data'))!) as SealedJobData;
      data.payload = data.payload!.replace('a@example.com', 'evil@example.com');
      await redis.hset(key, 'data', JSON.stringify(data));
    });
    assert.equal(r.code, 'ERR_SIGNATURE_INVALID');
    assert.equal(r.attemptsMade, 1, 'a rejection is not retried');
    assert.equal(r.calls, 0);
  });

  test('extending the signed expiry in the header: ERR_SIGNATURE_INVALID', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const r = await attack(t, async ({ f, name, jobId }) => {
      const redis = f.raw();
      const key = `bull:${name}:${jobId}`;
      const data = JSON.parse((await redis.hget(key, 'data'))!) as SealedJobData;
      const h = JSON.parse(data.signatures[0]!.header) as Record<string, unknown>;
      data.signatures[0]!.header = JSON.stringify({ ...h, exp: (h.exp as number) + 365 * 86_400_000 });
      await redis.hset(key, 'data', JSON.stringify(data));
    });
    assert.equal(r.code, 'ERR_SIGNATURE_INVALID');
    assert.equal(r.calls, 0);
  });

  test('injecting a job with plain Queue.add (no seal): ERR_MALFORMED', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const r = await attack(t, async ({ f, name }) => {
      const plain = f.queue(name);
      return (await plain.add('welcome', { to: 'evil@example.com' }, { attempts: 3 })).id!;
    });
    assert.equal(r.code, 'ERR_MALFORMED');
    assert.equal(r.attemptsMade, 1);
    assert.equal(r.forgedCalls, 0, 'only the sealed job may reach the processor');
  });

  test('a job sealed with a key the worker does not know: ERR_KEY_UNKNOWN', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const r = await attack(t, async ({ f, name }) => {
      const forged = sealJobData(Keyring.generate('HS256'), name, 'welcome', { to: 'evil@example.com' });
      return (await f.queue(name).add('welcome', forged, { attempts: 3 })).id!;
    });
    assert.equal(r.code, 'ERR_KEY_UNKNOWN');
    assert.equal(r.attemptsMade, 1);
    assert.equal(r.forgedCalls, 0);
  });

  test('changing the job name in its hash: ERR_TYPE_MISMATCH', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const r = await attack(t, async ({ f, name, jobId }) => {
      await f.raw().hset(`bull:${name}:${jobId}`, 'name', 'refund');
    });
    assert.equal(r.code, 'ERR_TYPE_MISMATCH');
    assert.equal(r.attemptsMade, 1);
    assert.equal(r.calls, 0);
  });

  test('moving a job to another queue (its sealed data added there): ERR_CONTEXT_MISMATCH', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const home = f.queueName('sealq-home');
    const other = f.queueName('sealq-other');
    const job = await sealedQueue<Email>(f.queue(home), { keyring }).add('welcome', { to: 'a@example.com' });
    const stolen = JSON.parse((await f.raw().hget(`bull:${home}:${job.id}`, 'data'))!) as SealedJobData;
    const otherQueue = f.queue(other);
    const moved = await otherQueue.add('welcome', stolen, { attempts: 3 });
    const r = recorder();
    f.worker(other, r.processor);
    const { job: done, state } = await settled(otherQueue, moved.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(done), 'ERR_CONTEXT_MISMATCH');
    assert.equal(done.attemptsMade, 1);
    assert.equal(r.calls.length, 0);
  });

  test('copying a completed job\'s data into a new job: ERR_REPLAYED', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const f = new Fixture(t);
    const name = f.queueName('sealq-replay');
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const replay = f.replayStore();
    let calls = 0;
    f.worker(name, sealedProcessor(async () => void calls++, { keyring, replay }));
    const job = await queue.add('welcome', { to: 'a@example.com' });
    assert.equal((await settled(queue.unsealed, job.id!)).state, 'completed');

    const redis = f.raw();
    const copied = await redis.hget(`bull:${name}:${job.id}`, 'data');
    const again = await f.queue(name).add('welcome', JSON.parse(copied!), { attempts: 3 });
    const { job: done, state } = await settled(queue.unsealed, again.id!);
    assert.equal(state, 'failed');
    assert.equal(failedCode(done), 'ERR_REPLAYED');
    assert.match(done.failedReason, /^ERR_REPLAYED: /);
    assert.equal(done.attemptsMade, 1);
    assert.equal(calls, 1);
  });
});

describe('sealq/bullmq: sandboxed processor file', () => {
  const fixture = fileURLToPath(new URL('../fixtures/bullmq/sandboxed-processor.mjs', import.meta.url));
  const dist = fileURLToPath(new URL('../../dist/adapters/bullmq/index.js', import.meta.url));

  test('a sealedSandbox processor file opens sealed jobs and rejects forged ones', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    assert.ok(existsSync(dist), 'the sandboxed processor loads the built library: run `npm run build` first (npm test does)');
    const f = new Fixture(t);
    const name = f.queueName('sealq-sandbox');
    const prefix = `${uniqueName('sealq-test')}:`;
    // The child process inherits the environment at fork time: keys and store settings go there.
    process.env.SEALQ_TEST_KEYRING = JSON.stringify(keyring.toPrivateJwks());
    process.env.SEALQ_TEST_REPLAY_URL = `redis://${REDIS.host}:${REDIS.port}`;
    process.env.SEALQ_TEST_REPLAY_PREFIX = prefix;
    t.after(async () => {
      await deleteKeys(process.env.SEALQ_TEST_REPLAY_URL!, prefix);
      delete process.env.SEALQ_TEST_KEYRING;
      delete process.env.SEALQ_TEST_REPLAY_URL;
      delete process.env.SEALQ_TEST_REPLAY_PREFIX;
    });
    const queue = sealedQueue<Email>(f.queue(name), { keyring });
    const good = await queue.add('welcome', { to: 'a@example.com' });
    const forged = await f.queue(name).add('welcome', { to: 'evil@example.com' }, { attempts: 3 });
    f.worker(name, fixture);
    const ok = await settled(queue.unsealed, good.id!);
    assert.equal(ok.state, 'completed');
    assert.deepEqual(ok.job.returnvalue, { to: 'a@example.com', ctx: name, typ: 'welcome', pid: ok.job.returnvalue.pid });
    assert.notEqual(ok.job.returnvalue.pid, process.pid, 'it ran in a child process');
    const bad = await settled(queue.unsealed, forged.id!);
    assert.equal(bad.state, 'failed');
    assert.equal(failedCode(bad.job), 'ERR_MALFORMED', bad.job.failedReason);
    assert.equal(bad.job.attemptsMade, 1, 'UnrecoverableError crosses the process boundary: no retry');

    // A copy of the completed job is a replay in the sandbox too (the store is Redis, shared).
    const copy = await f.queue(name).add('welcome', JSON.parse((await f.raw().hget(`bull:${name}:${good.id}`, 'data'))!), { attempts: 3 });
    const replayed = await settled(queue.unsealed, copy.id!);
    assert.equal(failedCode(replayed.job), 'ERR_REPLAYED');
  });
});
