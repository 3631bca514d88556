import type { ConsumeMessage, Message, MessageProperties, Options } from 'amqplib';
import { DEAD_LETTER_AT, DEAD_LETTER_CODE, DEAD_LETTER_REASON, HANDLER_FAILED, isDeadLetterCode } from '../shared/dead-letter-code.js';
import type { DeadLetterCode } from '../shared/dead-letter-code.js';

/**
 * Dead letters: the rejected message as it was (body byte for byte, its properties, its headers,
 * the `sealq` seal included) plus, in headers of its own, why, when and where it was rejected.
 *
 * Three things cannot be copied as they were, because the broker acts on them when the dead
 * letter is published; each is kept in a header instead:
 * - `expiration` (a per-message TTL would make the dead letter expire): `sealq-expiration`;
 * - `userId` (RabbitMQ refuses a user id other than the publishing connection's): `sealq-user-id`;
 * - the `CC` and `BCC` headers (RabbitMQ would route copies to those queues): `sealq-cc`, `sealq-bcc`.
 * Dead letters are persistent whatever the original's delivery mode.
 */
export const DEAD_LETTER_HEADERS = {
  code: DEAD_LETTER_CODE, // rejection code (ERR_SIGNATURE_INVALID, ERR_REPLAYED, ...), ERR_COMPLETION_NOT_RECORDED or ERR_HANDLER_FAILED
  reason: DEAD_LETTER_REASON, // the error message
  at: DEAD_LETTER_AT, // when it was dead-lettered (ISO 8601)
  queue: 'sealq-queue', // the queue it was consumed from
  exchange: 'sealq-exchange', // the exchange it was delivered through (broker-set, as delivered)
  routingKey: 'sealq-routing-key', // its routing key (as delivered)
  redelivered: 'sealq-redelivered', // the broker's redelivered flag (it had been delivered before)
  consumer: 'sealq-consumer', // the consumer tag that rejected it
  expiration: 'sealq-expiration',
  userId: 'sealq-user-id',
  cc: 'sealq-cc',
  bcc: 'sealq-bcc',
  headersOmitted: 'sealq-headers-omitted', // set when the original headers were too large to copy
} as const;

export { HANDLER_FAILED };

/** Every code an amqp dead letter can carry: the same as every adapter's. */
export type AmqpDeadLetterCode = DeadLetterCode;

export interface AmqpDeadLetter {
  readonly code: AmqpDeadLetterCode;
  readonly reason: string;
  readonly at: string;
  readonly queue: string;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly consumer: string;
}

/** Where dead letters go: a queue (through the default exchange), or an exchange and routing key. */
export type DeadLetterTarget = { readonly exchange: string; readonly routingKey: string };

/** The body and publish options of the dead letter of `msg`. */
export function deadLetterOf(msg: Message, d: AmqpDeadLetter, omitHeaders = false): { content: Buffer; options: Options.Publish } {
  const p: MessageProperties = msg.properties;
  const H = DEAD_LETTER_HEADERS;
  const headers: Record<string, unknown> = {};
  const original = (p.headers ?? {}) as Record<string, unknown>;
  if (omitHeaders) {
    // Only the seal, so the verdict can still be checked (`sealq inspect`).
    if (original.sealq !== undefined) headers.sealq = original.sealq;
    headers[H.headersOmitted] = `${Object.keys(original).length} headers, too large to copy next to the dead-letter headers`;
  } else {
    for (const [k, v] of Object.entries(original)) {
      if (k === 'CC') headers[H.cc] = v;
      else if (k === 'BCC') headers[H.bcc] = v;
      else headers[k] = v;
    }
  }
  Object.assign(headers, {
    [H.code]: d.code,
    [H.reason]: d.reason,
    [H.at]: d.at,
    [H.queue]: d.queue,
    [H.exchange]: d.exchange,
    [H.routingKey]: d.routingKey,
    [H.redelivered]: d.redelivered,
    [H.consumer]: d.consumer,
  });
  if (p.expiration !== undefined) headers[H.expiration] = String(p.expiration);
  if (p.userId !== undefined) headers[H.userId] = String(p.userId);
  const options: Options.Publish = { headers, persistent: true, mandatory: true };
  const copy = ['contentType', 'contentEncoding', 'priority', 'correlationId', 'replyTo', 'messageId', 'timestamp', 'type', 'appId'] as const;
  for (const k of copy) if (p[k] !== undefined) (options as Record<string, unknown>)[k] = p[k];
  return { content: msg.content, options };
}

/**
 * Reads the dead-letter headers of a message taken from a dead-letter queue; undefined when it is
 * not a sealq dead letter, or carries a code this version does not know.
 */
export function parseDeadLetter(msg: Pick<ConsumeMessage, 'properties'>): AmqpDeadLetter | undefined {
  const h = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const H = DEAD_LETTER_HEADERS;
  const s = (k: string): string | undefined => (typeof h[k] === 'string' ? h[k] : Buffer.isBuffer(h[k]) ? h[k].toString('utf8') : undefined);
  const code = s(H.code);
  if (code === undefined || !isDeadLetterCode(code)) return undefined;
  return {
    code,
    reason: s(H.reason) ?? '',
    at: s(H.at) ?? '',
    queue: s(H.queue) ?? '',
    exchange: s(H.exchange) ?? '',
    routingKey: s(H.routingKey) ?? '',
    redelivered: h[H.redelivered] === true,
    consumer: s(H.consumer) ?? '',
  };
}
