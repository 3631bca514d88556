/**
 * sealq/prometheus as a scraper sees it: the demo's scenario (enforce, then report mode) runs with
 * sealq's metrics on a real prom-client registry, the registry is served over HTTP and scraped,
 * and every counter in the scrape text equals what the demo did. Also: no label holds an id or
 * payload, ctx and kid values are capped, and `sealq stats` reads the same endpoint.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Keyring, MemoryReplayStore, onAudit, open, openAndClaim, seal } from '../src/index.js';
import type { AuditRecord } from '../src/index.js';
import { registerMetrics } from '../src/adapters/prometheus/index.js';
import { runDemo, QUEUE } from '../src/cli/demo/scenario.js';
import type { DemoResult } from '../src/cli/demo/scenario.js';
import { parseMetricsText } from '../src/cli/metrics-text.js';
import type { Sample } from '../src/cli/metrics-text.js';
import { runCli } from '../src/cli/run.js';

function serve(registry: Registry): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    registry.metrics().then((text) => {
      res.setHeader('content-type', registry.contentType);
      res.end(text);
    }, (e: unknown) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`, server })));
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return parseMetricsText(await res.text());
}

/** The value of one series, 0 when absent (a scraper reads a missing series as no events). */
function value(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.reduce((n, s) => n + s.value, 0);
}

const count = <T>(xs: readonly T[], f: (x: T) => boolean): number => xs.filter(f).length;

describe('sealq/prometheus: the demo through a real registry, scraped over HTTP', () => {
  const registry = new Registry();
  let metrics: ReturnType<typeof registerMetrics>;
  let url: string;
  let server: Server;
  let enforce: DemoResult;
  let report: DemoResult;
  const audit: AuditRecord[] = [];
  let samples: Sample[];

  before(async () => {
    metrics = registerMetrics(registry);
    ({ url, server } = await serve(registry));
    const stop = onAudit((e) => audit.push(e));
    enforce = await runDemo();
    report = await runDemo({ mode: 'report' });
    stop();
    samples = await scrape(url);
  });
  after(() => {
    metrics.stop();
    server.close();
  });

  test('both runs went as the demo expects', () => {
    assert.ok(enforce.rows.every((r) => r.ok), JSON.stringify(enforce.rows.filter((r) => !r.ok)));
    assert.ok(report.rows.every((r) => r.ok), JSON.stringify(report.rows.filter((r) => !r.ok)));
  });

  test('registers only sealq metrics (no default metrics), with Prometheus names', async () => {
    const names = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const n of names) assert.match(n, /^sealq_[a-z_]+(_total|_seconds)$|^sealq_key_info$/, n);
    const families = (await registry.getMetricsAsJSON()).map((m) => m.name);
    assert.ok(families.every((n) => n.startsWith('sealq_')), families.join(', '));
  });

  test('opens: ok, rejected and reported per code equal the outcomes of both runs', () => {
    // Every row opens once per delivery; a replay opens fine and is refused by its claim.
    const opensOk = (r: DemoResult): number => r.rows.reduce((n, row) => n + (row.step.expect.kind === 'processed' ? (row.step.expect as { runs: number }).runs : 0), 0) + count(r.rows, (row) => row.step.expect.kind === 'rejected' && (row.step.expect as { code: string }).code === 'ERR_REPLAYED');
    assert.equal(value(samples, 'sealq_opens_total', { ctx: QUEUE, outcome: 'ok' }), opensOk(enforce) + opensOk(report));
    const codes = new Map<string, number>();
    for (const row of enforce.rows) if (row.did === 'rejected' && row.why !== 'ERR_REPLAYED') codes.set(row.why, (codes.get(row.why) ?? 0) + 1);
    for (const [code, n] of codes) {
      assert.equal(value(samples, 'sealq_opens_total', { ctx: QUEUE, outcome: 'rejected', code }), n, code);
      assert.equal(value(samples, 'sealq_opens_total', { ctx: QUEUE, outcome: 'reported', code }), n, `${code} in report mode`);
    }
    const rejected = [...codes.values()].reduce((a, b) => a + b, 0);
    assert.equal(value(samples, 'sealq_opens_total', { outcome: 'rejected' }), rejected);
    assert.equal(value(samples, 'sealq_opens_total', { outcome: 'reported' }), rejected);
  });

  test('report mode: would-reject counts equal the attacks let through, each with its code', () => {
    const reported = report.rows.filter((r) => r.did === 'processed (report mode)');
    assert.equal(reported.length, count(report.rows, (r) => r.step.expect.kind === 'rejected'));
    for (const row of reported) {
      const code = (row.step.expect as { code: string }).code;
      const n = count(reported, (r) => (r.step.expect as { code: string }).code === code);
      assert.equal(value(samples, 'sealq_would_reject_total', { ctx: QUEUE, code }), n, code);
    }
    assert.equal(value(samples, 'sealq_would_reject_total', {}), reported.length);
  });

  test('replay claims: claimed for every run that held a claim, replayed for each replay', () => {
    const claimed = (r: DemoResult): number => r.rows.reduce((n, row) => n + (row.step.expect.kind === 'processed' ? (row.step.expect as { runs: number }).runs : 0), 0);
    assert.equal(value(samples, 'sealq_replay_claims_total', { ctx: QUEUE, outcome: 'claimed' }), claimed(enforce) + claimed(report));
    assert.equal(value(samples, 'sealq_replay_claims_total', { ctx: QUEUE, outcome: 'replayed' }), 2);
    assert.equal(value(samples, 'sealq_replay_store_errors_total', {}), 0);
  });

  test('dead letters: one per rejected row of the enforcing run, by adapter, code and destination; none in report mode', () => {
    assert.equal(value(samples, 'sealq_dead_letters_total', {}), enforce.deadLetters);
    assert.equal(report.deadLetters, 0);
    for (const row of enforce.rows.filter((r) => r.did === 'rejected')) {
      assert.ok(value(samples, 'sealq_dead_letters_total', { adapter: 'demo', ctx: QUEUE, code: row.why, destination: 'demo-dead-letters' }) >= 1, row.why);
    }
  });

  test('seals and key uses equal the audit stream; the histogram counted every open', () => {
    const seals = new Map<string, number>();
    for (const e of audit) if (e.op === 'seal') seals.set(e.kid!, (seals.get(e.kid!) ?? 0) + 1);
    for (const [kid, n] of seals) {
      assert.equal(value(samples, 'sealq_seals_total', { kid }), n, kid);
      assert.equal(value(samples, 'sealq_key_uses_total', { kid, op: 'seal' }), n, kid);
    }
    const opens = audit.filter((e) => e.op === 'open');
    assert.equal(value(samples, 'sealq_key_uses_total', { op: 'open' }), opens.length);
    assert.equal(value(samples, 'sealq_verify_duration_seconds_count', {}), opens.length);
    const inf = value(samples, 'sealq_verify_duration_seconds_bucket', { le: '+Inf' });
    assert.equal(inf, opens.length);
    assert.equal(value(samples, 'sealq_seals_total', { kid: 'demo-hs256', alg: 'HS256' }), seals.get('demo-hs256'));
  });

  test('no label holds a message id or payload text', () => {
    const ids = new Set(audit.map((e) => e.id).filter((x): x is string => x !== undefined));
    assert.ok(ids.size > 5);
    for (const s of samples) {
      for (const v of Object.values(s.labels)) {
        assert.ok(!ids.has(v), `label value ${v} of ${s.name} is a message id`);
        assert.doesNotMatch(v, /alice|bob|mallory|amount_cents|\{/, `label value ${v} of ${s.name} comes from a payload`);
      }
    }
  });

  test('sealq stats shows the same counts from the endpoint', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    out.on('data', (b: Buffer) => (text += b.toString()));
    const code = await runCli(['stats', url, '--json'], { stdin: new PassThrough(), stdout: out, stderr: err, env: {} });
    assert.equal(code, 0);
    const st = JSON.parse(text) as { opens: Array<{ ctx: string; ok: number; rejected: number; reported: number }>; wouldReject: Array<{ code: string; count: number }> };
    const payments = st.opens.find((o) => o.ctx === QUEUE)!;
    assert.equal(payments.ok, value(samples, 'sealq_opens_total', { ctx: QUEUE, outcome: 'ok' }));
    assert.equal(payments.rejected, value(samples, 'sealq_opens_total', { ctx: QUEUE, outcome: 'rejected' }));
    assert.equal(payments.reported, value(samples, 'sealq_opens_total', { ctx: QUEUE, outcome: 'reported' }));
    assert.equal(st.wouldReject.reduce((n, w) => n + w.count, 0), value(samples, 'sealq_would_reject_total', {}));
  });

  test('sealq stats sends URL credentials as Basic auth and never prints them', async () => {
    const seenAuth: string[] = [];
    const srv = createServer((req, res) => {
      seenAuth.push(String(req.headers.authorization));
      res.statusCode = 401;
      res.end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      for (const target of [`http://ops:s3cret-pw@127.0.0.1:${port}/metrics`, 'http://ops:s3cret-pw@127.0.0.1:1/metrics']) {
        const err = new PassThrough();
        let text = '';
        err.on('data', (b: Buffer) => (text += b.toString()));
        const code = await runCli(['stats', target], { stdin: new PassThrough(), stdout: new PassThrough(), stderr: err, env: {} });
        assert.equal(code, 2);
        assert.match(text, /^ERR_USAGE: /);
        assert.ok(!text.includes('s3cret'), text);
      }
      assert.deepEqual(seenAuth, [`Basic ${Buffer.from('ops:s3cret-pw').toString('base64')}`]);
    } finally {
      srv.close();
    }
  });

  test('stop() unsubscribes and removes the metrics from the registry', async () => {
    const r = new Registry();
    const m = registerMetrics(r);
    m.stop();
    const kr = Keyring.generate('HS256');
    open(kr, seal(kr, 'x', { ctx: 'q' }), { ctx: 'q' });
    assert.equal((await r.metrics()).trim(), '');
    assert.doesNotThrow(() => registerMetrics(r).stop(), 'can register again after stop');
  });
});

describe('sealq/prometheus: bounded labels', () => {
  test('past maxContexts further ctx values fold into other; past maxKids further kids too', async () => {
    const r = new Registry();
    const m = registerMetrics(r, { maxContexts: 3, maxKids: 2 });
    try {
      const kr = Keyring.generate('HS256', { kid: 'own' });
      for (let i = 0; i < 10; i++) {
        const q = `queue-${i}`;
        open(kr, seal(kr, 'x', { ctx: q }), { ctx: q });
        const forger = Keyring.generate('HS256', { kid: `forged-${i}` });
        assert.throws(() => open(kr, seal(forger, 'x', { ctx: q }), { ctx: q }));
      }
      const samples = parseMetricsText(await r.metrics());
      const ctxs = new Set(samples.filter((s) => s.name === 'sealq_opens_total').map((s) => s.labels.ctx));
      assert.deepEqual([...ctxs].sort(), ['other', 'queue-0', 'queue-1', 'queue-2']);
      assert.equal(value(samples, 'sealq_opens_total', { outcome: 'ok' }), 10);
      assert.equal(value(samples, 'sealq_opens_total', { ctx: 'other', outcome: 'rejected' }), 7);
      const kids = new Set(samples.filter((s) => s.name === 'sealq_key_uses_total').map((s) => s.labels.kid));
      assert.deepEqual([...kids].sort(), ['forged-0', 'other', 'own']);
      assert.equal(value(samples, 'sealq_key_uses_total', { kid: 'other', outcome: 'rejected' }), 9);
    } finally {
      m.stop();
    }
  });

  test('the ctx label is the one the consumer serves, not the one a forged message claims', async () => {
    const r = new Registry();
    const m = registerMetrics(r);
    try {
      const kr = Keyring.generate('HS256');
      const forger = Keyring.generate('HS256');
      for (let i = 0; i < 20; i++) assert.throws(() => open(kr, seal(forger, 'x', { ctx: `claimed-${i}` }), { ctx: 'payments' }));
      const samples = parseMetricsText(await r.metrics());
      assert.equal(value(samples, 'sealq_opens_total', { ctx: 'payments', outcome: 'rejected', code: 'ERR_KEY_UNKNOWN' }), 20);
      assert.ok(!samples.some((s) => s.labels.ctx?.startsWith('claimed-')));
    } finally {
      m.stop();
    }
  });

  test('replay store errors and in-flight claims are counted', async () => {
    const r = new Registry();
    const m = registerMetrics(r);
    try {
      const kr = Keyring.generate('HS256');
      const store = new MemoryReplayStore();
      const env = seal(kr, 'x', { ctx: 'jobs' });
      const held = await openAndClaim(kr, env, { ctx: 'jobs', replay: store });
      await assert.rejects(openAndClaim(kr, env, { ctx: 'jobs', replay: store }), { code: 'ERR_IN_FLIGHT' });
      await held.complete();
      const broken = { ...store, claim: async () => { throw new Error('connection refused'); } } as unknown as MemoryReplayStore;
      await assert.rejects(openAndClaim(kr, seal(kr, 'y', { ctx: 'jobs' }), { ctx: 'jobs', replay: broken }), { code: 'ERR_REPLAY_STORE_UNAVAILABLE' });
      const samples = parseMetricsText(await r.metrics());
      assert.equal(value(samples, 'sealq_replay_claims_total', { ctx: 'jobs', outcome: 'claimed' }), 1);
      assert.equal(value(samples, 'sealq_replay_claims_total', { ctx: 'jobs', outcome: 'in_flight' }), 1);
      assert.equal(value(samples, 'sealq_replay_claims_total', { ctx: 'jobs', outcome: 'error' }), 1);
      assert.equal(value(samples, 'sealq_replay_store_errors_total', { op: 'claim' }), 1);
    } finally {
      m.stop();
    }
  });

  test('the keyring option adds sealq_key_info with each key status and whether it is retired', async () => {
    const r = new Registry();
    const kr = Keyring.generate('HS256', { kid: 'current' });
    const m = registerMetrics(r, { keyring: kr });
    try {
      const samples = parseMetricsText(await r.metrics());
      assert.equal(value(samples, 'sealq_key_info', { kid: 'current', alg: 'HS256', status: 'primary', retired: 'false' }), 1);
    } finally {
      m.stop();
    }
  });
});
