/**
 * Per-queue enforcement on the real BullMQ: one processor configuration, `mode: { default:
 * 'enforce', ctx: { <rollout queue>: 'report' } }`, runs two queues. The same attacks go into
 * both: on the queue still in report mode every job runs (job.seal.wouldReject says with which
 * code it would have failed), is logged and counted; on the enforcing queue every attack fails
 * with its code and the processor never sees it. Legitimate jobs complete once on both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Keyring, MemoryReplayStore } from '../../src/index.js';
import type { SourceLogger } from '../../src/index.js';
import { failedCode, sealJobData, sealedProcessor, sealedQueue } from '../../src/adapters/bullmq/index.js';
import { registerMetrics } from '../../src/adapters/prometheus/index.js';
import { parseMetricsText } from '../../src/cli/metrics-text.js';
import { needBroker } from '../helpers/brokers.js';
import { Fixture, counts, settled } from '../fixtures/bullmq/harness.js';

const keyring = Keyring.generate('HS256', { kid: 'producer' });
const attacker = Keyring.generate('HS256', { kid: 'attacker' });

interface Seen {
  queue: string;
  name: string;
  data: unknown;
  wouldReject: string | undefined;
}

test('per-queue enforcement on BullMQ: the report-mode queue runs and reports every attack, the enforcing one fails them all', async (t) => {
  if (!(await needBroker(t, 'redis'))) return;
  const f = new Fixture(t);
  const rollout = f.queueName('sealq-report');
  const enforced = f.queueName('sealq-enforce');
  const registry = new Registry();
  const metrics = registerMetrics(registry);
  t.after(() => metrics.stop());

  const seen: Seen[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: unknown) => void lines.push(fields as Record<string, unknown>), error: () => undefined } as unknown as SourceLogger;
  const processor = sealedProcessor(async (job) => {
    seen.push({ queue: job.queueName, name: job.name, data: job.data, wouldReject: job.seal.wouldReject?.code });
    return 'done';
  }, { keyring, replay: new MemoryReplayStore(), logger, mode: { default: 'enforce', ctx: { [rollout]: 'report' } } });

  // The attacks someone with write access to Redis could make, per queue, and the code each gets.
  const attacks = (queue: string, other: string, legitData: unknown): Array<{ label: string; name: string; data: unknown; code: string }> => {
    const tampered = sealJobData(keyring, queue, 'charge', { to: 'carol', cents: 1000 });
    return [
      { label: 'unsigned', name: 'charge', data: { to: 'mallory', cents: 100000 }, code: 'ERR_MALFORMED' },
      { label: 'forged', name: 'charge', data: sealJobData(attacker, queue, 'charge', { to: 'mallory', cents: 100000 }), code: 'ERR_KEY_UNKNOWN' },
      { label: 'tampered', name: 'charge', data: { ...tampered, payload: tampered.payload!.replace('1000', '100000') }, code: 'ERR_SIGNATURE_INVALID' },
      { label: 'moved', name: 'charge', data: sealJobData(keyring, other, 'charge', { to: 'erin', cents: 5 }), code: 'ERR_CONTEXT_MISMATCH' },
      { label: 'retyped', name: 'refund', data: sealJobData(keyring, queue, 'charge', { to: 'grace', cents: 9 }), code: 'ERR_TYPE_MISMATCH' },
      { label: 'expired', name: 'charge', data: sealJobData(keyring, queue, 'charge', { to: 'frank', cents: 7 }, { now: Date.now() - 48 * 3_600_000 }), code: 'ERR_EXPIRED' },
      { label: 'replayed', name: 'charge', data: legitData, code: 'ERR_REPLAYED' },
    ];
  };

  const outcomes = new Map<string, { queue: string; label: string; code: string; id: string }>();
  for (const [queue, other] of [[rollout, enforced], [enforced, rollout]] as const) {
    const raw = f.queue(queue);
    const sealed = sealedQueue<{ to: string; cents: number }>(raw, { keyring });
    f.worker(queue, processor, { concurrency: 1 });
    const legit = await sealed.add('charge', { to: 'alice', cents: 1000 });
    assert.equal((await settled(raw, legit.id!)).state, 'completed');
    for (const a of attacks(queue, other, legit.data)) {
      const job = await raw.add(a.name, a.data as never, { attempts: 3 });
      outcomes.set(`${queue}/${a.label}`, { queue, label: a.label, code: a.code, id: job.id! });
    }
    await counts(raw, 8);
  }

  for (const o of outcomes.values()) {
    const raw = f.queue(o.queue);
    const { job, state } = await settled(raw, o.id);
    if (o.queue === rollout) {
      assert.equal(state, 'completed', `${o.label} runs in report mode`);
      assert.equal(job.attemptsMade, 1);
    } else {
      assert.equal(state, 'failed', `${o.label} fails when enforced`);
      assert.equal(failedCode(job), o.code, o.label);
      assert.equal(job.attemptsMade, 1, 'a rejection is not retried');
    }
  }

  // The processor saw every attack on the rollout queue, each with its code, and none on the enforcing one.
  const reported = seen.filter((s) => s.queue === rollout && s.wouldReject !== undefined);
  assert.deepEqual(reported.map((s) => s.wouldReject).sort(), attacks(rollout, enforced, {}).map((a) => a.code).sort());
  assert.ok(!seen.some((s) => s.queue === enforced && s.wouldReject !== undefined));
  assert.equal(seen.filter((s) => s.queue === enforced).length, 1, 'only the legitimate job ran on the enforcing queue');
  // An unsigned job reaches the processor as the plain data it was pushed as.
  assert.deepEqual(seen.find((s) => s.wouldReject === 'ERR_MALFORMED')!.data, { to: 'mallory', cents: 100000 });
  assert.deepEqual(seen.find((s) => s.wouldReject === 'ERR_KEY_UNKNOWN')!.data, { to: 'mallory', cents: 100000 });

  // Logged: a line per report-mode job and per failed one, with the adapter and where it was kept.
  assert.equal(lines.filter((l) => l.sealq === 'reported').length, 7);
  const rejectedLines = lines.filter((l) => l.sealq === 'rejected');
  assert.equal(rejectedLines.length, 7);
  for (const l of rejectedLines) assert.deepEqual([l.adapter, l.consumerCtx, l.keptIn], ['bullmq', enforced, 'failed']);

  // Counted: would-reject per code on the rollout queue; dead letters (the failed set) on the other.
  const samples = parseMetricsText(await registry.metrics());
  const sum = (name: string, labels: Record<string, string>): number =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
  for (const a of attacks(rollout, enforced, {})) {
    assert.equal(sum('sealq_would_reject_total', { ctx: rollout, code: a.code }), 1, a.code);
    assert.equal(sum('sealq_dead_letters_total', { adapter: 'bullmq', ctx: enforced, code: a.code, destination: 'failed' }), 1, a.code);
  }
  assert.equal(sum('sealq_would_reject_total', { ctx: enforced }), 0);
  assert.equal(sum('sealq_dead_letters_total', { ctx: rollout }), 0);
});
