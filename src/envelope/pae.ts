/**
 * The signing input: a pre-authentication encoding as in DSSE (SPEC §4),
 *   "sealq/v1" SP len(header) SP header SP len(payload) SP payload
 * with lengths in ASCII decimal. Each part is length-prefixed, so no two distinct
 * (header, payload) pairs share a signing input and nothing needs canonicalising.
 */
export function signingInput(header: Uint8Array, payload: Uint8Array): Buffer {
  const a = `sealq/v1 ${header.length} `;
  const b = ` ${payload.length} `;
  const out = Buffer.allocUnsafe(a.length + header.length + b.length + payload.length);
  let o = out.write(a, 0, 'latin1');
  out.set(header, o);
  o += header.length;
  o += out.write(b, o, 'latin1');
  out.set(payload, o);
  return out;
}
