import { fork } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, connectAsync } from 'mqtt';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { Keyring, MemoryReplayStore, SEAL_HEADER, exportPrivateJwk, seal, sealDetached } from '../../src/index.js';
import { RedisReplayStore } from '../../src/replay/redis.js';
import { SealedMqttSubscriber, mqttContext, parseDeadLetter, publishSealed } from '../../src/adapters/mqtt/index.js';
import type { MqttDeadLetter, MqttMessage, SealedMqttSubscriberOptions } from '../../src/adapters/mqtt/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching } from '../helpers/redis.js';
import { flakyStore, redisReplayStores } from '../helpers/replay-stores.js';
import { waitFor } from '../helpers/wait-for.js';

const MQTT_URL = 'mqtt://127.0.0.1:1883';
const REDIS_URL = 'redis://127.0.0.1:6379';

type UserProperties = Record<string, string | string[]>;
interface Letter {
  d: MqttDeadLetter;
  payload: Buffer;
  packet: IPublishPacket;
}

interface Env {
  /** The test's own topic tree: `sealq-test/<unique>`. */
  base: string;
  topic(name: string): string;
  kr: Keyring;
  replay: MemoryReplayStore;
  /** A raw MQTT 5 client: the producer, and the attacker. */
  pub: MqttClient;
  /** A client of its own (MQTT 5 and a unique client id unless given), ended after the test. */
  client(options?: IClientOptions): Promise<MqttClient>;
  /** The same, made with manualConnect and not connected yet. */
  unconnected(options?: IClientOptions): MqttClient;
  subscriber(options: Partial<SealedMqttSubscriberOptions> & Pick<SealedMqttSubscriberOptions, 'handler'>, client?: MqttClient): Promise<SealedMqttSubscriber>;
  rawPublish(topic: string, body: Buffer | string, userProperties?: UserProperties, options?: { retain?: boolean; client?: MqttClient }): Promise<void>;
  /** Dead letters received under `sealq/dead-letter/<base>/#` (waiting until there are `n`). */
  deadLetters(n: number): Promise<Letter[]>;
}

async function setup(t: TestContext): Promise<Env> {
  const base = `sealq-test/${uniqueName('mqtt')}`;
  const clients: MqttClient[] = [];
  const subscribers: SealedMqttSubscriber[] = [];
  const retainedTopics = new Set<string>();
  const open = async (options: IClientOptions = {}): Promise<MqttClient> => {
    const c = await connectAsync(MQTT_URL, { protocolVersion: 5, clientId: uniqueName('sealq-test'), reconnectPeriod: 0, ...options });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  const pub = await open();
  const reader = await open();
  const letters: Letter[] = [];
  reader.on('message', (topic, payload, packet) => {
    if (payload.length === 0) return;
    retainedTopics.add(topic);
    const p = parseDeadLetter(packet);
    if (p !== undefined) letters.push({ d: p.deadLetter, payload: p.payload, packet });
  });
  await reader.subscribeAsync(`sealq/dead-letter/${base}/#`, { qos: 1 });
  t.after(async () => {
    await Promise.all(subscribers.map((s) => s.stop()));
    // Retained dead letters and messages are kept by the broker: clear them.
    for (const topic of retainedTopics) await pub.publishAsync(topic, '', { qos: 1, retain: true });
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  });
  const env: Env = {
    base,
    topic: (name) => `${base}/${name}`,
    kr: Keyring.generate('HS256'),
    replay: new MemoryReplayStore(),
    pub,
    client: open,
    unconnected(options = {}) {
      const c = connect(MQTT_URL, { protocolVersion: 5, clientId: uniqueName('sealq-test'), reconnectPeriod: 0, ...options, manualConnect: true });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async subscriber(options, c) {
      const s = new SealedMqttSubscriber(c ?? (await open()), {
        keyring: env.kr,
        topics: `${base}/#`,
        replay: env.replay,
        busyDelay: 20,
        retryDelay: 50,
        onError: () => undefined,
        ...options,
      });
      subscribers.push(s);
      await s.start();
      return s;
    },
    async rawPublish(topic, body, userProperties, options = {}) {
      if (options.retain === true) retainedTopics.add(topic);
      await (options.client ?? pub).publishAsync(topic, Buffer.from(body), { qos: 1, retain: options.retain ?? false, ...(userProperties === undefined ? {} : { properties: { userProperties } }) });
    },
    async deadLetters(n) {
      await waitFor(`${n} dead letters`, () => letters.length >= n);
      return letters.slice(0, n);
    },
  };
  return env;
}

/** What a plain mqtt.js subscriber receives on `topic` while `publish` runs. */
async function plainView(env: Env, topic: string, publish: () => Promise<unknown>): Promise<IPublishPacket> {
  const c = await env.client();
  const got = new Promise<IPublishPacket>((resolve) => c.on('message', (_t, _p, packet) => resolve(packet)));
  await c.subscribeAsync(topic, { qos: 1 });
  await publish();
  const p = await got;
  await c.endAsync();
  return p;
}

describe('sealq/mqtt: publish and subscribe', () => {
  test('round trip: the body is the payload as it is, the seal in one user property, properties sorted; handled once', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const payload = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    const topic = env.topic('orders/created');
    let sent!: Awaited<ReturnType<typeof publishSealed>>;
    const plain = await plainView(env, topic, async () => {
      sent = await publishSealed(env.pub, env.kr, topic, payload, { typ: 'order.created', ct: 'application/octet-stream', properties: { userProperties: { zeta: '1', alpha: ['a', 'b'] } } });
    });
    assert.equal(sent.ctx, `mqtt:${topic}`);
    assert.equal(sent.carrier, 'properties');
    assert.deepEqual(plain.payload, payload);
    const up = plain.properties!.userProperties!;
    assert.deepEqual(Object.keys(up), ['alpha', SEAL_HEADER, 'zeta']);
    assert.deepEqual(up.alpha, ['a', 'b']);
    assert.match(String(up[SEAL_HEADER]), /^sealq1\.[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/);
    assert.equal(plain.properties!.contentType, 'application/octet-stream');

    const seen: MqttMessage[] = [];
    const s = await env.subscriber({ handler: (m) => void seen.push(m), typ: 'order.created' });
    assert.equal(s.scope.startsWith('mqtt-client:sealq-test-'), true);
    for (let i = 0; i < 5; i++) await publishSealed(env.pub, env.kr, topic, `{"order":${i}}`, { typ: 'order.created' });
    await waitFor('5 messages', () => s.stats.processed === 5);
    assert.deepEqual(seen.map((m) => m.payload.toString()), [0, 1, 2, 3, 4].map((i) => `{"order":${i}}`), 'in order (concurrency 1)');
    assert.ok(seen.every((m) => m.header.ctx === `mqtt:${topic}` && m.topic === topic && m.qos === 1 && !m.retain && !m.dup));
    assert.equal(s.stats.deadLettered, 0);
  });

  test('publishSealed refuses the reserved property, wildcard topics, a contentType other than ct, and user properties over MQTT 3.1.1', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const topic = env.topic('x');
    await assert.rejects(publishSealed(env.pub, env.kr, topic, 'x', { properties: { userProperties: { sealq: 'mine' } } }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(publishSealed(env.pub, env.kr, `${env.base}/+`, 'x'), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(publishSealed(env.pub, env.kr, `${env.base}/#`, 'x'), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(publishSealed(env.pub, env.kr, topic, 'x', { ct: 'a', properties: { contentType: 'b' } }), { code: 'ERR_INVALID_ARGUMENT' });
    const v4 = await env.client({ protocolVersion: 4 });
    await assert.rejects(publishSealed(v4, env.kr, topic, 'x'), /MQTT 3\.1\.1.*carrier: 'compact'/);
    await assert.rejects(env.subscriber({ handler: () => undefined }, v4), /does not speak MQTT 5/);
    await assert.rejects(env.subscriber({ handler: () => undefined }, await env.client({ clean: false })), /manualConnect/);
    assert.throws(() => new SealedMqttSubscriber(env.pub, { keyring: env.kr, replay: env.replay, topics: '#', handler: () => undefined }), /its own dead letters/);
    assert.throws(() => new SealedMqttSubscriber(env.pub, { keyring: env.kr, replay: env.replay, topics: ['$share/a/x', '$share/b/y'], handler: () => undefined }), /give a scope/);
  });

  test('attacks through a raw client are dead-lettered with their code, originals kept, and never reach the handler', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const handled: string[] = [];
    const dead: MqttDeadLetter[] = [];
    // The shared path every adapter reports through (metrics, tracing): one event per dead letter.
    const events: Array<{ adapter: string; code: string; destination: string }> = [];
    const listen = (e: unknown): void => void events.push(e as { adapter: string; code: string; destination: string });
    subscribe('sealq:dead-letter', listen);
    t.after(() => unsubscribe('sealq:dead-letter', listen));
    const topic = env.topic('orders');
    const s = await env.subscriber({ typ: ['order.created', 'order.refund'], handler: (m) => void handled.push(m.payload.toString()), onDeadLetter: (d) => void dead.push(d) });

    let legit!: IPublishPacket;
    const view = await env.client();
    view.on('message', (_t, _p, packet) => (legit ??= packet));
    await view.subscribeAsync(topic, { qos: 1 });
    const legitSent = await publishSealed(env.pub, env.kr, topic, 'legit', { typ: 'order.created', properties: { userProperties: { note: 'kept' } } });
    await waitFor('the legitimate message', () => s.stats.processed === 1 && legit !== undefined);

    // Sealed for this topic but never published: only the attacks below carry it.
    const d = sealDetached(env.kr, 'amount=1', { ctx: mqttContext(topic), typ: 'order.created' });
    const parts = d.seal.split('.');
    const mac = parts[3]!;
    parts[3] = mac.slice(0, 10) + (mac[10] === 'A' ? 'B' : 'A') + mac.slice(11); // one signature character changed
    const forged = sealDetached(Keyring.generate('HS256'), 'amount=1000', { ctx: mqttContext(topic), typ: 'order.created' });
    const otherType = sealDetached(env.kr, 'x', { ctx: mqttContext(topic), typ: 'admin.grant' });

    const attacks: Array<[string, string, Buffer | string, UserProperties | undefined]> = [
      ['ERR_SIGNATURE_INVALID', topic, 'amount=1000', { sealq: d.seal }], // body tampered
      ['ERR_SIGNATURE_INVALID', topic, 'amount=1', { sealq: parts.join('.') }], // seal tampered
      ['ERR_MALFORMED', topic, 'amount=1', { note: 'seal stripped' }], // seal property removed
      ['ERR_MALFORMED', topic, 'amount=1', undefined], // unsigned, no properties at all
      ['ERR_MALFORMED', topic, 'amount=1', { sealq: [d.seal, d.seal] }], // two seals
      ['ERR_KEY_UNKNOWN', topic, 'amount=1000', { sealq: forged.seal }], // forged with an unknown key
      ['ERR_REPLAYED', topic, legit.payload as Buffer, legit.properties!.userProperties], // the same bytes again after completion
      ['ERR_CONTEXT_MISMATCH', env.topic('refunds'), 'amount=1', { sealq: d.seal }], // moved to another topic the subscriber also receives
      ['ERR_TYPE_MISMATCH', topic, 'x', { sealq: otherType.seal }], // another type
    ];
    for (const [, tp, body, up] of attacks) await env.rawPublish(tp, body, up);
    const letters = await env.deadLetters(attacks.length);
    assert.deepEqual(letters.map((l) => l.d.code), attacks.map((a) => a[0]));
    assert.deepEqual(dead.map((x) => x.code), attacks.map((a) => a[0]));
    assert.deepEqual(handled, ['legit'], 'no attack reached the handler');
    assert.deepEqual(events.filter((e) => e.adapter === 'mqtt').map((e) => e.code), attacks.map((a) => a[0]));
    for (const [i, l] of letters.entries()) {
      const [, tp, body, up] = attacks[i]!;
      assert.deepEqual(l.payload, Buffer.from(body));
      assert.equal(l.d.topic, tp);
      assert.equal(l.packet.topic, `sealq/dead-letter/${tp}/${l.d.id}`, 'retained under its own topic');
      assert.equal(l.d.qos, 1);
      assert.equal(l.d.subscriber, s.scope.slice('mqtt-client:'.length));
      assert.ok(!Number.isNaN(Date.parse(l.d.at)));
      assert.ok(l.d.reason.length > 0);
      if (up?.[SEAL_HEADER] !== undefined) assert.deepEqual(l.packet.properties?.userProperties?.[SEAL_HEADER], up[SEAL_HEADER]);
    }
    assert.equal(letters[6]!.packet.properties?.userProperties?.note, 'kept');
    assert.match(letters[6]!.d.reason, new RegExp(legitSent.id));
    // The broker keeps them: a new subscriber to the dead-letter topics gets them as retained messages.
    const later = await env.client();
    let kept = 0;
    later.on('message', (_t, p, packet) => void (packet.retain && p.length > 0 && kept++));
    await later.subscribeAsync(`sealq/dead-letter/${env.base}/#`, { qos: 1 });
    await waitFor('the retained dead letters', () => kept === attacks.length);
    assert.equal(s.stats.retried, 0);
  });
});

describe('sealq/mqtt: retries and redeliveries', () => {
  test('a handler failing once is run again and completes once', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    let runs = 0;
    const s = await env.subscriber({
      handler: () => {
        if (++runs === 1) throw new Error('transient');
      },
    });
    await publishSealed(env.pub, env.kr, env.topic('jobs'), 'work');
    await waitFor('completed', () => s.stats.processed === 1);
    assert.equal(runs, 2);
    assert.equal(s.stats.retried, 1);
    assert.equal(s.stats.deadLettered, 0);
  });

  test('retryPolicy: a handler failing every time is dead-lettered as ERR_HANDLER_FAILED when the policy says so', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    let runs = 0;
    await env.subscriber({
      handler: () => {
        runs++;
        throw new Error('always');
      },
      retryPolicy: ({ failures }) => (failures >= 3 ? 'dead-letter' : 'retry'),
    });
    await publishSealed(env.pub, env.kr, env.topic('jobs'), 'poison');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_HANDLER_FAILED');
    assert.match(l!.d.reason, /failed 3 time\(s\).*always/);
    assert.equal(runs, 3);
  });

  test('QoS 1, persistent session, subscriber killed before its PUBACK: the redelivery with DUP set is processed once', async (t) => {
    if (!(await needBroker(t, 'mqtt')) || !(await needBroker(t, 'redis'))) return;
    const env = await setup(t);
    const prefix = `${uniqueName('sealq-test-mqtt-replay')}:`;
    const store = new RedisReplayStore({ redis: REDIS_URL, prefix });
    const clientId = uniqueName('sealq-test-session');
    t.after(async () => {
      await store.close();
      const r = new Redis(REDIS_URL);
      await deleteMatching(r, `${prefix}*`);
      r.disconnect();
      const c = await connectAsync(MQTT_URL, { protocolVersion: 5, clientId, clean: true }); // ends the session
      await c.endAsync();
    });
    const topic = env.topic('jobs');
    const child = fork(new URL('../fixtures/mqtt/crash-subscriber.ts', import.meta.url), [clientId, topic, REDIS_URL, prefix, '1000'], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, SEALQ_KEYRING: JSON.stringify(env.kr.toPrivateJwks()) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    t.after(() => void child.kill('SIGKILL'));
    const said = (pred: (m: unknown) => boolean): Promise<unknown> => new Promise((resolve) => child.on('message', (m) => pred(m) && resolve(m)));
    await said((m) => m === 'ready');
    const started = said((m) => typeof m === 'object' && m !== null && 'started' in m);
    const sent = await publishSealed(env.pub, env.kr, topic, 'crashy');
    assert.deepEqual(await started, { started: sent.id });
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
    const handled: MqttMessage[] = [];
    // A persistent session is resumed with manualConnect: start() connects once the subscriber is in place.
    const c = env.unconnected({ clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    const s = await env.subscriber({ topics: topic, replay: store, lease: 1000, handler: (m) => void handled.push(m) }, c);
    await waitFor('the redelivery processed', () => s.stats.processed === 1);
    assert.equal(handled.length, 1);
    assert.equal(handled[0]!.header.id, sent.id);
    assert.equal(handled[0]!.dup, true, 'redelivered by the broker with DUP set');
    assert.ok(s.stats.retried >= 1, 'it waited for the dead subscriber\'s lease (ERR_IN_FLIGHT)');
    assert.equal(s.stats.deadLettered, 0);
    // Its PUBACK was sent: the session holds nothing more for the next connection.
    await s.stop();
    await c.endAsync();
    const again = await env.client({ clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    let redelivered = 0;
    again.on('message', () => void redelivered++);
    await sleep(300);
    assert.equal(redelivered, 0);
  });

  test('concurrency: handlers overlap, PUBACKs still leave (nothing redelivered to the persistent session)', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const clientId = uniqueName('sealq-test-session');
    t.after(async () => {
      const c = await connectAsync(MQTT_URL, { protocolVersion: 5, clientId, clean: true });
      await c.endAsync();
    });
    let running = 0;
    let most = 0;
    const handler = async (): Promise<void> => {
      most = Math.max(most, ++running);
      await sleep(30);
      running--;
    };
    const c = env.unconnected({ clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    const s = await env.subscriber({ concurrency: 8, handler }, c);
    await Promise.all(Array.from({ length: 40 }, (_, i) => publishSealed(env.pub, env.kr, env.topic(`j/${i % 3}`), `job-${i}`)));
    await waitFor('all processed', () => s.stats.processed === 40);
    assert.ok(most > 1, `handlers overlapped (${most} at once)`);
    await s.stop();
    await c.endAsync();
    const again = await env.client({ clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    let redelivered = 0;
    again.on('message', () => void redelivered++);
    await sleep(300);
    assert.equal(redelivered, 0, 'every PUBACK reached the broker');
  });
});

describe('sealq/mqtt: retained messages', () => {
  test('retained: processed once per scope; a new subscription of the same scope acknowledges it quietly; "ignore" never opens it', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const topic = env.topic('state/device-1');
    const d = sealDetached(env.kr, 'on', { ctx: mqttContext(topic), typ: 'state' });
    await env.rawPublish(topic, Buffer.from(d.payload), { sealq: d.seal }, { retain: true });
    const handled: MqttMessage[] = [];
    const a = await env.subscriber({ topics: topic, scope: 'devices', handler: (m) => void handled.push(m) });
    await waitFor('processed', () => a.stats.processed === 1);
    assert.equal(handled[0]!.retain, true);
    const b = await env.subscriber({ topics: topic, scope: 'devices', handler: (m) => void handled.push(m) });
    await waitFor('skipped', () => b.stats.skipped === 1);
    const c = await env.subscriber({ topics: topic, scope: 'other', retained: 'ignore', handler: (m) => void handled.push(m) });
    await waitFor('ignored', () => c.stats.skipped === 1);
    const e = await env.subscriber({ topics: topic, scope: 'audit', handler: (m) => void handled.push(m) });
    await waitFor('processed by another scope', () => e.stats.processed === 1);
    assert.equal(handled.length, 2);
    assert.equal(a.stats.deadLettered + b.stats.deadLettered + c.stats.deadLettered + e.stats.deadLettered, 0);
  });
});

describe('sealq/mqtt: MQTT 3.1.1', () => {
  test('carrier "compact": the compact envelope is the body; dead letters are JSON', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const pub4 = await env.client({ protocolVersion: 4 });
    const topic = env.topic('legacy');
    const handled: MqttMessage[] = [];
    const s = await env.subscriber({ carrier: 'compact', handler: (m) => void handled.push(m) }, await env.client({ protocolVersion: 4 }));
    const sent = await publishSealed(pub4, env.kr, topic, '{"a":1}', { carrier: 'compact', typ: 'legacy' });
    assert.equal(sent.carrier, 'compact');
    await waitFor('processed', () => s.stats.processed === 1);
    assert.equal(handled[0]!.payload.toString(), '{"a":1}');
    assert.equal(handled[0]!.header.id, sent.id);
    // The same message in the wrong carrier, and an unsigned body.
    await env.rawPublish(topic, '{"a":1}', undefined, { client: pub4 });
    await env.rawPublish(topic, seal(env.kr, 'x', { ctx: mqttContext(env.topic('elsewhere')) }), undefined, { client: pub4 });
    const letters = await env.deadLetters(2);
    assert.deepEqual(letters.map((l) => l.d.code), ['ERR_MALFORMED', 'ERR_CONTEXT_MISMATCH']);
    assert.equal(letters[0]!.payload.toString(), '{"a":1}');
    assert.equal(letters[0]!.packet.properties?.userProperties, undefined, 'a JSON body, no properties');
  });
});

describe('sealq/mqtt: dead letters and replay store failures', () => {
  test('keep "subscriber": a dead letter nobody receives is held and tried again; delivered once an archiver subscribes', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const errors: string[] = [];
    const dlTopic = `sealq-test-dl/${env.base}`;
    const s = await env.subscriber({ deadLetter: { topic: () => dlTopic, keep: 'subscriber' }, handler: () => undefined, onError: (e) => void errors.push(e.message) });
    await env.rawPublish(env.topic('x'), 'unsigned');
    await waitFor('a refused dead letter', () => errors.some((m) => /no subscriber received it/.test(m)) && s.stats.retried >= 1);
    assert.equal(s.stats.deadLettered, 0);
    const archiver = await env.client();
    const got: IPublishPacket[] = [];
    archiver.on('message', (_t, _p, packet) => void got.push(packet));
    await archiver.subscribeAsync(dlTopic, { qos: 1 });
    await waitFor('delivered', () => s.stats.deadLettered === 1 && got.length >= 1);
    assert.equal(parseDeadLetter(got[0]!)?.deadLetter.code, 'ERR_MALFORMED');
    assert.equal(got[0]!.retain, false);
  });

  test('an unreachable replay store: tried again, never dead-lettered', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    let down = true;
    const store = flakyStore(env.replay, { claim: () => down });
    const s = await env.subscriber({ replay: store, handler: () => undefined });
    await publishSealed(env.pub, env.kr, env.topic('x'), 'wait for the store');
    await waitFor('retried twice', () => s.stats.retried >= 2);
    down = false;
    await waitFor('processed', () => s.stats.processed === 1);
    assert.equal(s.stats.deadLettered, 0);
  });

  test('work done but completion not recorded: dead-lettered as ERR_COMPLETION_NOT_RECORDED, not run again', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const store = flakyStore(env.replay, { complete: true });
    let runs = 0;
    const s = await env.subscriber({ replay: store, lease: 200, handler: () => void runs++ });
    await publishSealed(env.pub, env.kr, env.topic('x'), 'done once');
    const [l] = await env.deadLetters(1);
    assert.equal(l!.d.code, 'ERR_COMPLETION_NOT_RECORDED');
    assert.equal(runs, 1);
    assert.equal(s.stats.processed, 0);
  });
});

describe('sealq/mqtt: storm', () => {
  test('4 subscribers in a shared subscription with their own stores, 2,000 messages each published 3 times: every message handled exactly once', async (t) => {
    if (!(await needBroker(t, 'mqtt')) || !(await needBroker(t, 'redis'))) return;
    const env = await setup(t);
    const { stores } = redisReplayStores(t, 'sealq-test-mqtt-replay', 4);
    const topic = env.topic('storm');
    const dlTopic = `sealq-test-dl/${env.base}`;
    const archiver = await env.client();
    const codes = new Map<string, number>();
    archiver.on('message', (_t, _p, packet) => {
      const code = parseDeadLetter(packet)?.deadLetter.code ?? 'unreadable';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    });
    await archiver.subscribeAsync(dlTopic, { qos: 1 });
    const counts = new Map<string, number>();
    const handler = (m: MqttMessage): void => void counts.set(m.header.id, (counts.get(m.header.id) ?? 0) + 1);
    const subs: SealedMqttSubscriber[] = [];
    const group = uniqueName('g');
    for (const replay of stores) subs.push(await env.subscriber({ topics: `$share/${group}/${topic}`, replay, concurrency: 20, deadLetter: { topic: () => dlTopic, keep: 'subscriber' }, handler }));
    assert.equal(subs[0]!.scope, `mqtt-share:${group}`);
    const n = 2000;
    const copies = 3;
    const settled = (): number => subs.reduce((s, x) => s + x.stats.processed + x.stats.deadLettered, 0);
    // Paced so that no subscriber's queue on the broker overflows (mosquitto drops past max_queued_messages).
    for (let i = 0; i < n; i += 100) {
      const batch: Array<Promise<void>> = [];
      for (let j = i; j < i + 100; j++) {
        const d = sealDetached(env.kr, `job-${j}`, { ctx: mqttContext(topic) });
        for (let k = 0; k < copies; k++) batch.push(env.rawPublish(topic, Buffer.from(d.payload), { sealq: d.seal }));
      }
      await Promise.all(batch);
      await waitFor('the subscribers to keep up', () => (i + 100) * copies - settled() < 600, 30_000);
    }
    await waitFor('every copy settled', () => settled() === copies * n, 30_000);
    assert.equal(counts.size, n);
    assert.ok([...counts.values()].every((v) => v === 1), 'no message handled twice');
    assert.equal(subs.reduce((s, x) => s + x.stats.processed, 0), n);
    // Which copy of a message wins its claim is a race, so one subscriber may only ever see the losing copies.
    assert.ok(subs.every((x) => x.stats.processed + x.stats.deadLettered > 0), `every subscriber took part: ${JSON.stringify(subs.map((x) => x.stats))}`);
    assert.ok(subs.filter((x) => x.stats.processed > 0).length >= 2, 'the work was shared');
    await waitFor('every dead letter archived', () => (codes.get('ERR_REPLAYED') ?? 0) >= (copies - 1) * n);
    assert.deepEqual([...codes.keys()], ['ERR_REPLAYED']);
  });
});

describe('sealq/mqtt: secrets', () => {
  test('no key material in util.inspect or JSON of a subscriber, nor in a dead letter', async (t) => {
    if (!(await needBroker(t, 'mqtt'))) return;
    const env = await setup(t);
    const secret = String(exportPrivateJwk(env.kr.keys()[0]!).k);
    const s = await env.subscriber({ handler: () => undefined });
    assert.ok(!inspect(s, { depth: 10, showHidden: true }).includes(secret));
    assert.ok(!JSON.stringify(s).includes(secret));
    await env.rawPublish(env.topic('x'), 'unsigned');
    const [l] = await env.deadLetters(1);
    assert.ok(!JSON.stringify(l!.packet.properties).includes(secret));
  });
});
