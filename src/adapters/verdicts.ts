import { deadLetterChannel, openChannel } from '../audit.js';
import type { DeadLetterEvent } from '../audit.js';
import { REJECTION_CODES } from '../errors.js';
import type { Header } from '../envelope/header.js';
import { inspectEnvelope } from '../inspect.js';
import type { SourceLogger } from '../keys/sources.js';
import type { Envelope, OpenedMessage } from '../open.js';
import { RejectionLog } from '../rejection-log.js';
import type { RejectionLogOptions } from '../rejection-log.js';

/**
 * What every adapter reports about the messages it does not simply process, through one path:
 * a message put aside (dead letter, failed set) is published on 'sealq:dead-letter' (metrics,
 * tracing) and written to the adapter's rate-limited rejection log; a message let through in
 * report mode is logged (open() has audited it already). Costs nothing when nobody listens and
 * no logger was given. One call per site in each adapter.
 */
export interface AdapterVerdictsOptions {
  /** bullmq, redis-streams, amqp, nats, mqtt, ... */
  readonly adapter: string;
  /** The context the consumer serves (queue, stream, subject). */
  readonly consumerCtx: string;
  /** Where rejected messages are kept, as an operator would look for them. */
  readonly keptIn: string;
  /** The adapter's `logger` option: rejection lines go there, rate-limited. */
  readonly logger?: SourceLogger | undefined;
  readonly log?: RejectionLogOptions | undefined;
}

const REJECTIONS: ReadonlySet<string> = new Set(REJECTION_CODES);

/** The header a message claims, unverified; undefined when it carries none readable. */
function claimed(envelope: Envelope | undefined): Header | undefined {
  if (envelope === undefined) return undefined;
  try {
    return inspectEnvelope(envelope).headers[0];
  } catch {
    return undefined;
  }
}

export class AdapterVerdicts {
  readonly #o: AdapterVerdictsOptions;
  readonly #log: RejectionLog | undefined;

  constructor(o: AdapterVerdictsOptions) {
    this.#o = o;
    this.#log = o.logger === undefined ? undefined : new RejectionLog(o.logger, o.log);
  }

  /** The context the consumer serves. */
  get consumerCtx(): string {
    return this.#o.consumerCtx;
  }

  /** A message was put aside with `code`: counted per adapter, code and destination, and logged. */
  deadLettered(code: string, envelope?: Envelope, keptIn = this.#o.keptIn): void {
    const publish = deadLetterChannel.hasSubscribers;
    const log = this.#log !== undefined && REJECTIONS.has(code);
    if (!publish && !log) return;
    const h = claimed(envelope);
    const { adapter, consumerCtx } = this.#o;
    if (publish) {
      const e: DeadLetterEvent = h === undefined
        ? { adapter, code, destination: keptIn, consumerCtx }
        : { adapter, code, destination: keptIn, consumerCtx, kid: h.kid, ctx: h.ctx, typ: h.typ, id: h.id };
      deadLetterChannel.publish(e);
    }
    if (log) this.#log!.log({ code, kid: h?.kid, ctx: h?.ctx, typ: h?.typ, id: h?.id, adapter, consumerCtx, keptIn });
  }

  /** A message processed in report mode although it failed (msg.wouldReject): logged with its code. */
  letThrough(msg: OpenedMessage): void {
    const e = msg.wouldReject;
    if (e === undefined || this.#log === undefined) return;
    const h = msg.header;
    this.#log.log({ code: e.code, kid: h.kid, ctx: h.ctx, typ: h.typ, id: h.id, adapter: this.#o.adapter, consumerCtx: this.#o.consumerCtx, mode: 'report' });
  }

  /**
   * A verdict the adapter reached before open() could (no seal on the message at all), audited on
   * 'sealq:open' as open() would have; `report` when the message is let through (report mode).
   * Logged by deadLettered or letThrough, whichever follows.
   */
  rejectedBeforeOpen(code: string, report: boolean): void {
    if (!openChannel.hasSubscribers) return;
    const consumerCtx = this.#o.consumerCtx;
    openChannel.publish(report ? { op: 'open', outcome: 'rejected', code, consumerCtx, mode: 'report' } : { op: 'open', outcome: 'rejected', code, consumerCtx });
  }

  /** Writes the rejection log's pending summary (on stop). */
  flush(): void {
    this.#log?.flush();
  }
}
