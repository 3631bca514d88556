/**
 * sealq/amqp on the real RabbitMQ, with the operations path: in report mode an unsigned, a forged
 * and a retyped message reach the handler marked with the code they would have got; enforced,
 * they are dead-lettered, logged with where they were kept, and counted per adapter and code.
 * A traceparent header added after sealing is ignored by verification.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'amqplib';
import { Registry } from 'prom-client';
import { Keyring, MemoryReplayStore, SEAL_HEADER, sealDetached } from '../../src/index.js';
import type { ModeOption, SourceLogger } from '../../src/index.js';
import { SealedAmqpConsumer, amqpContext } from '../../src/adapters/amqp/index.js';
import type { AmqpMessage } from '../../src/adapters/amqp/index.js';
import { registerMetrics } from '../../src/adapters/prometheus/index.js';
import { parseMetricsText } from '../../src/cli/metrics-text.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

async function waitFor(what: string, cond: () => boolean, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

async function run(t: TestContext, mode: (queue: string) => ModeOption | undefined): Promise<{ queue: string; seen: AmqpMessage[]; lines: Array<Record<string, unknown>>; consumer: SealedAmqpConsumer }> {
  const conn = await connect(AMQP_URL);
  conn.on('error', () => undefined);
  const queue = uniqueName('sealq-ops-amqp');
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: false });
  const kr = Keyring.generate('HS256');
  const seen: AmqpMessage[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: unknown) => void lines.push(fields as Record<string, unknown>), error: () => undefined } as unknown as SourceLogger;
  const m = mode(queue);
  const consumer = new SealedAmqpConsumer(conn, { keyring: kr, queue, typ: 'charge', replay: new MemoryReplayStore(), logger, onError: () => undefined, handler: (msg) => void seen.push(msg), ...(m === undefined ? {} : { mode: m }) });
  t.after(async () => {
    await consumer.stop();
    await ch.deleteQueue(queue).catch(() => undefined);
    await ch.deleteQueue(`${queue}.dead`).catch(() => undefined);
    await conn.close().catch(() => undefined);
  });
  await consumer.start();
  const send = (body: Buffer, headers: Record<string, unknown>, type?: string): Promise<void> =>
    new Promise((resolve, reject) => ch.sendToQueue(queue, body, { headers, ...(type === undefined ? {} : { type }) }, (e) => (e ? reject(e) : resolve())));
  const ctx = amqpContext('', queue);
  const legit = sealDetached(kr, 'legit', { ctx, typ: 'charge' });
  // Instrumentation adds trace context after sealing: not signed, not in the way.
  await send(Buffer.from(legit.payload), { [SEAL_HEADER]: legit.seal, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, 'charge');
  await send(Buffer.from('plain body'), {}, 'charge');
  const forged = sealDetached(Keyring.generate('HS256', { kid: 'intruder' }), 'forged', { ctx, typ: 'charge' });
  await send(Buffer.from(forged.payload), { [SEAL_HEADER]: forged.seal }, 'charge');
  const refund = sealDetached(kr, 'refund', { ctx, typ: 'refund' });
  await send(Buffer.from(refund.payload), { [SEAL_HEADER]: refund.seal }, 'refund');
  await waitFor('every message settled', () => consumer.stats.processed + consumer.stats.deadLettered === 4);
  return { queue, seen, lines, consumer };
}

test('amqp report mode (per queue): unsigned, forged and retyped messages reach the handler with their codes', async (t) => {
  if (!(await needBroker(t, 'amqp'))) return;
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  t.after(() => metrics.stop());
  const { queue, seen, lines, consumer } = await run(t, (q) => ({ default: 'enforce', ctx: { [amqpContext('', q)]: 'report' } }));
  assert.equal(consumer.stats.deadLettered, 0);
  const codes = seen.map((m) => m.wouldReject?.code ?? 'ok').sort();
  assert.deepEqual(codes, ['ERR_KEY_UNKNOWN', 'ERR_MALFORMED', 'ERR_TYPE_MISMATCH', 'ok']);
  assert.equal(seen.find((m) => m.wouldReject?.code === 'ERR_MALFORMED')!.payload.toString(), 'plain body');
  assert.deepEqual(lines.map((l) => l.sealq), ['reported', 'reported', 'reported']);
  const samples = parseMetricsText(await registry.metrics());
  const would = samples.filter((s) => s.name === 'sealq_would_reject_total').reduce((n, s) => n + s.value, 0);
  assert.equal(would, 3);
  assert.ok(samples.some((s) => s.name === 'sealq_would_reject_total' && s.labels.ctx === amqpContext('', queue)));
});

test('amqp enforced: the same messages dead-lettered, logged with the dead-letter queue, counted', async (t) => {
  if (!(await needBroker(t, 'amqp'))) return;
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  t.after(() => metrics.stop());
  const { queue, seen, lines, consumer } = await run(t, () => undefined);
  assert.equal(seen.length, 1);
  assert.equal(consumer.stats.deadLettered, 3);
  assert.deepEqual(lines.map((l) => [l.sealq, l.adapter, l.keptIn]).sort(), [['rejected', 'amqp', `${queue}.dead`], ['rejected', 'amqp', `${queue}.dead`], ['rejected', 'amqp', `${queue}.dead`]]);
  const samples = parseMetricsText(await registry.metrics());
  const dead = samples.filter((s) => s.name === 'sealq_dead_letters_total').map((s) => [s.labels.adapter, s.labels.destination, s.labels.code, s.value]).sort();
  assert.deepEqual(dead, [['amqp', `${queue}.dead`, 'ERR_KEY_UNKNOWN', 1], ['amqp', `${queue}.dead`, 'ERR_MALFORMED', 1], ['amqp', `${queue}.dead`, 'ERR_TYPE_MISMATCH', 1]]);
});
