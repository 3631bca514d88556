/**
 * sealq/mqtt: signed, replay-proof MQTT messages through mqtt.js 5, an optional peer dependency
 * of sealq needed only here. Over MQTT 5 the body stays the payload and the seal travels in the
 * `sealq` user property (the headers carrier, docs/SPEC.md §5.6); over MQTT 3.1.1 the compact
 * envelope is the body (carrier `compact`).
 */
export { publishSealed } from './publish.js';
export type { PublishSealedOptions, PublishedSeal } from './publish.js';
export { SealedMqttSubscriber } from './subscriber.js';
export type { MqttMessage, MqttSubscriberStats, HandlerFailure, SealedMqttSubscriberOptions } from './subscriber.js';
export type { MqttCarrier } from './carrier.js';
export { mqttContext, parseMqttContext, topicMatches, MQTT_CTX_PREFIX } from './context.js';
export { parseDeadLetter, defaultDeadLetterTopic, DEAD_LETTER_PROPERTIES } from './dead-letter.js';
export type { MqttDeadLetter, DeadLetterKeep } from './dead-letter.js';
export { HANDLER_FAILED } from '../shared/dead-letter-code.js';
export type { DeadLetterCode } from '../shared/dead-letter-code.js';
