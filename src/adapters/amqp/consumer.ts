import { randomBytes } from 'node:crypto';
import type { Channel, ConfirmChannel, ConsumeMessage, Message, Options } from 'amqplib';
import {
  CompletionNotRecordedError,
  InvalidArgumentError,
  RejectionError,
  SEAL_HEADER,
  TypeMismatchError,
  inspectEnvelope,
  isSealqError,
  open,
  openAndClaim,
} from '../../index.js';
import type { ClaimedMessage, ClaimOptions, DetachedEnvelope, Keyring, KeyringSource, OpenedMessage, OpenOptions, ReplayStore } from '../../index.js';
import type { SourceLogger } from '../../keys/sources.js';
import { modeFor } from '../../report-mode.js';
import { scopeReplayStore } from '../shared/scoped-replay-store.js';
import { AdapterVerdicts } from '../verdicts.js';
import { amqpContext, checkAddresses, isTopicPattern, parseAmqpContext, topicMatches } from './context.js';
import type { AmqpAddress } from './context.js';
import { HANDLER_FAILED, completionNotRecordedReason, handlerFailedReason } from '../shared/dead-letter-code.js';
import { backoff, consumerDurations, jittered } from '../shared/consumer-durations.js';
import { errorOf } from '../shared/error-of.js';
import { FailureCounts } from '../shared/failure-counts.js';
import { keepLeaseAlive } from '../shared/lease-keep-alive.js';
import { openOptionsOf } from '../shared/open-options.js';
import { checkRetryPolicy, decideRetry } from '../shared/retry-policy.js';
import { StoppableWaits } from '../shared/stoppable-waits.js';
import { deadLetterOf } from './dead-letter.js';
import type { AmqpDeadLetter, AmqpDeadLetterCode, DeadLetterTarget } from './dead-letter.js';

/** What opens channels: an amqplib connection (`amqplib.connect(...)`), recovering or not. */
export interface AmqpConnection {
  createChannel(): Promise<Channel>;
  createConfirmChannel(): Promise<ConfirmChannel>;
}

/** What the handler receives: the verified message, and the delivery it came in. */
export interface AmqpMessage extends OpenedMessage {
  readonly queue: string;
  /** Delivery fields (exchange, routingKey, redelivered, deliveryTag, consumerTag), set by the broker. NOT signed. */
  readonly fields: ConsumeMessage['fields'];
  /** Properties and headers as delivered. NOT signed (except that `type` equals header.typ): trust header and payload. */
  readonly properties: ConsumeMessage['properties'];
  /** The broker's redelivered flag: delivered before (requeued after a failure, or its consumer's channel closed). */
  readonly redelivered: boolean;
  /** Aborted when the delivery can no longer be acked (the channel closed): the broker has already requeued it. */
  readonly signal: AbortSignal;
}

export interface HandlerFailure {
  readonly error: Error;
  readonly message: AmqpMessage;
  /** Failed runs of this message in this consumer so far, this one included. */
  readonly failures: number;
}

export interface SealedConsumerOptions extends Omit<OpenOptions, 'ctx' | 'now'> {
  keyring: Keyring | KeyringSource;
  /** The queue to consume. It must exist (declare it, and its bindings, yourself). */
  queue: string;
  /** Where completed messages are remembered (a RedisReplayStore for several consumers); scoped to the queue. */
  replay: ReplayStore;
  /** Runs once per message. Resolving acks the delivery; throwing releases the claim and applies retryPolicy. */
  handler: (message: AmqpMessage) => unknown;
  /**
   * Where producers may have published what this queue receives (the signed ctx): exchange and
   * routing key, the routing key possibly a topic pattern (`*`, `#`). Default: the queue itself
   * through the default exchange, `[{ exchange: '', routingKey: queue }]`.
   */
  addresses?: readonly AmqpAddress[];
  /** Unacked deliveries at a time, which is also how many handlers run at once. Default 10. */
  prefetch?: number;
  /** Replay lease, renewed while the handler runs. Default 30s. */
  lease?: number | string;
  /** After a handler failure, how long to hold the delivery before requeueing it. Default 1s. */
  retryDelay?: number | string;
  /** Same for a message in flight elsewhere, an unavailable replay store or a failed dead-letter publish. Default 250ms (with jitter). */
  busyDelay?: number | string;
  /** After a handler failure: `requeue` (the default, always) or `dead-letter` (as ERR_HANDLER_FAILED). */
  retryPolicy?: (failure: HandlerFailure) => 'requeue' | 'dead-letter';
  /**
   * Where rejected messages go. Default `{ queue: '<queue>.dead' }`, declared (durable) at start
   * if missing. `{ exchange, routingKey }`: an exchange that must exist at start, with a queue
   * bound for the routing key (a dead letter nobody would receive is refused, not dropped).
   */
  deadLetter?: { readonly queue: string } | DeadLetterTarget;
  /** Replay-store scope: each scope processes a message once. Default `amqp-queue:<queue>`. */
  scope?: string;
  /** Passed to basic.consume (consumerTag, exclusive, priority, arguments). noAck is always false. */
  consume?: Omit<Options.Consume, 'noAck'>;
  /** Something went wrong that did not lose a message (handler failed, store down, ...). Default: console.error. */
  onError?: (error: Error, message?: ConsumeMessage) => void;
  /**
   * One line per message dead-lettered as rejected or let through in report mode (`mode`; its
   * ctx rules name the amqp: ctx, as amqpContext(exchange, routingKey) makes it), rate-limited,
   * pino-style `warn(fields, message)`. None without a logger.
   */
  logger?: SourceLogger;
  /** A message was dead-lettered (after the broker confirmed it). */
  onDeadLetter?: (deadLetter: AmqpDeadLetter, message: ConsumeMessage) => void;
}

export interface AmqpConsumerStats {
  processed: number;
  deadLettered: number;
  /** Requeued for a later try (handler failed, in flight elsewhere, store unavailable, dead letter not confirmed). */
  retried: number;
}

const DEFAULT_PREFETCH = 10;
/** Tracks returned (unroutable) dead letters until their confirm arrives; RabbitMQ sends basic.return before basic.ack. */
const DEAD_LETTER_ID = 'sealq-dead-letter-id';

interface Delivery {
  readonly msg: ConsumeMessage;
  /** Made when the handler first reads message.signal: most never do, and a signal costs µs per message. */
  abort: AbortController | undefined;
  /** Why the delivery can no longer be acked (its channel closed), once it cannot. */
  lost: Error | undefined;
  settled: boolean;
}

function signalOf(d: Delivery): AbortSignal {
  if (d.abort === undefined) {
    d.abort = new AbortController();
    if (d.lost !== undefined) d.abort.abort(d.lost);
  }
  return d.abort.signal;
}

/**
 * Consumes a queue and hands each verified message to `handler`, once:
 * - opens the `sealq` header with the body, claims the message in the replay store (scoped to the queue);
 * - handler resolves: complete, then ack;
 * - handler throws: release, then (after retryDelay) nack with requeue, or dead-letter per retryPolicy;
 * - rejected (forged, tampered, unsigned, replayed, expired, moved, other type): published to the
 *   dead-letter destination with its code, reason and time, and acked only once the broker has
 *   confirmed the dead letter;
 * - in flight elsewhere or replay store unavailable: nack with requeue after busyDelay, never dead-lettered;
 * - handler done but completion not recorded: dead-lettered as ERR_COMPLETION_NOT_RECORDED (never
 *   requeued: it would run twice), for an operator to check.
 */
export class SealedAmqpConsumer {
  readonly queue: string;
  /** Where dead letters go. */
  readonly deadLetter: DeadLetterTarget;
  readonly stats: AmqpConsumerStats = { processed: 0, deadLettered: 0, retried: 0 };
  /** Resolves when consuming has ended: after stop(), or with the error when the channel closed or the broker cancelled. */
  readonly closed: Promise<Error | undefined>;
  readonly #o: SealedConsumerOptions;
  readonly #connection: AmqpConnection;
  readonly #open: OpenOptions;
  readonly #literalCtx: readonly string[];
  readonly #patterns: readonly AmqpAddress[] | undefined;
  readonly #replay: ReplayStore;
  readonly #prefetch: number;
  readonly #lease: number;
  readonly #retryDelay: number;
  readonly #busyDelay: number;
  readonly #deadLetterQueue: string | undefined;
  readonly #onError: (error: Error, message?: ConsumeMessage) => void;
  readonly #verdicts: AdapterVerdicts;
  readonly #active = new Set<Promise<void>>();
  readonly #deliveries = new Set<Delivery>();
  readonly #waits = new StoppableWaits();
  readonly #failures = new FailureCounts();
  readonly #returned = new Set<string>();
  readonly #claimOptionsCache = new Map<string, ClaimOptions>();
  #channel: Channel | undefined;
  #dl: Promise<ConfirmChannel> | undefined;
  #consumerTag: string | undefined;
  #state: 'new' | 'running' | 'stopping' | 'closed' = 'new';
  #resolveClosed!: (e: Error | undefined) => void;

  constructor(connection: AmqpConnection, options: SealedConsumerOptions) {
    const o = options;
    if (typeof connection?.createChannel !== 'function' || typeof connection.createConfirmChannel !== 'function') {
      throw new InvalidArgumentError('SealedAmqpConsumer needs an amqplib connection (await amqplib.connect(url))');
    }
    if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('SealedAmqpConsumer needs options');
    if (typeof o.queue !== 'string' || o.queue.length === 0) throw new InvalidArgumentError('queue must be a non-empty queue name');
    if (typeof o.handler !== 'function') throw new InvalidArgumentError('handler must be a function');
    if (o.replay === undefined) throw new InvalidArgumentError('replay must be a replay store (a RedisReplayStore for several consumers)');
    checkRetryPolicy(o.retryPolicy);
    this.#o = o;
    this.#connection = connection;
    this.queue = o.queue;
    const addresses = checkAddresses(o.addresses ?? [{ exchange: '', routingKey: o.queue }]);
    this.#literalCtx = addresses.map((a) => amqpContext(a.exchange, a.routingKey));
    this.#patterns = addresses.some((a) => isTopicPattern(a.routingKey)) ? addresses : undefined;
    this.#open = openOptionsOf(o, this.#literalCtx);
    this.#replay = scopeReplayStore(o.replay, o.scope ?? `amqp-queue:${o.queue}`);
    this.#prefetch = o.prefetch ?? DEFAULT_PREFETCH;
    if (!Number.isSafeInteger(this.#prefetch) || this.#prefetch < 1 || this.#prefetch > 65535) throw new InvalidArgumentError('prefetch must be a whole number from 1 to 65535');
    ({ lease: this.#lease, retryDelay: this.#retryDelay, busyDelay: this.#busyDelay } = consumerDurations(o));
    const d = o.deadLetter ?? { queue: `${o.queue}.dead` };
    if ('queue' in d) {
      if (typeof d.queue !== 'string' || d.queue.length === 0) throw new InvalidArgumentError('deadLetter.queue must be a non-empty queue name');
      if (d.queue === o.queue) throw new InvalidArgumentError('the dead-letter queue must differ from the queue');
      this.#deadLetterQueue = d.queue;
      this.deadLetter = { exchange: '', routingKey: d.queue };
    } else {
      if (typeof d.exchange !== 'string' || d.exchange.length === 0 || typeof d.routingKey !== 'string') {
        throw new InvalidArgumentError('deadLetter must be { queue } or { exchange, routingKey } with a named exchange');
      }
      this.deadLetter = { exchange: d.exchange, routingKey: d.routingKey };
    }
    this.#onError = o.onError ?? ((e) => console.error(`sealq amqp ${o.queue}: ${e.message}`));
    const keptIn = this.#deadLetterQueue ?? `${this.deadLetter.exchange}/${this.deadLetter.routingKey}`;
    this.#verdicts = new AdapterVerdicts({ adapter: 'amqp', consumerCtx: this.#literalCtx[0]!, keptIn, logger: o.logger });
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /**
   * Checks the dead-letter destination (declaring the dead-letter queue if missing, refusing to
   * start if a dead-letter exchange is missing), then starts consuming. Resolves once consuming.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new InvalidArgumentError('a SealedAmqpConsumer starts once; create a new one to consume again');
    this.#state = 'running';
    try {
      await this.#prepareDeadLetter();
      await this.#dlChannel();
      const ch = await this.#connection.createChannel();
      this.#channel = ch;
      ch.on('error', (e: Error) => this.#onError(new Error(`channel error: ${e.message}`)));
      ch.on('close', () => this.#channelClosed());
      await ch.prefetch(this.#prefetch);
      const r = await ch.consume(this.queue, (m) => this.#onDelivery(m), { ...this.#o.consume, noAck: false }).catch((e: unknown) => {
        throw new Error(`cannot consume queue "${this.queue}" (${errorOf(e).message}): declare it before starting the consumer`, { cause: e });
      });
      this.#consumerTag = r.consumerTag;
    } catch (e) {
      this.#state = 'closed';
      await this.#closeChannels();
      this.#resolveClosed(errorOf(e));
      throw e;
    }
  }

  /** Stops consuming, waits for the handlers already running, requeues what waits for a retry, closes its channels. */
  async stop(): Promise<void> {
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    if (this.#consumerTag !== undefined) await this.#channel?.cancel(this.#consumerTag).catch(() => undefined);
    this.#waits.wakeAll();
    while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
    this.#state = 'closed';
    await this.#closeChannels();
    this.#resolveClosed(undefined);
  }

  async #closeChannels(): Promise<void> {
    const ch = this.#channel;
    this.#channel = undefined;
    await ch?.close().catch(() => undefined);
    const dl = this.#dl;
    this.#dl = undefined;
    await dl?.then((c) => c.close()).catch(() => undefined);
  }

  #channelClosed(): void {
    if (this.#state === 'closed') return;
    // The broker requeues every unacked delivery: the handlers still running learn it from their signal.
    for (const d of this.#deliveries) {
      d.settled = true;
      d.lost = new Error('the channel closed: the broker requeued the message');
      d.abort?.abort(d.lost);
    }
    this.#waits.wakeAll();
    if (this.#state === 'running') {
      this.#state = 'closed';
      const e = new Error(`the channel consuming "${this.queue}" closed; its unacked messages were requeued: start a new consumer`);
      this.#onError(e);
      void this.#closeChannels();
      this.#resolveClosed(e);
    }
  }

  async #prepareDeadLetter(): Promise<void> {
    const probe = async (check: (ch: Channel) => Promise<unknown>): Promise<boolean> => {
      // A failed check closes the channel it ran on, so each runs on a channel of its own.
      const ch = await this.#connection.createChannel();
      ch.on('error', () => undefined);
      try {
        await check(ch);
        return true;
      } catch {
        return false;
      } finally {
        await ch.close().catch(() => undefined);
      }
    };
    if (this.#deadLetterQueue !== undefined) {
      const name = this.#deadLetterQueue;
      if (await probe((ch) => ch.checkQueue(name))) return;
      const declared = await probe((ch) => ch.assertQueue(name, { durable: true }));
      if (!declared) throw new Error(`cannot declare the dead-letter queue "${name}": check the user's configure permission, or declare it yourself`);
      return;
    }
    const { exchange } = this.deadLetter;
    if (!(await probe((ch) => ch.checkExchange(exchange)))) {
      throw new InvalidArgumentError(`the dead-letter exchange "${exchange}" does not exist: declare it and bind a queue for routing key "${this.deadLetter.routingKey}" before starting, or use deadLetter: { queue }`);
    }
  }

  #dlChannel(): Promise<ConfirmChannel> {
    if (this.#dl === undefined) {
      const p = this.#connection.createConfirmChannel().then((ch) => {
        ch.on('error', (e: Error) => this.#onError(new Error(`dead-letter channel error: ${e.message}`)));
        ch.on('close', () => {
          if (this.#dl === p) this.#dl = undefined; // opened again on the next dead letter
        });
        ch.on('return', (m: Message) => {
          const id = m.properties.headers?.[DEAD_LETTER_ID];
          if (typeof id === 'string') this.#returned.add(id);
        });
        return ch;
      });
      p.catch(() => {
        if (this.#dl === p) this.#dl = undefined;
      });
      this.#dl = p;
    }
    return this.#dl;
  }

  #onDelivery(msg: ConsumeMessage | null): void {
    if (msg === null) {
      // basic.cancel from the broker: the queue was deleted, or a quorum queue's leader moved away.
      if (this.#state === 'running') {
        this.#state = 'closed';
        const e = new Error(`the broker cancelled the consumer of "${this.queue}" (queue deleted?): start a new consumer`);
        this.#onError(e);
        void Promise.allSettled([...this.#active]).then(() => this.#closeChannels());
        this.#resolveClosed(e);
      }
      return;
    }
    const d: Delivery = { msg, abort: undefined, lost: undefined, settled: false };
    this.#deliveries.add(d);
    const p = this.#process(d)
      .catch((e: unknown) => {
        // Not expected (every path settles the delivery): requeue rather than strand it.
        this.#onError(errorOf(e), msg);
        this.#settle(d, 'requeue');
      })
      .finally(() => {
        this.#deliveries.delete(d);
        this.#active.delete(p);
      });
    this.#active.add(p);
  }

  #settle(d: Delivery, how: 'ack' | 'requeue'): void {
    if (d.settled) return;
    d.settled = true;
    try {
      if (how === 'ack') this.#channel?.ack(d.msg);
      else this.#channel?.nack(d.msg, false, true);
    } catch {
      // The channel closed meanwhile: the broker has requeued the message itself.
    }
  }

  /** Waits `t` ms unless stopping or the channel closed (then at once). */
  #wait(t: number): Promise<void> {
    return this.#waits.wait(t, this.#state === 'running');
  }

  async #retryLater(d: Delivery, delay: number): Promise<void> {
    this.stats.retried++;
    await this.#wait(delay);
    this.#settle(d, 'requeue');
  }

  async #process(d: Delivery): Promise<void> {
    const { msg } = d;
    const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
    const envelope = { seal: headers[SEAL_HEADER], payload: msg.content } as DetachedEnvelope;
    const typeProperty: unknown = msg.properties.type;
    let claimed: ClaimedMessage;
    try {
      claimed = await this.#openAndClaim(envelope, typeProperty);
    } catch (e) {
      if (isSealqError(e) && e.retryable) {
        this.#onError(e, msg); // in flight elsewhere, or the store could not answer
        await this.#retryLater(d, jittered(this.#busyDelay));
      } else if (e instanceof RejectionError) {
        await this.#deadLetterThenAck(d, e.code, e.message);
      } else {
        this.#onError(errorOf(e), msg); // a usage error (options, keyring): keep the message until fixed
        await this.#retryLater(d, this.#busyDelay);
      }
      return;
    }

    const message: AmqpMessage = {
      payload: claimed.payload,
      header: claimed.header,
      validUntil: claimed.validUntil,
      queue: this.queue,
      fields: msg.fields,
      properties: msg.properties,
      redelivered: msg.fields.redelivered,
      get signal() {
        return signalOf(d);
      },
      ...(claimed.wouldReject === undefined ? {} : { wouldReject: claimed.wouldReject }),
    };
    if (claimed.wouldReject !== undefined) this.#verdicts.letThrough(claimed);
    const stopKeepAlive = keepLeaseAlive(claimed, this.#lease, (e) => this.#onError(e, msg));
    try {
      await this.#o.handler(message);
    } catch (e) {
      stopKeepAlive();
      await claimed.release().catch(() => undefined); // the lease lapses anyway
      const error = errorOf(e);
      const key = `${claimed.header.ctx}\n${claimed.header.id}`;
      const failures = this.#failures.add(key);
      const decision = decideRetry(this.#o, { error, message, failures }, 'requeue', (pe) => this.#onError(pe, msg));
      if (decision === 'dead-letter') {
        this.#failures.delete(key);
        await this.#deadLetterThenAck(d, HANDLER_FAILED, handlerFailedReason(failures, error));
      } else {
        this.#onError(error, msg);
        await this.#retryLater(d, this.#retryDelay);
      }
      return;
    }
    stopKeepAlive();
    this.#failures.delete(`${claimed.header.ctx}\n${claimed.header.id}`);
    try {
      await claimed.complete();
    } catch (e) {
      // The work is done: a redelivery would run it again. An operator decides.
      await this.#deadLetterThenAck(d, 'ERR_COMPLETION_NOT_RECORDED', completionNotRecordedReason(e, e instanceof CompletionNotRecordedError, 'requeued'), true);
      return;
    }
    this.#settle(d, 'ack');
    this.stats.processed++;
  }

  /**
   * open + claim. A `type` property must equal the signed typ: it is what a handler that
   * dispatches on properties.type would read, and nothing signs it.
   */
  async #openAndClaim(envelope: DetachedEnvelope, typeProperty: unknown): Promise<ClaimedMessage> {
    const ctx = this.#ctxFor(envelope);
    let typ: string | undefined;
    if (typeProperty !== undefined) {
      typ = typeof typeProperty === 'string' ? typeProperty : Buffer.isBuffer(typeProperty) ? typeProperty.toString('utf8') : String(typeProperty);
      const want = this.#open.typ;
      if (want !== undefined && !(typeof want === 'string' ? want === typ : want.includes(typ))) {
        const first = open(this.#o.keyring, envelope, { ...this.#open, ctx }); // a forged or moved message gets its own verdict first
        const mismatch = new TypeMismatchError(`the message's type property is "${typ}", which this consumer does not accept, and its signed typ differs from it`);
        if (first.wouldReject !== undefined || modeFor(this.#open.mode, typeof ctx === 'string' ? ctx : this.#literalCtx[0], typ) !== 'report') {
          if (first.wouldReject === undefined) throw mismatch;
          return unclaimed(first);
        }
        this.#verdicts.rejectedBeforeOpen(mismatch.code, true); // report mode: audited, let through unclaimed
        return unclaimed({ ...first, wouldReject: mismatch });
      }
    }
    try {
      return await openAndClaim(this.#o.keyring, envelope, this.#claimOptions(ctx, typ));
    } catch (e) {
      if (typ !== undefined && e instanceof TypeMismatchError) {
        throw new TypeMismatchError(`${e.message} (from the message's type property, which must equal the signed typ)`);
      }
      throw e;
    }
  }

  /** Claim options per (ctx, type property), built once rather than per message; ctx is a string only with topic patterns. */
  #claimOptions(ctx: string | readonly string[], typ: string | undefined): ClaimOptions {
    const key = `${typeof ctx === 'string' ? `s${ctx}` : 'L'}\u0000${typ === undefined ? 'C' : `p${typ}`}`;
    let o = this.#claimOptionsCache.get(key);
    if (o === undefined) {
      if (this.#claimOptionsCache.size >= 256) this.#claimOptionsCache.clear();
      o = { ...this.#open, ctx, ...(typ === undefined ? {} : { typ }), replay: this.#replay, lease: this.#lease };
      this.#claimOptionsCache.set(key, o);
    }
    return o;
  }

  /** The ctx to verify against: the signed one if it is an address this consumer accepts, else the literal list (a mismatch). */
  #ctxFor(envelope: DetachedEnvelope): string | readonly string[] {
    if (this.#patterns === undefined) return this.#literalCtx;
    let ctx: string;
    try {
      ctx = inspectEnvelope(envelope, this.#open.maxPayloadBytes).headers[0]!.ctx; // not trusted: open verifies it
    } catch {
      return this.#literalCtx; // open reports what is wrong
    }
    const a = parseAmqpContext(ctx);
    if (a !== undefined && this.#patterns.some((p) => p.exchange === a.exchange && topicMatches(p.routingKey, a.routingKey))) return ctx;
    return this.#literalCtx;
  }

  /**
   * Publishes the dead letter and acks the delivery once the broker confirmed it. If the broker
   * does not confirm, the message is requeued (the verdict is reached again), or, when it must not
   * run again (`hold`), the dead letter is retried for as long as the delivery is held.
   */
  async #deadLetterThenAck(d: Delivery, code: AmqpDeadLetterCode, reason: string, hold = false): Promise<void> {
    if (d.settled) {
      // The channel closed: the broker requeued the message, and its next delivery is judged again.
      if (hold) this.#onError(new Error(`${reason} (the channel closed before it could be dead-lettered: the broker requeued it, and it may run again once its lease lapses)`), d.msg);
      return;
    }
    const dead: AmqpDeadLetter = {
      code,
      reason,
      at: new Date().toISOString(),
      queue: this.queue,
      exchange: d.msg.fields.exchange,
      routingKey: d.msg.fields.routingKey,
      redelivered: d.msg.fields.redelivered,
      consumer: d.msg.fields.consumerTag,
    };
    for (let wait = this.#busyDelay; ; wait = backoff(wait)) {
      try {
        await this.#publishDeadLetter(d.msg, dead);
        break;
      } catch (e) {
        // Held while running; requeued when stopping (a message that must not run again may then
        // run again once its lease lapses: the loud message says so).
        const held = hold && !d.settled && this.#state === 'running';
        const then = held ? 'holding it and trying again' : hold ? 'requeued: it may run again once its lease lapses' : 'requeued';
        this.#onError(new Error(`could not dead-letter a message rejected with ${code} (${errorOf(e).message}); ${then}`), d.msg);
        if (!held) {
          await this.#retryLater(d, this.#busyDelay);
          return;
        }
        await this.#wait(wait);
      }
    }
    this.#settle(d, 'ack');
    this.stats.deadLettered++;
    this.#verdicts.deadLettered(code, { seal: (d.msg.properties.headers ?? {})[SEAL_HEADER], payload: d.msg.content } as DetachedEnvelope);
    try {
      this.#o.onDeadLetter?.(dead, d.msg);
    } catch (e) {
      this.#onError(errorOf(e), d.msg);
    }
  }

  async #publishDeadLetter(msg: ConsumeMessage, dead: AmqpDeadLetter): Promise<void> {
    const ch = await this.#dlChannel();
    const id = randomBytes(12).toString('base64url');
    let letter = deadLetterOf(msg, dead);
    const send = (): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        (letter.options.headers as Record<string, unknown>)[DEAD_LETTER_ID] = id;
        ch.publish(this.deadLetter.exchange, this.deadLetter.routingKey, letter.content, letter.options, (err) => (err ? reject(errorOf(err)) : resolve()));
      });
    try {
      await send();
    } catch (e) {
      // amqplib refuses a header table over its encoding buffer: keep the body, properties and seal.
      if (!(e instanceof RangeError)) throw e;
      letter = deadLetterOf(msg, dead, true);
      await send();
    }
    if (this.#returned.delete(id)) {
      throw new Error(`the broker could not route it to ${this.deadLetter.exchange === '' ? `queue "${this.deadLetter.routingKey}"` : `exchange "${this.deadLetter.exchange}" with routing key "${this.deadLetter.routingKey}"`} (no queue bound)`);
    }
  }
}

const settled = async (): Promise<void> => undefined;

/** Report mode: a message let through holds no claim. */
function unclaimed(msg: OpenedMessage): ClaimedMessage {
  return { ...msg, complete: settled, release: settled, extend: async () => true };
}
