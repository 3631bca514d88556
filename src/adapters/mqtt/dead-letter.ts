import type { IClientPublishOptions, IPublishPacket } from 'mqtt';
import { DEAD_LETTER_AT, DEAD_LETTER_CODE, DEAD_LETTER_REASON, isDeadLetterCode } from '../shared/dead-letter-code.js';
import type { DeadLetterCode } from '../shared/dead-letter-code.js';
import { sortedUserProperties } from './carrier.js';
import type { UserProperties } from './carrier.js';

/**
 * Dead letters. MQTT has no dead-letter queue: a rejected message is published again, with why,
 * when and where, to a dead-letter topic, before the original is acknowledged.
 *
 * Over MQTT 5 the dead letter is the original's body byte for byte with its user properties (the
 * `sealq` seal included) and its contentType, payloadFormatIndicator, responseTopic and
 * correlationData, plus the user properties below. The original's messageExpiryInterval would
 * make the dead letter expire, so it is kept as `sealq-message-expiry` instead.
 *
 * Over MQTT 3.1.1 (no properties) the dead letter's body is JSON: the fields below under their
 * short names, and the original body in base64 (`payload`).
 */
export const DEAD_LETTER_PROPERTIES = {
  code: DEAD_LETTER_CODE, // rejection code (ERR_SIGNATURE_INVALID, ERR_REPLAYED, ...), ERR_COMPLETION_NOT_RECORDED or ERR_HANDLER_FAILED
  reason: DEAD_LETTER_REASON, // the error message
  at: DEAD_LETTER_AT, // when it was dead-lettered (ISO 8601)
  topic: 'sealq-topic', // the topic it arrived on
  qos: 'sealq-qos', // the QoS it arrived with
  retain: 'sealq-retain', // "true" for a retained copy (sent because of a subscription)
  dup: 'sealq-dup', // "true" when the broker was sending it again
  subscriber: 'sealq-subscriber', // the client id of the subscriber that rejected it
  id: 'sealq-dead-letter-id', // a random id of this dead letter
  messageExpiry: 'sealq-message-expiry', // the original's message expiry interval (seconds)
} as const;

export interface MqttDeadLetter {
  readonly code: DeadLetterCode;
  readonly reason: string;
  readonly at: string;
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly subscriber: string;
  readonly id: string;
}

/**
 * How dead letters are kept:
 * - `retain` (default): each is published as a retained message under its own topic,
 *   `<dead-letter topic>/<dead-letter id>`, so the broker keeps it whether or not anyone
 *   subscribes (and, with persistence, across restarts) until an operator clears it;
 * - `subscriber`: published to `<dead-letter topic>`, not retained; it counts as kept only when
 *   the broker reports that a subscriber received it (a persistent session of a dead-letter
 *   archiver), else the original is held and the dead letter tried again. MQTT 5 only.
 */
export type DeadLetterKeep = 'retain' | 'subscriber';

/** The dead-letter topic of a message received on `topic`: `sealq/dead-letter/<topic>`. */
export const defaultDeadLetterTopic = (topic: string): string => `sealq/dead-letter/${topic}`;

const reasonLimit = (s: string): string => (s.length > 2000 ? `${s.slice(0, 2000)}...` : s);

/** Body and publish options of the dead letter of `packet`. */
export function deadLetterOf(packet: IPublishPacket, d: MqttDeadLetter, v5: boolean, retain: boolean): { payload: Buffer; options: IClientPublishOptions } {
  const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
  const options: IClientPublishOptions = { qos: 1, retain };
  if (!v5) {
    const json = { sealq: 'dead-letter', code: d.code, reason: reasonLimit(d.reason), at: d.at, topic: d.topic, qos: d.qos, retain: d.retain, dup: d.dup, subscriber: d.subscriber, id: d.id, payload: body.toString('base64') };
    return { payload: Buffer.from(JSON.stringify(json), 'utf8'), options };
  }
  const P = DEAD_LETTER_PROPERTIES;
  const p = packet.properties ?? {};
  const user: UserProperties = { ...p.userProperties };
  Object.assign(user, {
    [P.code]: d.code,
    [P.reason]: reasonLimit(d.reason),
    [P.at]: d.at,
    [P.topic]: d.topic,
    [P.qos]: String(d.qos),
    [P.retain]: String(d.retain),
    [P.dup]: String(d.dup),
    [P.subscriber]: d.subscriber,
    [P.id]: d.id,
  });
  if (p.messageExpiryInterval !== undefined) user[P.messageExpiry] = String(p.messageExpiryInterval);
  else delete user[P.messageExpiry]; // the original's own property of that name must not pose as ours
  const properties: NonNullable<IPublishPacket['properties']> = { userProperties: sortedUserProperties(user) };
  if (p.contentType !== undefined) properties.contentType = p.contentType;
  if (p.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = p.payloadFormatIndicator;
  if (p.responseTopic !== undefined) properties.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) properties.correlationData = p.correlationData;
  options.properties = properties;
  return { payload: body, options };
}

/**
 * Reads a message taken from a dead-letter topic (MQTT 5 user properties, or the 3.1.1 JSON
 * body): the dead letter, and the original body. Undefined when it is not a sealq dead letter
 * (an empty retained message clearing one included).
 */
export function parseDeadLetter(packet: Pick<IPublishPacket, 'payload' | 'properties'>): { deadLetter: MqttDeadLetter; payload: Buffer } | undefined {
  const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
  const u = packet.properties?.userProperties;
  const P = DEAD_LETTER_PROPERTIES;
  if (u !== undefined && u[P.code] !== undefined) {
    const s = (k: string): string => {
      const v = u[k];
      return typeof v === 'string' ? v : '';
    };
    const code = s(P.code);
    if (!isDeadLetterCode(code)) return undefined;
    const deadLetter = { code, reason: s(P.reason), at: s(P.at), topic: s(P.topic), qos: Number(s(P.qos)), retain: s(P.retain) === 'true', dup: s(P.dup) === 'true', subscriber: s(P.subscriber), id: s(P.id) };
    return { deadLetter, payload: body };
  }
  if (body.length === 0 || body[0] !== 0x7b) return undefined;
  try {
    const j = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    if (j.sealq !== 'dead-letter' || !isDeadLetterCode(j.code) || typeof j.payload !== 'string') return undefined;
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const deadLetter = { code: j.code, reason: str(j.reason), at: str(j.at), topic: str(j.topic), qos: Number(j.qos), retain: j.retain === true, dup: j.dup === true, subscriber: str(j.subscriber), id: str(j.id) };
    return { deadLetter, payload: Buffer.from(j.payload, 'base64') };
  } catch {
    return undefined;
  }
}
