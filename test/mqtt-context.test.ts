// The MQTT ctx (`mqtt:<topic>`), topic-filter matching and the dead-letter formats of sealq/mqtt, no broker needed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt';
import { mqttContext, parseDeadLetter, parseMqttContext, topicMatches } from '../src/adapters/mqtt/index.js';
import { parseSubscription } from '../src/adapters/mqtt/context.js';
import { deadLetterOf } from '../src/adapters/mqtt/dead-letter.js';
import type { MqttDeadLetter } from '../src/adapters/mqtt/index.js';

describe('mqttContext', () => {
  test('is the topic, reversible; filters and NUL are refused', () => {
    assert.equal(mqttContext('orders/created'), 'mqtt:orders/created');
    assert.equal(parseMqttContext(mqttContext('/a//b/é')), '/a//b/é');
    for (const ctx of ['orders', 'mqtt:', 'nats:x']) assert.equal(parseMqttContext(ctx), undefined, ctx);
    for (const t of ['', 'a/+', 'a/#', '#', 'a\0b', 'x'.repeat(1025)]) assert.throws(() => mqttContext(t), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(t));
  });
});

describe('topic filters', () => {
  test('+ is one level, a final # any number (the parent included); $ topics escape first-level wildcards', () => {
    const yes: Array<[string, string]> = [['a/b', 'a/b'], ['a/+', 'a/b'], ['+/b', 'a/b'], ['a/#', 'a'], ['a/#', 'a/b/c'], ['#', 'a/b'], ['+/+', '/x'], ['a/+/c', 'a//c'], ['$SYS/#', '$SYS/x']];
    const no: Array<[string, string]> = [['a/b', 'a/c'], ['a/+', 'a'], ['a/+', 'a/b/c'], ['a/b', 'a/b/c'], ['#', '$SYS/x'], ['+/x', '$SYS/x'], ['a/b/c', 'a/b']];
    for (const [f, t] of yes) assert.ok(topicMatches(f, t), `${f} ~ ${t}`);
    for (const [f, t] of no) assert.ok(!topicMatches(f, t), `${f} !~ ${t}`);
  });

  test('shared subscriptions are split into group and filter; malformed filters are refused', () => {
    assert.deepEqual(parseSubscription('$share/g1/orders/#'), { filter: 'orders/#', group: 'g1' });
    assert.deepEqual(parseSubscription('orders/+/x'), { filter: 'orders/+/x' });
    for (const f of ['', 'a/#/b', 'a/b#', 'a+/b', '$share/g', '$share//x', '$share/g+/x']) assert.throws(() => parseSubscription(f), { code: 'ERR_INVALID_ARGUMENT' }, f);
  });
});

describe('dead letters', () => {
  const dead: MqttDeadLetter = { code: 'ERR_SIGNATURE_INVALID', reason: 'bad', at: '2026-01-01T00:00:00.000Z', topic: 'a/b', qos: 1, retain: false, dup: true, subscriber: 's1', id: 'dl1' };
  const packet = {
    cmd: 'publish',
    topic: 'a/b',
    qos: 1,
    dup: true,
    retain: false,
    payload: Buffer.from([1, 2, 3]),
    properties: { userProperties: { z: '1', sealq: 'sealq1.x..y', 'sealq-code': 'ERR_FAKE' }, messageExpiryInterval: 60, contentType: 'x/y', subscriptionIdentifier: 4 },
  } as IPublishPacket;

  test('MQTT 5: the original body and user properties, ours sorted in and winning; the expiry kept aside', () => {
    const { payload, options } = deadLetterOf(packet, dead, true, true);
    assert.deepEqual(payload, packet.payload);
    assert.equal(options.retain, true);
    assert.equal(options.qos, 1);
    const up = options.properties!.userProperties!;
    assert.deepEqual(Object.keys(up), [...Object.keys(up)].sort());
    assert.equal(up['sealq-code'], 'ERR_SIGNATURE_INVALID');
    assert.equal(up.sealq, 'sealq1.x..y');
    assert.equal(up['sealq-message-expiry'], '60');
    assert.equal(options.properties!.messageExpiryInterval, undefined);
    assert.equal(options.properties!.subscriptionIdentifier, undefined);
    assert.equal(options.properties!.contentType, 'x/y');
    assert.deepEqual(parseDeadLetter({ payload, properties: options.properties }), { deadLetter: dead, payload: packet.payload });
  });

  test('MQTT 3.1.1: a JSON body with the original in base64', () => {
    const { payload, options } = deadLetterOf(packet, dead, false, false);
    assert.equal(options.properties, undefined);
    assert.equal(JSON.parse(payload.toString()).payload, 'AQID');
    assert.deepEqual(parseDeadLetter({ payload }), { deadLetter: dead, payload: packet.payload });
  });

  test('anything else is not a dead letter', () => {
    for (const payload of [Buffer.alloc(0), Buffer.from('{"sealq":"dead-letter","code":"NOPE","payload":""}'), Buffer.from('{not json'), Buffer.from('plain')]) {
      assert.equal(parseDeadLetter({ payload }), undefined, payload.toString());
    }
    assert.equal(parseDeadLetter({ payload: Buffer.from('x'), properties: { userProperties: { 'sealq-code': 'ERR_NOPE' } } }), undefined);
  });
});
