/**
 * sealq/opentelemetry with the OpenTelemetry SDK's in-memory exporter: seal, open, claims and dead
 * letters as span events on the active span (or spans of their own), with messaging attributes;
 * never a payload byte or key material. Trace-context headers a messaging instrumentation injects
 * after sealing are not signed and never break verification.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Keyring, MemoryReplayStore, SEAL_HEADER, open, openAndClaim, seal, sealDetached } from '../src/index.js';
import { registerTracing } from '../src/adapters/opentelemetry/index.js';
import { AdapterVerdicts } from '../src/adapters/verdicts.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = provider.getTracer('test');

before(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
after(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});
beforeEach(() => exporter.reset());

const PAYLOAD = 'secret-payload-77a1';
const ring = Keyring.generate('HS256', { kid: 'own' });
const forger = Keyring.generate('HS256', { kid: 'forger' });
const secret = String(ring.toPrivateJwks().keys[0]!.k);

/** Runs fn inside a span (as a messaging instrumentation would), and returns that span once ended. */
async function within(name: string, fn: () => unknown): Promise<ReadableSpan> {
  await tracer.startActiveSpan(name, async (span) => {
    try {
      await fn();
    } finally {
      span.end();
    }
  });
  const s = exporter.getFinishedSpans().find((x) => x.name === name);
  assert.ok(s, `span ${name} was exported`);
  return s;
}

function noSecrets(spans: readonly ReadableSpan[]): void {
  const text = JSON.stringify(spans.map((s) => ({ a: s.attributes, e: s.events })));
  assert.ok(!text.includes(PAYLOAD), 'no payload in spans');
  assert.ok(!text.includes(secret), 'no key material in spans');
}

describe("record: 'event' (default): events on the active span", () => {
  test('seal and open become events with messaging attributes', async () => {
    const t = registerTracing();
    try {
      let env = '';
      const publish = await within('orders publish', () => void (env = seal(ring, PAYLOAD, { ctx: 'orders', typ: 'created', id: 'm-1' })));
      const processSpan = await within('orders process', () => {
        open(ring, env, { ctx: 'orders' });
        assert.throws(() => open(ring, seal(forger, PAYLOAD, { ctx: 'orders', id: 'f-1' }), { ctx: 'orders' }));
        open(ring, seal(forger, PAYLOAD, { ctx: 'orders', id: 'f-2' }), { ctx: 'orders', mode: 'report' });
      });
      assert.deepEqual(publish.events.map((e) => [e.name, e.attributes]), [['sealq.seal', {
        'messaging.operation.type': 'create',
        'messaging.operation.name': 'seal',
        'messaging.destination.name': 'orders',
        'messaging.message.id': 'm-1',
        'sealq.outcome': 'ok',
        'sealq.verified': true,
        'sealq.kid': 'own',
        'sealq.alg': 'HS256',
        'sealq.typ': 'created',
      }]]);
      const [ok, rejected, reported] = processSpan.events.filter((e) => e.name === 'sealq.open'); // the forgeries' seals are events too
      assert.equal(ok!.name, 'sealq.open');
      assert.equal(ok!.attributes!['messaging.operation.type'], 'process');
      assert.equal(ok!.attributes!['messaging.destination.name'], 'orders');
      assert.equal(ok!.attributes!['messaging.message.id'], 'm-1');
      assert.equal(ok!.attributes!['sealq.verified'], true);
      assert.equal(rejected!.attributes!['sealq.outcome'], 'rejected');
      assert.equal(rejected!.attributes!['error.type'], 'ERR_KEY_UNKNOWN');
      assert.equal(rejected!.attributes!['sealq.verified'], false);
      assert.equal(rejected!.attributes!['sealq.kid'], 'forger', 'as claimed');
      assert.equal(reported!.attributes!['sealq.outcome'], 'reported');
      assert.equal(reported!.attributes!['sealq.mode'], 'report');
      noSecrets([publish, processSpan]);
    } finally {
      t.stop();
    }
  });

  test('claims and dead letters become events too', async () => {
    const t = registerTracing();
    try {
      const store = new MemoryReplayStore();
      const env = seal(ring, PAYLOAD, { ctx: 'jobs', id: 'j-1' });
      const verdicts = new AdapterVerdicts({ adapter: 'redis-streams', consumerCtx: 'jobs', keptIn: 'jobs:dead' });
      const span = await within('jobs process', async () => {
        const m = await openAndClaim(ring, env, { ctx: 'jobs', replay: store });
        await m.complete();
        await assert.rejects(openAndClaim(ring, env, { ctx: 'jobs', replay: store }), { code: 'ERR_REPLAYED' });
        verdicts.deadLettered('ERR_REPLAYED', env);
      });
      const names = span.events.map((e) => e.name);
      assert.deepEqual(names, ['sealq.open', 'sealq.claim', 'sealq.open', 'sealq.claim', 'sealq.dead_letter']);
      assert.equal(span.events[1]!.attributes!['sealq.outcome'], 'claimed');
      assert.equal(span.events[3]!.attributes!['sealq.outcome'], 'replayed');
      assert.equal(span.events[3]!.attributes!['error.type'], 'ERR_REPLAYED');
      assert.deepEqual(span.events[4]!.attributes, {
        'sealq.verified': false,
        'sealq.adapter': 'redis-streams',
        'error.type': 'ERR_REPLAYED',
        'sealq.code': 'ERR_REPLAYED',
        'sealq.kept_in': 'jobs:dead',
        'messaging.destination.name': 'jobs',
        'messaging.message.id': 'j-1',
      });
      noSecrets([span]);
    } finally {
      t.stop();
    }
  });

  test('without an active span nothing is recorded; after stop() nothing either', async () => {
    const t = registerTracing();
    open(ring, seal(ring, 'x', { ctx: 'q' }), { ctx: 'q' });
    t.stop();
    const span = await within('after stop', () => open(ring, seal(ring, 'x', { ctx: 'q' }), { ctx: 'q' }));
    assert.deepEqual(span.events, []);
    assert.equal(exporter.getFinishedSpans().length, 1);
  });
});

describe("record: 'span': a span per seal and open", () => {
  test('producer and consumer spans, children of the active span, rejections marked as errors', async () => {
    const t = registerTracing({ record: 'span' });
    try {
      const parent = await within('handler', () => {
        const env = seal(ring, PAYLOAD, { ctx: 'orders', id: 'm-2' });
        open(ring, env, { ctx: 'orders' });
        assert.throws(() => open(ring, env, { ctx: 'refunds' }));
      });
      const spans = exporter.getFinishedSpans().filter((s) => s !== parent);
      assert.deepEqual(spans.map((s) => [s.name, s.kind]), [['seal orders', SpanKind.PRODUCER], ['open orders', SpanKind.CONSUMER], ['open refunds', SpanKind.CONSUMER]]);
      for (const s of spans) assert.equal(s.parentSpanContext?.spanId, parent.spanContext().spanId);
      assert.equal(spans[1]!.status.code, SpanStatusCode.UNSET);
      assert.deepEqual(spans[2]!.status, { code: SpanStatusCode.ERROR, message: 'ERR_CONTEXT_MISMATCH' });
      assert.equal(spans[2]!.attributes['sealq.ctx'], 'orders', 'the ctx the message was sealed for');
      assert.equal(spans[2]!.attributes['messaging.destination.name'], 'refunds', 'the destination it was opened at');
      noSecrets(spans);
    } finally {
      t.stop();
    }
  });

  test('refuses an unknown record option', () => {
    assert.throws(() => registerTracing({ record: 'log' as 'span' }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('trace context travels outside the seal', () => {
  test('traceparent and tracestate injected into the message headers after sealing: the message opens, and changing them changes nothing', async () => {
    const det = sealDetached(ring, PAYLOAD, { ctx: 'orders' });
    const headers: Record<string, string> = { [SEAL_HEADER]: det.seal };
    let traceId = '';
    await tracer.startActiveSpan('publish', async (span) => {
      traceId = span.spanContext().traceId;
      // What an instrumented publish does: inject the current context into the outgoing headers.
      propagation.inject(context.active(), headers);
      span.end();
    });
    assert.match(headers.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const delivered = { seal: headers[SEAL_HEADER]!, payload: det.payload };
    assert.equal(open(ring, delivered, { ctx: 'orders' }).payload.toString(), PAYLOAD);
    // The consumer side extracts the context from the same headers and opens inside it.
    const extracted = propagation.extract(ROOT_CONTEXT, headers);
    assert.equal(trace.getSpanContext(extracted)?.traceId, traceId);
    headers.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    headers.tracestate = 'vendor=anything';
    assert.equal(open(ring, { seal: headers[SEAL_HEADER]!, payload: det.payload }, { ctx: 'orders' }).payload.toString(), PAYLOAD);
  });
});
