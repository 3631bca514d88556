/**
 * sealq/amqp: signed, replay-proof RabbitMQ messages (AMQP 0-9-1) through amqplib, an optional
 * peer dependency of sealq needed only here. The body stays the payload; the seal travels in the
 * `sealq` header (the headers carrier, docs/SPEC.md §5.6).
 */
export { publishSealed, sendSealed } from './publish.js';
export type { PublishSealedOptions, PublishedSeal } from './publish.js';
export { SealedAmqpConsumer } from './consumer.js';
export type { AmqpConnection, AmqpMessage, AmqpConsumerStats, HandlerFailure, SealedConsumerOptions } from './consumer.js';
export { amqpContext, parseAmqpContext, topicMatches, AMQP_CTX_PREFIX } from './context.js';
export type { AmqpAddress } from './context.js';
export { parseDeadLetter, DEAD_LETTER_HEADERS, HANDLER_FAILED } from './dead-letter.js';
export type { AmqpDeadLetter, AmqpDeadLetterCode, DeadLetterTarget } from './dead-letter.js';
