/**
 * Generates vectors/envelope-v1.json, the test vectors of docs/SPEC.md.
 *
 *   node --import tsx scripts/make-vectors.ts [--fresh]
 *
 * Envelopes are built here from the spec, independently of src/ (own header serialiser, PAE and
 * carriers, node:crypto called directly), so the vectors test the implementation instead of
 * restating it. Every expected outcome is written by hand; before writing the file the script
 * opens every vector with the implementation and refuses to write if any outcome differs.
 *
 * Keys, times and ids are fixed. HMAC and Ed25519 signatures are deterministic, and so is the PS256
 * signature of the leading-zero vectors (made here with a fixed salt), so those vectors come out
 * byte for byte the same on every run; other ES256 (random k) and PS256 (random salt) vectors are
 * marked "reproducible": false; a re-run keeps their committed envelopes when nothing else about
 * them changed (--fresh signs them anew).
 *
 * Importing this module has no side effects: the file is written only when run directly.
 */
import { createHash, createHmac, createPrivateKey, constants, privateEncrypt, sign } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ---- The test keys --------------------------------------------------------------------------------
// TEST KEYS ONLY. They are published in this repository and in the vector file; never use them
// for anything but tests. Generated once with node:crypto and pasted here.

const SECRET = {
  hs256: 'jyYMcjBt-BQEbdmSt3-5aPc2fy3O09Ulz84E_x_EV-o',
  hs256Other: '9e2_D7_OWvStkhR9vMw3rkzExJCQIac5UccKg7LuvPQ',
  hs256Old: 'DyArSmvp8I74TpemRh8VxEurDGaCkBZaPJ4YoK5D1Ms',
  hs512: 'n1KoZrHXfpjQJVu5hvQ8-oaLMNBFan13sL22ddIoD5Y6BrGMk3cCEH9qA1Ry4snG7eYNgsZafbkIQNcWLZucpw',
};
const ED25519 = {
  main: { d: '2TBmlu_FLrdQUuzHJMA8nuJJWJ4c4JQnmSIUUJMAO5k', x: 'hgr_BTLZJqqwg7j7ZHpNFa5HQaZU_K5h6hn-4tK599k' },
  other: { d: 'NxSe3Wdg4yrPZhPJzglGyPnTzF7McwY0ym8LUJggYuU', x: 'B9Jum5ZydGlB1SPZzKpg6udA8yl5oz_feOL4v2W41rc' },
  unknown: { d: 'wQe_6necYANnzmJffGxEci0rQjKLUc-IcdeDOrrK2uw', x: 'bw9ioVvYm-SQNX4LrecCWvCu-VIuefJ2AGKfPwQw3lY' },
};
const P256 = {
  x: 'OlUDiUI19Fx9CZIzud7-2ARxFYrCc0osYZz3i9xG6NY',
  y: '8rpqePKCay84e7Xp5rpqePTKf2_os7hJ0ibJ_C-ol3w',
  d: '6HnrQ5DEQZE3ZzNmKqGr8U_DCVNcEs3o39NFekeiSdk',
};
const RSA2048 = {
  n: 'ufGHBHs10tvxHkYTZ2ca8GZvbJXcNAlQRn6WagNLrhxsxbNRfMARatnLfvyzgL-vsCKLh6n68WV3ZPay7_jc88XMVozI4MQHMHi-CBfpjTO2v1EemoNtyGEYXhfcI5a5NxOdWDMShly7g_qum3jpPGi3J8oja9URo5kOELKbfOh172PWfqgv4Aywn8UV5VaQOma860YUlbwoIxU7uT_2WzOHLk-d5vfDTyswwen-izeaD-X24GL9u3-XrrD8oGq89KYBLRAH4XeBA7PMyUQJ1bAHfXXfurkk0M4rfsaD6CIgn55ky7MC5ALhMUXHY_h0vPUsCyjX2GrGpSbFtIpzUw',
  e: 'AQAB',
  d: 'C5zAAVwj0DTTJJWyGDGSDEm2vgcdNuoOp4W3-raU-d0llTKDLXFzRQMwAxC2Bx2G0878fBmgpdsKhKAm1vdpmRcVEUypLjxKdKZTESn-eHEuga6Huj-TUhcaO09t0efTo6hnxFPViCrvZ6khUW1Q0j3PPmllzTyuZX36qQ6hHkDsu2DkK38ZUVh05SpcqWuQOEneUzLUU8iqqu-Imtb7sWHBkbnl8qe-fVH47geN_x47n9WiVt99mvCXNBZLINiBLAhGKYVHMFgx_4zirnp1Ov0P3gm3Jq1SdQB7u91h1dGhe_EUJ_tO_5IXhBmcxkjRhmitimO3tAjNH-6Vvr331Q',
  p: '-mMi_7BFn9-bNso_TAWp7Mddct9hfXALkZe6oFwKhkJsCa82eCOm7MaHbLHuINeMeDkUKCd2dsqHF8oqoK5EOLqn_u2e-JM5ImDTqg-YiU1_7-23F7j55wFfphef4lGRa4C1b0vEZHYCVkYXIZVuwrWABVR7Psy1USdr-JqdxwU',
  q: 'vhyTbmDYlP-nmLGtPx0H2Jfsgoiq0KHr8GYqsTuQCYFM_gjSQkgattar0af6MkmlJMZSaA8oUHSiFypJjHbb_TFX05QoHYRtnStSVZ3rxz8KRQx7elQX9-Ro9d0sIiTKu8G62CPSSSRjMmPsfWLa5SXv79K8WntLeKKev2H6MHc',
  dp: '7cCw_QVON27GHZKR5AgEwFbWfztpgQihk4_1oEuFmtL7b362RAHmgTJKaYXSzdCfC5F3eGFwdX_-IzLOo2CWWx-yYbkUmIiDWgeDNRo2BzpV32dj0dzNPvLo9fe809QMN34xygqx44rC0VUgpb0VPUHG3EjJ9mm_Sd4bAice5lk',
  dq: 'As-XWnVyHlndV4OhBSLfv9MXOyLcK7OJMofAL9iqm4le4w6sVTCNvJBWAAaUy3ONTorkIwe-V9oxn1gPuFT1kbvOCaHSKgWQPVerovpvxwVmmHjDxp5BsHefGauIgIS8vqPxqEp3TH-OO-uATqZMiEDUWF5sTIYwKnt1D21abqc',
  qi: 'XKSmzNL03Fni3ukUx5jnkkz42UtbhQM6Xm4DhHIcxaUzQVZUlqIcj10frn07MglB0VvWogKoTGdxA8fN7KZCwDrW_v3x54Xjum38M_1XwqQoYFa7ddlm4-eeduQD4LniWBKcJ_vQo9cHq86h0TKxRQT6uKGtjfBpJeeVSPXRs0k',
};

type Alg = 'HS256' | 'HS512' | 'EdDSA' | 'ES256' | 'PS256';
type Jwk = Record<string, unknown>;

/** A test key: its private JWK (for the signing_keys section), its verifier JWK, and a signer. */
interface TestKey {
  readonly name: string;
  readonly kid: string;
  readonly alg: Alg;
  /** HMAC and Ed25519 sign deterministically; ECDSA and RSA-PSS as used here do not. */
  readonly deterministic: boolean;
  readonly privateJwk: Jwk;
  /** What a verifier's keyring holds: public members only, except the HMAC secret. */
  readonly verifierJwk: Jwk;
  sign(data: Buffer): Buffer;
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

function hmacKey(name: string, kid: string, alg: 'HS256' | 'HS512', k: string): TestKey {
  const secret = Buffer.from(k, 'base64url');
  const jwk = { kty: 'oct', kid, alg, use: 'sig', k };
  const hash = alg === 'HS256' ? 'sha256' : 'sha512';
  return { name, kid, alg, deterministic: true, privateJwk: jwk, verifierJwk: jwk, sign: (data) => createHmac(hash, secret).update(data).digest() };
}

function asymmetricKey(name: string, kid: string, alg: 'EdDSA' | 'ES256' | 'PS256', publicMembers: Jwk, privateMembers: Jwk): TestKey {
  const meta = { kid, alg, use: 'sig' };
  const privateJwk = { ...publicMembers, ...privateMembers, ...meta };
  const key: KeyObject = createPrivateKey({ key: { ...publicMembers, ...privateMembers } as JsonWebKey, format: 'jwk' });
  const signer = alg === 'EdDSA'
    ? (data: Buffer) => sign(null, data, key)
    : alg === 'ES256'
      ? (data: Buffer) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' })
      : (data: Buffer) => sign('sha256', data, { key, ...PSS });
  return { name, kid, alg, deterministic: alg === 'EdDSA', privateJwk, verifierJwk: { ...publicMembers, ...meta }, sign: signer };
}

const KEYS = {
  hs256: hmacKey('hs256', 'hs256-test', 'HS256', SECRET.hs256),
  hs256Other: hmacKey('hs256-other', 'hs256-test', 'HS256', SECRET.hs256Other),
  hs256Old: hmacKey('hs256-old', 'hs256-old-test', 'HS256', SECRET.hs256Old),
  hs512: hmacKey('hs512', 'hs512-test', 'HS512', SECRET.hs512),
  ed: asymmetricKey('ed25519', 'ed25519-test', 'EdDSA', { kty: 'OKP', crv: 'Ed25519', x: ED25519.main.x }, { d: ED25519.main.d }),
  edOther: asymmetricKey('ed25519-other', 'ed25519-test', 'EdDSA', { kty: 'OKP', crv: 'Ed25519', x: ED25519.other.x }, { d: ED25519.other.d }),
  edUnknown: asymmetricKey('ed25519-unknown', 'ed25519-unknown-test', 'EdDSA', { kty: 'OKP', crv: 'Ed25519', x: ED25519.unknown.x }, { d: ED25519.unknown.d }),
  p256: asymmetricKey('p256', 'p256-test', 'ES256', { kty: 'EC', crv: 'P-256', x: P256.x, y: P256.y }, { d: P256.d }),
  rsa: asymmetricKey('rsa2048', 'rsa2048-test', 'PS256', { kty: 'RSA', n: RSA2048.n, e: RSA2048.e }, { d: RSA2048.d, p: RSA2048.p, q: RSA2048.q, dp: RSA2048.dp, dq: RSA2048.dq, qi: RSA2048.qi }),
} as const;

/** Key metadata members a verifier's JWK may carry (sealq extension members). */
interface KeyMeta {
  status?: 'primary' | 'active' | 'disabled' | 'revoked';
  not_before?: string;
  not_after?: string;
  policy?: { ctx?: string[]; typ?: string[] };
}

function keyring(...entries: Array<TestKey | [TestKey, KeyMeta]>): { keys: Jwk[] } {
  return {
    keys: entries.map((e) => {
      const [k, meta] = Array.isArray(e) ? e : [e, {}];
      return { ...k.verifierJwk, status: 'active', ...meta };
    }),
  };
}

// ---- The format, built from the spec ---------------------------------------------------------------

/** Every vector is issued at 2026-01-01T00:00:00.000Z. */
export const T0 = Date.UTC(2026, 0, 1);
const NOW = T0 + 5_000;
const SKEW = 60_000;
const MAX_AGE = 24 * 3_600_000;
const CTX = 'billing.invoices';
const TYP = 'invoice.send';

interface HeaderFields {
  kid: string;
  alg: string;
  id: string;
  iat: number;
  nbf?: number;
  exp?: number;
  ctx: string;
  typ?: string;
  ct?: string;
}

/** The canonical header bytes (SPEC §3.1): members in this order, absent ones omitted, no whitespace. */
export function canonicalHeader(h: HeaderFields): Buffer {
  const o: Record<string, unknown> = {};
  for (const k of ['kid', 'alg', 'id', 'iat', 'nbf', 'exp', 'ctx', 'typ', 'ct'] as const) if (h[k] !== undefined) o[k] = h[k];
  return Buffer.from(JSON.stringify(o), 'utf8');
}

/** The signing input (SPEC §4). */
export function pae(header: Buffer, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`sealq/v1 ${header.length} `, 'ascii'), header, Buffer.from(` ${payload.length} `, 'ascii'), payload]);
}

interface Part {
  header: Buffer;
  sig: Buffer;
  deterministic: boolean;
}

/** One signature: `key` signs the PAE of `header` (fields, or raw bytes as given) and `payload`. */
function part(key: TestKey, header: HeaderFields | string | Buffer, payload: Buffer): Part {
  const hb = Buffer.isBuffer(header) ? header : typeof header === 'string' ? Buffer.from(header, 'utf8') : canonicalHeader(header);
  return { header: hb, sig: key.sign(pae(hb, payload)), deterministic: key.deterministic };
}

const b64 = (b: Buffer): string => b.toString('base64url');

const sha256 = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();

/**
 * RSASSA-PSS (RFC 8017 §8.1, §9.1.1) with SHA-256, MGF1-SHA-256 and the given 32-byte salt, built
 * by hand and finished with the raw RSA private operation: node:crypto always draws a random salt,
 * and a fixed one makes the signature reproducible.
 */
function pssFixedSalt(key: KeyObject, data: Buffer, salt: Buffer): Buffer {
  const modBits = key.asymmetricKeyDetails!.modulusLength!;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const h = sha256(Buffer.alloc(8), sha256(data), salt);
  const db = Buffer.concat([Buffer.alloc(emLen - salt.length - h.length - 2), Buffer.from([0x01]), salt]);
  let mask = Buffer.alloc(0);
  for (let counter = 0; mask.length < db.length; counter++) mask = Buffer.concat([mask, sha256(h, Buffer.from([counter >>> 24, counter >>> 16, counter >>> 8, counter].map((x) => x & 0xff)))]);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([Buffer.alloc(((modBits + 7) >> 3) - emLen), db, h, Buffer.from([0xbc])]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, em);
}

function compact(payload: Buffer, parts: readonly Part[]): string {
  const [first, ...more] = parts;
  let s = `sealq1.${b64(first!.header)}.${b64(payload)}.${b64(first!.sig)}`;
  for (const p of more) s += `.${b64(p.header)}.${b64(p.sig)}`;
  return s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface SealedObject {
  sealq: number;
  payload?: string;
  payload64?: string;
  signatures: Array<{ header: string; sig: string }>;
}

function object(payload: Buffer, parts: readonly Part[]): SealedObject {
  let text: string | undefined;
  try {
    text = utf8.decode(payload);
  } catch {
    text = undefined;
  }
  return {
    sealq: 1,
    ...(text === undefined ? { payload64: b64(payload) } : { payload: text }),
    signatures: parts.map((p) => ({ header: utf8.decode(p.header), sig: b64(p.sig) })),
  };
}

/** The headers carrier (SPEC §5.6): the seal header's value, and the body as base64url. */
interface Detached {
  seal: string;
  payload_b64url: string;
}

function detached(payload: Buffer, parts: readonly Part[]): Detached {
  const [first, ...more] = parts;
  let seal = `sealq1.${b64(first!.header)}..${b64(first!.sig)}`;
  for (const p of more) seal += `.${b64(p.header)}.${b64(p.sig)}`;
  return { seal, payload_b64url: b64(payload) };
}

/** The object carrier as exact JSON text (SPEC §5.3), for rules a parsed value cannot show. */
interface JsonText {
  json: string;
}

// ---- The vectors ----------------------------------------------------------------------------------

export interface VectorOptions {
  ctx: string | string[];
  typ?: string | string[];
  now: number;
  maxAge?: number;
  clockSkew?: number;
  maxPayloadBytes?: number;
  maxValidity?: number;
}

export type Carrier = 'compact' | 'object' | 'object-json' | 'detached';

export type Expected =
  | { payload_b64url: string; header: Record<string, unknown>; valid_until: number }
  | { error: string };

export interface Vector {
  name: string;
  description: string;
  reproducible: boolean;
  keyring: { keys: Jwk[] };
  carrier: Carrier;
  envelope: string | SealedObject | Detached;
  options: VectorOptions;
  expected: Expected;
}

export interface VectorFile {
  title: string;
  warning: string;
  spec: string;
  generator: string;
  test_keys: Record<string, Jwk>;
  vectors: Vector[];
}

interface Case {
  name: string;
  description: string;
  keyring: { keys: Jwk[] };
  envelope: string | SealedObject | Detached | JsonText;
  /** The signatures the envelope was built from (decides reproducibility). */
  parts: readonly Part[];
  options?: Partial<VectorOptions>;
  /** For a valid vector: the payload, and the signature whose header the verifier returns. */
  valid?: { payload: Buffer; part: Part };
  error?: string;
}

function toVector(c: Case): Vector {
  const options: VectorOptions = { ctx: CTX, now: NOW, ...c.options };
  let expected: Expected;
  if (c.valid !== undefined) {
    const header = JSON.parse(c.valid.part.header.toString('utf8')) as HeaderFields;
    // SPEC §10: the end of the window is exp, else iat + maxAge; clock skew is added.
    const end = header.exp ?? header.iat + (options.maxAge ?? MAX_AGE);
    expected = { payload_b64url: b64(c.valid.payload), header: header as unknown as Record<string, unknown>, valid_until: end + (options.clockSkew ?? SKEW) };
  } else {
    expected = { error: c.error! };
  }
  const e = c.envelope;
  const [carrier, envelope]: [Carrier, Vector['envelope']] = typeof e === 'string' ? ['compact', e]
    : 'json' in e ? ['object-json', e.json]
      : 'seal' in e ? ['detached', e]
        : ['object', e];
  return {
    name: c.name,
    description: c.description,
    reproducible: c.parts.every((p) => p.deterministic),
    keyring: c.keyring,
    carrier,
    envelope,
    options,
    expected,
  };
}

function base(key: TestKey, id: string, more: Partial<HeaderFields> = {}): HeaderFields {
  return { kid: key.kid, alg: key.alg, id, iat: T0, ctx: CTX, typ: TYP, ct: 'application/json', ...more };
}

const JSON_PAYLOAD = Buffer.from('{"invoice":"INV-1001","amount_cents":4200,"currency":"EUR"}', 'utf8');
/** Not UTF-8 (lone continuation byte, truncated sequence), and its base64url uses '-' and '_'. */
const BINARY_PAYLOAD = Buffer.from([0x00, 0x01, 0x80, 0xfe, 0xff, 0xc3, 0x28, 0xfb, 0xff, 0xbf, 0x0a, 0x7f, 0x3e]);
const TEXT_PAYLOAD = Buffer.from('Grüße aus Köln: 東京 → 🌍', 'utf8');

/** Changes the last character of unpadded base64url so unused trailing bits are set: same bytes, other text. */
function nonCanonicalTail(s: string): string {
  if (s.length % 4 === 0) throw new Error('no unused bits in a multiple of 4 characters');
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const t = s.slice(0, -1) + A[A.indexOf(s.at(-1)!) | 1]!;
  if (t === s || !Buffer.from(t, 'base64url').equals(Buffer.from(s, 'base64url'))) throw new Error('nonCanonicalTail did not keep the bytes');
  return t;
}

function flipBit(b: Buffer, byte: number, bit = 0): Buffer {
  const c = Buffer.from(b);
  c[byte < 0 ? c.length + byte : byte]! ^= 1 << bit;
  return c;
}

function replaceOnce(b: Buffer, from: string, to: string): Buffer {
  const s = b.toString('utf8');
  if (!s.includes(from)) throw new Error(`"${from}" not in header`);
  return Buffer.from(s.replace(from, to), 'utf8');
}

function cases(): Case[] {
  const K = KEYS;
  const out: Case[] = [];
  const add = (c: Case): void => void out.push(c);

  // -- valid: one per algorithm, in both carriers (the same signed bytes in each) --
  for (const [key, slug] of [[K.hs256, 'hs256'], [K.hs512, 'hs512'], [K.ed, 'eddsa'], [K.p256, 'es256'], [K.rsa, 'ps256']] as const) {
    const p = part(key, base(key, `vec-${slug}`), JSON_PAYLOAD);
    const ring = keyring(key);
    const opts = { typ: TYP };
    add({ name: `valid/${slug}/compact`, description: `${key.alg}: a JSON payload with ctx, typ and ct, compact carrier`, keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: opts, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: `valid/${slug}/object`, description: `${key.alg}: the same signed bytes as valid/${slug}/compact in the JSON object carrier`, keyring: ring, envelope: object(JSON_PAYLOAD, [p]), parts: [p], options: opts, valid: { payload: JSON_PAYLOAD, part: p } });
  }

  // -- valid: payload edge cases --
  {
    const empty = Buffer.alloc(0);
    const p = part(K.hs256, base(K.hs256, 'vec-empty', { ct: undefined }), empty);
    add({ name: 'valid/empty-payload/compact', description: 'Empty payload: the compact payload part is the empty string', keyring: keyring(K.hs256), envelope: compact(empty, [p]), parts: [p], valid: { payload: empty, part: p } });
    add({ name: 'valid/empty-payload/object', description: 'Empty payload in the object carrier: "payload" is the empty string', keyring: keyring(K.hs256), envelope: object(empty, [p]), parts: [p], valid: { payload: empty, part: p } });
  }
  {
    const p = part(K.ed, base(K.ed, 'vec-binary', { typ: 'blob.store', ct: 'application/octet-stream' }), BINARY_PAYLOAD);
    add({ name: 'valid/binary-payload/compact', description: 'Payload bytes that are not UTF-8, compact carrier', keyring: keyring(K.ed), envelope: compact(BINARY_PAYLOAD, [p]), parts: [p], valid: { payload: BINARY_PAYLOAD, part: p } });
    add({ name: 'valid/binary-payload/object', description: 'Payload bytes that are not UTF-8: the object carrier uses "payload64"', keyring: keyring(K.ed), envelope: object(BINARY_PAYLOAD, [p]), parts: [p], valid: { payload: BINARY_PAYLOAD, part: p } });
  }
  {
    const p = part(K.ed, base(K.ed, 'vec-text', { ct: 'text/plain; charset=utf-8' }), TEXT_PAYLOAD);
    add({ name: 'valid/non-ascii-text/object', description: 'Non-ASCII UTF-8 text payload: the object carrier carries it as "payload" text; its UTF-8 bytes are what was signed', keyring: keyring(K.ed), envelope: object(TEXT_PAYLOAD, [p]), parts: [p], valid: { payload: TEXT_PAYLOAD, part: p } });
  }
  {
    const p = part(K.hs256, base(K.hs256, 'vec-text-as-bytes'), JSON_PAYLOAD);
    add({ name: 'valid/utf8-payload-as-payload64/object', description: 'A UTF-8 payload carried as "payload64": producers use "payload" for UTF-8, but verifiers accept either form', keyring: keyring(K.hs256), envelope: { sealq: 1, payload64: b64(JSON_PAYLOAD), signatures: [{ header: p.header.toString('utf8'), sig: b64(p.sig) }] }, parts: [p], valid: { payload: JSON_PAYLOAD, part: p } });
  }

  // -- valid: header forms --
  {
    const h = base(K.hs256, 'vec-minimal', { typ: undefined, ct: undefined });
    const p = part(K.hs256, h, JSON_PAYLOAD);
    add({ name: 'valid/minimal-header', description: 'Only the required fields kid, alg, id, iat, ctx; the verifier asks for no type; a "primary" key verifies like an "active" one', keyring: keyring([K.hs256, { status: 'primary' }]), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    const text = `{ "ctx" : "${CTX}",\n  "typ": "${TYP}", "iat": ${T0}, "id": "vec-noncanonical",\n  "alg": "HS256", "kid": "hs256-test" }`;
    const p = part(K.hs256, text, JSON_PAYLOAD);
    add({ name: 'valid/header-not-canonical', description: 'The signed header has whitespace and another member order. Verifiers parse the carried bytes and never re-serialise them, so it verifies', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { typ: TYP }, valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    const h = base(K.hs256, 'vec-escapes', { ctx: 'queue/é', typ: 'job "quoted"' });
    const p = part(K.hs256, h, JSON_PAYLOAD);
    add({ name: 'valid/header-escapes', description: 'ctx with non-ASCII, typ with a quote: the header carries JSON escapes and UTF-8; matching is on the parsed strings', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: 'queue/é', typ: 'job "quoted"' }, valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    // Name separators and quotes inside strings, and a string ending in a backslash: a verifier that
    // counts members (to find duplicates, SPEC §3.3) must count only the ':' outside strings.
    const h = base(K.hs256, 'vec-colons', { ctx: 'tenant:42', typ: 'C:\\jobs\\', ct: 'text/plain; x="a:b"' });
    const p = part(K.hs256, h, JSON_PAYLOAD);
    add({ name: 'valid/header-colons-in-strings', description: 'ctx "tenant:42", typ "C:\\jobs\\" (ends in a backslash), ct with quotes and a colon: only name separators outside strings count as members', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: 'tenant:42', typ: 'C:\\jobs\\' }, valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    // Exactly 4096 bytes: the largest header allowed.
    const prefix = canonicalHeader(base(K.hs256, 'vec-header-4096')).toString('utf8').slice(0, -1);
    const text = prefix + ' '.repeat(4096 - prefix.length - 1) + '}';
    const p = part(K.hs256, text, JSON_PAYLOAD);
    add({ name: 'valid/header-4096-bytes', description: 'A header of exactly 4096 bytes (whitespace padded): the largest allowed', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], valid: { payload: JSON_PAYLOAD, part: p } });
  }

  // -- valid: options and boundaries --
  {
    const p = part(K.hs256, base(K.hs256, 'vec-ctx-list'), JSON_PAYLOAD);
    add({ name: 'valid/ctx-list', description: 'The verifier serves several contexts: a match with any one of them is enough', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: ['billing.refunds', CTX], typ: ['invoice.void', TYP] }, valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    const h = base(K.hs256, 'vec-delayed', { nbf: T0 + 3_600_000, exp: T0 + 7_200_000 });
    const p = part(K.hs256, h, JSON_PAYLOAD);
    add({ name: 'valid/nbf-exp/at-nbf-minus-skew', description: 'Delayed job (nbf one hour after iat, exp two hours): valid from nbf - clockSkew on', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 3_600_000 - SKEW }, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'invalid/nbf-exp/before-nbf-minus-skew', description: 'The same delayed job 1 ms earlier: not yet valid', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 3_600_000 - SKEW - 1 }, error: 'ERR_NOT_YET_VALID' });
    add({ name: 'valid/nbf-exp/last-instant', description: 'The same delayed job at exp + clockSkew - 1 ms: the last valid instant', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 7_200_000 + SKEW - 1 }, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'invalid/nbf-exp/expired', description: 'The same delayed job at exp + clockSkew: exp is the first invalid instant (skew added)', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 7_200_000 + SKEW }, error: 'ERR_EXPIRED' });
    add({ name: 'valid/exp-beyond-max-age', description: 'A signed exp replaces maxAge: the same job two hours after issue is valid although maxAge is one minute', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 7_200_000 - 1, maxAge: 60_000 }, valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    const p = part(K.hs256, base(K.hs256, 'vec-max-age'), JSON_PAYLOAD);
    const ring = keyring(K.hs256);
    add({ name: 'valid/max-age/last-instant', description: 'No exp: valid until iat + maxAge + clockSkew (exclusive); maxAge 30 s, clockSkew 1 s, now 1 ms before the end', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 30_999, maxAge: 30_000, clockSkew: 1_000 }, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'invalid/max-age/expired', description: 'No exp: at iat + maxAge + clockSkew the message has expired', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + 31_000, maxAge: 30_000, clockSkew: 1_000 }, error: 'ERR_EXPIRED' });
    add({ name: 'invalid/max-age/default-expired', description: 'No exp and no maxAge option: the default maxAge is 24 h and the default clockSkew 60 s', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + MAX_AGE + SKEW }, error: 'ERR_EXPIRED' });
    add({ name: 'valid/max-age/default-last-instant', description: 'No exp and defaults: 1 ms before iat + 24 h + 60 s it is still valid', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 + MAX_AGE + SKEW - 1 }, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'valid/iat-in-future-within-skew', description: 'iat = now + clockSkew: tolerated', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 - SKEW }, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'invalid/iat-in-future', description: 'iat = now + clockSkew + 1 ms: issued in the future', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { now: T0 - SKEW - 1 }, error: 'ERR_NOT_YET_VALID' });
  }
  {
    const p = part(K.hs256, base(K.hs256, 'vec-size'), JSON_PAYLOAD);
    const n = JSON_PAYLOAD.length;
    add({ name: 'valid/payload-at-size-limit', description: `Payload of ${n} bytes with maxPayloadBytes ${n}: allowed`, keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { maxPayloadBytes: n }, valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'invalid/oversized/compact', description: `Payload of ${n} bytes with maxPayloadBytes ${n - 1}: rejected before any cryptographic work`, keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { maxPayloadBytes: n - 1 }, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/oversized/object', description: `The same in the object carrier: payload text of ${n} bytes, maxPayloadBytes ${n - 1}`, keyring: keyring(K.hs256), envelope: object(JSON_PAYLOAD, [p]), parts: [p], options: { maxPayloadBytes: n - 1 }, error: 'ERR_MALFORMED' });
    const wide = Buffer.from('é'.repeat(40), 'utf8');
    const pw = part(K.hs256, base(K.hs256, 'vec-size-utf8', { ct: 'text/plain' }), wide);
    add({ name: 'invalid/oversized/object-utf8-length', description: 'Object carrier: 40 characters but 80 UTF-8 bytes, maxPayloadBytes 64: the limit is on bytes', keyring: keyring(K.hs256), envelope: object(wide, [pw]), parts: [pw], options: { maxPayloadBytes: 64 }, error: 'ERR_MALFORMED' });
  }
  {
    const prefix = canonicalHeader(base(K.hs256, 'vec-header-4097')).toString('utf8').slice(0, -1);
    const text = prefix + ' '.repeat(4097 - prefix.length - 1) + '}';
    const p = part(K.hs256, text, JSON_PAYLOAD);
    add({ name: 'invalid/oversized/header', description: 'A correctly signed header of 4097 bytes: larger than the 4096-byte limit', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], error: 'ERR_MALFORMED' });
  }

  // -- valid: multiple signatures --
  {
    const ph = part(K.hs256Old, base(K.hs256Old, 'vec-multi'), JSON_PAYLOAD);
    const pe = part(K.ed, base(K.ed, 'vec-multi'), JSON_PAYLOAD);
    add({ name: 'valid/multi-signature/second-known', description: 'Two signatures (migration from a shared secret to EdDSA), each with its own header; this verifier knows only the EdDSA key and accepts the second signature', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    add({ name: 'valid/multi-signature/both-known', description: 'The same envelope for a verifier that knows both keys: the first signature verifies and its header is the result', keyring: keyring(K.hs256Old, K.ed), envelope: compact(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], valid: { payload: JSON_PAYLOAD, part: ph } });
    add({ name: 'valid/multi-signature/object', description: 'The same envelope in the object carrier', keyring: keyring(K.ed), envelope: object(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    add({ name: 'valid/multi-signature/first-key-disabled', description: 'The first signature\'s key is disabled in this keyring, the second verifies: any one fully verifying signature is enough', keyring: keyring([K.hs256Old, { status: 'disabled' }], K.ed), envelope: compact(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    add({ name: 'invalid/multi-signature/all-unknown', description: 'Neither signature\'s kid is in this keyring', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], error: 'ERR_KEY_UNKNOWN' });
    const bad = { ...pe, sig: flipBit(pe.sig, 10) };
    add({ name: 'invalid/multi-signature/first-known-error', description: 'First signature: key known but disabled; second: signature altered. Nothing verifies, so the first known key\'s error is reported', keyring: keyring([K.hs256Old, { status: 'disabled' }], K.ed), envelope: compact(JSON_PAYLOAD, [ph, bad]), parts: [ph, bad], error: 'ERR_KEY_INACTIVE' });
    add({ name: 'invalid/multi-signature/first-known-error-reversed', description: 'The same two signatures in the other order: now the altered signature is the first known one', keyring: keyring([K.hs256Old, { status: 'disabled' }], K.ed), envelope: compact(JSON_PAYLOAD, [bad, ph]), parts: [bad, ph], error: 'ERR_SIGNATURE_INVALID' });
    const pu = part(K.edUnknown, base(K.edUnknown, 'vec-multi'), JSON_PAYLOAD);
    add({ name: 'invalid/multi-signature/unknown-then-invalid', description: 'First signature by an unknown kid, second by a known key but altered: unknown kids are skipped, the known key\'s error is reported', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pu, bad]), parts: [pu, bad], error: 'ERR_SIGNATURE_INVALID' });
    // A signature made with an algorithm this version does not know (its bytes are a placeholder:
    // no version 1 verifier ever checks them). Its header is malformed here, so it is skipped.
    const fh = canonicalHeader({ ...base(K.ed, 'vec-multi'), kid: 'p384-next', alg: 'ES384' });
    const pf: Part = { header: fh, sig: createHash('sha384').update(pae(fh, JSON_PAYLOAD)).digest(), deterministic: true };
    add({ name: 'valid/multi-signature/unknown-alg-then-valid', description: 'First signature: alg ES384, which version 1 does not know (a malformed header); second: EdDSA, which verifies. A malformed header is skipped when another signature verifies', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pf, pe]), parts: [pf, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    add({ name: 'valid/multi-signature/unknown-alg-then-valid/object', description: 'The same envelope in the object carrier', keyring: keyring(K.ed), envelope: object(JSON_PAYLOAD, [pf, pe]), parts: [pf, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    add({ name: 'valid/multi-signature/valid-then-unknown-alg', description: 'The same two signatures in the other order: the first verifies', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pe, pf]), parts: [pe, pf], valid: { payload: JSON_PAYLOAD, part: pe } });
    const dh = Buffer.from(canonicalHeader(base(K.hs256Old, 'vec-multi')).toString('utf8').replace(`"ctx":"${CTX}"`, `"ctx":"billing.refunds","ctx":"${CTX}"`), 'utf8');
    const pd = part(K.hs256Old, dh, JSON_PAYLOAD);
    add({ name: 'valid/multi-signature/duplicate-member-then-valid', description: 'First signature: a correctly signed header with ctx twice (malformed); second: EdDSA, which verifies. Any malformed header is skipped, not only an unknown alg', keyring: keyring(K.hs256Old, K.ed), envelope: compact(JSON_PAYLOAD, [pd, pe]), parts: [pd, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    add({ name: 'invalid/multi-signature/unknown-alg-then-invalid', description: 'First signature: unknown alg (malformed); second: known key, altered. Nothing verifies; a known key\'s error takes precedence over a malformed header', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pf, bad]), parts: [pf, bad], error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/multi-signature/unknown-kid-invalid-unknown-alg', description: 'Unknown kid, then altered known key, then unknown alg: the known key\'s error is reported wherever the malformed header is', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pu, bad, pf]), parts: [pu, bad, pf], error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/multi-signature/unknown-alg-and-unknown-kid', description: 'First signature: unknown alg (malformed); second: a kid this keyring lacks. No known key: the malformed header takes precedence over ERR_KEY_UNKNOWN', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pf, pu]), parts: [pf, pu], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/multi-signature/unknown-kid-and-unknown-alg', description: 'The same two signatures in the other order: still ERR_MALFORMED', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [pu, pf]), parts: [pu, pf], error: 'ERR_MALFORMED' });
    const five = [ph, pe, ph, pe, ph];
    add({ name: 'invalid/too-many-signatures', description: 'Five signatures: at most four are allowed', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, five), parts: five, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/too-many-signatures/object', description: 'Five signatures in the object carrier', keyring: keyring(K.ed), envelope: object(JSON_PAYLOAD, five), parts: five, error: 'ERR_MALFORMED' });
  }

  // -- invalid: tampering --
  {
    const p = part(K.hs256, base(K.hs256, 'vec-tamper'), JSON_PAYLOAD);
    const ring = keyring(K.hs256);
    const opts = { typ: ['invoice.send', 'invoice.void'] };
    add({ name: 'valid/tamper-original', description: 'The untampered original of the invalid/tampered-* HS256 vectors', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: opts, valid: { payload: JSON_PAYLOAD, part: p } });
    const th = { ...p, header: replaceOnce(p.header, '"typ":"invoice.send"', '"typ":"invoice.void"') };
    add({ name: 'invalid/tampered-header/compact', description: 'typ changed from invoice.send to invoice.void in the header (both accepted by the verifier), signature kept', keyring: ring, envelope: compact(JSON_PAYLOAD, [th]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/tampered-header/object', description: 'The same header change in the object carrier', keyring: ring, envelope: object(JSON_PAYLOAD, [th]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    const ws = { ...p, header: replaceOnce(p.header, '"kid":', '"kid": ') };
    add({ name: 'invalid/tampered-header/whitespace', description: 'One space added to the header: the same JSON meaning, other bytes. The exact bytes are signed', keyring: ring, envelope: compact(JSON_PAYLOAD, [ws]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    const tp = Buffer.from(JSON_PAYLOAD.toString('utf8').replace('4200', '9200'), 'utf8');
    add({ name: 'invalid/tampered-payload/compact', description: 'amount_cents changed from 4200 to 9200, signature kept', keyring: ring, envelope: compact(tp, [p]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/tampered-payload/object', description: 'The same payload change in the object carrier', keyring: ring, envelope: object(tp, [p]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    const extended = Buffer.concat([JSON_PAYLOAD, Buffer.from(' ')]);
    add({ name: 'invalid/tampered-payload/appended', description: 'One byte appended to the payload', keyring: ring, envelope: compact(extended, [p]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/tampered-signature', description: 'One bit of the HMAC tag flipped', keyring: ring, envelope: compact(JSON_PAYLOAD, [{ ...p, sig: flipBit(p.sig, 0) }]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    const short = { ...p, sig: p.sig.subarray(0, 16) };
    add({ name: 'invalid/truncated/hmac-tag', description: 'HMAC tag truncated to 16 bytes (canonical base64url): a tag must have the full length', keyring: ring, envelope: compact(JSON_PAYLOAD, [short]), parts: [p], options: opts, error: 'ERR_SIGNATURE_INVALID' });
    const full = compact(JSON_PAYLOAD, [p]);
    add({ name: 'invalid/truncated/no-signature', description: 'The compact envelope cut after the payload part', keyring: ring, envelope: full.slice(0, full.lastIndexOf('.')), parts: [p], options: opts, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/truncated/empty-signature', description: 'The compact envelope cut just after the last dot: an empty signature part', keyring: ring, envelope: full.slice(0, full.lastIndexOf('.') + 1), parts: [p], options: opts, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/truncated/mid-character', description: 'Two characters cut from the end: 41 base64url characters cannot be canonical', keyring: ring, envelope: full.slice(0, -2), parts: [p], options: opts, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/truncated/object-no-signatures', description: 'Object carrier with an empty signatures list', keyring: ring, envelope: { ...object(JSON_PAYLOAD, [p]), signatures: [] }, parts: [p], options: opts, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/trailing-newline', description: 'A newline after the compact envelope (as a shell pipe may add): not canonical base64url; strip it before opening if your transport adds one', keyring: ring, envelope: full + '\n', parts: [p], options: opts, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/extra-dot', description: 'A trailing dot: an even number of parts', keyring: ring, envelope: full + '.', parts: [p], options: opts, error: 'ERR_MALFORMED' });
    // Non-canonical base64url: each decodes (leniently) to the very same bytes, and must still be rejected.
    const [, hB64, pB64, sB64] = /^sealq1\.([^.]*)\.([^.]*)\.([^.]*)$/.exec(full)!;
    add({ name: 'invalid/non-canonical-base64url/signature-trailing-bits', description: 'The last signature character has unused bits set: decodes to the same bytes but is not canonical', keyring: ring, envelope: `sealq1.${hB64}.${pB64}.${nonCanonicalTail(sB64!)}`, parts: [p], options: opts, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/non-canonical-base64url/signature-padding', description: 'The signature with "=" padding', keyring: ring, envelope: `${full}=`, parts: [p], options: opts, error: 'ERR_MALFORMED' });
    const pb = part(K.hs256, base(K.hs256, 'vec-b64-alphabet', { ct: 'application/octet-stream' }), BINARY_PAYLOAD);
    const pbB64 = b64(BINARY_PAYLOAD);
    if (!/[-_]/.test(pbB64)) throw new Error('BINARY_PAYLOAD must use - or _ in base64url');
    add({ name: 'invalid/non-canonical-base64url/standard-alphabet', description: 'Payload in the standard base64 alphabet ("+" and "/" instead of "-" and "_")', keyring: ring, envelope: `sealq1.${b64(pb.header)}.${pbB64.replaceAll('-', '+').replaceAll('_', '/')}.${b64(pb.sig)}`, parts: [pb], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/non-canonical-base64url/payload-trailing-bits', description: 'The last payload character has unused bits set', keyring: ring, envelope: `sealq1.${b64(pb.header)}.${nonCanonicalTail(pbB64)}.${b64(pb.sig)}`, parts: [pb], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/non-canonical-base64url/object-signature', description: 'Object carrier: "sig" with "=" padding', keyring: ring, envelope: { ...object(JSON_PAYLOAD, [p]), signatures: [{ header: p.header.toString('utf8'), sig: b64(p.sig) + '=' }] }, parts: [p], options: opts, error: 'ERR_MALFORMED' });
  }
  {
    const pe = part(K.ed, base(K.ed, 'vec-tamper-ed'), JSON_PAYLOAD);
    const th = { ...pe, header: replaceOnce(pe.header, `"ctx":"${CTX}"`, '"ctx":"billing.refunds"') };
    add({ name: 'invalid/tampered-header/eddsa-ctx', description: 'EdDSA: ctx in the header moved to another queue, signature kept. The signature check comes before the context check', keyring: keyring(K.ed), envelope: object(JSON_PAYLOAD, [th]), parts: [pe], options: { ctx: 'billing.refunds' }, error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/tampered-signature/eddsa', description: 'EdDSA: one bit of S flipped', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [{ ...pe, sig: flipBit(pe.sig, -1, 3) }]), parts: [pe], error: 'ERR_SIGNATURE_INVALID' });
    const pp = part(K.p256, base(K.p256, 'vec-tamper-es'), JSON_PAYLOAD);
    const tp = Buffer.from(JSON_PAYLOAD.toString('utf8').replace('EUR', 'USD'), 'utf8');
    add({ name: 'invalid/tampered-payload/es256', description: 'ES256: payload changed, signature kept', keyring: keyring(K.p256), envelope: compact(tp, [pp]), parts: [pp], error: 'ERR_SIGNATURE_INVALID' });
    const pr = part(K.rsa, base(K.rsa, 'vec-tamper-ps'), JSON_PAYLOAD);
    add({ name: 'invalid/tampered-payload/ps256', description: 'PS256: payload changed, signature kept', keyring: keyring(K.rsa), envelope: compact(tp, [pr]), parts: [pr], error: 'ERR_SIGNATURE_INVALID' });
  }

  // -- signature encodings --
  {
    const h = canonicalHeader(base(K.p256, 'vec-es256-der'));
    const key = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: P256.x, y: P256.y, d: P256.d }, format: 'jwk' });
    const der: Part = { header: h, sig: sign('sha256', pae(h, JSON_PAYLOAD), { key, dsaEncoding: 'der' }), deterministic: false };
    add({ name: 'invalid/es256-der-signature', description: 'ES256 signature in ASN.1 DER form instead of the 64-byte IEEE P1363 r||s: rejected', keyring: keyring(K.p256), envelope: compact(JSON_PAYLOAD, [der]), parts: [der], error: 'ERR_SIGNATURE_INVALID' });
    const p = part(K.p256, base(K.p256, 'vec-es256-high-s'), JSON_PAYLOAD);
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const s = BigInt('0x' + p.sig.subarray(32).toString('hex'));
    const high: Part = { ...p, sig: Buffer.concat([p.sig.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]) };
    add({ name: 'valid/es256-high-s', description: 'ES256 signature (r, n - s): ECDSA signatures are malleable and both forms verify. Replay protection keys on the signed id, not on signature bytes', keyring: keyring(K.p256), envelope: compact(JSON_PAYLOAD, [high]), parts: [high], valid: { payload: JSON_PAYLOAD, part: p } });
    const hr = canonicalHeader(base(K.rsa, 'vec-ps256-salt'));
    const rkey = createPrivateKey({ key: { kty: 'RSA', ...RSA2048 }, format: 'jwk' });
    const salt20: Part = { header: hr, sig: sign('sha256', pae(hr, JSON_PAYLOAD), { key: rkey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 }), deterministic: false };
    add({ name: 'invalid/ps256-salt-length', description: 'RSA-PSS signature with a 20-byte salt: PS256 requires a 32-byte salt', keyring: keyring(K.rsa), envelope: compact(JSON_PAYLOAD, [salt20]), parts: [salt20], error: 'ERR_SIGNATURE_INVALID' });
  }

  {
    // A PS256 signature whose first byte is 0x00 (about 1 in 185 for this modulus): salts are tried
    // in a fixed order until one gives such a signature, so the vector is reproducible.
    const hz = canonicalHeader(base(K.rsa, 'vec-ps256-leading-zero'));
    const rkey = createPrivateKey({ key: { kty: 'RSA', ...RSA2048 }, format: 'jwk' });
    let full: Buffer | undefined;
    for (let i = 0; full === undefined; i++) {
      if (i === 5000) throw new Error('no PS256 signature with a leading zero byte in 5000 salts');
      const sig = pssFixedSalt(rkey, pae(hz, JSON_PAYLOAD), sha256(Buffer.from(`sealq vector salt ${i}`, 'ascii')));
      if (sig[0] === 0) full = sig;
    }
    const pz: Part = { header: hz, sig: full, deterministic: true };
    add({ name: 'valid/ps256-leading-zero', description: 'A PS256 signature whose first byte is 0x00, carried at its full length (256 bytes): valid', keyring: keyring(K.rsa), envelope: compact(JSON_PAYLOAD, [pz]), parts: [pz], valid: { payload: JSON_PAYLOAD, part: pz } });
    add({ name: 'invalid/ps256-leading-zero-stripped', description: 'The same signature without its leading zero byte (255 bytes): a PS256 signature must be exactly as long as the modulus, although OpenSSL alone accepts this one', keyring: keyring(K.rsa), envelope: compact(JSON_PAYLOAD, [{ ...pz, sig: full.subarray(1) }]), parts: [pz], error: 'ERR_SIGNATURE_INVALID' });
  }

  // -- invalid: keys --
  {
    const p = part(K.hs256Other, base(K.hs256Other, 'vec-wrong-key'), JSON_PAYLOAD);
    add({ name: 'invalid/wrong-key/hs256', description: 'Signed under kid hs256-test with a different secret', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], error: 'ERR_SIGNATURE_INVALID' });
    const pe = part(K.edOther, base(K.edOther, 'vec-wrong-key-ed'), JSON_PAYLOAD);
    add({ name: 'invalid/wrong-key/eddsa', description: 'Signed under kid ed25519-test with a different Ed25519 key', keyring: keyring(K.ed), envelope: object(JSON_PAYLOAD, [pe]), parts: [pe], error: 'ERR_SIGNATURE_INVALID' });
    const pu = part(K.edUnknown, base(K.edUnknown, 'vec-unknown-kid'), JSON_PAYLOAD);
    add({ name: 'invalid/unknown-kid', description: 'Signed by a key whose kid is not in the keyring', keyring: keyring(K.ed, K.hs256), envelope: compact(JSON_PAYLOAD, [pu]), parts: [pu], error: 'ERR_KEY_UNKNOWN' });
  }
  {
    // Algorithm confusion: HMAC keyed with the Ed25519 public key (which an attacker knows).
    const confused = hmacKey('confused', K.ed.kid, 'HS256', ED25519.main.x);
    const p = part(confused, base(confused, 'vec-alg-confusion'), JSON_PAYLOAD);
    add({ name: 'invalid/alg-confusion/compact', description: 'Header claims HS256 under the EdDSA key\'s kid; the tag is HMAC-SHA256 keyed with the 32 bytes of that Ed25519 public key. The algorithm comes from the verifier\'s key', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [p]), parts: [p], error: 'ERR_ALG_MISMATCH' });
    add({ name: 'invalid/alg-confusion/object', description: 'The same algorithm-confusion attempt in the object carrier', keyring: keyring(K.ed), envelope: object(JSON_PAYLOAD, [p]), parts: [p], error: 'ERR_ALG_MISMATCH' });
    const pe = part(K.ed, base(K.hs256, 'vec-alg-claim', { alg: 'EdDSA' }), JSON_PAYLOAD);
    add({ name: 'invalid/alg-mismatch', description: 'Header claims EdDSA under an HS256 key\'s kid (signed with an Ed25519 key)', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [pe]), parts: [pe], error: 'ERR_ALG_MISMATCH' });
    const pn = part(K.hs256, base(K.hs256, 'vec-alg-none', { alg: 'none' }), JSON_PAYLOAD);
    add({ name: 'invalid/alg-none', description: 'Header alg "none": not an algorithm of this format', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [pn]), parts: [pn], error: 'ERR_MALFORMED' });
    const pl = part(K.hs256, base(K.hs256, 'vec-alg-case', { alg: 'hs256' }), JSON_PAYLOAD);
    add({ name: 'invalid/alg-case', description: 'Header alg "hs256": algorithm names are case-sensitive', keyring: keyring(K.hs256), envelope: compact(JSON_PAYLOAD, [pl]), parts: [pl], error: 'ERR_MALFORMED' });
  }
  {
    const p = part(K.hs256, base(K.hs256, 'vec-key-state'), JSON_PAYLOAD);
    const env = compact(JSON_PAYLOAD, [p]);
    const iso = (t: number): string => new Date(t).toISOString();
    add({ name: 'invalid/key-inactive/disabled', description: 'The key is disabled in the verifier\'s keyring', keyring: keyring([K.hs256, { status: 'disabled' }]), envelope: env, parts: [p], error: 'ERR_KEY_INACTIVE' });
    add({ name: 'invalid/key-inactive/revoked', description: 'The key is revoked: messages are rejected whatever their iat', keyring: keyring([K.hs256, { status: 'revoked' }]), envelope: env, parts: [p], error: 'ERR_KEY_INACTIVE' });
    add({ name: 'invalid/key-inactive/revoked-before-signature', description: 'A revoked key and an altered signature: the key state is checked before the signature', keyring: keyring([K.hs256, { status: 'revoked' }]), envelope: compact(JSON_PAYLOAD, [{ ...p, sig: flipBit(p.sig, 5) }]), parts: [p], error: 'ERR_KEY_INACTIVE' });
    add({ name: 'invalid/key-inactive/not-after', description: 'The key\'s not_after is 1 ms before the message\'s iat', keyring: keyring([K.hs256, { not_after: iso(T0 - 1) }]), envelope: env, parts: [p], error: 'ERR_KEY_INACTIVE' });
    add({ name: 'invalid/key-inactive/not-before', description: 'The key\'s not_before is 1 ms after the message\'s iat', keyring: keyring([K.hs256, { not_before: iso(T0 + 1) }]), envelope: env, parts: [p], error: 'ERR_KEY_INACTIVE' });
    add({ name: 'valid/key-validity-inclusive', description: 'not_before = not_after = iat: both bounds are inclusive', keyring: keyring([K.hs256, { not_before: iso(T0), not_after: iso(T0) }]), envelope: env, parts: [p], valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    const policy = { ctx: ['billing.*'], typ: ['invoice.*'] };
    const ok = part(K.ed, base(K.ed, 'vec-policy-ok'), JSON_PAYLOAD);
    add({ name: 'valid/policy', description: 'Key policy ctx ["billing.*"], typ ["invoice.*"]: the message is for billing.invoices / invoice.send', keyring: keyring([K.ed, { policy }]), envelope: compact(JSON_PAYLOAD, [ok]), parts: [ok], valid: { payload: JSON_PAYLOAD, part: ok } });
    const ctx = part(K.ed, base(K.ed, 'vec-policy-ctx', { ctx: 'emails.outbound' }), JSON_PAYLOAD);
    add({ name: 'invalid/not-permitted/ctx', description: 'The same key policy; the message is for emails.outbound, which the key may not sign for', keyring: keyring([K.ed, { policy }]), envelope: compact(JSON_PAYLOAD, [ctx]), parts: [ctx], options: { ctx: 'emails.outbound' }, error: 'ERR_KEY_NOT_PERMITTED' });
    const notyp = part(K.ed, base(K.ed, 'vec-policy-notyp', { typ: undefined }), JSON_PAYLOAD);
    add({ name: 'invalid/not-permitted/typ-absent', description: 'A key with a typ policy; the message has no typ. Omitting typ does not bypass the policy', keyring: keyring([K.ed, { policy }]), envelope: compact(JSON_PAYLOAD, [notyp]), parts: [notyp], error: 'ERR_KEY_NOT_PERMITTED' });
    add({ name: 'valid/policy-star-typ-absent', description: 'Policy typ ["*"] allows every message, with or without typ', keyring: keyring([K.ed, { policy: { ctx: [CTX], typ: ['*'] } }]), envelope: compact(JSON_PAYLOAD, [notyp]), parts: [notyp], valid: { payload: JSON_PAYLOAD, part: notyp } });
    const bad = { ...ctx, sig: flipBit(ctx.sig, 0) };
    add({ name: 'invalid/not-permitted/after-signature', description: 'Not permitted and an altered signature: the signature is checked before the policy', keyring: keyring([K.ed, { policy }]), envelope: compact(JSON_PAYLOAD, [bad]), parts: [ctx], options: { ctx: 'emails.outbound' }, error: 'ERR_SIGNATURE_INVALID' });
  }

  // -- invalid: context, type, freshness --
  {
    const p = part(K.ed, base(K.ed, 'vec-claims'), JSON_PAYLOAD);
    const ring = keyring(K.ed);
    add({ name: 'invalid/wrong-context', description: 'Sealed for billing.invoices, opened by a consumer of billing.refunds', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: 'billing.refunds' }, error: 'ERR_CONTEXT_MISMATCH' });
    add({ name: 'invalid/wrong-context/case', description: 'Context comparison is exact: Billing.Invoices is another context', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: 'Billing.Invoices' }, error: 'ERR_CONTEXT_MISMATCH' });
    add({ name: 'invalid/wrong-type', description: 'typ invoice.send, the consumer expects invoice.void', keyring: ring, envelope: object(JSON_PAYLOAD, [p]), parts: [p], options: { typ: 'invoice.void' }, error: 'ERR_TYPE_MISMATCH' });
    add({ name: 'invalid/context-before-type', description: 'Both context and type wrong: the context is checked first', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: 'billing.refunds', typ: 'invoice.void' }, error: 'ERR_CONTEXT_MISMATCH' });
    add({ name: 'invalid/context-before-expiry', description: 'Wrong context and expired: the context is checked before freshness', keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], options: { ctx: 'billing.refunds', now: T0 + 2 * MAX_AGE }, error: 'ERR_CONTEXT_MISMATCH' });
    const notyp = part(K.ed, base(K.ed, 'vec-no-typ', { typ: undefined }), JSON_PAYLOAD);
    add({ name: 'invalid/type-absent', description: 'The consumer expects a type; the message has none', keyring: ring, envelope: compact(JSON_PAYLOAD, [notyp]), parts: [notyp], options: { typ: TYP }, error: 'ERR_TYPE_MISMATCH' });
    const exp = part(K.ed, base(K.ed, 'vec-expired', { exp: T0 + 60_000 }), JSON_PAYLOAD);
    add({ name: 'invalid/expired', description: 'exp one minute after iat; opened one hour later', keyring: ring, envelope: compact(JSON_PAYLOAD, [exp]), parts: [exp], options: { now: T0 + 3_600_000 }, error: 'ERR_EXPIRED' });
    const nbf = part(K.ed, base(K.ed, 'vec-not-yet', { nbf: T0 + 3_600_000 }), JSON_PAYLOAD);
    add({ name: 'invalid/not-yet-valid', description: 'nbf one hour after iat; opened 5 s after iat', keyring: ring, envelope: compact(JSON_PAYLOAD, [nbf]), parts: [nbf], error: 'ERR_NOT_YET_VALID' });
    const expired = { ...p, sig: flipBit(p.sig, 0) };
    add({ name: 'invalid/expired-and-tampered', description: 'Expired and altered: the signature is checked before freshness', keyring: ring, envelope: compact(JSON_PAYLOAD, [expired]), parts: [p], options: { now: T0 + 2 * MAX_AGE }, error: 'ERR_SIGNATURE_INVALID' });
  }

  // -- invalid: version and structure --
  {
    const p = part(K.hs256, base(K.hs256, 'vec-structure'), JSON_PAYLOAD);
    const ring = keyring(K.hs256);
    const full = compact(JSON_PAYLOAD, [p]);
    add({ name: 'invalid/unknown-version/compact', description: 'Prefix sealq2.: a version this verifier does not read', keyring: ring, envelope: 'sealq2.' + full.slice('sealq1.'.length), parts: [p], error: 'ERR_UNSUPPORTED_VERSION' });
    add({ name: 'invalid/unknown-version/object', description: '"sealq": 2 in the object carrier', keyring: ring, envelope: { ...object(JSON_PAYLOAD, [p]), sealq: 2 }, parts: [p], error: 'ERR_UNSUPPORTED_VERSION' });
    add({ name: 'invalid/not-sealed/text', description: 'Plain text, not an envelope', keyring: ring, envelope: 'hello world', parts: [], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/not-sealed/empty', description: 'The empty string', keyring: ring, envelope: '', parts: [], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/not-sealed/jws', description: 'A JWS compact serialisation is not a sealq envelope', keyring: ring, envelope: full.slice('sealq1.'.length), parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/not-sealed/object', description: 'A JSON object without "sealq": 1', keyring: ring, envelope: { payload: 'x', signatures: [] } as unknown as SealedObject, parts: [], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object/version-as-string', description: '"sealq": "1" (a string) is not version 1', keyring: ring, envelope: { ...object(JSON_PAYLOAD, [p]), sealq: '1' } as unknown as SealedObject, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object/unknown-member', description: 'Object carrier with an unknown top-level member', keyring: ring, envelope: { ...object(JSON_PAYLOAD, [p]), attempts: 1 } as SealedObject, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object/payload-and-payload64', description: 'Object carrier with both "payload" and "payload64"', keyring: ring, envelope: { ...object(JSON_PAYLOAD, [p]), payload64: b64(JSON_PAYLOAD) }, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object/no-payload', description: 'Object carrier with neither "payload" nor "payload64"', keyring: ring, envelope: { sealq: 1, signatures: object(JSON_PAYLOAD, [p]).signatures }, parts: [p], error: 'ERR_MALFORMED' });
    const headerAsObject = { sealq: 1, payload: JSON_PAYLOAD.toString('utf8'), signatures: [{ header: JSON.parse(p.header.toString('utf8')), sig: b64(p.sig) }] } as unknown as SealedObject;
    const extra = { ...object(JSON_PAYLOAD, [p]) };
    extra.signatures = [{ ...extra.signatures[0]!, kid: 'hs256-test' } as { header: string; sig: string }];
    add({ name: 'invalid/object/signature-unknown-member', description: 'Object carrier whose signature entry has a member besides "header" and "sig" (here "kid"): not signed, so not allowed', keyring: ring, envelope: extra, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object/header-not-text', description: 'Object carrier whose "header" is a JSON object instead of the exact JSON text that was signed', keyring: ring, envelope: headerAsObject, parts: [p], error: 'ERR_MALFORMED' });
  }

  // -- invalid: header contents (each correctly signed, so only the header rule rejects it) --
  {
    const ring = keyring(K.hs256);
    const signed = (name: string, description: string, header: string | Buffer): void => {
      const p = part(K.hs256, header, JSON_PAYLOAD);
      add({ name, description, keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], error: 'ERR_MALFORMED' });
    };
    const h = (more: Record<string, unknown>, drop: string[] = []): string => {
      const o: Record<string, unknown> = { ...base(K.hs256, 'vec-header-rule'), ...more };
      for (const d of drop) delete o[d];
      return JSON.stringify(o);
    };
    signed('invalid/header/unknown-field', 'A signed header with an unknown field "enc"', h({ enc: 'none' }));
    signed('invalid/header/missing-ctx', 'A signed header without ctx', h({}, ['ctx']));
    signed('invalid/header/missing-id', 'A signed header without id', h({}, ['id']));
    signed('invalid/header/iat-string', 'iat as a string', h({ iat: String(T0) }));
    signed('invalid/header/iat-fraction', 'iat with a fractional part', h({ iat: T0 + 0.5 }));
    signed('invalid/header/iat-negative', 'iat negative', h({ iat: -1 }));
    signed('invalid/header/exp-not-after-nbf', 'exp equal to nbf', h({ nbf: T0 + 1000, exp: T0 + 1000 }));
    signed('invalid/header/typ-null', 'typ null (an absent optional field is omitted, never null)', h({ typ: null }));
    signed('invalid/header/ctx-empty', 'ctx empty', h({ ctx: '' }));
    signed('invalid/header/id-space', 'id containing a space (ids are printable ASCII without spaces)', h({ id: 'vec header rule' }));
    signed('invalid/header/kid-too-long', 'kid of 129 characters', h({ kid: 'k'.repeat(129) }));
    signed('invalid/header/not-object', 'The header is a JSON array', '["hs256-test","HS256"]');
    signed('invalid/header/not-json', 'The header is not JSON', 'kid=hs256-test');
    const canon = canonicalHeader(base(K.hs256, 'vec-header-rule')).toString('utf8');
    const withBefore = (member: string, extra: string): string => {
      if (!canon.includes(`"${member}":`)) throw new Error(`no ${member} in the header`);
      return canon.replace(`"${member}":`, `${extra},"${member}":`);
    };
    signed('invalid/header/duplicate-member', 'ctx twice: "billing.refunds", then "billing.invoices" (the verifier\'s context). Parsers disagree on which value counts, so duplicate names make a header malformed', withBefore('ctx', '"ctx":"billing.refunds"'));
    signed('invalid/header/duplicate-member-same-value', 'kid twice with the same value: still a duplicate name', withBefore('kid', '"kid":"hs256-test"'));
    signed('invalid/header/duplicate-member-escaped', 'ctx twice, once written with an escape ("c\\u0074x"): names are compared after unescaping', withBefore('ctx', '"c\\u0074x":"billing.refunds"'));
    signed('invalid/header/nested-value', 'typ as a nested object (no member allows one)', h({ typ: { name: TYP } }));
    signed('invalid/header/not-utf8', 'The header bytes are not UTF-8', Buffer.concat([Buffer.from(h({}).slice(0, -1)), Buffer.from(',"x":"'), Buffer.from([0xff]), Buffer.from('"}')]));
  }
  // -- the headers carrier (SPEC §5.6): the body is the payload, one header holds the rest --
  for (const [key, slug] of [[K.hs256, 'hs256'], [K.hs512, 'hs512'], [K.ed, 'eddsa'], [K.p256, 'es256'], [K.rsa, 'ps256']] as const) {
    const p = part(key, base(key, `vec-${slug}-detached`), JSON_PAYLOAD);
    add({ name: `valid/${slug}/detached`, description: `${key.alg}: headers carrier; the body is the payload, the "sealq" header the detached compact form`, keyring: keyring(key), envelope: detached(JSON_PAYLOAD, [p]), parts: [p], options: { typ: TYP }, valid: { payload: JSON_PAYLOAD, part: p } });
  }
  {
    const empty = Buffer.alloc(0);
    const p = part(K.hs256, base(K.hs256, 'vec-detached-empty', { ct: undefined }), empty);
    add({ name: 'valid/empty-payload/detached', description: 'Headers carrier with an empty body', keyring: keyring(K.hs256), envelope: detached(empty, [p]), parts: [p], valid: { payload: empty, part: p } });
    const pb = part(K.ed, base(K.ed, 'vec-detached-binary', { ct: 'application/octet-stream' }), BINARY_PAYLOAD);
    add({ name: 'valid/binary-payload/detached', description: 'Headers carrier with a body that is not UTF-8', keyring: keyring(K.ed), envelope: detached(BINARY_PAYLOAD, [pb]), parts: [pb], valid: { payload: BINARY_PAYLOAD, part: pb } });
    const ph = part(K.hs256Old, base(K.hs256Old, 'vec-detached-multi'), JSON_PAYLOAD);
    const pe = part(K.ed, base(K.ed, 'vec-detached-multi'), JSON_PAYLOAD);
    add({ name: 'valid/multi-signature/detached', description: 'Two signatures in the headers carrier: the second pair follows the first', keyring: keyring(K.ed), envelope: detached(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], valid: { payload: JSON_PAYLOAD, part: pe } });
    const p1 = part(K.hs256, base(K.hs256, 'vec-detached-rules'), JSON_PAYLOAD);
    const d = detached(JSON_PAYLOAD, [p1]);
    const n = JSON_PAYLOAD.length;
    add({ name: 'invalid/detached/tampered-body', description: 'Headers carrier: the body changed, the seal header kept', keyring: keyring(K.hs256), envelope: { ...d, payload_b64url: b64(Buffer.from(JSON_PAYLOAD.toString('utf8').replace('4200', '9200'))) }, parts: [p1], error: 'ERR_SIGNATURE_INVALID' });
    add({ name: 'invalid/detached/payload-part-not-empty', description: 'The seal header holds a whole compact envelope (payload part not empty): the payload must come from the body only', keyring: keyring(K.hs256), envelope: { seal: compact(JSON_PAYLOAD, [p1]), payload_b64url: b64(JSON_PAYLOAD) }, parts: [p1], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/detached/no-seal', description: 'No seal header (the empty string): an unsealed message', keyring: keyring(K.hs256), envelope: { seal: '', payload_b64url: b64(JSON_PAYLOAD) }, parts: [p1], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/detached/oversized-body', description: `A body of ${n} bytes with maxPayloadBytes ${n - 1}`, keyring: keyring(K.hs256), envelope: d, parts: [p1], options: { maxPayloadBytes: n - 1 }, error: 'ERR_MALFORMED' });
    add({ name: 'invalid/detached/unknown-version', description: 'A seal header with the prefix sealq2.', keyring: keyring(K.hs256), envelope: { ...d, seal: 'sealq2.' + d.seal.slice('sealq1.'.length) }, parts: [p1], error: 'ERR_UNSUPPORTED_VERSION' });
  }

  // -- the object carrier as JSON text (SPEC §5.3): duplicate members --
  {
    const p = part(K.hs256, base(K.hs256, 'vec-object-json'), JSON_PAYLOAD);
    const o = object(JSON_PAYLOAD, [p]);
    const ring = keyring(K.hs256);
    const sigs = JSON.stringify(o.signatures);
    const pay = JSON.stringify(o.payload);
    const forged = JSON.stringify(JSON_PAYLOAD.toString('utf8').replace('4200', '9200'));
    add({ name: 'valid/hs256/object-json', description: 'The object carrier as JSON text', keyring: ring, envelope: { json: JSON.stringify(o) }, parts: [p], valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'valid/object-json/whitespace', description: 'JSON text with whitespace, another member order and an escaped character in the payload text: only the values count', keyring: ring, envelope: { json: `{\n  "signatures" : ${sigs},\n  "payload" : ${pay.replace('I', '\\u0049')},\n  "sealq" : 1\n}` }, parts: [p], valid: { payload: JSON_PAYLOAD, part: p } });
    add({ name: 'invalid/object-json/duplicate-payload', description: '"payload" twice, a forged one first: a parser keeping the first value would read another payload than one keeping the last', keyring: ring, envelope: { json: `{"sealq":1,"payload":${forged},"payload":${pay},"signatures":${sigs}}` }, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object-json/duplicate-signatures', description: '"signatures" twice', keyring: ring, envelope: { json: `{"sealq":1,"payload":${pay},"signatures":[],"signatures":${sigs}}` }, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object-json/duplicate-sig-in-entry', description: '"sig" twice in a signature entry', keyring: ring, envelope: { json: `{"sealq":1,"payload":${pay},"signatures":[{"header":${JSON.stringify(o.signatures[0]!.header)},"sig":"AAAA","sig":${JSON.stringify(o.signatures[0]!.sig)}}]}` }, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object-json/duplicate-escaped-name', description: '"sealq" twice, once spelled with an escape ("se\\u0061lq")', keyring: ring, envelope: { json: `{"sealq":1,"se\\u0061lq":1,"payload":${pay},"signatures":${sigs}}` }, parts: [p], error: 'ERR_MALFORMED' });
    add({ name: 'invalid/object-json/not-json', description: 'Not JSON text', keyring: ring, envelope: { json: `{"sealq":1,"payload":${pay},"signatures":${sigs},}` }, parts: [p], error: 'ERR_MALFORMED' });
  }

  // -- number forms: integers only (SPEC §3.2) --
  {
    const ring = keyring(K.hs256);
    const canon = canonicalHeader(base(K.hs256, 'vec-number-form')).toString('utf8');
    const iat = `"iat":${T0}`;
    const signedAs = (name: string, description: string, replacement: string): void => {
      const p = part(K.hs256, canon.replace(iat, replacement), JSON_PAYLOAD);
      add({ name, description, keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], error: 'ERR_MALFORMED' });
    };
    signedAs('invalid/header/iat-exponent', 'iat written with an exponent (1.7672256e12), an integral value: only the plain decimal form is allowed', `"iat":${(T0 / 1e12).toString()}e12`);
    signedAs('invalid/header/iat-exponent-upper', 'iat written with an upper-case exponent and no fraction (17672256E5)', `"iat":${T0 / 1e5}E5`);
    signedAs('invalid/header/iat-fraction-zero', 'iat with a zero fraction (1767225600000.0)', `"iat":${T0}.0`);
    signedAs('invalid/header/iat-minus-zero', 'iat "-0": a sign is not allowed, not even on zero', '"iat":-0');
    const p0 = part(K.hs256, canon.replace(iat, '"iat":0,"exp":1000'), JSON_PAYLOAD);
    add({ name: 'valid/header/iat-zero', description: 'iat 0 in the plain form is allowed (with exp 1000, opened at 500)', keyring: ring, envelope: compact(JSON_PAYLOAD, [p0]), parts: [p0], options: { now: 500 }, valid: { payload: JSON_PAYLOAD, part: p0 } });
  }

  // -- lone surrogates (SPEC §3.2): no header string may hold one --
  {
    const ring = keyring(K.hs256);
    const canon = canonicalHeader(base(K.hs256, 'vec-surrogate')).toString('utf8');
    const signedAs = (name: string, description: string, from: string, to: string, options?: Partial<VectorOptions>): void => {
      const p = part(K.hs256, replaceOnce(Buffer.from(canon), from, to), JSON_PAYLOAD);
      add({ name, description, keyring: ring, envelope: compact(JSON_PAYLOAD, [p]), parts: [p], ...(options ? { options } : {}), error: 'ERR_MALFORMED' });
    };
    signedAs('invalid/header/ctx-lone-surrogate', 'ctx ends in the escape \\ud800, a lone surrogate (no UTF-8 form; some parsers read it as U+FFFD)', `"ctx":"${CTX}"`, `"ctx":"${CTX}\\ud800"`);
    signedAs('invalid/header/typ-lone-surrogate', 'typ holds a lone low surrogate \\udc00', `"typ":"${TYP}"`, `"typ":"\\udc00${TYP}"`);
    signedAs('invalid/header/kid-lone-surrogate', 'kid holds a lone surrogate: malformed, not an unknown kid', '"kid":"hs256-test"', '"kid":"hs256-test\\ud83c"');
    signedAs('invalid/header/ct-lone-surrogate', 'ct holds a lone surrogate', '"ct":"application/json"', '"ct":"application/json\\udfff"');
    const pair = part(K.hs256, replaceOnce(Buffer.from(canon), `"ctx":"${CTX}"`, '"ctx":"globe.\\ud83c\\udf0d"'), JSON_PAYLOAD);
    add({ name: 'valid/header/ctx-surrogate-pair', description: 'ctx with an escaped surrogate pair (\\ud83c\\udf0d, one character outside the BMP): well-formed', keyring: ring, envelope: compact(JSON_PAYLOAD, [pair]), parts: [pair], options: { ctx: 'globe.\u{1F30D}' }, valid: { payload: JSON_PAYLOAD, part: pair } });
  }

  // -- every header of an envelope agrees (SPEC §8) --
  {
    const pe = part(K.ed, base(K.ed, 'vec-agree'), JSON_PAYLOAD);
    const variants: Array<[string, string, Partial<HeaderFields>]> = [
      ['ctx', 'The first header says ctx billing.refunds, the second billing.invoices', { ctx: 'billing.refunds' }],
      ['id', 'The headers carry different ids (two replay keys for one message)', { id: 'vec-agree-other' }],
      ['exp', 'Only the first header has an exp', { exp: T0 + 3_600_000 }],
      ['typ-absent', 'Only the second header has a typ', { typ: undefined }],
      ['iat', 'The headers differ in iat by 1 ms', { iat: T0 + 1 }],
    ];
    for (const [slug, description, more] of variants) {
      const ph = part(K.hs256Old, base(K.hs256Old, 'vec-agree', more), JSON_PAYLOAD);
      add({ name: `invalid/multi-signature/headers-disagree/${slug}`, description: `${description}. The verifier knows only the EdDSA key, whose signature is valid: headers that disagree make the envelope malformed before any key is used`, keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [ph, pe]), parts: [ph, pe], error: 'ERR_MALFORMED' });
    }
  }

  // -- the header byte limit in the object carrier (SPEC §5.3) --
  {
    const more = { ct: '東'.repeat(200) };
    const canon = canonicalHeader(base(K.hs256Old, 'vec-object-4096', more)).toString('utf8');
    const text = canon.slice(0, -1) + ' '.repeat(4096 - canon.length) + '}';
    if (text.length !== 4096 || Buffer.byteLength(text) <= 4096) throw new Error('the wide header must be 4096 characters and more bytes');
    const pw = part(K.hs256Old, text, JSON_PAYLOAD);
    const pe = part(K.ed, base(K.ed, 'vec-object-4096', more), JSON_PAYLOAD);
    add({ name: 'invalid/object/header-over-4096-bytes', description: 'Object carrier: a header string of 4096 characters but 4496 UTF-8 bytes, next to a valid EdDSA signature. The byte limit applies while decoding, in every carrier', keyring: keyring(K.hs256Old, K.ed), envelope: object(JSON_PAYLOAD, [pw, pe]), parts: [pw, pe], error: 'ERR_MALFORMED' });
  }

  // -- Ed25519 encodings (SPEC §6) --
  {
    const p = part(K.ed, base(K.ed, 'vec-ed-s-plus-l'), JSON_PAYLOAD);
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    const s = BigInt('0x' + Buffer.from(p.sig.subarray(32)).reverse().toString('hex'));
    const sl = Buffer.from((s + L).toString(16).padStart(64, '0'), 'hex').reverse();
    add({ name: 'invalid/eddsa-s-not-reduced', description: 'EdDSA signature (R, S + L): the same equation holds, but S must be below the group order L', keyring: keyring(K.ed), envelope: compact(JSON_PAYLOAD, [{ ...p, sig: Buffer.concat([p.sig.subarray(0, 32), sl]) }]), parts: [p], error: 'ERR_SIGNATURE_INVALID' });
  }

  // -- maximum validity (SPEC §9 step 6) --
  {
    const DAY = 86_400_000;
    const ring = keyring(K.hs256);
    const long = part(K.hs256, base(K.hs256, 'vec-validity-long', { exp: T0 + 30 * DAY + 1 }), JSON_PAYLOAD);
    const max = part(K.hs256, base(K.hs256, 'vec-validity-max', { exp: T0 + 30 * DAY }), JSON_PAYLOAD);
    add({ name: 'invalid/validity-too-long', description: 'exp - iat is 30 days + 1 ms, longer than the default maxValidity of 30 days', keyring: ring, envelope: compact(JSON_PAYLOAD, [long]), parts: [long], error: 'ERR_VALIDITY_TOO_LONG' });
    add({ name: 'valid/validity-at-max', description: 'exp - iat is exactly 30 days: allowed', keyring: ring, envelope: compact(JSON_PAYLOAD, [max]), parts: [max], valid: { payload: JSON_PAYLOAD, part: max } });
    add({ name: 'valid/validity-raised', description: 'exp - iat is 30 days + 1 ms; the verifier allows 31 days', keyring: ring, envelope: compact(JSON_PAYLOAD, [long]), parts: [long], options: { maxValidity: 31 * DAY }, valid: { payload: JSON_PAYLOAD, part: long } });
    add({ name: 'invalid/validity-before-freshness', description: 'Too long and already expired: the validity length is checked before freshness', keyring: ring, envelope: compact(JSON_PAYLOAD, [long]), parts: [long], options: { now: T0 + 40 * DAY }, error: 'ERR_VALIDITY_TOO_LONG' });
    add({ name: 'invalid/type-before-validity', description: 'Wrong type and too long: the type is checked first', keyring: ring, envelope: compact(JSON_PAYLOAD, [long]), parts: [long], options: { typ: 'invoice.void' }, error: 'ERR_TYPE_MISMATCH' });
  }
  return out;
}

/** The whole vector document. Randomized ES256 and PS256 signatures differ between calls; everything else does not. */
export function buildVectors(): VectorFile {
  const test_keys: Record<string, Jwk> = {};
  for (const k of Object.values(KEYS)) test_keys[k.name] = k.privateJwk;
  const vectors = cases().map(toVector);
  const names = new Set<string>();
  for (const v of vectors) {
    if (names.has(v.name)) throw new Error(`duplicate vector name ${v.name}`);
    names.add(v.name);
  }
  return {
    title: 'sealq envelope format, version 1: test vectors',
    warning: 'TEST KEYS ONLY. Every key in this file is public; never use any of them outside tests.',
    spec: 'docs/SPEC.md',
    generator: 'scripts/make-vectors.ts',
    test_keys,
    vectors,
  };
}

export function serialize(doc: VectorFile): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

export const VECTORS_FILE = fileURLToPath(new URL('../vectors/envelope-v1.json', import.meta.url));

/** The envelope of a vector as a verifier takes it in its carrier. */
export function vectorEnvelope<O>(v: Vector, parseObjectText: (text: string) => O): string | O | SealedObject | { seal: string; payload: Buffer } {
  switch (v.carrier) {
    case 'compact': return v.envelope as string;
    case 'object': return v.envelope as SealedObject;
    case 'object-json': return parseObjectText(v.envelope as string);
    case 'detached': {
      const d = v.envelope as Detached;
      return { seal: d.seal, payload: Buffer.from(d.payload_b64url, 'base64url') };
    }
  }
}

/** Opens every vector with the implementation; returns the disagreements. */
async function selfCheck(doc: VectorFile): Promise<string[]> {
  const { Keyring, open, parseSealedObject } = await import('../src/index.js');
  const problems: string[] = [];
  for (const v of doc.vectors) {
    let got: string;
    try {
      const m = open(Keyring.fromJwks(v.keyring), vectorEnvelope(v, parseSealedObject) as Parameters<typeof open>[1], v.options);
      const want = v.expected as { payload_b64url?: string; header?: unknown; valid_until?: number };
      got = m.payload.toString('base64url') === want.payload_b64url && JSON.stringify(m.header) === JSON.stringify(want.header) && m.validUntil === want.valid_until ? 'ok' : 'opened with another result';
    } catch (e) {
      got = (e as { code?: string }).code ?? String(e);
    }
    const want = 'error' in v.expected ? v.expected.error : 'ok';
    if (got !== want) problems.push(`${v.name}: expected ${want}, implementation gives ${got}`);
  }
  return problems;
}

/**
 * Keeps the committed ES256 / PS256 envelopes when nothing else about their vector changed, so
 * re-running the generator does not churn the file; the self-check still opens them.
 */
function keepRandomized(doc: VectorFile): void {
  let old: VectorFile;
  try {
    old = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as VectorFile;
  } catch {
    return;
  }
  const byName = new Map(old.vectors.map((v) => [v.name, v]));
  for (const v of doc.vectors) {
    const o = byName.get(v.name);
    if (v.reproducible || o === undefined) continue;
    if (JSON.stringify({ ...v, envelope: null }) === JSON.stringify({ ...o, envelope: null })) v.envelope = o.envelope;
  }
}

async function main(): Promise<void> {
  const doc = buildVectors();
  if (!process.argv.includes('--fresh')) keepRandomized(doc);
  const problems = await selfCheck(doc);
  if (problems.length > 0) {
    process.stderr.write(`not written: the implementation disagrees with ${problems.length} vector(s):\n${problems.join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  writeFileSync(VECTORS_FILE, serialize(doc));
  process.stdout.write(`wrote ${doc.vectors.length} vectors (${doc.vectors.filter((v) => v.reproducible).length} reproducible byte for byte)\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
