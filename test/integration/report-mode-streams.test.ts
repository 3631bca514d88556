/**
 * sealq/redis-streams on the real Redis, with the operations path: in report mode an unsigned
 * entry (a plain XADD), a forged one and a replay are handed to the handler, marked with the code
 * they would have got; enforced, they go to the dead-letter stream, and each is logged with where
 * it was kept and counted per adapter, code and destination.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Keyring, MemoryReplayStore, seal } from '../../src/index.js';
import type { ModeOption, SourceLogger } from '../../src/index.js';
import { SealedStreamConsumer, xaddSealed } from '../../src/adapters/redis-streams/index.js';
import type { StreamMessage } from '../../src/adapters/redis-streams/index.js';
import { registerMetrics } from '../../src/adapters/prometheus/index.js';
import { parseMetricsText } from '../../src/cli/metrics-text.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';

const URL = 'redis://127.0.0.1:6379';

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

async function run(t: TestContext, mode: ModeOption | undefined): Promise<{ stream: string; seen: StreamMessage[]; lines: Array<Record<string, unknown>>; consumer: SealedStreamConsumer; raw: Redis }> {
  const raw = new Redis(URL);
  const redis = new Redis(URL);
  const stream = uniqueName('sealq-ops-stream');
  const kr = Keyring.generate('HS256');
  const seen: StreamMessage[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: unknown) => void lines.push(fields as Record<string, unknown>), error: () => undefined } as unknown as SourceLogger;
  const consumer = new SealedStreamConsumer({
    redis, keyring: kr, stream, group: 'workers', replay: new MemoryReplayStore(), block: 200, minIdle: 300, claimInterval: 100, onError: () => undefined, logger,
    ...(mode === undefined ? {} : { mode }),
    handler: (m) => void seen.push(m),
  });
  t.after(async () => {
    await consumer.stop();
    await raw.del(stream, `${stream}:dead`);
    raw.disconnect();
    redis.disconnect();
  });
  await consumer.start();
  const legit = seal(kr, 'legit', { ctx: stream, id: 'legit-1' });
  await raw.xadd(stream, '*', 'sealq', legit);
  await waitFor('the legitimate entry', () => consumer.stats.processed === 1);
  await raw.xadd(stream, '*', 'order', 'plain-42'); // unsigned: a plain XADD
  await raw.xadd(stream, '*', 'sealq', seal(Keyring.generate('HS256', { kid: 'intruder' }), 'forged', { ctx: stream }));
  await raw.xadd(stream, '*', 'sealq', legit); // the same message again: a replay
  await xaddSealed(raw, kr, stream, 'second legit');
  await waitFor('every entry settled', () => consumer.stats.processed + consumer.stats.deadLettered === 5);
  return { stream, seen, lines, consumer, raw };
}

test('report mode: unsigned, forged and replayed entries reach the handler marked with their codes; nothing dead-lettered', async (t) => {
  if (!(await needBroker(t, 'redis'))) return;
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  t.after(() => metrics.stop());
  const { stream, seen, lines, consumer } = await run(t, 'report');
  assert.equal(consumer.stats.deadLettered, 0);
  assert.deepEqual(seen.map((m) => m.wouldReject?.code), [undefined, 'ERR_MALFORMED', 'ERR_KEY_UNKNOWN', 'ERR_REPLAYED', undefined]);
  assert.deepEqual(seen[1]!.fields, { order: 'plain-42' }, 'the unsigned entry: its fields, nothing verified');
  assert.equal(seen[1]!.payload.length, 0);
  assert.deepEqual(lines.map((l) => [l.sealq, l.code, l.adapter]), [['reported', 'ERR_MALFORMED', 'redis-streams'], ['reported', 'ERR_KEY_UNKNOWN', 'redis-streams'], ['reported', 'ERR_REPLAYED', 'redis-streams']]);
  const samples = parseMetricsText(await registry.metrics());
  const would = samples.filter((s) => s.name === 'sealq_would_reject_total').map((s) => [s.labels.ctx, s.labels.code, s.value]);
  assert.deepEqual(would.sort(), [[stream, 'ERR_KEY_UNKNOWN', 1], [stream, 'ERR_MALFORMED', 1], [stream, 'ERR_REPLAYED', 1]]);
});

test('enforced: the same entries go to the dead-letter stream, logged with where they were kept and counted', async (t) => {
  if (!(await needBroker(t, 'redis'))) return;
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  t.after(() => metrics.stop());
  const { stream, seen, lines, consumer, raw } = await run(t, undefined);
  assert.equal(seen.length, 2);
  assert.ok(seen.every((m) => m.wouldReject === undefined));
  assert.equal(consumer.stats.deadLettered, 3);
  assert.equal(await raw.xlen(`${stream}:dead`), 3);
  assert.deepEqual(lines.map((l) => [l.sealq, l.code, l.keptIn, l.consumerCtx]), [
    ['rejected', 'ERR_MALFORMED', `${stream}:dead`, stream],
    ['rejected', 'ERR_KEY_UNKNOWN', `${stream}:dead`, stream],
    ['rejected', 'ERR_REPLAYED', `${stream}:dead`, stream],
  ]);
  assert.deepEqual((lines[1]!.unverified as Record<string, unknown>).kid, 'intruder');
  const samples = parseMetricsText(await registry.metrics());
  const dead = samples.filter((s) => s.name === 'sealq_dead_letters_total').map((s) => [s.labels.adapter, s.labels.destination, s.labels.code, s.value]);
  assert.deepEqual(dead.sort(), [['redis-streams', `${stream}:dead`, 'ERR_KEY_UNKNOWN', 1], ['redis-streams', `${stream}:dead`, 'ERR_MALFORMED', 1], ['redis-streams', `${stream}:dead`, 'ERR_REPLAYED', 1]]);
  const unsigned = samples.find((s) => s.name === 'sealq_opens_total' && s.labels.code === 'ERR_MALFORMED');
  assert.equal(unsigned?.value, 1, 'the unsigned entry is audited as an open rejection too');
});
