import { parseHeader } from './envelope/header.js';
import type { Header } from './envelope/header.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './envelope/limits.js';
import { decode } from './open.js';
import type { Envelope } from './open.js';

export interface InspectedEnvelope {
  /** Always false: nothing here was verified. Never act on it. */
  readonly verified: false;
  readonly headers: readonly Header[];
  readonly kids: readonly string[];
  readonly payloadBytes: number;
}

/** Decodes an envelope's headers WITHOUT verifying anything: for debugging and operators only. */
export function inspectEnvelope(envelope: Envelope, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): InspectedEnvelope {
  const raw = decode(envelope, maxPayloadBytes);
  const headers = raw.signatures.map((s) => parseHeader(s.header));
  return { verified: false, headers, kids: headers.map((h) => h.kid), payloadBytes: raw.payload.length };
}
