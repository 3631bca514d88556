import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { InvalidArgumentError } from '../../errors.js';

/**
 * sealq on OpenTelemetry traces, fed from the audit channels every seal, open, replay-store claim
 * and dead letter is published on (the same path as the metrics). With `record: 'event'` (the
 * default) each becomes an event on the active span, the one a messaging instrumentation opened
 * for the publish or the delivery; with `record: 'span'`, seal and open get spans of their own,
 * children of the active span. Attributes follow OpenTelemetry's messaging conventions
 * (messaging.operation.*, messaging.destination.name, messaging.message.id, error.type) plus
 * sealq.* ones; on a rejection the message's fields are as claimed and sealq.verified is false.
 * Never a payload byte or key material.
 *
 * Trace context travels in the broker's own headers (traceparent, tracestate, baggage), which
 * the seal does not cover: instrumentation may add or change them after sealing.
 */

export interface SealqTracingOptions {
  /** 'event' (default): events on the active span; 'span': a span per seal and per open. */
  record?: 'event' | 'span';
  /** Default: trace.getTracer('sealq'). */
  tracer?: Tracer;
}

export interface SealqTracing {
  /** Stops recording. */
  stop(): void;
}

type Event = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function put(a: Attributes, k: string, v: unknown): void {
  if (typeof v === 'string' && v !== '') a[k] = v;
}

function sealAttributes(e: Event): Attributes {
  const a: Attributes = { 'messaging.operation.type': 'create', 'messaging.operation.name': 'seal', 'sealq.outcome': 'ok', 'sealq.verified': true };
  put(a, 'messaging.destination.name', e.ctx);
  put(a, 'messaging.message.id', e.id);
  put(a, 'sealq.kid', e.kid);
  put(a, 'sealq.alg', e.alg);
  put(a, 'sealq.typ', e.typ);
  return a;
}

function openAttributes(e: Event): Attributes {
  const ok = e.outcome === 'ok';
  const a: Attributes = { 'messaging.operation.type': 'process', 'messaging.operation.name': 'open', 'sealq.outcome': ok ? 'ok' : e.mode === 'report' ? 'reported' : 'rejected', 'sealq.verified': ok };
  // The destination is the one this consumer serves; the message's own ctx is sealq.ctx (claimed on a rejection).
  put(a, 'messaging.destination.name', e.consumerCtx ?? e.ctx);
  put(a, 'messaging.message.id', e.id);
  put(a, 'sealq.ctx', e.ctx);
  put(a, 'sealq.kid', e.kid);
  put(a, 'sealq.alg', e.alg);
  put(a, 'sealq.typ', e.typ);
  if (!ok) {
    put(a, 'error.type', e.code);
    put(a, 'sealq.code', e.code);
  }
  if (e.mode === 'report') a['sealq.mode'] = 'report';
  return a;
}

/**
 * Starts recording sealq's seals, opens, claims and dead letters on traces. Needs an OpenTelemetry
 * SDK (tracer provider and context manager) registered by the application.
 *
 *     registerTracing();                     // events on your messaging spans
 *     registerTracing({ record: 'span' });   // or a span per seal and open
 */
export function registerTracing(options: SealqTracingOptions = {}): SealqTracing {
  const record = options.record ?? 'event';
  if (record !== 'event' && record !== 'span') throw new InvalidArgumentError(`record must be 'event' or 'span'`);
  const tracer = options.tracer ?? trace.getTracer('sealq');

  const onSealOrOpen = (isSeal: boolean) => (m: unknown): void => {
    const e = m as Event;
    if (record === 'event') {
      const span = trace.getActiveSpan();
      if (span === undefined || !span.isRecording()) return;
      span.addEvent(isSeal ? 'sealq.seal' : 'sealq.open', isSeal ? sealAttributes(e) : openAttributes(e));
      return;
    }
    const now = performance.timeOrigin + performance.now();
    const seconds = typeof e.seconds === 'number' ? e.seconds : 0;
    const dest = str(isSeal ? e.ctx : (e.consumerCtx ?? e.ctx));
    const span: Span = tracer.startSpan(
      `${isSeal ? 'seal' : 'open'}${dest === undefined ? '' : ` ${dest}`}`,
      { kind: isSeal ? SpanKind.PRODUCER : SpanKind.CONSUMER, startTime: now - seconds * 1000, attributes: isSeal ? sealAttributes(e) : openAttributes(e) },
      context.active(),
    );
    if (!isSeal && e.outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: str(e.code) ?? 'rejected' });
    span.end(now);
  };
  const onSeal = onSealOrOpen(true);
  const onOpen = onSealOrOpen(false);

  const onClaim = (m: unknown): void => {
    const span = trace.getActiveSpan();
    if (span === undefined || !span.isRecording()) return;
    const e = m as Event;
    const a: Attributes = { 'sealq.step': str(e.op) ?? 'claim', 'sealq.outcome': str(e.outcome) ?? 'unknown' };
    put(a, 'messaging.destination.name', e.ctx);
    put(a, 'messaging.message.id', e.id);
    if (e.outcome === 'replayed') a['error.type'] = 'ERR_REPLAYED';
    if (e.outcome === 'error') a['error.type'] = 'ERR_REPLAY_STORE_UNAVAILABLE';
    if (e.mode === 'report') a['sealq.mode'] = 'report';
    span.addEvent('sealq.claim', a);
  };

  const onDeadLetter = (m: unknown): void => {
    const span = trace.getActiveSpan();
    if (span === undefined || !span.isRecording()) return;
    const e = m as Event;
    const a: Attributes = { 'sealq.verified': false };
    put(a, 'sealq.adapter', e.adapter);
    put(a, 'error.type', e.code);
    put(a, 'sealq.code', e.code);
    put(a, 'sealq.kept_in', e.destination);
    put(a, 'messaging.destination.name', e.consumerCtx);
    put(a, 'messaging.message.id', e.id);
    span.addEvent('sealq.dead_letter', a);
  };

  const subs: Array<[string, (m: unknown) => void]> = [['sealq:seal', onSeal], ['sealq:open', onOpen], ['sealq:claim', onClaim], ['sealq:dead-letter', onDeadLetter]];
  for (const [n, f] of subs) subscribe(n, f);
  let active = true;
  return {
    stop() {
      if (!active) return;
      active = false;
      for (const [n, f] of subs) unsubscribe(n, f);
    },
  };
}
