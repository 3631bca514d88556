/**
 * sealq/mqtt on the real Mosquitto in report mode: an unsigned and a forged publish reach the
 * handler marked with the code they would have got, are logged and counted; nothing is
 * dead-lettered. A topic outside the report rule is still enforced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAsync } from 'mqtt';
import type { MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { Keyring, MemoryReplayStore } from '../../src/index.js';
import type { SourceLogger } from '../../src/index.js';
import { SealedMqttSubscriber, mqttContext, publishSealed } from '../../src/adapters/mqtt/index.js';
import type { MqttMessage } from '../../src/adapters/mqtt/index.js';
import { registerMetrics } from '../../src/adapters/prometheus/index.js';
import { parseMetricsText } from '../../src/cli/metrics-text.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';

const MQTT_URL = 'mqtt://127.0.0.1:1883';

async function waitFor(what: string, cond: () => boolean, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

test('mqtt report mode per topic: unsigned and forged publishes reach the handler with their codes; the enforced topic dead-letters', async (t) => {
  if (!(await needBroker(t, 'mqtt'))) return;
  const base = `sealq-test/${uniqueName('mqtt-report')}`;
  const clients: MqttClient[] = [];
  const client = async (): Promise<MqttClient> => {
    const c = await connectAsync(MQTT_URL, { protocolVersion: 5, clientId: uniqueName('sealq-test'), reconnectPeriod: 0 });
    c.on('error', () => undefined);
    clients.push(c);
    return c;
  };
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  const kr = Keyring.generate('HS256');
  const seen: MqttMessage[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: unknown) => void lines.push(fields as Record<string, unknown>), error: () => undefined } as unknown as SourceLogger;
  const rollout = `${base}/rollout`;
  const enforced = `${base}/enforced`;
  const s = new SealedMqttSubscriber(await client(), {
    keyring: kr, topics: `${base}/#`, replay: new MemoryReplayStore(), busyDelay: 20, retryDelay: 50, onError: () => undefined, logger,
    mode: { default: 'enforce', ctx: { [mqttContext(rollout)]: 'report' } },
    handler: (m) => void seen.push(m),
  });
  const pub = await client();
  // Dead letters are retained by the broker: collect their topics, to clear them afterwards.
  const reader = await client();
  const letters: string[] = [];
  reader.on('message', (topic, payload) => void (payload.length > 0 && letters.push(topic)));
  await reader.subscribeAsync(`sealq/dead-letter/${base}/#`, { qos: 1 });
  t.after(async () => {
    await s.stop();
    metrics.stop();
    for (const topic of letters) await pub.publishAsync(topic, '', { qos: 1, retain: true });
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  });
  await s.start();
  const intruder = Keyring.generate('HS256', { kid: 'intruder' });
  for (const topic of [rollout, enforced]) {
    await publishSealed(pub, kr, topic, 'legit');
    await pub.publishAsync(topic, Buffer.from('plain'), { qos: 1 });
    await publishSealed(pub, intruder, topic, 'forged');
  }
  await waitFor('every publish settled', () => s.stats.processed + s.stats.deadLettered === 6);
  const onRollout = seen.filter((m) => m.topic === rollout).map((m) => m.wouldReject?.code ?? 'ok');
  assert.deepEqual(onRollout, ['ok', 'ERR_MALFORMED', 'ERR_KEY_UNKNOWN']);
  assert.equal(seen.find((m) => m.wouldReject?.code === 'ERR_MALFORMED')!.payload.toString(), 'plain');
  assert.deepEqual(seen.filter((m) => m.topic === enforced).map((m) => m.wouldReject?.code ?? 'ok'), ['ok']);
  assert.equal(s.stats.deadLettered, 2);
  await waitFor('both dead letters seen', () => letters.length === 2);
  assert.ok(letters.every((l) => l.startsWith(`sealq/dead-letter/${enforced}/`)));
  assert.deepEqual(lines.map((l) => [l.sealq, l.code]).sort(), [['rejected', 'ERR_KEY_UNKNOWN'], ['rejected', 'ERR_MALFORMED'], ['reported', 'ERR_KEY_UNKNOWN'], ['reported', 'ERR_MALFORMED']]);
  const samples = parseMetricsText(await registry.metrics());
  const would = samples.filter((x) => x.name === 'sealq_would_reject_total').map((x) => [x.labels.ctx, x.labels.code, x.value]).sort();
  assert.deepEqual(would, [[mqttContext(rollout), 'ERR_KEY_UNKNOWN', 1], [mqttContext(rollout), 'ERR_MALFORMED', 1]]);
  assert.equal(samples.filter((x) => x.name === 'sealq_dead_letters_total' && x.labels.adapter === 'mqtt').reduce((n, x) => n + x.value, 0), 2);
});
