/**
 * sealq/redis-streams: signed, replay-proof Redis Streams entries. ioredis is an optional peer
 * dependency of sealq, needed only here and in sealq/redis.
 */
export { xaddSealed, ENVELOPE_FIELD } from './producer.js';
export type { XAddSealedOptions } from './producer.js';
export { SealedStreamConsumer, HANDLER_FAILED } from './consumer.js';
export type { SealedStreamConsumerOptions, StreamMessage, StreamConsumerStats } from './consumer.js';
export { parseDeadLetter, DEAD_LETTER_FIELDS, DEAD_LETTER_SUFFIX } from './dead-letter.js';
export type { DeadLetter, DeadLetterCode } from './dead-letter.js';
export { scopeReplayStore } from '../shared/scoped-replay-store.js';
