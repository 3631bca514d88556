/**
 * sealq/nats on the real NATS JetStream in report mode, per subject: an unsigned and a forged
 * message on the subject in report mode reach the handler marked with the code they would have
 * got, are logged and counted; on the enforced subject they are dead-lettered.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { Keyring, MemoryReplayStore } from '../../src/index.js';
import type { SourceLogger } from '../../src/index.js';
import { SealedNatsConsumer, natsContext, publishSealed } from '../../src/adapters/nats/index.js';
import type { NatsMessage } from '../../src/adapters/nats/index.js';
import { registerMetrics } from '../../src/adapters/prometheus/index.js';
import { parseMetricsText } from '../../src/cli/metrics-text.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';

async function waitFor(what: string, cond: () => boolean, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

test('nats report mode per subject: unsigned and forged messages reach the handler with their codes; the enforced subject dead-letters', async (t) => {
  if (!(await needBroker(t, 'nats'))) return;
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = uniqueName('sealq-test-nats-report');
  await jsm.streams.add({ name, subjects: [`t.${name}.>`] });
  await jsm.streams.add({ name: `${name}-dl`, subjects: [`dl.${name}.>`] });
  await jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit, ack_wait: 5_000_000_000 });
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  const kr = Keyring.generate('HS256');
  const seen: NatsMessage[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: unknown) => void lines.push(fields as Record<string, unknown>), error: () => undefined } as unknown as SourceLogger;
  const rollout = `t.${name}.rollout`;
  const enforced = `t.${name}.enforced`;
  const consumer = new SealedNatsConsumer(nc, {
    keyring: kr, stream: name, consumer: 'c', replay: new MemoryReplayStore(), busyDelay: 20, retryDelay: 50, deadLetter: { subject: `dl.${name}.c` }, onError: () => undefined, logger,
    mode: { default: 'enforce', ctx: { [natsContext(rollout)]: 'report' } },
    handler: (m) => void seen.push(m),
  });
  t.after(async () => {
    await consumer.stop();
    metrics.stop();
    for (const s of [name, `${name}-dl`]) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });
  await consumer.start();
  const intruder = Keyring.generate('HS256', { kid: 'intruder' });
  for (const subject of [rollout, enforced]) {
    await publishSealed(js, kr, subject, 'legit');
    await js.publish(subject, 'plain');
    await publishSealed(js, intruder, subject, 'forged');
  }
  await waitFor('every message settled', () => consumer.stats.processed + consumer.stats.deadLettered === 6);
  // Handlers run concurrently: a message let through unclaimed can overtake a claimed one.
  assert.deepEqual(seen.filter((m) => m.subject === rollout).map((m) => m.wouldReject?.code ?? 'ok').sort(), ['ERR_KEY_UNKNOWN', 'ERR_MALFORMED', 'ok']);
  assert.equal(seen.find((m) => m.wouldReject?.code === 'ERR_MALFORMED')!.payload.toString(), 'plain');
  assert.deepEqual(seen.filter((m) => m.subject === enforced).map((m) => m.wouldReject?.code ?? 'ok'), ['ok']);
  assert.equal(consumer.stats.deadLettered, 2);
  assert.deepEqual(lines.map((l) => [l.sealq, l.code]).sort(), [['rejected', 'ERR_KEY_UNKNOWN'], ['rejected', 'ERR_MALFORMED'], ['reported', 'ERR_KEY_UNKNOWN'], ['reported', 'ERR_MALFORMED']]);
  const samples = parseMetricsText(await registry.metrics());
  const would = samples.filter((x) => x.name === 'sealq_would_reject_total').map((x) => [x.labels.ctx, x.labels.code, x.value]).sort();
  assert.deepEqual(would, [[natsContext(rollout), 'ERR_KEY_UNKNOWN', 1], [natsContext(rollout), 'ERR_MALFORMED', 1]]);
  assert.equal(samples.filter((x) => x.name === 'sealq_dead_letters_total' && x.labels.adapter === 'nats').reduce((n, x) => n + x.value, 0), 2);
});
