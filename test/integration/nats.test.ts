import { fork } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, headers } from '@nats-io/transport-node';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerConfig, JetStreamClient, JetStreamManager, StoredMsg, StreamConfig } from '@nats-io/jetstream';
import { Keyring, MemoryReplayStore, SEAL_HEADER, exportPrivateJwk, sealDetached } from '../../src/index.js';
import { DEAD_LETTER_STREAM, SealedNatsConsumer, natsContext, parseDeadLetter, publishSealed } from '../../src/adapters/nats/index.js';
import type { NatsDeadLetter, NatsMessage, SealedNatsConsumerOptions } from '../../src/adapters/nats/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { flakyStore, redisReplayStores } from '../helpers/replay-stores.js';
import { waitFor } from '../helpers/wait-for.js';

const NATS_SERVER = '127.0.0.1:4222';
const REDIS_URL = 'redis://127.0.0.1:6379';

interface Env {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The test's stream, capturing `<prefix>.>`, with a durable consumer `c`. */
  stream: string;
  prefix: string;
  /** A stream of the test's own capturing the dead-letter subject `<dlPrefix>.c`. */
  dlStream: string;
  dlSubject: string;
  kr: Keyring;
  replay: MemoryReplayStore;
  subject(name: string): string;
  addStream(config: Partial<StreamConfig> & { name: string }): Promise<void>;
  addConsumer(config?: Partial<ConsumerConfig>, stream?: string): Promise<string>;
  consumer(options: Partial<SealedNatsConsumerOptions> & Pick<SealedNatsConsumerOptions, 'handler'>, nc?: NatsConnection): Promise<SealedNatsConsumer>;
  connection(): Promise<NatsConnection>;
  /** Publishes raw bytes and headers, as an attacker with publish rights would. */
  rawPublish(subject: string, body: Uint8Array | string, h?: MsgHdrs, msgID?: string): Promise<void>;
  /** Every message of a stream (waiting until it holds `n`). */
  messages(stream: string, n: number): Promise<StoredMsg[]>;
  deadLetters(n: number): Promise<Array<{ d: NatsDeadLetter; m: StoredMsg }>>;
  /** Waits until the test consumer has nothing pending or unacknowledged. */
  drained(consumer?: string): Promise<void>;
}

const hdrs = (entries: Record<string, string>): MsgHdrs => {
  const h = headers();
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  return h;
};

async function setup(t: TestContext, consumerConfig: Partial<ConsumerConfig> = {}): Promise<Env> {
  const conns: NatsConnection[] = [];
  const open = async (): Promise<NatsConnection> => {
    const c = await connect({ servers: NATS_SERVER });
    conns.push(c);
    return c;
  };
  const nc = await open();
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = uniqueName('sealq-test-nats');
  const streams: string[] = [];
  const consumers: SealedNatsConsumer[] = [];
  t.after(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
    await Promise.all(conns.map((c) => c.close()));
  });
  const env: Env = {
    nc,
    js,
    jsm,
    stream: name,
    prefix: `t.${name}`,
    dlStream: `${name}-dl`,
    dlSubject: `dl.${name}.c`,
    kr: Keyring.generate('HS256'),
    replay: new MemoryReplayStore(),
    subject: (s) => `t.${name}.${s}`,
    async addStream(config) {
      streams.push(config.name);
      await jsm.streams.add(config);
    },
    async addConsumer(config = {}, stream = name) {
      const durable = config.durable_name ?? 'c';
      await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, ack_wait: 5_000_000_000, ...config });
      return durable;
    },
    async consumer(options, c) {
      const consumer = new SealedNatsConsumer(c ?? nc, {
        keyring: env.kr,
        stream: name,
        consumer: 'c',
        replay: env.replay,
        busyDelay: 20,
        retryDelay: 50,
        deadLetter: { subject: env.dlSubject },
        onError: () => undefined,
        ...options,
      });
      consumers.push(consumer);
      await consumer.start();
      return consumer;
    },
    connection: open,
    async rawPublish(subject, body, h, msgID) {
      await js.publish(subject, body, { headers: h, ...(msgID === undefined ? {} : { msgID }) });
    },
    async messages(stream, n) {
      let last = 0;
      await waitFor(`${n} messages in ${stream}`, async () => (last = (await jsm.streams.info(stream)).state.messages) >= n);
      const { first_seq, last_seq } = (await jsm.streams.info(stream)).state;
      const out: StoredMsg[] = [];
      for (let seq = first_seq; seq <= last_seq && last > 0; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (m !== null) out.push(m);
      }
      return out;
    },
    async deadLetters(n) {
      return (await env.messages(env.dlStream, n)).map((m) => ({ d: parseDeadLetter(m.header)!, m }));
    },
    async drained(consumer = 'c') {
      await waitFor('the consumer drained', async () => {
        const i = await jsm.consumers.info(name, consumer);
        return i.num_pending === 0 && i.num_ack_pending === 0;
      });
    },
  };
  await env.addStream({ name, subjects: [`t.${name}.>`] });
  await env.addStream({ name: env.dlStream, subjects: [`dl.${name}.>`] });
  await env.addConsumer(consumerConfig);
  return env;
}

describe('sealq/nats: publish and consume', () => {
  test('round trip: the body is the payload as it is, the seal in one header, the id in Nats-Msg-Id; handled once, acked', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const payload = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    const subject = env.subject('orders.created');
    const sent = await publishSealed(env.js, env.kr, subject, payload, { typ: 'order.created', publish: { headers: hdrs({ source: 'web' }) } });
    assert.equal(sent.ctx, `nats:${subject}`);
    assert.equal(sent.stream, env.stream);
    assert.equal(sent.duplicate, false);
    // A plain reader sees the body untouched and the seal next to it.
    const [plain] = await env.messages(env.stream, 1);
    assert.deepEqual(Buffer.from(plain!.data), payload);
    assert.equal(plain!.header.get('Nats-Msg-Id'), sent.id);
    assert.equal(plain!.header.get('source'), 'web');
    assert.match(plain!.header.get(SEAL_HEADER), /^sealq1\.[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/);

    const seen: NatsMessage[] = [];
    const c = await env.consumer({ handler: (m) => void seen.push(m), typ: 'order.created' });
    for (let i = 0; i < 4; i++) await publishSealed(env.js, env.kr, subject, `{"order":${i}}`, { typ: 'order.created' });
    await waitFor('5 messages', () => c.stats.processed === 5);
    assert.deepEqual(seen.map((m) => m.payload.toString('hex')).sort(), [payload.toString('hex'), ...[0, 1, 2, 3].map((i) => Buffer.from(`{"order":${i}}`).toString('hex'))].sort());
    assert.ok(seen.every((m) => m.header.ctx === `nats:${subject}` && m.subject === subject && m.stream === env.stream && m.consumer === 'c' && m.deliveryCount === 1 && !m.redelivered));
    await env.drained();
    assert.equal(c.stats.deadLettered, 0);
    await c.stop();
    assert.equal(await c.closed, undefined);
  });

  test('publishSealed refuses the reserved headers and wildcard subjects', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const s = env.subject('x');
    await assert.rejects(publishSealed(env.js, env.kr, s, 'x', { publish: { headers: hdrs({ sealq: 'mine' }) } }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(publishSealed(env.js, env.kr, s, 'x', { publish: { headers: hdrs({ 'Nats-Msg-Id': 'mine' }) } }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(publishSealed(env.js, env.kr, `${env.prefix}.*`, 'x'), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(publishSealed(env.js, env.kr, `${env.prefix}..x`, 'x'), { code: 'ERR_INVALID_ARGUMENT' });
  });

  test('a copy with the same Nats-Msg-Id is dropped by JetStream; one past the duplicate window is stored and caught by the replay store', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const windowed = `${env.stream}-w`;
    await env.addStream({ name: windowed, subjects: [`w.${env.stream}.>`], duplicate_window: 300_000_000 }); // 300 ms
    await env.addConsumer({}, windowed);
    const subject = `w.${env.stream}.jobs`;
    // A header value naming Nats-Msg-Id does not hide the real one (the server takes the first occurrence).
    const sent = await publishSealed(env.js, env.kr, subject, 'once', { publish: { headers: hdrs({ note: 'Nats-Msg-Id: forged' }) } });
    const twice = await publishSealed(env.js, env.kr, subject, 'once', { id: sent.id, publish: { headers: hdrs({ note: 'Nats-Msg-Id: forged' }) } });
    assert.equal(twice.duplicate, true);
    const [stored] = await env.messages(windowed, 1);
    assert.equal(stored!.header.keys()[0], 'Nats-Msg-Id', 'first, where the server looks for it');
    const again = await env.js.publish(subject, stored!.data, { headers: stored!.header }); // the same bytes and headers, Nats-Msg-Id included
    assert.equal(again.duplicate, true, 'dropped by the broker inside the window');
    const handled: string[] = [];
    const c = await env.consumer({ stream: windowed, handler: (m) => void handled.push(m.header.id) });
    await waitFor('the original', () => c.stats.processed === 1);
    await sleep(400); // past the duplicate window: the broker stores the same bytes again
    const late = await env.js.publish(subject, stored!.data, { headers: stored!.header });
    assert.equal(late.duplicate, false);
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_REPLAYED');
    assert.equal(l!.d.stream, windowed);
    assert.deepEqual(handled, [sent.id]);
  });

  test('attacks through a raw client are dead-lettered with their code, originals kept, and never reach the handler', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const handled: string[] = [];
    const dead: NatsDeadLetter[] = [];
    // The shared path every adapter reports through (metrics, tracing): one event per dead letter.
    const events: Array<{ adapter: string; code: string; destination: string }> = [];
    const listen = (e: unknown): void => void events.push(e as { adapter: string; code: string; destination: string });
    subscribe('sealq:dead-letter', listen);
    t.after(() => unsubscribe('sealq:dead-letter', listen));
    const subject = env.subject('orders');
    const c = await env.consumer({ typ: ['order.created', 'order.refund'], handler: (m) => void handled.push(m.payload.toString()), onDeadLetter: (d) => void dead.push(d) });

    const legitSent = await publishSealed(env.js, env.kr, subject, 'legit', { typ: 'order.created', publish: { headers: hdrs({ note: 'kept' }) } });
    await waitFor('the legitimate message', () => c.stats.processed === 1);
    const [legitStored] = await env.messages(env.stream, 1);

    // Sealed for this subject but never published: only the attacks below carry it.
    const d = sealDetached(env.kr, 'amount=1', { ctx: natsContext(subject), typ: 'order.created' });
    const parts = d.seal.split('.');
    const mac = parts[3]!;
    parts[3] = mac.slice(0, 10) + (mac[10] === 'A' ? 'B' : 'A') + mac.slice(11); // one signature character changed
    const stranger = Keyring.generate('HS256');
    const forged = sealDetached(stranger, 'amount=1000', { ctx: natsContext(subject), typ: 'order.created' });
    const otherType = sealDetached(env.kr, 'x', { ctx: natsContext(subject), typ: 'admin.grant' });
    const twoSeals = headers();
    twoSeals.append(SEAL_HEADER, d.seal);
    twoSeals.append(SEAL_HEADER, d.seal);
    const legitHeaders = headers();
    for (const [k, vs] of legitStored!.header) if (k !== 'Nats-Msg-Id') for (const v of vs) legitHeaders.append(k, v);

    const attacks: Array<[string, string, Uint8Array | string, MsgHdrs | undefined]> = [
      ['ERR_SIGNATURE_INVALID', subject, 'amount=1000', hdrs({ sealq: d.seal })], // body tampered
      ['ERR_SIGNATURE_INVALID', subject, 'amount=1', hdrs({ sealq: parts.join('.') })], // seal tampered
      ['ERR_MALFORMED', subject, 'amount=1', hdrs({ note: 'seal stripped' })], // seal header removed
      ['ERR_MALFORMED', subject, 'amount=1', undefined], // unsigned, no headers at all
      ['ERR_MALFORMED', subject, 'amount=1', twoSeals], // two seals
      ['ERR_KEY_UNKNOWN', subject, 'amount=1000', hdrs({ sealq: forged.seal })], // forged with an unknown key
      ['ERR_REPLAYED', subject, legitStored!.data, legitHeaders], // the same bytes again after completion (no Nats-Msg-Id)
      ['ERR_CONTEXT_MISMATCH', env.subject('refunds'), 'amount=1', hdrs({ sealq: d.seal })], // moved to another subject of the stream
      ['ERR_TYPE_MISMATCH', subject, 'x', hdrs({ sealq: otherType.seal })], // another type
    ];
    for (const [, s, body, h] of attacks) await env.rawPublish(s, body, h);
    const letters = await env.deadLetters(attacks.length);
    await waitFor('every dead letter counted', () => c.stats.deadLettered === attacks.length);
    assert.deepEqual(letters.map((l) => l.d.code), attacks.map((a) => a[0]));
    assert.deepEqual(handled, ['legit'], 'no attack reached the handler');
    assert.deepEqual(events.filter((e) => e.adapter === 'nats').map((e) => e.code), attacks.map((a) => a[0]));
    assert.deepEqual(dead.map((x) => x.code), attacks.map((a) => a[0]));
    // The originals are kept: body byte for byte, headers, where and why.
    for (const [i, l] of letters.entries()) {
      const [, s, body, h] = attacks[i]!;
      assert.deepEqual(Buffer.from(l.m.data), Buffer.from(body));
      assert.equal(l.m.subject, env.dlSubject);
      assert.equal(l.d.subject, s);
      assert.equal(l.d.stream, env.stream);
      assert.equal(l.d.consumer, 'c');
      assert.equal(l.d.deliveries, 1);
      assert.ok(l.d.seq > 0);
      assert.ok(!Number.isNaN(Date.parse(l.d.at)));
      assert.ok(l.d.reason.length > 0);
      if (h?.has(SEAL_HEADER)) assert.deepEqual(l.m.header.values(SEAL_HEADER), h.values(SEAL_HEADER));
    }
    const replayed = letters[6]!;
    assert.equal(replayed.m.header.get('note'), 'kept');
    assert.match(replayed.d.reason, new RegExp(legitSent.id));
    await env.drained(); // terminated: nothing pending, nothing redelivered
    assert.equal(c.stats.retried, 0);
  });

  test('Nats-* headers the server adds are not signed: a message sourced into another stream verifies there', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const copy = `${env.stream}-src`;
    await env.addStream({ name: copy, sources: [{ name: env.stream }] });
    await env.addConsumer({}, copy);
    const subject = env.subject('audit');
    const sent = await publishSealed(env.js, env.kr, subject, 'to audit');
    const [m] = await env.messages(copy, 1);
    assert.ok(m!.header.keys().some((k) => k.startsWith('Nats-Stream-Source')), `the server added a source header: ${m!.header.keys().join(', ')}`);
    const seen: NatsMessage[] = [];
    const c = await env.consumer({ stream: copy, handler: (x) => void seen.push(x) });
    await waitFor('the sourced copy', () => c.stats.processed === 1);
    assert.equal(seen[0]!.header.id, sent.id);
    assert.equal(seen[0]!.stream, copy);
  });
});

describe('sealq/nats: retries and redeliveries', () => {
  test('a handler failing once is nak-ed with a delay, redelivered and completes once', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    let runs = 0;
    const deliveries: number[] = [];
    const c = await env.consumer({
      handler: (m) => {
        runs++;
        deliveries.push(m.deliveryCount);
        if (runs === 1) throw new Error('transient');
      },
    });
    await publishSealed(env.js, env.kr, env.subject('jobs'), 'work');
    await waitFor('completed', () => c.stats.processed === 1);
    await env.drained();
    assert.equal(runs, 2);
    assert.deepEqual(deliveries, [1, 2]);
    assert.equal(c.stats.retried, 1);
    assert.equal(c.stats.deadLettered, 0);
  });

  test('retryPolicy: a handler failing every time is dead-lettered as ERR_HANDLER_FAILED when the policy says so', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    let runs = 0;
    const c = await env.consumer({
      handler: () => {
        runs++;
        throw new Error('always');
      },
      retryPolicy: ({ failures, message }) => (failures >= 3 && message.deliveryCount >= 3 ? 'dead-letter' : 'retry'),
    });
    await publishSealed(env.js, env.kr, env.subject('jobs'), 'poison');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_HANDLER_FAILED');
    assert.match(l!.d.reason, /failed 3 time\(s\).*always/);
    assert.equal(l!.d.deliveries, 3);
    assert.equal(runs, 3);
    await env.drained();
    assert.equal(c.stats.retried, 2);
  });

  test('a consumer process killed mid-message: the message is redelivered after ack_wait and processed once, by the other consumer', async (t) => {
    if (!(await needBroker(t, 'nats')) || !(await needBroker(t, 'redis'))) return;
    const env = await setup(t, { ack_wait: 1_000_000_000 }); // 1 s
    const { stores, prefix } = redisReplayStores(t, 'sealq-test-nats-replay');
    const child = fork(new URL('../fixtures/nats/crash-consumer.ts', import.meta.url), [env.stream, 'c', REDIS_URL, prefix, '1000', env.dlSubject], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, SEALQ_KEYRING: JSON.stringify(env.kr.toPrivateJwks()) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    t.after(() => void child.kill('SIGKILL'));
    const said = (pred: (m: unknown) => boolean): Promise<unknown> => new Promise((resolve) => child.on('message', (m) => pred(m) && resolve(m)));
    await said((m) => m === 'ready');
    const started = said((m) => typeof m === 'object' && m !== null && 'started' in m);
    const sent = await publishSealed(env.js, env.kr, env.subject('jobs'), 'crashy');
    assert.deepEqual(await started, { started: sent.id });
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
    const handled: NatsMessage[] = [];
    const c = await env.consumer({ replay: stores[0]!, lease: 1000, handler: (m) => void handled.push(m) });
    await waitFor('the redelivery processed', () => c.stats.processed === 1);
    await env.drained();
    assert.equal(handled.length, 1);
    assert.equal(handled[0]!.header.id, sent.id);
    assert.ok(handled[0]!.redelivered);
    assert.ok(handled[0]!.deliveryCount >= 2);
    assert.equal(c.stats.deadLettered, 0);
  });

  test('a handler running longer than ack_wait: working() and the lease keep it from being redelivered or run twice', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t, { ack_wait: 600_000_000 }); // 600 ms
    let runs = 0;
    const handler = async (m: NatsMessage): Promise<void> => {
      runs++;
      assert.equal(m.deliveryCount, 1);
      await sleep(2000);
    };
    const a = await env.consumer({ handler, lease: 600 });
    const b = await env.consumer({ handler, lease: 600 }, await env.connection());
    await publishSealed(env.js, env.kr, env.subject('jobs'), 'slow');
    await waitFor('done', () => a.stats.processed + b.stats.processed === 1);
    await env.drained();
    assert.equal(runs, 1);
    assert.equal(a.stats.retried + b.stats.retried, 0, 'never redelivered to the other consumer');
    const info = await env.jsm.consumers.info(env.stream, 'c');
    assert.equal(info.num_redelivered, 0);
  });
});

describe('sealq/nats: dead-letter destination and replay store failures', () => {
  test('the default dead-letter subject goes to the SEALQ_DEAD stream, created when missing; a subject no stream captures is refused', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const c = await env.consumer({ deadLetter: undefined, handler: () => undefined });
    assert.equal(c.deadLetterSubject, `sealq.dead.${env.stream}.c`);
    assert.equal(await env.jsm.streams.find(c.deadLetterSubject), DEAD_LETTER_STREAM);
    try {
      await env.rawPublish(env.subject('x'), 'unsigned');
      await waitFor('dead-lettered', () => c.stats.deadLettered === 1);
      const m = await env.jsm.streams.getMessage(DEAD_LETTER_STREAM, { last_by_subj: c.deadLetterSubject });
      assert.equal(parseDeadLetter(m!.header)?.code, 'ERR_MALFORMED');
    } finally {
      await env.jsm.streams.purge(DEAD_LETTER_STREAM, { filter: c.deadLetterSubject });
    }

    await assert.rejects(env.consumer({ deadLetter: { subject: `nowhere.${env.stream}` }, handler: () => undefined }), /no stream captures/);
    await assert.rejects(env.consumer({ deadLetter: { subject: env.subject('dead') }, handler: () => undefined }), /captured by the consumed stream/);
  });

  test('a dead letter that cannot be published is not terminated: nak-ed and dead-lettered once the subject is captured', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const errors: string[] = [];
    const c = await env.consumer({ handler: () => undefined, onError: (e) => void errors.push(e.message) });
    await env.jsm.streams.delete(env.dlStream); // gone after start
    await env.rawPublish(env.subject('x'), 'unsigned');
    await waitFor('a failed dead letter', () => errors.some((m) => /could not dead-letter/.test(m)) && c.stats.retried >= 1);
    assert.equal(c.stats.deadLettered, 0);
    await env.addStream({ name: env.dlStream, subjects: [`dl.${env.stream}.>`] });
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_MALFORMED');
    assert.ok(l!.d.deliveries >= 2);
    await env.drained();
  });

  test('the dead letter keeps body and headers; Nats-* headers move to sealq-original-*; a second dead letter of one stored message is dropped', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const c = await env.consumer({ handler: () => undefined });
    const h = hdrs({ a: '1', 'sealq-code': 'ERR_FAKE' });
    h.append('a', '2');
    await env.rawPublish(env.subject('x'), 'unsigned', h, 'attacker-id');
    const [l] = await env.deadLetters(1);
    assert.deepEqual(l!.m.header.values('a'), ['1', '2']);
    assert.equal(l!.m.header.get('sealq-original-Nats-Msg-Id'), 'attacker-id');
    assert.equal(l!.m.header.has('Nats-Msg-Id'), true); // the dead letter's own
    assert.equal(l!.d.code, 'ERR_MALFORMED', 'the sealq-code of the original is overwritten');
    await c.stop();
    assert.equal(l!.m.header.keys()[0], 'Nats-Msg-Id', 'first, where the server looks for it');
    const again = await env.js.publish(env.dlSubject, l!.m.data, { headers: l!.m.header });
    assert.equal(again.duplicate, true);
  });

  test('an unreachable replay store: nak-ed and retried, never dead-lettered', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    let down = true;
    const store = flakyStore(env.replay, { claim: () => down });
    const c = await env.consumer({ replay: store, handler: () => undefined });
    await publishSealed(env.js, env.kr, env.subject('x'), 'wait for the store');
    await waitFor('retried twice', () => c.stats.retried >= 2);
    down = false;
    await waitFor('processed', () => c.stats.processed === 1);
    assert.equal(c.stats.deadLettered, 0);
  });

  test('work done but completion not recorded: dead-lettered as ERR_COMPLETION_NOT_RECORDED, never redelivered', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const store = flakyStore(env.replay, { complete: true });
    let runs = 0;
    const c = await env.consumer({ replay: store, lease: 200, handler: () => void runs++ });
    await publishSealed(env.js, env.kr, env.subject('x'), 'done once');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_COMPLETION_NOT_RECORDED');
    await env.drained();
    assert.equal(runs, 1);
    assert.equal(c.stats.processed, 0);
  });
});

describe('sealq/nats: storm', () => {
  test('4 consumers on their own connections and stores, 2,000 messages each published 3 times: the broker drops one copy, the replay store the other, every message handled exactly once', async (t) => {
    if (!(await needBroker(t, 'nats')) || !(await needBroker(t, 'redis'))) return;
    const env = await setup(t);
    await env.jsm.consumers.update(env.stream, 'c', { max_ack_pending: 2000 });
    const { stores } = redisReplayStores(t, 'sealq-test-nats-replay', 4);
    const counts = new Map<string, number>();
    const handler = (m: NatsMessage): void => void counts.set(m.header.id, (counts.get(m.header.id) ?? 0) + 1);
    const consumers: SealedNatsConsumer[] = [];
    for (const replay of stores) consumers.push(await env.consumer({ replay, concurrency: 50, handler }, await env.connection()));
    const n = 2000;
    const subject = env.subject('storm');
    let duplicates = 0;
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < n; i++) {
      const d = sealDetached(env.kr, `job-${i}`, { ctx: natsContext(subject) });
      const h = (): MsgHdrs => hdrs({ sealq: d.seal }); // a fresh one each time: publish adds Nats-Msg-Id to the one it is given
      const msgID = `storm-${i}`;
      pending.push(env.js.publish(subject, d.payload, { headers: h(), msgID }).then(() => undefined));
      pending.push(env.js.publish(subject, d.payload, { headers: h(), msgID }).then((a) => void (a.duplicate && duplicates++))); // dropped by JetStream
      pending.push(env.rawPublish(subject, d.payload, h())); // no Nats-Msg-Id: stored, caught by the replay store
      if (pending.length >= 600) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    assert.equal(duplicates, n, 'JetStream dropped every second copy');
    await waitFor('every stored copy settled', () => consumers.reduce((s, c) => s + c.stats.processed + c.stats.deadLettered, 0) === 2 * n, 60_000);
    assert.equal(counts.size, n);
    assert.ok([...counts.values()].every((v) => v === 1), 'no message handled twice');
    assert.equal(consumers.reduce((s, c) => s + c.stats.processed, 0), n);
    assert.ok(consumers.every((c) => c.stats.processed > 0), 'every consumer took part');
    const info = await env.jsm.streams.info(env.dlStream);
    assert.equal(info.state.messages, n, 'each stored copy dead-lettered');
    for (let seq = info.state.first_seq; seq < info.state.first_seq + 50; seq++) {
      const m = await env.jsm.streams.getMessage(env.dlStream, { seq });
      assert.equal(parseDeadLetter(m!.header)?.code, 'ERR_REPLAYED');
    }
    await env.drained();
  });
});

describe('sealq/nats: secrets', () => {
  test('no key material in util.inspect or JSON of a consumer, nor in a dead letter', async (t) => {
    if (!(await needBroker(t, 'nats'))) return;
    const env = await setup(t);
    const secret = String(exportPrivateJwk(env.kr.keys()[0]!).k);
    const c = await env.consumer({ handler: () => undefined });
    assert.ok(!inspect(c, { depth: 10, showHidden: true }).includes(secret));
    assert.ok(!JSON.stringify(c).includes(secret));
    await env.rawPublish(env.subject('x'), 'unsigned');
    const [l] = await env.deadLetters(1);
    assert.ok(!JSON.stringify([...l!.m.header]).includes(secret));
  });
});
