import { createPrivateKey, createPublicKey, createSecretKey, randomBytes } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { ALG_SPECS, isAlg } from '../crypto/algorithms.js';
import type { Alg } from '../crypto/algorithms.js';
import { InvalidKeyError } from '../errors.js';
import { KEY_STATUSES, SealKey } from './key.js';
import type { KeyInfo, KeyLifecycle, KeyStatus } from './key.js';
import { ed25519PublicKeyProblem } from './ed25519.js';
import { compilePolicy } from './policy.js';
import { parseKeyTimestamp } from './timestamp.js';
import type { KeyPolicy } from './policy.js';

/**
 * A JWK (RFC 7517) as sealq stores it. Besides the standard members, sealq keeps its key metadata
 * in extension members: `status`, `not_before` / `not_after` (RFC 3339 timestamps) and `policy`,
 * and its rotation history in `added_at`, `promoted_at`, `demoted_at`, `retired_at`, `revoked_at`.
 * Any other member is refused on import (ERR_INVALID_KEY), so a misspelt one cannot go unnoticed.
 */
export interface SealqJwk {
  kty: string;
  kid: string;
  alg: string;
  use?: 'sig';
  status?: KeyStatus;
  not_before?: string;
  not_after?: string;
  policy?: KeyPolicy;
  added_at?: string;
  promoted_at?: string;
  demoted_at?: string;
  retired_at?: string;
  revoked_at?: string;
  // key material members (k, d, x, y, n, e, p, q, dp, dq, qi, crv)
  [member: string]: unknown;
}

export interface Jwks {
  keys: SealqJwk[];
}

/** KeyLifecycle field -> JWK extension member. */
const LIFECYCLE_MEMBERS: ReadonlyArray<readonly [keyof KeyLifecycle, string]> = [
  ['addedAt', 'added_at'],
  ['promotedAt', 'promoted_at'],
  ['demotedAt', 'demoted_at'],
  ['retiredAt', 'retired_at'],
  ['revokedAt', 'revoked_at'],
];

const KID = /^[\x21-\x7e]{1,128}$/;

/**
 * The members a key may have: the registered JWK members (RFC 7517, RFC 7518, RFC 8037) and
 * sealq's own. Anything else is refused, since a misspelt member (`not_afer`, `polcy`) would
 * otherwise be ignored and leave the key with more power than its author meant.
 */
const KNOWN_MEMBERS = new Set([
  'kty', 'use', 'key_ops', 'alg', 'kid', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crv', 'x', 'y', 'd', 'n', 'e', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'ext',
  'status', 'not_before', 'not_after', 'policy', 'added_at', 'promoted_at', 'demoted_at', 'retired_at', 'revoked_at',
]);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
const MATERIAL_MEMBERS = ['k', 'x', 'y', 'n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'];
const CRV: Partial<Record<Alg, string>> = { EdDSA: 'Ed25519', ES256: 'P-256' };

function fail(kid: string, what: string): never {
  throw new InvalidKeyError(`key ${kid === '' ? '(no kid)' : `"${kid}"`}: ${what}`);
}

function time(kid: string, v: unknown, member: string): number | undefined {
  if (v === undefined) return undefined;
  const t = parseKeyTimestamp(v);
  if (t === undefined) fail(kid, `${member} must be an RFC 3339 timestamp with a zone, of a day and time that exist, like 2026-01-31T00:00:00Z`);
  return t;
}

/** Parses one JWK. Material members never appear in an error message. */
export function importJwk(input: unknown, options: { allowPrivate?: boolean } = {}): SealKey {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('', 'a JWK must be a JSON object');
  const jwk = input as Record<string, unknown>;
  const kid = typeof jwk.kid === 'string' && KID.test(jwk.kid) ? jwk.kid : fail('', 'kid must be 1 to 128 printable ASCII characters without spaces');
  for (const member of Object.keys(jwk)) {
    if (!KNOWN_MEMBERS.has(member)) {
      fail(kid, `unknown member ${JSON.stringify(member.slice(0, 40))}: a key holds only JWK members and sealq's (status, not_before, not_after, policy, added_at, promoted_at, demoted_at, retired_at, revoked_at); check its spelling`);
    }
  }
  const kty = jwk.kty;
  // Only an absent member takes the default: `"alg": null` or `"status": null` is refused, not read as absent.
  const alg = jwk.alg !== undefined ? jwk.alg : (kty === 'OKP' ? 'EdDSA' : kty === 'EC' ? 'ES256' : kty === 'RSA' ? 'PS256' : kty === 'oct' ? 'HS256' : undefined);
  if (!isAlg(alg)) fail(kid, `alg ${JSON.stringify(alg)} is not supported; use one of ${Object.keys(ALG_SPECS).join(', ')}`);
  const spec = ALG_SPECS[alg];
  if (kty !== spec.kty) fail(kid, `kty ${JSON.stringify(kty)} does not fit alg ${alg} (expected "${spec.kty}")`);
  if (CRV[alg] !== undefined && jwk.crv !== CRV[alg]) fail(kid, `crv must be "${CRV[alg]}" for ${alg}`);
  if (jwk.use !== undefined && jwk.use !== 'sig') fail(kid, 'use must be "sig" (sealq keys only sign)');
  const status = jwk.status !== undefined ? jwk.status : 'active';
  if (!KEY_STATUSES.includes(status as KeyStatus)) fail(kid, `status must be one of ${KEY_STATUSES.join(', ')}`);
  // Checked here, before the (costlier) key material: ERR_INVALID_KEY for a misspelt member or an empty list.
  const policy = compilePolicy(jwk.policy as KeyPolicy | undefined, kid).policy;
  const info: { -readonly [K in keyof KeyInfo]: KeyInfo[K] } = { kid, alg, status: status as KeyStatus };
  const nb = time(kid, jwk.not_before, 'not_before');
  const na = time(kid, jwk.not_after, 'not_after');
  if (nb !== undefined) info.notBefore = nb;
  if (na !== undefined) info.notAfter = na;
  if (nb !== undefined && na !== undefined && na < nb) fail(kid, 'not_after is before not_before');
  if (policy !== undefined) info.policy = policy;
  const lifecycle: { -readonly [K in keyof KeyLifecycle]: KeyLifecycle[K] } = {};
  for (const [field, member] of LIFECYCLE_MEMBERS) {
    const t = time(kid, jwk[member], member);
    if (t !== undefined) lifecycle[field] = t;
  }
  if (Object.keys(lifecycle).length > 0) info.lifecycle = lifecycle;

  // One textual form per key, as for envelopes: canonical unpadded base64url (SPEC §7.1).
  for (const m of MATERIAL_MEMBERS) {
    const v = jwk[m];
    if (v !== undefined && (typeof v !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v) || Buffer.from(v, 'base64url').toString('base64url') !== v)) {
      fail(kid, `${m} must be canonical base64url without padding`);
    }
  }
  if (alg === 'ES256') {
    for (const m of ['x', 'y', 'd']) if (typeof jwk[m] === 'string' && Buffer.from(jwk[m] as string, 'base64url').length !== 32) fail(kid, `${m} of a P-256 key must be exactly 32 bytes`);
  }
  if (alg === 'PS256' && typeof jwk.e === 'string' && typeof jwk.n === 'string') {
    // RFC 7518 §6.3.1: the minimum number of octets, so one key has one text.
    const e = Buffer.from(jwk.e, 'base64url');
    const n = Buffer.from(jwk.n, 'base64url');
    const v = e.length > 4 ? Infinity : e.reduce((acc, b) => acc * 256 + b, 0);
    if (e[0] === 0 || v < 3 || v >= 2 ** 31 || v % 2 === 0) fail(kid, 'e of an RSA key must be odd, at least 3 and below 2^31, without leading zero bytes');
    if (n[0] === 0 || n.length === 0 || (n.at(-1)! & 1) === 0) fail(kid, 'n of an RSA key must be odd, without leading zero bytes');
  }
  const hasPrivate = PRIVATE_MEMBERS.some((m) => jwk[m] !== undefined);
  if (hasPrivate && options.allowPrivate === false) fail(kid, 'private key material is not accepted from this source');

  let verifying: KeyObject;
  let signing: KeyObject | undefined;
  if (spec.symmetric) {
    if (typeof jwk.k !== 'string' || !/^[A-Za-z0-9_-]+$/.test(jwk.k)) fail(kid, 'k must be the base64url secret');
    const secret = Buffer.from(jwk.k, 'base64url');
    if (secret.length < spec.maxSigLength) fail(kid, `an ${alg} secret must be at least ${spec.maxSigLength} bytes`);
    verifying = signing = createSecretKey(secret);
    secret.fill(0);
  } else {
    if (alg === 'EdDSA' && jwk.x !== undefined) {
      // node:crypto takes any 32 bytes as an Ed25519 public key: the point is checked here.
      const x = typeof jwk.x === 'string' && /^[A-Za-z0-9_-]+$/.test(jwk.x) ? Buffer.from(jwk.x, 'base64url') : undefined;
      if (x === undefined || x.toString('base64url') !== jwk.x) fail(kid, 'x must be the base64url Ed25519 public key (32 bytes)');
      const problem = ed25519PublicKeyProblem(x);
      if (problem !== undefined) fail(kid, `Ed25519 public key refused: ${problem}`);
    }
    // Pass only the members node:crypto knows, so extension members cannot confuse the import.
    const material: Record<string, unknown> = { kty };
    for (const m of ['crv', 'x', 'y', 'n', 'e', ...PRIVATE_MEMBERS]) if (jwk[m] !== undefined) material[m] = jwk[m];
    try {
      if (hasPrivate) {
        signing = createPrivateKey({ key: material as JsonWebKey, format: 'jwk' });
        // The public half comes from the public members when present: node keeps them without
        // checking them against the private ones, so the pair is checked below.
        const pub: Record<string, unknown> = { kty };
        for (const m of ['crv', 'x', 'y', 'n', 'e']) if (jwk[m] !== undefined) pub[m] = jwk[m];
        verifying = createPublicKey(Object.keys(pub).length > (kty === 'OKP' ? 2 : 1) ? { key: pub as JsonWebKey, format: 'jwk' } : signing);
      } else {
        verifying = createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
      }
    } catch {
      // node's message could echo input; say only what to check
      fail(kid, `the ${kty} key material is invalid or incomplete for ${alg}`);
    }
    if (signing !== undefined && !pairMatches(alg, signing, verifying)) {
      fail(kid, `the ${kty} private and public members do not belong to the same key (corrupted or mixed-up JWK)`);
    }
    if (alg === 'PS256') {
      const bits = verifying.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048 || bits > 4096) fail(kid, `RSA modulus must be 2048 to 4096 bits, got ${bits}`);
    }
  }
  return new SealKey(info, verifying, signing);
}

/** Pairwise consistency: a probe signed by the private half must verify with the public half. */
function pairMatches(alg: Alg, signing: KeyObject, verifying: KeyObject): boolean {
  const spec = ALG_SPECS[alg];
  const probe = randomBytes(32);
  try {
    return spec.verify(verifying, probe, spec.sign(signing, probe));
  } catch {
    return false;
  }
}

function metadata(key: SealKey): Record<string, unknown> {
  const out: Record<string, unknown> = { kid: key.kid, alg: key.alg, use: 'sig', status: key.status };
  if (key.notBefore !== undefined) out.not_before = new Date(key.notBefore).toISOString();
  if (key.notAfter !== undefined) out.not_after = new Date(key.notAfter).toISOString();
  if (key.policy !== undefined) out.policy = key.policy;
  for (const [field, member] of LIFECYCLE_MEMBERS) {
    const t = key.lifecycle?.[field];
    if (t !== undefined) out[member] = new Date(t).toISOString();
  }
  return out;
}

/** The JWK with public material only. Throws for HMAC keys: a shared secret has no public half. */
export function exportPublicJwk(key: SealKey): SealqJwk {
  if (key.spec.symmetric) {
    throw new InvalidKeyError(`key "${key.kid}" is ${key.alg}, a shared secret: it has no public half to publish. Share the private keyring with verifiers over a secure channel, or use EdDSA/ES256/PS256`);
  }
  const { verifying } = key.material();
  return { ...(verifying.export({ format: 'jwk' }) as Record<string, unknown>), ...metadata(key) } as SealqJwk;
}

/** The JWK with private material. Handle the result as a secret. */
export function exportPrivateJwk(key: SealKey): SealqJwk {
  if (key.external) {
    // Writing its public half under status "primary" would make a keyring that cannot sign.
    throw new InvalidKeyError(`key "${key.kid}" signs in an HSM or KMS: its private half cannot be exported. Export the public keyring (toPublicJwks) and attach the HSM key at start-up`);
  }
  const { signing, verifying } = key.material();
  const k = signing ?? verifying;
  const material = key.spec.symmetric
    ? { kty: 'oct', k: k.export().toString('base64url') }
    : (k.export({ format: 'jwk' }) as Record<string, unknown>);
  return { ...material, ...metadata(key) } as SealqJwk;
}
