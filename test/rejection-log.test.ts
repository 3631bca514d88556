/**
 * Rejection logs: one structured line per rejection (code, claimed kid/ctx/typ/id marked
 * unverified, adapter, where it was kept), pino-style; rate-limited with a summary line holding
 * the exact counts; never a payload byte or key material. A flood of 100,000 forged messages
 * writes a bounded number of lines, the counters are exact, and memory stays bounded.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Keyring, RejectionLog, logRejections, open, seal } from '../src/index.js';
import type { SourceLogger } from '../src/index.js';
import { registerMetrics } from '../src/adapters/prometheus/index.js';
import { AdapterVerdicts } from '../src/adapters/verdicts.js';
import { parseMetricsText } from '../src/cli/metrics-text.js';

interface Line {
  fields: Record<string, unknown>;
  message: string;
}

/** A pino-like logger: warn(fields, message). */
function capture(): { logger: SourceLogger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = { warn: (fields: unknown, message?: unknown) => void lines.push({ fields: JSON.parse(JSON.stringify(fields)) as Record<string, unknown>, message: String(message) }), error: () => undefined };
  return { logger: logger as unknown as SourceLogger, lines };
}

const PAYLOAD = 'card=4111111111111111;secret-payload-8d3e';

describe('rejection log lines', () => {
  const ring = Keyring.generate('HS256', { kid: 'own' });
  const secret = String(ring.toPrivateJwks().keys[0]!.k);

  test('one structured line per rejection: code, claimed fields marked unverified, never the payload or key', () => {
    const { logger, lines } = capture();
    const stop = logRejections(logger);
    try {
      const m = seal(ring, PAYLOAD, { ctx: 'billing', typ: 'invoice', id: 'msg-1' });
      open(ring, m, { ctx: 'billing' });
      assert.throws(() => open(ring, m, { ctx: 'payroll' }));
      assert.throws(() => open(ring, 'not an envelope ' + PAYLOAD, { ctx: 'billing' }));
      open(ring, m, { ctx: 'payroll', mode: 'report' });
    } finally {
      stop();
    }
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0]!.fields, { sealq: 'rejected', code: 'ERR_CONTEXT_MISMATCH', unverified: { kid: 'own', ctx: 'billing', typ: 'invoice', id: 'msg-1' }, consumerCtx: 'payroll' });
    assert.equal(lines[0]!.message, 'sealq rejected a message (ERR_CONTEXT_MISMATCH)');
    assert.deepEqual(lines[1]!.fields, { sealq: 'rejected', code: 'ERR_MALFORMED', unverified: {}, consumerCtx: 'billing' });
    assert.equal(lines[2]!.fields.sealq, 'reported');
    assert.match(lines[2]!.message, /would reject .*ERR_CONTEXT_MISMATCH.*report mode/);
    const all = JSON.stringify(lines);
    assert.ok(!all.includes('secret-payload') && !all.includes('4111'), 'no payload byte');
    assert.ok(!all.includes(secret), 'no key material');
  });

  test('an adapter line says which adapter rejected it and where it was kept; text loggers get the whole line', () => {
    const texts: string[] = [];
    // A SourceLogger that formats its argument as text, as console-style loggers do.
    const v = new AdapterVerdicts({ adapter: 'redis-streams', consumerCtx: 'orders', keptIn: 'orders:dead', logger: { warn: (m) => void texts.push(`${m}`), error: () => undefined } });
    const forger = Keyring.generate('HS256', { kid: 'evil' });
    v.deadLettered('ERR_KEY_UNKNOWN', seal(forger, PAYLOAD, { ctx: 'orders', typ: 'ship\nnow', id: 'abc' }));
    v.deadLettered('ERR_MALFORMED', PAYLOAD);
    v.deadLettered('ERR_HANDLER_FAILED', PAYLOAD); // not a verdict on the message: counted, not logged as a rejection
    assert.equal(texts.length, 2);
    assert.equal(texts[0], 'sealq rejected a message (ERR_KEY_UNKNOWN): claimed (unverified) kid="evil" ctx="orders" typ="ship\\nnow" id="abc" adapter=redis-streams on="orders" kept-in="orders:dead"');
    assert.ok(!texts.join('').includes('4111'));
    assert.ok(!texts[0]!.includes('\n'), 'a claimed value cannot break the line');
  });

  test('rate limit: at most maxLines per interval, then one summary line with the exact counts', () => {
    const { logger, lines } = capture();
    let now = 1_000_000;
    const log = new RejectionLog(logger, { maxLines: 3, interval: '1m', now: () => now });
    for (let i = 0; i < 10; i++) log.log({ code: 'ERR_KEY_UNKNOWN' });
    log.log({ code: 'ERR_REPLAYED', mode: 'report' });
    log.log({ code: 'NOT_A_CODE' });
    assert.equal(lines.length, 3);
    now += 60_000; // the next interval: its first rejection writes the previous summary first
    log.log({ code: 'ERR_EXPIRED' });
    assert.equal(lines.length, 5);
    assert.deepEqual(lines[3]!.fields, {
      sealq: 'rejections-not-logged',
      count: 9,
      byCode: { ERR_KEY_UNKNOWN: 7, 'reported:ERR_REPLAYED': 1, ERR_OTHER: 1 },
      from: new Date(1_000_000).toISOString(),
      to: new Date(1_060_000).toISOString(),
      maxLines: 3,
      intervalMs: 60_000,
    });
    assert.match(lines[3]!.message, /9 more rejections were counted but not logged one by one \(at most 3 lines per 60s\)/);
    assert.equal(lines[4]!.fields.code, 'ERR_EXPIRED');
    log.flush();
    assert.equal(lines.length, 5, 'nothing pending: no empty summary');
  });

  test('a logger that throws never breaks open()', () => {
    const stop = logRejections({ warn: () => { throw new Error('disk full'); }, error: () => undefined });
    try {
      assert.throws(() => open(ring, 'garbage', { ctx: 'q' }), { code: 'ERR_MALFORMED' });
    } finally {
      stop();
    }
  });
});

function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('a flood of 100,000 forged messages', () => {
  test('bounded log lines, exact counters, bounded memory', async () => {
    const gc = collectGarbage();
    const N = 100_000;
    const MAX_LINES = 20;
    const INTERVAL = 60_000;
    const ring = Keyring.generate('HS256', { kid: 'own' });
    // 50 forgers with kids of their own, each message claiming a ctx of its own: an attacker
    // choosing label values. Each forged envelope is made just before it is opened.
    const forgers = Array.from({ length: 50 }, (_, i) => Keyring.generate('HS256', { kid: `forged-${i}` }));
    const { logger, lines } = capture();
    let now = 0;
    const verdicts = new AdapterVerdicts({ adapter: 'test', consumerCtx: 'payments', keptIn: 'payments:dead', logger, log: { maxLines: MAX_LINES, interval: INTERVAL, now: () => now } });
    const registry = new Registry();
    const metrics = registerMetrics(registry);
    const stopLog = logRejections(logger, { maxLines: MAX_LINES, interval: INTERVAL, now: () => now });

    const flood = (from: number, to: number): void => {
      for (let i = from; i < to; i++) {
        // The flood spans 10 intervals of the clock.
        now = Math.floor((i * 10 * INTERVAL) / N);
        const env = seal(forgers[i % forgers.length]!, PAYLOAD, { ctx: `claimed-${i}`, id: `forged-${i}` });
        try {
          open(ring, env, { ctx: 'payments' });
          assert.fail('a forged message opened');
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'ERR_KEY_UNKNOWN');
          verdicts.deadLettered('ERR_KEY_UNKNOWN', env);
        }
      }
    };
    flood(0, 1000); // warm up: caches, label sets, JIT
    gc();
    const before = process.memoryUsage().heapUsed;
    flood(1000, N);
    gc();
    const after = process.memoryUsage().heapUsed;
    stopLog();
    verdicts.flush();
    const samples = parseMetricsText(await registry.metrics());
    metrics.stop();

    // Lines: per source (the core's audit path and the adapter), at most MAX_LINES per interval
    // plus one summary per interval.
    const perSource = 10 * (MAX_LINES + 1);
    assert.ok(lines.length <= 2 * perSource, `${lines.length} lines`);
    const individual = lines.filter((l) => l.fields.sealq === 'rejected');
    const summaries = lines.filter((l) => l.fields.sealq === 'rejections-not-logged');
    assert.equal(individual.length + summaries.length, lines.length);
    // Exact: lines written one by one plus the summaries' counts are every rejection, twice (two sources).
    const summed = summaries.reduce((n, l) => n + (l.fields.count as number), 0);
    assert.equal(individual.length + summed, 2 * N);
    for (const s of summaries) assert.deepEqual(Object.keys(s.fields.byCode as object), ['ERR_KEY_UNKNOWN']);

    // Counters: exact, and the label sets stay few although every message claimed its own ctx and id.
    const opens = samples.filter((s) => s.name === 'sealq_opens_total');
    assert.deepEqual(opens.map((s) => [s.labels, s.value]), [[{ ctx: 'payments', outcome: 'rejected', code: 'ERR_KEY_UNKNOWN' }, N]]);
    const dead = samples.filter((s) => s.name === 'sealq_dead_letters_total');
    assert.deepEqual(dead.map((s) => [s.labels, s.value]), [[{ adapter: 'test', ctx: 'payments', code: 'ERR_KEY_UNKNOWN', destination: 'payments:dead' }, N]]);
    const uses = samples.filter((s) => s.name === 'sealq_key_uses_total' && s.labels.op === 'open');
    assert.equal(uses.reduce((n, s) => n + s.value, 0), N);
    assert.ok(uses.length <= 51, `${uses.length} kid series (cap 50 + other)`);
    assert.ok(samples.length < 300, `${samples.length} samples in the scrape (whatever N is)`);

    // Memory: what 99,000 more rejections leave behind is bounded (no per-message state anywhere).
    const grown = after - before;
    assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB over 99,000 forged messages`);
  });

  test('inspect and JSON of a rejection log show no logger internals or secrets', () => {
    const log = new RejectionLog({ warn: () => undefined, error: () => undefined });
    assert.doesNotThrow(() => inspect(log));
  });
});
