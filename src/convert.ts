import { decodeCompact, decodeObject, encodeCompact, encodeObject } from './envelope/carriers.js';
import type { SealedObject } from './envelope/carriers.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './envelope/limits.js';

/** Moves an envelope between carriers without touching the signed bytes (no verification). */
export function toObject(compact: string, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): SealedObject {
  return encodeObject(decodeCompact(compact, maxPayloadBytes));
}

export function toCompact(object: SealedObject, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): string {
  return encodeCompact(decodeObject(object, maxPayloadBytes));
}
