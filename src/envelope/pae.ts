const PREFIX = Buffer.from('sealq/v1 ', 'latin1');

/** Writes n in ASCII decimal at o; returns the offset after it. Byte by byte: cheaper than a string write. */
function putDecimal(out: Buffer, o: number, n: number): number {
  const s = String(n);
  for (let i = 0; i < s.length; i++) out[o + i] = s.charCodeAt(i);
  return o + s.length;
}

// Synchronous sign/verify consume the input before returning, so one buffer serves every call
// (fewer allocations on the hot path). Never passed to a signer that could keep it (async ones).
const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024);

const digits = (n: number): number => (n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : String(n).length);

/**
 * The signing input: a pre-authentication encoding as in DSSE (SPEC §4),
 *   "sealq/v1" SP len(header) SP header SP len(payload) SP payload
 * with lengths in ASCII decimal. Each part is length-prefixed, so no two distinct
 * (header, payload) pairs share a signing input and nothing needs canonicalising.
 */
export function signingInput(header: Uint8Array, payload: Uint8Array, reuse = false): Buffer {
  const n = PREFIX.length + digits(header.length) + 1 + header.length + 1 + digits(payload.length) + 1 + payload.length;
  const out = reuse && n <= SCRATCH.length ? SCRATCH.subarray(0, n) : Buffer.allocUnsafe(n);
  PREFIX.copy(out, 0);
  let o = putDecimal(out, PREFIX.length, header.length);
  out[o++] = 0x20;
  out.set(header, o);
  o += header.length;
  out[o++] = 0x20;
  o = putDecimal(out, o, payload.length);
  out[o++] = 0x20;
  out.set(payload, o);
  return out;
}
