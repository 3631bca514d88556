import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JetStreamOptions, JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import {
  CompletionNotRecordedError,
  InvalidArgumentError,
  MalformedError,
  RejectionError,
  SEAL_HEADER,
  inspectEnvelope,
  isSealqError,
  openAndClaim,
} from '../../index.js';
import type { ClaimedMessage, DetachedEnvelope, Keyring, KeyringSource, OpenedMessage, OpenOptions, ReplayStore, SourceLogger } from '../../index.js';
import { HANDLER_FAILED, completionNotRecordedReason, handlerFailedReason } from '../shared/dead-letter-code.js';
import type { DeadLetterCode } from '../shared/dead-letter-code.js';
import { backoff, consumerDurations, jittered, renewalInterval } from '../shared/consumer-durations.js';
import { errorOf } from '../shared/error-of.js';
import { FailureCounts } from '../shared/failure-counts.js';
import { renewLease } from '../shared/lease-keep-alive.js';
import { openOptionsOf } from '../shared/open-options.js';
import { checkRetryPolicy, decideRetry } from '../shared/retry-policy.js';
import { scopeReplayStore } from '../shared/scoped-replay-store.js';
import { StoppableWaits } from '../shared/stoppable-waits.js';
import { AdapterVerdicts } from '../verdicts.js';
import { checkSubjects, natsContext, parseNatsContext, subjectMatches } from './context.js';
import { deadLetterHeaders } from './dead-letter.js';
import type { NatsDeadLetter } from './dead-letter.js';

/** What the handler receives: the verified message, and the delivery it came in. */
export interface NatsMessage extends OpenedMessage {
  readonly stream: string;
  readonly consumer: string;
  /** The subject it was stored under; equal to the signed one unless `subjects` was given. */
  readonly subject: string;
  /** Its stream sequence number. */
  readonly seq: number;
  /** How many times the server has delivered it, this time included (naks and ack timeouts count). */
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /** Headers as delivered. NOT signed (the server adds `Nats-*` ones, anyone who can publish may set any): trust header and payload. */
  readonly headers: MsgHdrs | undefined;
  /** Aborted when the connection closes: the message can no longer be acknowledged, and the server will redeliver it. */
  readonly signal: AbortSignal;
}

export interface HandlerFailure {
  readonly error: Error;
  readonly message: NatsMessage;
  /** Failed runs of this message in this consumer so far, this one included. */
  readonly failures: number;
}

export interface SealedNatsConsumerOptions extends Omit<OpenOptions, 'ctx' | 'now'> {
  keyring: Keyring | KeyringSource;
  /** The stream to consume from. */
  stream: string;
  /** The durable pull consumer on it (create it yourself: its filter, ack_wait, max_deliver). */
  consumer: string;
  /** Where completed messages are remembered (a RedisReplayStore for several processes); scoped to the consumer. */
  replay: ReplayStore;
  /** Runs once per message. Resolving acks the message; throwing releases the claim and applies retryPolicy. */
  handler: (message: NatsMessage) => unknown;
  /**
   * Subjects producers may have sealed for (wildcards `*` and `>` allowed), whatever subject a
   * message is delivered on: for streams that transform subjects or source other streams.
   * Default: none, and a message must be sealed for the very subject it was delivered on.
   */
  subjects?: readonly string[];
  /** Messages handled at once (and pulled ahead). Default 10. */
  concurrency?: number;
  /** Replay lease, renewed while the handler runs (and the server's ack deadline with it). Default 30s. */
  lease?: number | string;
  /** After a handler failure, the delay the server waits before redelivering (nak with delay). Default 1s. */
  retryDelay?: number | string;
  /** Same for a message in flight elsewhere, an unavailable replay store or a dead letter that failed. Default 250ms (with jitter). */
  busyDelay?: number | string;
  /** After a handler failure: `retry` (the default, always) or `dead-letter` (as ERR_HANDLER_FAILED). */
  retryPolicy?: (failure: HandlerFailure) => 'retry' | 'dead-letter';
  /**
   * Where rejected messages go: a subject that a stream other than this one captures. Default
   * `sealq.dead.<stream>.<consumer>`, captured by the stream SEALQ_DEAD (subjects `sealq.dead.>`),
   * created at start when no stream captures it. A subject given here must be captured at start.
   */
  deadLetter?: { readonly subject: string };
  /** Replay-store scope: each scope processes a message once. Default `nats-consumer:<stream>/<consumer>`. */
  scope?: string;
  /** JetStream options (domain, apiPrefix, timeout) for jetstream() and jetstreamManager(). */
  jetstream?: JetStreamOptions;
  /** Something went wrong that did not lose a message (handler failed, store down, ...). Default: console.error. */
  onError?: (error: Error, message?: JsMsg) => void;
  /** A message was dead-lettered (after the dead-letter stream acknowledged it). */
  onDeadLetter?: (deadLetter: NatsDeadLetter, message: JsMsg) => void;
  /**
   * One line per message dead-lettered as rejected or let through in report mode (`mode`; its ctx
   * rules name the nats: ctx of a subject, as natsContext makes it), rate-limited, pino-style
   * `warn(fields, message)`; none without a logger.
   */
  logger?: SourceLogger;
}

export interface NatsConsumerStats {
  processed: number;
  deadLettered: number;
  /** Handed back for a later try (handler failed, in flight elsewhere, store unavailable, dead letter failed). */
  retried: number;
}

/** The stream the default dead-letter subjects go to, created when missing. */
export const DEAD_LETTER_STREAM = 'SEALQ_DEAD';
export const DEAD_LETTER_SUBJECT_PREFIX = 'sealq.dead.';

const DEFAULT_CONCURRENCY = 10;

// The server's name rules for streams and consumers: no whitespace, `.`, `*`, `>`, path separators.
const NAME = /^[^\s.*>/\\]+$/;

/** True for a server version that takes a reason on term (2.11 and later). */
export function termTakesReason(version: string | undefined): boolean {
  const m = /^v?(\d+)\.(\d+)\./.exec(version ?? '');
  if (m === null) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 11);
}

interface Delivery {
  readonly msg: JsMsg;
  settled: boolean;
}

/**
 * Consumes a durable JetStream pull consumer and hands each verified message to `handler`, once:
 * - opens the `sealq` header with the body for the subject it was delivered on, claims it in the
 *   replay store (scoped to the consumer);
 * - handler resolves: complete, then ack; while it runs, the lease and the server's ack deadline
 *   (`working()`) are both extended;
 * - handler throws: release, then nak with retryDelay, or dead-letter per retryPolicy;
 * - rejected (forged, tampered, unsigned, replayed, expired, moved, other type): published to the
 *   dead-letter subject with its code, reason and time, and terminated only once the dead-letter
 *   stream has acknowledged it;
 * - in flight elsewhere or replay store unavailable: nak with busyDelay, never dead-lettered;
 * - handler done but completion not recorded: dead-lettered as ERR_COMPLETION_NOT_RECORDED, never
 *   redelivered (it would run twice), for an operator to check.
 */
export class SealedNatsConsumer {
  readonly stream: string;
  readonly consumer: string;
  /** Where dead letters go. */
  readonly deadLetterSubject: string;
  readonly stats: NatsConsumerStats = { processed: 0, deadLettered: 0, retried: 0 };
  /** Resolves when consuming has ended: after stop(), or with the error that ended it. */
  readonly closed: Promise<Error | undefined>;
  readonly #o: SealedNatsConsumerOptions;
  readonly #nc: NatsConnection;
  readonly #open: OpenOptions;
  readonly #subjects: readonly string[] | undefined;
  readonly #replay: ReplayStore;
  readonly #concurrency: number;
  readonly #lease: number;
  readonly #retryDelay: number;
  readonly #busyDelay: number;
  readonly #onError: (error: Error, message?: JsMsg) => void;
  readonly #active = new Set<Promise<void>>();
  readonly #slotWaiters: Array<() => void> = [];
  readonly #waits = new StoppableWaits();
  readonly #failures = new FailureCounts();
  readonly #connectionClosed = new AbortController();
  readonly #acks: JsMsg[] = [];
  readonly #verdicts: AdapterVerdicts;
  #js: JetStreamClient | undefined;
  #messages: ConsumerMessages | undefined;
  #ackWaitMs = 30_000;
  #termReason = false;
  #state: 'new' | 'running' | 'stopping' | 'closed' = 'new';
  #resolveClosed!: (e: Error | undefined) => void;

  constructor(nc: NatsConnection, options: SealedNatsConsumerOptions) {
    const o = options;
    if (typeof nc?.publish !== 'function' || typeof nc.closed !== 'function') throw new InvalidArgumentError('SealedNatsConsumer needs a NATS connection (await connect(...) from @nats-io/transport-node)');
    if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('SealedNatsConsumer needs options');
    if (typeof o.stream !== 'string' || !NAME.test(o.stream)) throw new InvalidArgumentError('stream must be a stream name');
    if (typeof o.consumer !== 'string' || !NAME.test(o.consumer)) throw new InvalidArgumentError('consumer must be the name of a durable consumer of the stream');
    if (typeof o.handler !== 'function') throw new InvalidArgumentError('handler must be a function');
    if (o.replay === undefined) throw new InvalidArgumentError('replay must be a replay store (a RedisReplayStore for several processes)');
    checkRetryPolicy(o.retryPolicy);
    this.#o = o;
    this.#nc = nc;
    this.stream = o.stream;
    this.consumer = o.consumer;
    this.#subjects = o.subjects === undefined ? undefined : checkSubjects(o.subjects);
    this.#open = openOptionsOf(o, []);
    this.#replay = scopeReplayStore(o.replay, o.scope ?? `nats-consumer:${o.stream}/${o.consumer}`);
    this.#concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isSafeInteger(this.#concurrency) || this.#concurrency < 1 || this.#concurrency > 10_000) throw new InvalidArgumentError('concurrency must be a whole number from 1 to 10000');
    ({ lease: this.#lease, retryDelay: this.#retryDelay, busyDelay: this.#busyDelay } = consumerDurations(o));
    const dl = o.deadLetter?.subject ?? `${DEAD_LETTER_SUBJECT_PREFIX}${o.stream}.${o.consumer}`;
    natsContext(dl); // a concrete subject
    this.deadLetterSubject = dl;
    this.#verdicts = new AdapterVerdicts({ adapter: 'nats', consumerCtx: `nats-consumer:${o.stream}/${o.consumer}`, keptIn: dl, logger: o.logger });
    this.#onError = o.onError ?? ((e) => console.error(`sealq nats ${o.stream}/${o.consumer}: ${e.message}`));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /**
   * Checks the consumer and the dead-letter subject (creating the SEALQ_DEAD stream for the
   * default one when no stream captures it; refusing to start when a given subject is not
   * captured, or is captured by the consumed stream), then starts consuming.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new InvalidArgumentError('a SealedNatsConsumer starts once; create a new one to consume again');
    this.#state = 'running';
    try {
      const jsm = await jetstreamManager(this.#nc, this.#o.jetstream);
      await this.#prepareDeadLetter(jsm);
      this.#js = jetstream(this.#nc, this.#o.jetstream);
      const c = await this.#js.consumers.get(this.stream, this.consumer).catch((e: unknown) => {
        throw new InvalidArgumentError(`cannot use consumer "${this.consumer}" of stream "${this.stream}" (${errorOf(e).message}): create the stream and a durable pull consumer with explicit acks first`, { cause: e });
      });
      const info = await c.info(true);
      if (info.config.ack_policy !== 'explicit') throw new InvalidArgumentError(`consumer "${this.consumer}" must acknowledge explicitly (ack_policy "explicit"), not "${info.config.ack_policy}"`);
      if (info.config.ack_wait !== undefined) this.#ackWaitMs = Math.max(1, Math.floor(info.config.ack_wait / 1e6));
      this.#termReason = termTakesReason(this.#nc.info?.version);
      this.#messages = await c.consume({ max_messages: this.#concurrency });
    } catch (e) {
      this.#state = 'closed';
      this.#resolveClosed(errorOf(e));
      throw e;
    }
    void this.#nc.closed().then(() => this.#connectionClosed.abort(new Error('the NATS connection closed: the server will redeliver the message')));
    void this.#loop(this.#messages);
  }

  /** Stops pulling, hands back the messages pulled but not started, waits for the handlers running. */
  async stop(): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'closed';
      this.#resolveClosed(undefined);
    }
    if (this.#state !== 'running') {
      await this.closed;
      return;
    }
    this.#state = 'stopping';
    this.#messages?.stop();
    this.#waits.wakeAll();
    for (const w of this.#slotWaiters.splice(0)) w();
    await this.closed;
  }

  async #prepareDeadLetter(jsm: JetStreamManager): Promise<void> {
    const subject = this.deadLetterSubject;
    const captured = await jsm.streams.find(subject).catch(() => undefined);
    if (captured === this.stream) throw new InvalidArgumentError(`the dead-letter subject "${subject}" is captured by the consumed stream "${this.stream}" itself: choose one another stream captures`);
    if (captured !== undefined) return;
    if (this.#o.deadLetter !== undefined) {
      throw new InvalidArgumentError(`no stream captures the dead-letter subject "${subject}": add one (or leave deadLetter out for the default ${DEAD_LETTER_STREAM} stream) before starting`);
    }
    try {
      await jsm.streams.add({ name: DEAD_LETTER_STREAM, subjects: [`${DEAD_LETTER_SUBJECT_PREFIX}>`] });
    } catch (e) {
      // Another consumer may have created it meanwhile; what matters is that the subject is captured.
      const now = await jsm.streams.find(subject).catch(() => undefined);
      if (now === undefined) throw new Error(`cannot create the dead-letter stream ${DEAD_LETTER_STREAM} (${errorOf(e).message}): create a stream capturing "${subject}" yourself`, { cause: e });
    }
  }

  async #loop(messages: ConsumerMessages): Promise<void> {
    let error: Error | undefined;
    try {
      for await (const msg of messages) {
        if (this.#state === 'running' && this.#active.size >= this.#concurrency) await new Promise<void>((r) => this.#slotWaiters.push(r));
        if (this.#state !== 'running') {
          msg.nak(); // pulled but not started: back to the server for another consumer at once
          continue;
        }
        const p = this.#process({ msg, settled: false })
          .catch((e: unknown) => {
            this.#onError(errorOf(e), msg); // not expected: every path settles the message
          })
          .finally(() => {
            this.#active.delete(p);
            this.#slotWaiters.shift()?.();
          });
        this.#active.add(p);
      }
    } catch (e) {
      error = new Error(`consuming "${this.consumer}" of stream "${this.stream}" failed (${errorOf(e).message}): start a new consumer`, { cause: e });
    }
    if (this.#state === 'running') {
      error ??= new Error(`consuming "${this.consumer}" of stream "${this.stream}" ended (consumer deleted or connection closed): start a new consumer`);
      this.#onError(error);
    }
    this.#state = 'stopping';
    this.#waits.wakeAll();
    while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
    this.#state = 'closed';
    this.#verdicts.flush();
    this.#resolveClosed(error);
  }

  /** Waits `t` ms unless stopping (then at once). */
  #wait(t: number): Promise<void> {
    return this.#waits.wait(t, this.#state === 'running');
  }

  /**
   * Acks leave together once per turn of the event loop: the client writes to the socket once per
   * microtask checkpoint, and handlers finish one by one, so acking each at once would cost a
   * system call per message.
   */
  #ackSoon(msg: JsMsg): void {
    this.#acks.push(msg);
    if (this.#acks.length === 1) {
      setImmediate(() => {
        for (const m of this.#acks.splice(0)) {
          try {
            m.ack();
          } catch (e) {
            this.#onError(errorOf(e), m); // the connection closed: the server redelivers after ack_wait
          }
        }
      });
    }
  }

  #settle(d: Delivery, how: 'ack' | { term: DeadLetterCode } | { nak: number }): void {
    if (d.settled) return;
    d.settled = true;
    try {
      if (how === 'ack') this.#ackSoon(d.msg);
      else if ('term' in how) {
        // Before 2.11 the server would take the reason for a malformed term and ignore it.
        if (this.#termReason) d.msg.term(`sealq ${how.term}`);
        else d.msg.term();
      } else d.msg.nak(Math.max(0, Math.round(how.nak)));
    } catch (e) {
      // The connection closed: the server redelivers after ack_wait.
      this.#onError(errorOf(e), d.msg);
    }
  }

  #retryLater(d: Delivery, delay: number): void {
    this.stats.retried++;
    // While stopping, hand it back at once: the server holds it for the delay, not this process.
    this.#settle(d, { nak: this.#state === 'running' ? delay : 0 });
  }

  /** Keeps the server from redelivering (working()) and, when given, the replay lease, while something long runs. */
  #keepAlive(d: Delivery, claimed?: ClaimedMessage): () => void {
    const every = renewalInterval(Math.min(this.#ackWaitMs, claimed === undefined ? Infinity : this.#lease));
    const timer = setInterval(() => {
      if (d.settled) return;
      try {
        d.msg.working();
      } catch {
        // connection closed: the server will redeliver, and the lease keeps that copy waiting
      }
      if (claimed !== undefined) renewLease(claimed, this.#lease, (e) => this.#onError(e, d.msg));
    }, every);
    return () => clearInterval(timer);
  }

  async #process(d: Delivery): Promise<void> {
    const { msg } = d;
    let claimed: ClaimedMessage;
    try {
      claimed = await this.#openAndClaim(msg);
    } catch (e) {
      if (isSealqError(e) && e.retryable) {
        this.#onError(e, msg); // in flight elsewhere, or the store could not answer
        this.#retryLater(d, jittered(this.#busyDelay));
      } else if (e instanceof RejectionError) {
        await this.#deadLetterThenTerm(d, e.code, e.message);
      } else {
        this.#onError(errorOf(e), msg); // a usage error (options, keyring): keep the message until fixed
        this.#retryLater(d, this.#busyDelay);
      }
      return;
    }

    if (claimed.wouldReject !== undefined) this.#verdicts.letThrough(claimed); // report mode
    const message: NatsMessage = {
      payload: claimed.payload,
      header: claimed.header,
      validUntil: claimed.validUntil,
      stream: this.stream,
      consumer: this.consumer,
      subject: msg.subject,
      seq: msg.seq,
      deliveryCount: msg.info.deliveryCount,
      redelivered: msg.redelivered,
      headers: msg.headers,
      signal: this.#connectionClosed.signal,
      ...(claimed.wouldReject === undefined ? {} : { wouldReject: claimed.wouldReject }),
    };
    const stopKeepAlive = this.#keepAlive(d, claimed);
    const key = `${claimed.header.ctx}\n${claimed.header.id}`;
    try {
      await this.#o.handler(message);
    } catch (e) {
      stopKeepAlive();
      await claimed.release().catch(() => undefined); // the lease lapses anyway
      const error = errorOf(e);
      const failures = this.#failures.add(key);
      const decision = decideRetry(this.#o, { error, message, failures }, 'retry', (pe) => this.#onError(pe, msg));
      if (decision === 'dead-letter') {
        this.#failures.delete(key);
        await this.#deadLetterThenTerm(d, HANDLER_FAILED, handlerFailedReason(failures, error));
      } else {
        this.#onError(error, msg);
        this.#retryLater(d, this.#retryDelay);
      }
      return;
    }
    this.#failures.delete(key);
    try {
      await claimed.complete();
    } catch (e) {
      stopKeepAlive();
      // The work is done: a redelivery would run it again. An operator decides.
      await this.#deadLetterThenTerm(d, 'ERR_COMPLETION_NOT_RECORDED', completionNotRecordedReason(e, e instanceof CompletionNotRecordedError), true);
      return;
    }
    stopKeepAlive();
    this.#settle(d, 'ack');
    this.stats.processed++;
  }

  async #openAndClaim(msg: JsMsg): Promise<ClaimedMessage> {
    const seals = msg.headers?.values(SEAL_HEADER) ?? [];
    if (seals.length > 1) throw new MalformedError(`the message has ${seals.length} "${SEAL_HEADER}" headers; a sealed message has one`);
    const envelope = { seal: seals[0], payload: msg.data } as DetachedEnvelope;
    return openAndClaim(this.#o.keyring, envelope, { ...this.#open, ctx: this.#ctxFor(envelope, msg.subject), replay: this.#replay, lease: this.#lease });
  }

  /**
   * The ctx to verify against: the subject it was delivered on; with `subjects`, the signed one
   * when it matches one of them (open verifies it), else the delivered one (a mismatch).
   */
  #ctxFor(envelope: DetachedEnvelope, delivered: string): string {
    const own = natsContext(delivered);
    if (this.#subjects === undefined) return own;
    let ctx: string;
    try {
      ctx = inspectEnvelope(envelope, this.#open.maxPayloadBytes).headers[0]!.ctx; // not trusted: open verifies it
    } catch {
      return own; // open reports what is wrong
    }
    const subject = parseNatsContext(ctx);
    if (subject !== undefined && this.#subjects.some((p) => subjectMatches(p, subject))) return ctx;
    return own;
  }

  /**
   * Publishes the dead letter, waits for the dead-letter stream's acknowledgement, then terminates
   * the original. If the publish fails, the message is handed back (nak: the verdict is reached
   * again), or, when it must not run again (`hold`), the publish is retried for as long as the
   * consumer runs, the server's ack deadline extended meanwhile.
   */
  async #deadLetterThenTerm(d: Delivery, code: DeadLetterCode, reason: string, hold = false): Promise<void> {
    const { msg } = d;
    const dead: NatsDeadLetter = {
      code,
      reason,
      at: new Date().toISOString(),
      stream: this.stream,
      consumer: this.consumer,
      subject: msg.subject,
      seq: msg.seq,
      deliveries: msg.info.deliveryCount,
    };
    const stopKeepAlive = hold ? this.#keepAlive(d) : () => undefined;
    try {
      for (let wait = this.#busyDelay; ; wait = backoff(wait)) {
        try {
          await this.#js!.publish(this.deadLetterSubject, msg.data, { headers: deadLetterHeaders(msg.headers, dead) });
          break;
        } catch (e) {
          const held = hold && this.#state === 'running';
          const then = held ? 'holding it and trying again' : hold ? 'handed back: it may run again once its lease lapses' : 'handed back';
          this.#onError(new Error(`could not dead-letter a message rejected with ${code} to "${this.deadLetterSubject}" (${errorOf(e).message}); ${then}`), msg);
          if (!held) {
            this.#retryLater(d, this.#busyDelay);
            return;
          }
          await this.#wait(wait);
        }
      }
    } finally {
      stopKeepAlive();
    }
    this.#settle(d, { term: code });
    this.stats.deadLettered++;
    this.#verdicts.deadLettered(code, { seal: msg.headers?.get(SEAL_HEADER) ?? '', payload: msg.data });
    try {
      this.#o.onDeadLetter?.(dead, msg);
    } catch (e) {
      this.#onError(errorOf(e), msg);
    }
  }
}
