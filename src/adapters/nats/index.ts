/**
 * sealq/nats: signed, replay-proof NATS JetStream messages through the v3 clients
 * (@nats-io/transport-node and @nats-io/jetstream), optional peer dependencies of sealq needed
 * only here. The body stays the payload; the seal travels in the `sealq` header (the headers
 * carrier, docs/SPEC.md §5.6); the message id is also the `Nats-Msg-Id`.
 */
export { publishSealed, MSG_ID_HEADER } from './publish.js';
export type { PublishSealedOptions, PublishedSeal } from './publish.js';
export { SealedNatsConsumer, DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECT_PREFIX, termTakesReason } from './consumer.js';
export type { NatsMessage, NatsConsumerStats, HandlerFailure, SealedNatsConsumerOptions } from './consumer.js';
export { natsContext, parseNatsContext, subjectMatches, NATS_CTX_PREFIX } from './context.js';
export { parseDeadLetter, DEAD_LETTER_HEADERS, ORIGINAL_HEADER_PREFIX } from './dead-letter.js';
export type { NatsDeadLetter } from './dead-letter.js';
export { HANDLER_FAILED } from '../shared/dead-letter-code.js';
export type { DeadLetterCode } from '../shared/dead-letter-code.js';
