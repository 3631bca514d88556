/**
 * Ed25519 public key validation (SPEC §7.1). node:crypto imports any 32 bytes as an Ed25519
 * public key without decoding them, so the three checks a key needs are made here, on the
 * encoding, with BigInt arithmetic (RFC 8032 §5.1.3):
 *
 * - canonical: y < p. Other libraries reduce y mod p, so a key with y >= p names the same point
 *   under two encodings, and implementations disagree about it.
 * - on the curve: x² = (y² - 1) / (d·y² + 1) must have a solution; no signature verifies under a
 *   key that is not a point.
 * - not of small order: the eight points of order 1, 2, 4 and 8 let one signature verify for
 *   many messages (whatever the message, [k]A is one of eight points), so such a key vouches for
 *   nothing. Their y coordinates are 1, -1, 0 and ±Y8 below; checking y covers both signs of x.
 *
 * Runs once per key import, never per message.
 */
const P = 2n ** 255n - 19n;

function pow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = base % P;
  for (let e = exp; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}

const mod = (a: bigint): bigint => ((a % P) + P) % P;
const D = mod(-121665n * pow(121666n, P - 2n));
/** y of the points of order 8 (the other two: P - Y8). */
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8]);

/** Why `x` (the 32-byte encoded public key) is not acceptable, or undefined when it is. */
export function ed25519PublicKeyProblem(x: Uint8Array): string | undefined {
  if (x.length !== 32) return `x must be 32 bytes, got ${x.length}`;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? x[i]! & 0x7f : x[i]!);
  if (y >= P) return 'x is not the canonical encoding of a point (its y is not below 2^255 - 19)';
  if (SMALL_ORDER_Y.has(y)) return 'x is a point of small order, under which forged signatures verify';
  const y2 = (y * y) % P;
  const w = (mod(y2 - 1n) * pow(D * y2 + 1n, P - 2n)) % P;
  // Euler's criterion: w is a square mod p exactly when w^((p-1)/2) is 1 (w = 0 means y = ±1, handled above).
  if (pow(w, (P - 1n) / 2n) !== 1n) return 'x is not a point on the curve';
  return undefined;
}
