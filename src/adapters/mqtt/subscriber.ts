import { randomBytes } from 'node:crypto';
import { connectAsync } from 'mqtt';
import type { IClientOptions, IClientSubscribeOptions, IPublishPacket, MqttClient, Packet } from 'mqtt';
import {
  CompletionNotRecordedError,
  InvalidArgumentError,
  RejectionError,
  isSealqError,
  openAndClaim,
} from '../../index.js';
import type { ClaimedMessage, Envelope, Keyring, KeyringSource, OpenedMessage, OpenOptions, ReplayStore, SourceLogger } from '../../index.js';
import { HANDLER_FAILED, completionNotRecordedReason, handlerFailedReason } from '../shared/dead-letter-code.js';
import type { DeadLetterCode } from '../shared/dead-letter-code.js';
import { backoff, consumerDurations, durationOption, jittered } from '../shared/consumer-durations.js';
import { errorOf } from '../shared/error-of.js';
import { keepLeaseAlive } from '../shared/lease-keep-alive.js';
import { openOptionsOf } from '../shared/open-options.js';
import { checkRetryPolicy, decideRetry } from '../shared/retry-policy.js';
import { scopeReplayStore } from '../shared/scoped-replay-store.js';
import { StoppableWaits } from '../shared/stoppable-waits.js';
import { AdapterVerdicts } from '../verdicts.js';
import { checkCarrier, envelopeOf } from './carrier.js';
import type { MqttCarrier } from './carrier.js';
import { mqttContext, parseSubscription, topicMatches } from './context.js';
import type { Subscription } from './context.js';
import { deadLetterOf, defaultDeadLetterTopic } from './dead-letter.js';
import type { DeadLetterKeep, MqttDeadLetter } from './dead-letter.js';
import { protocolVersionOf } from './publish.js';

/** What the handler receives: the verified message, and how it arrived. */
export interface MqttMessage extends OpenedMessage {
  /** The topic it arrived on: the signed one. */
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  /** A retained copy, sent because of a subscription (see `retained`). */
  readonly retain: boolean;
  /** The broker is sending it again (a redelivery in a persistent session). */
  readonly dup: boolean;
  /** MQTT 5 properties as delivered. NOT signed (the `sealq` user property holds the seal): trust header and payload. */
  readonly properties: IPublishPacket['properties'];
  /** Aborted when the connection it came on closes: its PUBACK can no longer be sent (a persistent session gets it again). */
  readonly signal: AbortSignal;
}

export interface HandlerFailure {
  readonly error: Error;
  readonly message: MqttMessage;
  /** Failed runs of this delivery so far, this one included. */
  readonly failures: number;
}

export interface SealedMqttSubscriberOptions extends Omit<OpenOptions, 'ctx' | 'now'> {
  keyring: Keyring | KeyringSource;
  /**
   * Topic filters to subscribe to, at QoS 1 (`orders/#`, `$share/<group>/orders/#` for a shared
   * subscription). A message must be sealed for the topic it arrives on.
   */
  topics: string | readonly string[];
  /** Where completed messages are remembered (a RedisReplayStore for several subscribers); scoped (see `scope`). */
  replay: ReplayStore;
  /** Runs once per message. Resolving acknowledges it (PUBACK); throwing releases the claim and applies retryPolicy. */
  handler: (message: MqttMessage) => unknown;
  /** How producers publish the seal: `properties` (default, MQTT 5) or `compact` (the envelope is the body; MQTT 3.1.1). */
  carrier?: MqttCarrier;
  /**
   * Retained copies (sent because of a subscription, with the retain flag): `once` (default)
   * opens them like any message, and one this scope has already processed is acknowledged
   * quietly, not dead-lettered, since the broker repeats retained state to every new
   * subscription; `ignore` acknowledges them unopened.
   */
  retained?: 'once' | 'ignore';
  /** Handlers running at once. PUBACKs are still sent in the order the messages arrived. Default 1 (in order). */
  concurrency?: number;
  /** Replay lease, renewed while the handler runs. Default 30s. */
  lease?: number | string;
  /** After a handler failure, how long to wait before running it again. Default 1s. */
  retryDelay?: number | string;
  /** Same for a message in flight elsewhere, an unavailable replay store or a failed dead letter. Default 250ms (with jitter). */
  busyDelay?: number | string;
  /** After a handler failure: `retry` (the default, always) or `dead-letter` (as ERR_HANDLER_FAILED). */
  retryPolicy?: (failure: HandlerFailure) => 'retry' | 'dead-letter';
  /**
   * Where rejected messages go. `topic`: the dead-letter topic of a message received on a topic
   * (default `sealq/dead-letter/<topic>`); `keep`: `retain` (default: retained, under
   * `<dead-letter topic>/<dead-letter id>`) or `subscriber` (see docs/mqtt.md).
   */
  deadLetter?: { readonly topic?: (topic: string) => string; readonly keep?: DeadLetterKeep };
  /**
   * The client dead letters are published with. Default: a client of its own, connected with the
   * subscriber client's options (another client id, a clean session) and ended by stop(). Not the
   * subscriber's client: mqtt.js handles one incoming packet at a time, so the acknowledgement of a
   * dead letter could not arrive while the message it replaces is held.
   */
  deadLetterClient?: MqttClient;
  /** How long to wait for the broker to acknowledge a dead letter before trying again. Default 10s. */
  deadLetterTimeout?: number | string;
  /**
   * Replay-store scope: each scope processes a message once. Default `mqtt-share:<group>` when
   * every topic is a shared subscription of one group, else `mqtt-client:<client id>`.
   */
  scope?: string;
  /** Something went wrong that did not lose a message (handler failed, store down, ...). Default: console.error. */
  onError?: (error: Error, message?: IPublishPacket) => void;
  /** A message was dead-lettered (after the broker acknowledged the dead letter). */
  onDeadLetter?: (deadLetter: MqttDeadLetter, message: IPublishPacket) => void;
  /**
   * One line per message dead-lettered as rejected or let through in report mode (`mode`; its ctx
   * rules name the mqtt: ctx of a topic, as mqttContext makes it), rate-limited, pino-style
   * `warn(fields, message)`; none without a logger.
   */
  logger?: SourceLogger;
}

export interface MqttSubscriberStats {
  processed: number;
  deadLettered: number;
  /** Tried again later in this subscriber (handler failed, in flight elsewhere, store unavailable, dead letter failed). */
  retried: number;
  /** Retained copies acknowledged without running the handler (`retained`). */
  skipped: number;
}

type DoneCallback = (error?: Error) => void;

/** mqtt.js internals the subscriber relies on (mqtt.js 5): the method every outgoing packet goes through. */
interface ClientInternals {
  _sendPacket(packet: Packet, cb?: DoneCallback, ...rest: unknown[]): void;
}

interface Delivery {
  readonly packet: IPublishPacket;
  readonly epoch: number;
  readonly abort: AbortController;
  /** The PUBACK mqtt.js produced for it, held until the message is settled. */
  puback?: Packet;
  state: 'open' | 'acked' | 'abandoned';
}

const DEFAULT_DEAD_LETTER_TIMEOUT_MS = 10_000;
const NO_MATCHING_SUBSCRIBERS = 16;

/**
 * Subscribes to topics over an mqtt.js 5 client and hands each verified message to `handler`,
 * once, holding its PUBACK until the message is settled:
 * - opens the seal (user property, or compact body) for the topic it arrived on, claims it in the
 *   replay store (scoped to the subscriber or share group);
 * - handler resolves: complete, then PUBACK;
 * - handler throws: release, wait retryDelay and run it again (MQTT cannot hand a message back),
 *   or dead-letter it per retryPolicy;
 * - rejected (forged, tampered, unsigned, replayed, expired, moved, other type): published to the
 *   dead-letter topic with its code, reason and time, and acknowledged only once the broker has
 *   acknowledged the dead letter;
 * - in flight elsewhere or replay store unavailable: tried again after busyDelay, never dead-lettered;
 * - handler done but completion not recorded: dead-lettered as ERR_COMPLETION_NOT_RECORDED.
 *
 * It takes over the client's handleMessage and holds PUBACKs by wrapping mqtt.js's internal
 * `_sendPacket` (checked at start), so that the next messages can arrive while one is held.
 */
export class SealedMqttSubscriber {
  readonly topics: readonly string[];
  readonly scope: string;
  readonly stats: MqttSubscriberStats = { processed: 0, deadLettered: 0, retried: 0, skipped: 0 };
  readonly #o: SealedMqttSubscriberOptions;
  readonly #client: MqttClient;
  readonly #subs: readonly Subscription[];
  readonly #open: OpenOptions;
  readonly #carrier: MqttCarrier;
  readonly #retained: 'once' | 'ignore';
  readonly #replay: ReplayStore;
  readonly #concurrency: number;
  readonly #maxAccepted: number;
  readonly #lease: number;
  readonly #retryDelay: number;
  readonly #busyDelay: number;
  readonly #dlTimeout: number;
  readonly #dlTopic: (topic: string) => string;
  readonly #keep: DeadLetterKeep;
  readonly #onError: (error: Error, message?: IPublishPacket) => void;
  /** Deliveries whose PUBACK is awaited from mqtt.js, by packet id. */
  readonly #awaitingPuback = new Map<number, Delivery>();
  /** QoS 1 deliveries in arrival order: PUBACKs leave in this order. */
  readonly #order: Delivery[] = [];
  /** Accepted, not started. */
  readonly #queue: Delivery[] = [];
  /** Arrived while full: accepted (mqtt.js's callback called) when a slot frees. */
  readonly #pending: Array<{ d: Delivery; cb: DoneCallback }> = [];
  readonly #active = new Set<Promise<void>>();
  readonly #waits = new StoppableWaits();
  readonly #pubackCodes = new Map<number, number>();
  readonly #verdicts: AdapterVerdicts;
  #accepted = 0;
  #running = 0;
  #epoch = 0;
  #send: ClientInternals['_sendPacket'] | undefined;
  #dl: MqttClient | undefined;
  #ownDl = false;
  #dlV5 = true;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'closed' = 'new';

  constructor(client: MqttClient, options: SealedMqttSubscriberOptions) {
    const o = options;
    if (typeof client?.subscribeAsync !== 'function' || typeof client.handleMessage !== 'function') {
      throw new InvalidArgumentError('SealedMqttSubscriber needs an mqtt.js 5 client (await mqtt.connectAsync(url, options))');
    }
    if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('SealedMqttSubscriber needs options');
    const topics = typeof o.topics === 'string' ? [o.topics] : o.topics;
    if (!Array.isArray(topics) || topics.length === 0) throw new InvalidArgumentError('topics must be a topic filter or a non-empty list of them');
    if (typeof o.handler !== 'function') throw new InvalidArgumentError('handler must be a function');
    if (o.replay === undefined) throw new InvalidArgumentError('replay must be a replay store (a RedisReplayStore for several subscribers)');
    checkRetryPolicy(o.retryPolicy);
    if (o.retained !== undefined && o.retained !== 'once' && o.retained !== 'ignore') throw new InvalidArgumentError('retained must be "once" or "ignore"');
    this.#o = o;
    this.#client = client;
    this.topics = [...topics];
    this.#subs = topics.map(parseSubscription);
    this.#carrier = checkCarrier(o.carrier);
    this.#retained = o.retained ?? 'once';
    this.#open = openOptionsOf(o, []);
    const groups = new Set(this.#subs.map((s) => s.group));
    if (o.scope !== undefined) {
      if (typeof o.scope !== 'string' || o.scope.length === 0) throw new InvalidArgumentError('scope must be a non-empty string');
      this.scope = o.scope;
    } else if (groups.size === 1 && !groups.has(undefined)) {
      this.scope = `mqtt-share:${[...groups][0]}`;
    } else if (groups.size > 1) {
      throw new InvalidArgumentError('the topics mix shared subscriptions of several groups, or shared and plain ones: give a scope');
    } else {
      const id = client.options?.clientId;
      if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('the client has no client id: give a scope');
      this.scope = `mqtt-client:${id}`;
    }
    this.#replay = scopeReplayStore(o.replay, this.scope);
    this.#concurrency = o.concurrency ?? 1;
    if (!Number.isSafeInteger(this.#concurrency) || this.#concurrency < 1 || this.#concurrency > 10_000) throw new InvalidArgumentError('concurrency must be a whole number from 1 to 10000');
    // Beyond this, mqtt.js's callback waits, so no more packets are read: QoS 0 floods included.
    this.#maxAccepted = Math.max(2 * this.#concurrency, 64);
    ({ lease: this.#lease, retryDelay: this.#retryDelay, busyDelay: this.#busyDelay } = consumerDurations(o));
    this.#dlTimeout = durationOption(o.deadLetterTimeout, DEFAULT_DEAD_LETTER_TIMEOUT_MS, 'deadLetterTimeout');
    const dl = o.deadLetter ?? {};
    if (dl.topic !== undefined && typeof dl.topic !== 'function') throw new InvalidArgumentError('deadLetter.topic must be a function of the topic');
    if (dl.keep !== undefined && dl.keep !== 'retain' && dl.keep !== 'subscriber') throw new InvalidArgumentError('deadLetter.keep must be "retain" or "subscriber"');
    this.#dlTopic = dl.topic ?? defaultDeadLetterTopic;
    this.#keep = dl.keep ?? 'retain';
    this.#checkDeadLetterTopics();
    this.#verdicts = new AdapterVerdicts({ adapter: 'mqtt', consumerCtx: `mqtt:${this.topics.join(',')}`, keptIn: this.#keep === 'retain' ? `${this.#dlTopic('<topic>')}/<id>` : this.#dlTopic('<topic>'), logger: o.logger });
    this.#onError = o.onError ?? ((e) => console.error(`sealq mqtt ${this.topics.join(', ')}: ${e.message}`));
  }

  /** Refuses a dead-letter topic that this subscriber's own filters would receive (it would dead-letter its dead letters). */
  #checkDeadLetterTopics(): void {
    for (const s of this.#subs) {
      const sample = s.filter.split('/').map((l) => (l === '+' || l === '#' ? 'x' : l)).join('/');
      const dlTopic = this.#deadLetterTopic(sample, 'x');
      const own = this.#subs.find((f) => topicMatches(f.filter, dlTopic));
      if (own !== undefined) throw new InvalidArgumentError(`the dead-letter topic "${dlTopic}" matches this subscriber's filter "${own.filter}": it would receive its own dead letters; choose another deadLetter.topic`);
    }
  }

  #deadLetterTopic(topic: string, id: string): string {
    const t = this.#dlTopic(topic);
    mqttContext(t); // a topic name, not a filter
    return this.#keep === 'retain' ? `${t}/${id}` : t;
  }

  /**
   * Connects the dead-letter client (unless given), takes over the client's message handling,
   * connects the client if it was made with manualConnect (required for persistent sessions) and
   * subscribes. Resolves once subscribed.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new InvalidArgumentError('a SealedMqttSubscriber starts once; create a new one to subscribe again');
    this.#state = 'starting';
    try {
      const c = this.#client;
      const v5 = protocolVersionOf(c) === 5;
      if (this.#carrier === 'properties' && !v5) {
        throw new InvalidArgumentError('this client does not speak MQTT 5, so messages carry no user properties: connect with protocolVersion 5, or use carrier: "compact" if producers send the compact envelope as the body');
      }
      if ((c.options.properties?.topicAliasMaximum ?? 0) > 0) throw new InvalidArgumentError('topic aliases on incoming messages are not supported: leave properties.topicAliasMaximum unset');
      const connectHere = c.options.manualConnect === true && !c.connected;
      if (!connectHere && c.options.clean === false) {
        throw new InvalidArgumentError('a persistent-session client (clean: false) must be created with manualConnect: true and left unconnected: start() connects it once the subscriber is in place, since the broker sends what the session holds right after connecting, and mqtt.js would acknowledge it unhandled');
      }
      const internals = c as unknown as ClientInternals;
      if (typeof internals._sendPacket !== 'function') throw new Error('this mqtt.js version has no _sendPacket, which the subscriber needs to hold acknowledgements: use mqtt.js 5 (the tested range in package.json)');
      await this.#connectDeadLetterClient();
      const original = internals._sendPacket;
      this.#send = (packet, cb, ...rest) => original.call(c, packet, cb, ...rest);
      internals._sendPacket = (packet, cb, ...rest) => {
        if (packet.cmd === 'puback' && packet.messageId !== undefined) {
          const d = this.#awaitingPuback.get(packet.messageId);
          if (d !== undefined) {
            this.#awaitingPuback.delete(packet.messageId);
            d.puback = packet;
            cb?.(); // mqtt.js goes on to the next packet; the PUBACK leaves when the message is settled
            this.#flush();
            return;
          }
        }
        original.call(c, packet, cb, ...rest);
      };
      const previous = c.handleMessage.bind(c);
      c.handleMessage = (packet, cb) => {
        if (packet.cmd === 'publish' && this.#subs.some((s) => topicMatches(s.filter, packet.topic))) this.#arrive(packet, cb);
        else previous(packet, cb);
      };
      c.on('close', () => {
        // The PUBACKs held for this connection can no longer be sent; a persistent session gets
        // the messages again. Packet ids are reused on the next connection, so nothing of this one
        // may produce or release a PUBACK there: messages waiting to be accepted are dropped.
        this.#epoch++;
        for (const d of this.#order) d.abort.abort(new Error('the connection closed before the message was acknowledged'));
        for (const { d } of this.#pending.splice(0)) d.state = 'abandoned';
        this.#awaitingPuback.clear();
        this.#flush();
      });
      this.#state = 'running';
      if (connectHere) await connectNow(c, this.#dlTimeout);
      const qos1: IClientSubscribeOptions = v5 ? { qos: 1, rap: false } : { qos: 1 };
      const granted = await c.subscribeAsync(Object.fromEntries(this.topics.map((t) => [t, qos1])));
      const refused = granted.filter((g) => g.qos === 128);
      if (refused.length > 0) throw new Error(`the broker refused the subscription to ${refused.map((g) => `"${g.topic}"`).join(', ')}: check the client's authorisation`);
    } catch (e) {
      this.#state = 'closed';
      if (this.#ownDl) await this.#dl?.endAsync().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Finishes the messages being handled and stops. Messages not yet handled, and any that arrive
   * later, are not acknowledged: end the client (or keep it for other subscriptions) and, in a
   * persistent session, the broker sends them again. Does not unsubscribe, since that would drop
   * what a persistent session holds.
   */
  async stop(): Promise<void> {
    if (this.#state === 'new') this.#state = 'closed';
    if (this.#state !== 'running') return;
    this.#state = 'stopping';
    this.#waits.wakeAll();
    for (const { d, cb } of this.#pending.splice(0)) {
      d.state = 'abandoned';
      cb();
    }
    for (const d of this.#queue.splice(0)) d.state = 'abandoned';
    while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
    this.#flush();
    this.#verdicts.flush();
    this.#state = 'closed';
    if (this.#ownDl) await this.#dl?.endAsync().catch(() => undefined);
  }

  async #connectDeadLetterClient(): Promise<void> {
    let dl = this.#o.deadLetterClient;
    if (dl === undefined) {
      const o: IClientOptions = { ...this.#client.options };
      for (const k of ['clientId', 'will', 'properties', 'customHandleAcks', 'incomingStore', 'outgoingStore', 'messageIdProvider', 'authPacket', 'manualConnect'] as const) delete o[k];
      o.clientId = `${this.#client.options.clientId ?? 'sealq'}-dl-${randomBytes(3).toString('hex')}`;
      o.clean = true;
      dl = await withTimeout(connectAsync(o), this.#dlTimeout, 'connecting the dead-letter client');
      this.#ownDl = true;
    }
    this.#dl = dl;
    this.#dlV5 = protocolVersionOf(dl) === 5;
    if (this.#keep === 'subscriber' && !this.#dlV5) throw new InvalidArgumentError('deadLetter.keep "subscriber" needs an MQTT 5 dead-letter client: only MQTT 5 acknowledgements say whether a subscriber received the dead letter');
    dl.on('packetreceive', (p) => {
      if (p.cmd === 'puback' && p.messageId !== undefined && p.reasonCode !== undefined) this.#pubackCodes.set(p.messageId, p.reasonCode);
    });
  }

  #arrive(packet: IPublishPacket, cb: DoneCallback): void {
    const d: Delivery = { packet, epoch: this.#epoch, abort: new AbortController(), state: 'open' };
    if (packet.qos > 0 && packet.messageId !== undefined) {
      this.#awaitingPuback.set(packet.messageId, d);
      this.#order.push(d);
    }
    if (this.#state !== 'running') {
      d.state = 'abandoned'; // never acknowledged: the broker keeps it for the session
      cb();
      return;
    }
    if (this.#accepted < this.#maxAccepted) this.#accept(d, cb);
    else this.#pending.push({ d, cb });
  }

  #accept(d: Delivery, cb: DoneCallback): void {
    this.#accepted++;
    this.#queue.push(d);
    cb(); // mqtt.js sends the PUBACK now: it is held (see start)
    this.#pump();
  }

  #pump(): void {
    while (this.#state === 'running' && this.#running < this.#concurrency && this.#queue.length > 0) {
      const d = this.#queue.shift()!;
      this.#running++;
      const p = this.#process(d)
        .catch((e: unknown) => {
          this.#onError(errorOf(e), d.packet); // not expected: every path settles the message
          d.state = 'abandoned';
        })
        .finally(() => {
          this.#active.delete(p);
          this.#running--;
          this.#accepted--;
          this.#flush();
          const next = this.#pending.shift();
          if (next !== undefined) this.#accept(next.d, next.cb);
          else this.#pump();
        });
      this.#active.add(p);
    }
  }

  /** Sends the held PUBACKs that may leave: in arrival order, up to the first message not settled. */
  #flush(): void {
    while (this.#order.length > 0) {
      const d = this.#order[0]!;
      if (d.state === 'open') return;
      if (d.state === 'acked' && d.puback === undefined && d.epoch === this.#epoch) return; // mqtt.js has not produced it yet
      this.#order.shift();
      if (d.state === 'acked' && d.puback !== undefined && d.epoch === this.#epoch && this.#client.connected) {
        try {
          this.#send!(d.puback);
        } catch (e) {
          this.#onError(errorOf(e), d.packet);
        }
      }
    }
  }

  #ack(d: Delivery): void {
    d.state = 'acked';
  }

  /** Waits `t` ms unless stopping (then at once). */
  #wait(t: number): Promise<void> {
    return this.#waits.wait(t, this.#state === 'running');
  }

  async #process(d: Delivery): Promise<void> {
    const { packet } = d;
    if (packet.retain && this.#retained === 'ignore') {
      this.stats.skipped++;
      return this.#ack(d);
    }
    for (let failures = 0; ; ) {
      if (this.#state !== 'running') {
        d.state = 'abandoned'; // stopping: not acknowledged, the broker keeps it
        return;
      }
      let claimed: ClaimedMessage;
      try {
        claimed = await openAndClaim(this.#o.keyring, envelopeOf(packet, this.#carrier), { ...this.#open, ctx: mqttContext(packet.topic), replay: this.#replay, lease: this.#lease });
      } catch (e) {
        if (isSealqError(e) && e.retryable) {
          this.#onError(e, packet); // in flight elsewhere, or the store could not answer
          this.stats.retried++;
          await this.#wait(jittered(this.#busyDelay));
        } else if (e instanceof RejectionError) {
          if (e.code === 'ERR_REPLAYED' && packet.retain) {
            this.stats.skipped++; // retained state this scope has processed: the broker repeats it to each subscription
            return this.#ack(d);
          }
          return this.#deadLetterThenAck(d, e.code, e.message);
        } else {
          this.#onError(errorOf(e), packet); // a usage error (options, keyring): keep the message until fixed
          this.stats.retried++;
          await this.#wait(this.#busyDelay);
        }
        continue;
      }

      if (claimed.wouldReject !== undefined) {
        // Report mode. Retained state this scope processed before is still skipped: not a replay attack.
        if (claimed.wouldReject.code === 'ERR_REPLAYED' && packet.retain) {
          this.stats.skipped++;
          return this.#ack(d);
        }
        this.#verdicts.letThrough(claimed);
      }
      const message: MqttMessage = {
        payload: claimed.payload,
        header: claimed.header,
        validUntil: claimed.validUntil,
        topic: packet.topic,
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup,
        properties: packet.properties,
        signal: d.abort.signal,
        ...(claimed.wouldReject === undefined ? {} : { wouldReject: claimed.wouldReject }),
      };
      const stopKeepAlive = keepLeaseAlive(claimed, this.#lease, (e) => this.#onError(e, packet));
      try {
        await this.#o.handler(message);
      } catch (e) {
        stopKeepAlive();
        await claimed.release().catch(() => undefined); // the lease lapses anyway
        const error = errorOf(e);
        failures++;
        const decision = decideRetry(this.#o, { error, message, failures }, 'retry', (pe) => this.#onError(pe, packet));
        if (decision === 'dead-letter') return this.#deadLetterThenAck(d, HANDLER_FAILED, handlerFailedReason(failures, error));
        this.#onError(error, packet);
        this.stats.retried++;
        await this.#wait(this.#retryDelay);
        continue;
      }
      stopKeepAlive();
      try {
        await claimed.complete();
      } catch (e) {
        // The work is done: running it again would do it twice. An operator decides.
        return this.#deadLetterThenAck(d, 'ERR_COMPLETION_NOT_RECORDED', completionNotRecordedReason(e, e instanceof CompletionNotRecordedError));
      }
      this.stats.processed++;
      return this.#ack(d);
    }
  }

  /**
   * Publishes the dead letter and acknowledges the original once the broker acknowledged the dead
   * letter; tries again (holding the original) until it does, or until stop().
   */
  async #deadLetterThenAck(d: Delivery, code: DeadLetterCode, reason: string): Promise<void> {
    const { packet } = d;
    const dead: MqttDeadLetter = {
      code,
      reason,
      at: new Date().toISOString(),
      topic: packet.topic,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      subscriber: this.#client.options.clientId ?? '',
      id: randomBytes(12).toString('base64url'),
    };
    for (let wait = this.#busyDelay; ; wait = backoff(wait)) {
      try {
        await this.#publishDeadLetter(packet, dead);
        break;
      } catch (e) {
        const running = this.#state === 'running';
        const then = running ? 'holding it and trying again' : code === 'ERR_COMPLETION_NOT_RECORDED' ? 'left unacknowledged: it may run again once its lease lapses' : 'left unacknowledged';
        this.#onError(new Error(`could not dead-letter a message rejected with ${code} (${errorOf(e).message}); ${then}`), packet);
        if (!running) {
          d.state = 'abandoned';
          return;
        }
        this.stats.retried++;
        await this.#wait(wait);
      }
    }
    this.stats.deadLettered++;
    this.#ack(d);
    let envelope: Envelope | undefined;
    try {
      envelope = envelopeOf(packet, this.#carrier);
    } catch {
      // two seals: nothing readable to report
    }
    this.#verdicts.deadLettered(code, envelope);
    try {
      this.#o.onDeadLetter?.(dead, packet);
    } catch (e) {
      this.#onError(errorOf(e), packet);
    }
  }

  async #publishDeadLetter(packet: IPublishPacket, dead: MqttDeadLetter): Promise<void> {
    const topic = this.#deadLetterTopic(packet.topic, dead.id);
    if (this.#subs.some((s) => topicMatches(s.filter, topic))) throw new Error(`the dead-letter topic "${topic}" matches this subscriber's own filters`);
    const { payload, options } = deadLetterOf(packet, dead, this.#dlV5, this.#keep === 'retain');
    const sent = await withTimeout(this.#dl!.publishAsync(topic, payload, options), this.#dlTimeout, 'the broker acknowledging the dead letter');
    const id = sent?.messageId;
    const code = id === undefined ? undefined : this.#pubackCodes.get(id);
    if (id !== undefined) this.#pubackCodes.delete(id);
    if (this.#keep === 'subscriber' && code === NO_MATCHING_SUBSCRIBERS) throw new Error(`no subscriber received it on "${topic}" (start the dead-letter archiver's persistent session, or use deadLetter.keep "retain")`);
  }
}

/** Connects a client made with manualConnect, resolving on its first CONNACK. */
function connectNow(c: MqttClient, t: number): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        c.off('error', onError);
        resolve();
      };
      const onError = (e: Error): void => {
        c.off('connect', onConnect);
        reject(new Error(`could not connect the client: ${e.message}`, { cause: e }));
      };
      c.once('connect', onConnect);
      c.once('error', onError);
      c.connect();
    }),
    t,
    'the client to connect',
  );
}

function withTimeout<T>(p: Promise<T>, t: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${t} ms waiting for ${what}`)), t);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
