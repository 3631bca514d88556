/** Bounds checked before any cryptographic work, so memory and CPU stay bounded on hostile input. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
export const MAX_HEADER_BYTES = 4096;
export const MAX_SIGNATURES = 4;
export const MAX_SIG_BYTES = 512;
export const MAX_NAME_LENGTH = 256;
export const MAX_ID_LENGTH = 128;

const b64len = (n: number): number => Math.ceil((n * 4) / 3);

/** Largest compact envelope (characters) that can hold a payload of `maxPayloadBytes`. */
export function maxCompactLength(maxPayloadBytes: number): number {
  return 8 + b64len(maxPayloadBytes) + MAX_SIGNATURES * (2 + b64len(MAX_HEADER_BYTES) + b64len(MAX_SIG_BYTES));
}
