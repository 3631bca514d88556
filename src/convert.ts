import { decodeCompact, decodeDetached, decodeObject, encodeCompact, encodeDetached, encodeObject, isDetachedEnvelope, parseObjectText } from './envelope/carriers.js';
import type { DetachedEnvelope, RawEnvelope, SealedObject } from './envelope/carriers.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './envelope/limits.js';

// Moves an envelope between carriers without touching the signed bytes (no verification).

function raw(envelope: string | SealedObject | DetachedEnvelope, max: number): RawEnvelope {
  if (typeof envelope === 'string') return decodeCompact(envelope, max);
  if (isDetachedEnvelope(envelope)) return decodeDetached(envelope, max);
  return decodeObject(envelope, max);
}

/** To the JSON object carrier (for queues that store JSON). */
export function toObject(envelope: string | DetachedEnvelope, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): SealedObject {
  return encodeObject(raw(envelope, maxPayloadBytes));
}

/** To the compact string. */
export function toCompact(envelope: SealedObject | DetachedEnvelope, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): string {
  return encodeCompact(raw(envelope, maxPayloadBytes));
}

/** To the headers carrier: the payload as the body, the seal as the `sealq` header's value. */
export function toDetached(envelope: string | SealedObject, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): DetachedEnvelope {
  return encodeDetached(raw(envelope, maxPayloadBytes));
}

/**
 * The object carrier from its JSON text, refusing duplicate member names (SPEC §5.3). Use it
 * when you hold the text, instead of JSON.parse, which silently keeps the last duplicate.
 */
export function parseSealedObject(text: string | Uint8Array, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): SealedObject {
  return parseObjectText(text, maxPayloadBytes);
}
