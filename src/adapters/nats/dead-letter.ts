import { headers as natsHeaders } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';
import { DEAD_LETTER_AT, DEAD_LETTER_CODE, DEAD_LETTER_REASON, isDeadLetterCode } from '../shared/dead-letter-code.js';
import type { DeadLetterCode } from '../shared/dead-letter-code.js';

/**
 * Dead letters: the rejected message's body byte for byte and its headers (the `sealq` seal
 * included), plus headers of their own saying why, when and where it was rejected. Published to
 * a subject a stream captures, so they are kept until an operator looks.
 *
 * `Nats-*` headers are not copied as they are: the server acts on them when a message is
 * published (`Nats-Msg-Id` would make the dead-letter stream drop the dead letter of a second copy
 * as a duplicate, `Nats-Expected-*` would refuse it, `Nats-TTL` would expire it), so each is kept
 * as `sealq-original-<name>`.
 */
export const DEAD_LETTER_HEADERS = {
  code: DEAD_LETTER_CODE, // rejection code (ERR_SIGNATURE_INVALID, ERR_REPLAYED, ...), ERR_COMPLETION_NOT_RECORDED or ERR_HANDLER_FAILED
  reason: DEAD_LETTER_REASON, // the error message
  at: DEAD_LETTER_AT, // when it was dead-lettered (ISO 8601)
  stream: 'sealq-stream', // the stream it was consumed from
  consumer: 'sealq-consumer', // by which JetStream consumer
  subject: 'sealq-subject', // the subject it was stored under (as delivered)
  seq: 'sealq-seq', // its stream sequence number
  deliveries: 'sealq-deliveries', // how many times the server had delivered it, this time included
} as const;

/** Prefix under which the original's `Nats-*` headers are kept. */
export const ORIGINAL_HEADER_PREFIX = 'sealq-original-';

export interface NatsDeadLetter {
  readonly code: DeadLetterCode;
  readonly reason: string;
  readonly at: string;
  readonly stream: string;
  readonly consumer: string;
  readonly subject: string;
  readonly seq: number;
  readonly deliveries: number;
}

// NATS header values are one line.
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/** The headers of the dead letter of a message that carried `original`. */
export function deadLetterHeaders(original: MsgHdrs | undefined, d: NatsDeadLetter): MsgHdrs {
  const h = natsHeaders();
  // First, and never set again (set moves a header to the end): the server finds Nats-Msg-Id by
  // searching the header block for its first occurrence, which must not be inside
  // `sealq-original-Nats-Msg-Id` or some header's value.
  h.set('Nats-Msg-Id', deadLetterMsgId(d));
  for (const [k, vs] of original ?? []) {
    const name = /^nats-/i.test(k) ? ORIGINAL_HEADER_PREFIX + k : k;
    for (const v of vs) h.append(name, v);
  }
  const H = DEAD_LETTER_HEADERS;
  // set, not append: a header of the original under one of these names must not pose as ours
  h.set(H.code, d.code);
  h.set(H.reason, oneLine(d.reason));
  h.set(H.at, d.at);
  h.set(H.stream, d.stream);
  h.set(H.consumer, d.consumer);
  h.set(H.subject, d.subject);
  h.set(H.seq, String(d.seq));
  h.set(H.deliveries, String(d.deliveries));
  return h;
}

/**
 * The dead letter's own Nats-Msg-Id: one per stored message and consumer, so a consumer that
 * crashes between the dead letter's acknowledgement and terminating the original does not leave
 * a second dead letter (inside the dead-letter stream's duplicate window).
 */
export function deadLetterMsgId(d: Pick<NatsDeadLetter, 'stream' | 'seq' | 'consumer'>): string {
  return `sealq-dl:${d.stream}:${d.seq}:${d.consumer}`;
}

/** Reads the dead-letter headers of a message taken from a dead-letter stream; undefined when it is not a sealq dead letter. */
export function parseDeadLetter(h: MsgHdrs | undefined): NatsDeadLetter | undefined {
  const H = DEAD_LETTER_HEADERS;
  const s = (k: string): string => (h?.has(k) ? h.get(k) : '');
  const code = s(H.code);
  if (!isDeadLetterCode(code)) return undefined;
  return {
    code,
    reason: s(H.reason),
    at: s(H.at),
    stream: s(H.stream),
    consumer: s(H.consumer),
    subject: s(H.subject),
    seq: Number(s(H.seq)),
    deliveries: Number(s(H.deliveries)),
  };
}
