import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'amqplib';
import type { ChannelModel, ConfirmChannel, GetMessage, Options } from 'amqplib';
import { Keyring, MemoryReplayStore, SEAL_HEADER, exportPrivateJwk, sealDetached } from '../../src/index.js';
import { SealedAmqpConsumer, amqpContext, parseDeadLetter, publishSealed, sendSealed } from '../../src/adapters/amqp/index.js';
import type { AmqpDeadLetter, AmqpMessage, SealedConsumerOptions } from '../../src/adapters/amqp/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { flakyStore, redisReplayStores } from '../helpers/replay-stores.js';
import { waitFor } from '../helpers/wait-for.js';

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

interface Env {
  conn: ChannelModel;
  /** A raw confirm channel: the producer, and the attacker. */
  raw: ConfirmChannel;
  queue: string;
  kr: Keyring;
  replay: MemoryReplayStore;
  /** A fresh queue name, deleted after the test (with its `.dead` queue). */
  name(prefix: string): string;
  declare(queue: string, options?: Options.AssertQueue): Promise<string>;
  exchange(type: string): Promise<string>;
  consumer(options: Partial<SealedConsumerOptions> & Pick<SealedConsumerOptions, 'handler'>, conn?: ChannelModel): Promise<SealedAmqpConsumer>;
  /** A connection of its own (closed after the test unless closed before). */
  connection(): Promise<ChannelModel>;
  /** Sends raw bytes and headers, as an attacker with publish rights would. */
  rawSend(queue: string, body: Buffer | string, options?: Options.Publish): Promise<void>;
  /** Takes every message from a queue (until it has `n`). */
  drain(queue: string, n: number): Promise<GetMessage[]>;
  deadLetters(n: number, queue?: string): Promise<Array<{ d: AmqpDeadLetter; m: GetMessage }>>;
}

async function setup(t: TestContext): Promise<Env> {
  const conns: ChannelModel[] = [];
  const open = async (): Promise<ChannelModel> => {
    const c = await connect(AMQP_URL);
    c.on('error', () => undefined);
    conns.push(c);
    return c;
  };
  const conn = await open();
  const raw = await conn.createConfirmChannel();
  const queues: string[] = [];
  const exchanges: string[] = [];
  const consumers: SealedAmqpConsumer[] = [];
  const kr = Keyring.generate('HS256');
  const replay = new MemoryReplayStore();
  t.after(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    const adminConn = await connect(AMQP_URL);
    const admin = await adminConn.createChannel();
    for (const q of queues.flatMap((q) => [q, `${q}.dead`])) await admin.deleteQueue(q); // a missing queue is no error
    for (const x of exchanges) await admin.deleteExchange(x);
    await adminConn.close();
  });
  const env: Env = {
    conn,
    raw,
    queue: '',
    kr,
    replay,
    name(prefix) {
      const q = uniqueName(`sealq-test-${prefix}`);
      queues.push(q);
      return q;
    },
    async declare(queue, options = {}) {
      await raw.assertQueue(queue, { durable: options.arguments?.['x-queue-type'] === 'quorum', ...options });
      return queue;
    },
    async exchange(type) {
      const x = uniqueName(`sealq-test-x-${type}`);
      exchanges.push(x);
      await raw.assertExchange(x, type, { durable: false });
      return x;
    },
    async consumer(options, c) {
      const consumer = new SealedAmqpConsumer(c ?? (await open()), {
        keyring: kr,
        queue: env.queue,
        replay,
        busyDelay: 20,
        retryDelay: 50,
        onError: () => undefined,
        ...options,
      });
      consumers.push(consumer);
      await consumer.start();
      return consumer;
    },
    connection: open,
    async rawSend(queue, body, options = {}) {
      await new Promise<void>((resolve, reject) => raw.sendToQueue(queue, Buffer.from(body), options, (e) => (e ? reject(e) : resolve())));
    },
    async drain(queue, n) {
      const got: GetMessage[] = [];
      await waitFor(`${n} messages in ${queue}`, async () => {
        for (;;) {
          const m = await raw.get(queue, { noAck: true });
          if (m === false) break;
          got.push(m);
        }
        return got.length >= n;
      });
      return got;
    },
    async deadLetters(n, queue = `${env.queue}.dead`) {
      return (await env.drain(queue, n)).map((m) => ({ d: parseDeadLetter(m)!, m }));
    },
  };
  env.queue = await env.declare(env.name('q'));
  return env;
}

/** The one message sitting in `queue`, taken as a raw client would read it. */
async function takeOne(env: Env, queue: string): Promise<GetMessage> {
  const [m] = await env.drain(queue, 1);
  return m!;
}

const headersOf = (m: { properties: { headers?: Record<string, unknown> } }): Record<string, unknown> => ({ ...m.properties.headers });

describe('sealq/amqp: publish and consume', () => {
  test('round trip: the body is the payload as it is, the seal in one header, typ in the type property; handled once, acked', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const payload = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    const sent = await sendSealed(env.raw, env.kr, env.queue, payload, { typ: 'order.created', properties: { headers: { source: 'web' }, correlationId: 'c-1' } });
    assert.equal(sent.ctx, `amqp:/${env.queue}`);
    // A plain amqplib reader sees the body untouched and the seal next to it.
    const plain = await takeOne(env, env.queue);
    assert.deepEqual(plain.content, payload);
    assert.equal(plain.properties.type, 'order.created');
    assert.equal(plain.properties.messageId, sent.id);
    assert.equal(plain.properties.headers?.source, 'web');
    assert.match(String(plain.properties.headers?.[SEAL_HEADER]), /^sealq1\.[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/);

    const seen: AmqpMessage[] = [];
    const c = await env.consumer({ handler: (m) => void seen.push(m), typ: 'order.created' });
    for (let i = 0; i < 5; i++) await sendSealed(env.raw, env.kr, env.queue, `{"order":${i}}`, { typ: 'order.created', properties: { correlationId: `c-${i}` } });
    await waitFor('5 messages', () => c.stats.processed === 5);
    assert.deepEqual(seen.map((m) => m.payload.toString()).sort(), [0, 1, 2, 3, 4].map((i) => `{"order":${i}}`));
    assert.ok(seen.every((m) => m.header.ctx === `amqp:/${env.queue}` && m.header.typ === 'order.created' && !m.redelivered && m.queue === env.queue));
    assert.deepEqual(seen.map((m) => m.properties.correlationId).sort(), ['c-0', 'c-1', 'c-2', 'c-3', 'c-4']);
    const q = await env.raw.checkQueue(env.queue);
    assert.equal(q.messageCount, 0);
    assert.equal(c.stats.deadLettered, 0);
    await c.stop();
    assert.equal(await c.closed, undefined);
  });

  test('publishSealed refuses the reserved header and a type property that differs from typ', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    await assert.rejects(sendSealed(env.raw, env.kr, env.queue, 'x', { properties: { headers: { sealq: 'mine' } } }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(sendSealed(env.raw, env.kr, env.queue, 'x', { typ: 'a', properties: { type: 'b' } }), { code: 'ERR_INVALID_ARGUMENT' });
    const plainChannel = await env.conn.createChannel();
    await assert.rejects(sendSealed(plainChannel as unknown as ConfirmChannel, env.kr, env.queue, 'x'), /confirm channel/);
    await plainChannel.close();
  });

  test('attacks through a raw client are dead-lettered with their code, originals kept, and never reach the handler', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const handled: string[] = [];
    const dead: AmqpDeadLetter[] = [];
    const c = await env.consumer({ typ: ['order.created', 'order.refund'], handler: (m) => void handled.push(m.payload.toString()), onDeadLetter: (d) => void dead.push(d) });

    await sendSealed(env.raw, env.kr, env.queue, 'legit', { typ: 'order.created', properties: { headers: { note: 'kept' } } });
    await waitFor('the legitimate message', () => c.stats.processed === 1);

    // A sealed message as an attacker would lift it from another queue, never consumed here.
    const other = await env.declare(env.name('other'));
    await sendSealed(env.raw, env.kr, other, 'for-other', { typ: 'order.created' });
    const lifted = await takeOne(env, other);
    // The legitimate one again, as it was published (same seal, same body).
    // Sealed for this queue but never published: only the attacks below carry it.
    const legit = sealDetached(env.kr, 'amount=1', { ctx: amqpContext('', env.queue), typ: 'order.created' });
    const parts = legit.seal.split('.');
    const mac = parts[3]!;
    parts[3] = mac.slice(0, 10) + (mac[10] === 'A' ? 'B' : 'A') + mac.slice(11); // one signature character changed

    const attacks: Array<[string, string, Buffer | string, Options.Publish]> = [
      ['tampered body', 'ERR_SIGNATURE_INVALID', 'amount=1000000', { headers: { sealq: legit.seal }, type: 'order.created' }],
      ['tampered seal', 'ERR_SIGNATURE_INVALID', 'amount=1', { headers: { sealq: parts.join('.') }, type: 'order.created' }],
      ['forged with an unknown key', 'ERR_KEY_UNKNOWN', 'forged', { headers: { sealq: sealDetached(Keyring.generate('HS256'), 'forged', { ctx: amqpContext('', env.queue), typ: 'order.created' }).seal } }],
      ['unsigned', 'ERR_MALFORMED', '{"order":666}', { type: 'order.created' }],
      ['seal header stripped', 'ERR_MALFORMED', lifted.content, { ...lifted.properties, headers: {} }],
      ['seal as bytes, not a string', 'ERR_MALFORMED', 'amount=1', { headers: { sealq: Buffer.from(legit.seal) } }],
      ['moved from another queue', 'ERR_CONTEXT_MISMATCH', lifted.content, { ...lifted.properties, headers: headersOf(lifted) }],
      ['type property changed to an accepted type', 'ERR_TYPE_MISMATCH', 'amount=1', { headers: { sealq: legit.seal }, type: 'order.refund' }],
      ['type property changed to a type not accepted', 'ERR_TYPE_MISMATCH', 'amount=1', { headers: { sealq: legit.seal }, type: 'order.deleted' }],
      ['a message of another type', 'ERR_TYPE_MISMATCH', 'x', { headers: { sealq: sealDetached(env.kr, 'x', { ctx: amqpContext('', env.queue), typ: 'order.deleted' }).seal } }],
    ];
    for (const [name, , body, options] of attacks) await env.rawSend(env.queue, body, { ...options, correlationId: name });

    await waitFor(`${attacks.length} dead letters`, () => c.stats.deadLettered === attacks.length);
    const letters = await env.deadLetters(attacks.length);
    const byName = new Map(letters.map((l) => [String(l.m.properties.correlationId), l]));
    for (const [name, code] of attacks) {
      const l = byName.get(name);
      assert.ok(l, `${name}: dead-lettered`);
      assert.equal(l.d.code, code, `${name}: ${l.d.reason}`);
      assert.equal(l.d.queue, env.queue);
      assert.equal(l.d.exchange, '');
      assert.equal(l.d.routingKey, env.queue);
      assert.ok(!Number.isNaN(Date.parse(l.d.at)));
      assert.ok(l.d.reason.length > 0);
    }
    // Nothing lost: body, properties and headers as they were.
    const moved = byName.get('moved from another queue')!.m;
    assert.deepEqual(moved.content, lifted.content);
    assert.equal(moved.properties.headers?.[SEAL_HEADER], lifted.properties.headers?.[SEAL_HEADER]);
    assert.equal(moved.properties.messageId, lifted.properties.messageId);
    assert.equal(moved.properties.type, 'order.created');
    assert.deepEqual(byName.get('tampered body')!.m.content, Buffer.from('amount=1000000'));
    assert.deepEqual(handled, ['legit']);
    assert.equal(dead.length, attacks.length);
    assert.equal((await env.raw.checkQueue(env.queue)).messageCount, 0, 'every delivery was acked once its dead letter was confirmed');
  });

  test('a replay of a completed message, byte for byte with its headers, is dead-lettered as ERR_REPLAYED', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    // Capture the message as delivered, through a queue bound to the same address.
    const x = await env.exchange('fanout');
    const tap = await env.declare(env.name('tap'));
    await env.raw.bindQueue(tap, x, '');
    await env.raw.bindQueue(env.queue, x, '');
    const handled: string[] = [];
    const c = await env.consumer({ addresses: [{ exchange: x, routingKey: 'k' }], handler: (m) => void handled.push(m.payload.toString()) });
    await publishSealed(env.raw, env.kr, x, 'k', 'pay 10 EUR');
    await waitFor('processed', () => c.stats.processed === 1);
    const copy = await takeOne(env, tap);
    await new Promise<void>((resolve, reject) => env.raw.publish(x, 'k', copy.content, { ...copy.properties, headers: headersOf(copy) }, (e) => (e ? reject(e) : resolve())));
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_REPLAYED');
    assert.equal(l!.d.exchange, x);
    assert.deepEqual(handled, ['pay 10 EUR']);
  });

  test('topic exchange: the signed exchange and routing key must match a stated pattern; fan-out to two queues processes once per queue', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const x = await env.exchange('topic');
    const audit = await env.declare(env.name('audit'));
    await env.raw.bindQueue(env.queue, x, 'order.*');
    await env.raw.bindQueue(audit, x, '#');
    const billing: string[] = [];
    const auditing: string[] = [];
    const b = await env.consumer({ addresses: [{ exchange: x, routingKey: 'order.*' }], handler: (m) => void billing.push(m.payload.toString()) });
    const a = await env.consumer({ queue: audit, addresses: [{ exchange: x, routingKey: '#' }], handler: (m) => void auditing.push(m.payload.toString()) });
    await publishSealed(env.raw, env.kr, x, 'order.created', 'o1');
    await publishSealed(env.raw, env.kr, x, 'order.paid', 'o2');
    await publishSealed(env.raw, env.kr, x, 'payment.done', 'p1'); // routed to audit only
    await waitFor('billing and audit', () => b.stats.processed === 2 && a.stats.processed === 3);
    assert.deepEqual(billing.sort(), ['o1', 'o2']);
    assert.deepEqual(auditing.sort(), ['o1', 'o2', 'p1']);
    // Moved to another binding: sealed for payment.done, republished with routing key order.created.
    const forPayments = sealDetached(env.kr, 'p2', { ctx: amqpContext(x, 'payment.done') });
    await new Promise<void>((resolve, reject) => env.raw.publish(x, 'order.created', Buffer.from(forPayments.payload), { headers: { sealq: forPayments.seal } }, (e) => (e ? reject(e) : resolve())));
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_CONTEXT_MISMATCH');
    assert.match(l!.d.reason, /payment\.done/);
    assert.deepEqual(billing.sort(), ['o1', 'o2']);
  });
});

describe('sealq/amqp: retries and redeliveries', () => {
  test('a handler failing once is requeued, retried and completes once', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    let attempts = 0;
    const done: AmqpMessage[] = [];
    const c = await env.consumer({
      handler: (m) => {
        if (++attempts === 1) throw new Error('transient failure');
        done.push(m);
      },
    });
    await sendSealed(env.raw, env.kr, env.queue, 'job');
    await waitFor('the retry', () => done.length === 1 && c.stats.processed === 1);
    assert.equal(attempts, 2);
    assert.equal(done[0]!.redelivered, true);
    assert.equal(c.stats.retried, 1);
    assert.equal(c.stats.deadLettered, 0);
  });

  test('retryPolicy: a handler failing every time is dead-lettered as ERR_HANDLER_FAILED when the policy says so', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    let attempts = 0;
    const c = await env.consumer({
      retryPolicy: ({ failures }) => (failures >= 3 ? 'dead-letter' : 'requeue'),
      handler: () => {
        attempts++;
        throw new Error('always fails');
      },
    });
    await sendSealed(env.raw, env.kr, env.queue, 'poison');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_HANDLER_FAILED');
    assert.match(l!.d.reason, /always fails/);
    assert.equal(attempts, 3);
    assert.equal(c.stats.retried, 2);
  });

  test('quorum queue: x-delivery-count added by the broker does not matter; a failed run is retried once', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const queue = await env.declare(env.name('quorum'), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    let attempts = 0;
    const done: AmqpMessage[] = [];
    const c = await env.consumer({
      queue,
      handler: (m) => {
        if (++attempts === 1) throw new Error('transient failure');
        done.push(m);
      },
    });
    await sendSealed(env.raw, env.kr, queue, 'job');
    await waitFor('the retry', () => c.stats.processed === 1);
    assert.equal(attempts, 2);
    assert.equal(done[0]!.properties.headers?.['x-delivery-count'], 1);
  });

  test('a consumer whose channel closes mid-handler: the redelivery is processed exactly once, by the other consumer', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    let started!: () => void;
    const startedA = new Promise<void>((r) => (started = r));
    let aborted = false;
    const completed: string[] = [];
    const connA = await env.connection();
    // A stops its work when told the delivery is gone, as a well-behaved handler does.
    await env.consumer(
      {
        handler: async (m) => {
          started();
          await new Promise<void>((resolve) => m.signal.addEventListener('abort', () => resolve()));
          aborted = true;
          throw new Error('abandoned: the channel closed');
        },
      },
      connA,
    );
    await sendSealed(env.raw, env.kr, env.queue, 'job');
    await startedA;
    const b = await env.consumer({ handler: (m) => void completed.push(`${m.payload}:${m.redelivered}`) });
    await connA.close(); // the crash: the broker requeues A's unacked delivery
    await waitFor('B processes the redelivery', () => b.stats.processed === 1);
    assert.equal(aborted, true);
    assert.deepEqual(completed, ['job:true']);
  });

  test('a handler that keeps running after its channel closed: its lease is renewed, the redelivery waits, then is a replay', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    let started!: () => void;
    const startedA = new Promise<void>((r) => (started = r));
    let finish!: () => void;
    const finishA = new Promise<void>((r) => (finish = r));
    const runs: string[] = [];
    const connA = await env.connection();
    const a = await env.consumer(
      {
        lease: 300, // renewed every 100 ms while the handler runs
        handler: async (m) => {
          started();
          await finishA;
          runs.push(`A:${m.payload}`);
        },
      },
      connA,
    );
    await sendSealed(env.raw, env.kr, env.queue, 'job');
    await startedA;
    const b = await env.consumer({ lease: 300, handler: (m) => void runs.push(`B:${m.payload}`) });
    await connA.close();
    assert.ok((await a.closed) instanceof Error);
    await waitFor('B retried the in-flight message several times', () => b.stats.retried >= 5);
    assert.deepEqual(runs, [], 'B did not run it while A held the lease');
    finish();
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_REPLAYED');
    assert.equal(l!.d.redelivered, true);
    assert.deepEqual(runs, ['A:job']);
  });

  test('broker dead-lettering (TTL) adds x-death: the message still verifies, against the address its producer used', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    // A retry-later pattern: published to a waiting queue whose TTL sends it on to the work queue.
    const waiting = await env.declare(env.name('wait'), { messageTtl: 30, deadLetterExchange: '', deadLetterRoutingKey: env.queue });
    const seen: AmqpMessage[] = [];
    const c = await env.consumer({ addresses: [{ exchange: '', routingKey: waiting }], handler: (m) => void seen.push(m) });
    await sendSealed(env.raw, env.kr, waiting, 'later');
    await waitFor('processed after the TTL', () => c.stats.processed === 1);
    const h = seen[0]!.properties.headers!;
    assert.equal(h['x-first-death-reason'], 'expired');
    assert.equal(h['x-first-death-queue'], waiting);
    assert.ok(Array.isArray(h['x-death']));
    assert.equal(seen[0]!.header.ctx, amqpContext('', waiting));

    // A consumer that states only its own queue refuses it (it was not addressed to it), keeping x-death.
    const strict = await env.declare(env.name('strict'));
    const waiting2 = await env.declare(env.name('wait2'), { messageTtl: 30, deadLetterExchange: '', deadLetterRoutingKey: strict });
    const s = await env.consumer({ queue: strict, handler: () => assert.fail('must not run') });
    await sendSealed(env.raw, env.kr, waiting2, 'later');
    const [l] = await env.deadLetters(1, `${strict}.dead`);
    assert.equal(l!.d.code, 'ERR_CONTEXT_MISMATCH');
    assert.ok(Array.isArray(l!.m.properties.headers?.['x-death']), 'the broker headers travel with the dead letter');
    assert.equal(s.stats.deadLettered, 1);
  });
});

describe('sealq/amqp: dead-letter destination', () => {
  test('the dead letter keeps body, properties and headers; expiration, userId and CC move to sealq- headers', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const victim = await env.declare(env.name('victim'));
    const c = await env.consumer({ handler: () => assert.fail('must not run') });
    await env.rawSend(env.queue, 'unsigned', {
      expiration: '60000',
      userId: 'guest',
      contentType: 'application/json',
      priority: 3,
      appId: 'app',
      timestamp: 1_700_000_000,
      headers: { CC: [victim], tenant: 't1', n: 42 },
    });
    const [l] = await env.deadLetters(1);
    const p = l!.m.properties;
    assert.equal(l!.d.code, 'ERR_MALFORMED');
    assert.equal(l!.m.content.toString(), 'unsigned');
    assert.equal(p.expiration, undefined);
    assert.equal(p.headers?.['sealq-expiration'], '60000');
    assert.equal(p.userId, undefined);
    assert.equal(p.headers?.['sealq-user-id'], 'guest');
    assert.deepEqual(p.headers?.['sealq-cc'], [victim]);
    assert.equal(p.headers?.CC, undefined);
    assert.equal(p.headers?.tenant, 't1');
    assert.equal(p.headers?.n, 42);
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.priority, 3);
    assert.equal(p.appId, 'app');
    assert.equal(p.timestamp, 1_700_000_000);
    assert.equal(p.deliveryMode, 2, 'dead letters are persistent');
    // The attacker's own publish put one copy there (the broker honours CC); the dead letter added none.
    assert.equal((await env.raw.checkQueue(victim)).messageCount, 1, 'the CC header did not route another copy');
    assert.equal(c.stats.deadLettered, 1);
  });

  test('a dead-letter exchange: refused at start when missing; a dead letter nobody receives is requeued, not acked', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const missing = uniqueName('sealq-test-missing');
    const noX = new SealedAmqpConsumer(await env.connection(), { keyring: env.kr, queue: env.queue, replay: env.replay, handler: () => undefined, deadLetter: { exchange: missing, routingKey: 'r' } });
    await assert.rejects(noX.start(), { code: 'ERR_INVALID_ARGUMENT', message: new RegExp(`dead-letter exchange "${missing}" does not exist`) });

    const dlx = await env.exchange('direct');
    const errors: string[] = [];
    const c = await env.consumer({ deadLetter: { exchange: dlx, routingKey: 'rejected' }, handler: () => assert.fail('must not run'), onError: (e) => void errors.push(e.message) });
    await env.rawSend(env.queue, 'unsigned');
    await waitFor('a refused dead letter', () => errors.some((m) => /no queue bound/.test(m)) && c.stats.retried >= 1);
    assert.equal(c.stats.deadLettered, 0);
    const parked = await env.declare(env.name('parked'));
    await env.raw.bindQueue(parked, dlx, 'rejected');
    const [l] = await env.deadLetters(1, parked);
    assert.equal(l!.d.code, 'ERR_MALFORMED');
    await waitFor('acked', async () => (await env.raw.checkQueue(env.queue)).messageCount === 0 && c.stats.deadLettered === 1);
  });

  test('the default dead-letter queue is declared when missing, and an existing one is used as it is', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    await env.declare(`${env.queue}.dead`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const c = await env.consumer({ handler: () => undefined });
    assert.deepEqual(c.deadLetter, { exchange: '', routingKey: `${env.queue}.dead` });
    await env.rawSend(env.queue, 'unsigned');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_MALFORMED');
  });
});

describe('sealq/amqp: replay store failures', () => {
  test('an unreachable store is retried (requeued), never dead-lettered', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const runs: string[] = [];
    const c = await env.consumer({ replay: flakyStore(env.replay, { claim: 3 }), handler: (m) => void runs.push(m.payload.toString()) });
    await sendSealed(env.raw, env.kr, env.queue, 'job');
    await waitFor('processed', () => c.stats.processed === 1);
    assert.equal(c.stats.retried, 3);
    assert.equal(c.stats.deadLettered, 0);
    assert.deepEqual(runs, ['job']);
  });

  test('work done but completion not recorded: dead-lettered as ERR_COMPLETION_NOT_RECORDED, never requeued', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    let runs = 0;
    const c = await env.consumer({ lease: 200, replay: flakyStore(env.replay, { complete: true }), handler: () => void runs++ });
    await sendSealed(env.raw, env.kr, env.queue, 'job');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_COMPLETION_NOT_RECORDED');
    assert.equal(runs, 1);
    assert.equal(c.stats.retried, 0);
    assert.equal((await env.raw.checkQueue(env.queue)).messageCount, 0);
  });
});

describe('sealq/amqp: storm', () => {
  test('4 consumers on their own connections and stores, 2,000 messages each published 3 times: every message handled exactly once, the copies dead-lettered as ERR_REPLAYED', async (t) => {
    if (!(await needBroker(t, 'amqp')) || !(await needBroker(t, 'redis'))) return;
    const env = await setup(t);
    const { stores } = redisReplayStores(t, 'sealq-test-amqp-replay', 4);
    const counts = new Map<string, number>();
    const handler = (m: AmqpMessage): void => void counts.set(m.header.id, (counts.get(m.header.id) ?? 0) + 1);
    const consumers: SealedAmqpConsumer[] = [];
    for (const replay of stores) consumers.push(await env.consumer({ replay, prefetch: 50, handler }));
    const n = 2000;
    const copies = 3;
    const pending: Array<Promise<void>> = [];
    const publish = (body: Buffer, headers: Record<string, unknown>): Promise<void> =>
      new Promise((resolve, reject) => env.raw.sendToQueue(env.queue, body, { headers }, (e) => (e ? reject(e) : resolve())));
    for (let i = 0; i < n; i++) {
      const d = sealDetached(env.kr, `job-${i}`, { ctx: amqpContext('', env.queue) });
      const body = Buffer.from(d.payload);
      for (let k = 0; k < copies; k++) pending.push(publish(body, { sealq: d.seal }));
    }
    await Promise.all(pending);
    await waitFor('every copy settled', () => consumers.reduce((s, c) => s + c.stats.processed + c.stats.deadLettered, 0) === copies * n, 50_000);
    assert.equal(counts.size, n);
    assert.ok([...counts.values()].every((v) => v === 1), 'no message handled twice');
    assert.equal(consumers.reduce((s, c) => s + c.stats.processed, 0), n);
    assert.ok(consumers.every((c) => c.stats.processed > 0), 'every consumer took part');
    const dead = await env.raw.checkQueue(`${env.queue}.dead`);
    assert.equal(dead.messageCount, (copies - 1) * n, 'each extra copy dead-lettered');
    const sample = await env.deadLetters(50);
    assert.ok(sample.every((l) => l.d.code === 'ERR_REPLAYED'));
  });
});

describe('sealq/amqp: secrets', () => {
  test('no key material in util.inspect or JSON of a consumer, nor in a dead letter', async (t) => {
    if (!(await needBroker(t, 'amqp'))) return;
    const env = await setup(t);
    const secret = String(exportPrivateJwk(env.kr.keys()[0]!).k);
    const c = await env.consumer({ handler: () => undefined });
    assert.ok(!inspect(c, { depth: 10, showHidden: true }).includes(secret));
    assert.ok(!JSON.stringify(c).includes(secret));
    await env.rawSend(env.queue, 'unsigned');
    const [l] = await env.deadLetters(1);
    assert.ok(!JSON.stringify(l!.m.properties).includes(secret));
  });
});
