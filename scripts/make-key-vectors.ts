/**
 * Generates vectors/keys-v1.json: key and keyring documents (docs/SPEC.md §7) that a loader must
 * refuse, each with its expected code and the reason, some it must accept with what it must read
 * from them, and policy pattern matches.
 *
 *   node --import tsx scripts/make-key-vectors.ts
 *
 * Every expected outcome is written here by hand (instants with Date.UTC, not with the
 * implementation's parser). Before writing the file the script loads every document with the
 * implementation and refuses to write if any outcome differs. The output is deterministic.
 *
 * Importing this module has no side effects: the file is written only when run directly.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Keyring, importJwk } from '../src/index.js';
import type { SealKey } from '../src/index.js';
import { matchPattern } from '../src/keys/policy.js';

// ---- Test keys ------------------------------------------------------------------------------------
// TEST KEYS ONLY, published in this repository: generated once with node:crypto and pasted here.

const ED_A = { d: 'sJakTCkLIVsaw9U1iaO5C5cAmPmGTVFh27b5CbsPps8', x: 'g4VNnUq9oraJA9Rt-swZw2E4fHy6kWk9IPf_4Tn1ids' };
const ED_B = { x: 'GCZKps3CzKfgroKK5_XMPtSNaNTd3prQDufh35bHsHk' };
const P256 = { x: '4_-kcKsjYgL7Zkvam4-LNP6BZV76L-axnhBtXNiraZI', y: '5GIEoxg7kEZn6z2u-BB5tUzmID-wtc-1ueSPqkudUWk' };
const RSA2048_N =
  '2KYQvFJ2EWs9Kc1P2CEv9yXEbWVwN2ucd_pZLKs8P5J8Ld7TUO_QKbHlwsuUUv6jGIizdYj0IogmkCPIMx1ER-25xWXAI58gi7yOEFXSz6hFGOGMHKIb0FLQC58HZ9T6Fb_HxiWQhZLqUiRPia5i3yn2UPFbh-45bHZ2kZH9CFG6S03R8-nuarCtZG7WtYuYZ3oN-9NeHwN37y_zQ5QIt-i8_-P7oQhxD2rTcNmnkio6o_nTDuUAmmHOQThMTRR4Xgl-l6RiVHnWhj3GSDn2kqC2yWGyXiJNWSOOJ_fOWU9aEOlIfEWhM54MFnFhe4uAlhnPjYlLp6XgM20yiUKR8Q';
const HS256 = 'CIGVwz4RcbSQ3pJ5KUB1fVS63mezEwkuHT_Wnq_RHNs';
const HS512 = 'hh6VbQ5RQNBWVt4U6QLq07Sr-89jCUOxmM4AswI_8JVZFUBUByOQiB0koKzJieQAraQgfI3-Gf9jE5y5HhA8_g';
const HS256_31 = 'YDihahELpsAW-0a8rGUoSZZZE0U5RFkq-cToNyOPAw';
const HS512_63 = 'jsyQNAsli_CexFOsOh6XjgC1im5njKKQ3rJBmwNg_JDl86z7t9_m1ZSkmPQJel8UhgmXRzBpxFJ3ylQF947c';

type Jwk = Record<string, unknown>;

const hs = (extra: Jwk = {}): Jwk => ({ kty: 'oct', kid: 'hs256-key', alg: 'HS256', k: HS256, ...extra });
const ed = (extra: Jwk = {}): Jwk => ({ kty: 'OKP', crv: 'Ed25519', kid: 'ed25519-key', alg: 'EdDSA', x: ED_A.x, ...extra });

/** An RSA modulus of exactly `bits` bits (odd, not a product of two primes: a loader only measures it). */
function modulus(bits: number): string {
  const bytes = Math.ceil(bits / 8);
  const n = Buffer.alloc(bytes, 0xa5);
  n[0] = (1 << ((bits - 1) % 8)) | (bits % 8 === 0 ? 0x25 : 0);
  n[bytes - 1]! |= 1;
  return n.toString('base64url');
}

// ---- Ed25519 encodings ------------------------------------------------------------------------------

const P = 2n ** 255n - 19n;
/** y of the points of order 8 (the other two: P - Y8). */
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;

/** The 32-byte RFC 8032 encoding of y with the sign bit of x, as base64url. */
function edEncoding(y: bigint, sign: 0 | 1 = 0): string {
  const b = Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse();
  b[31]! |= sign << 7;
  return b.toString('base64url');
}

// ---- Vector types -----------------------------------------------------------------------------------

export interface KeySummary {
  kid: string;
  alg: string;
  status: string;
  can_sign: boolean;
  not_before?: number;
  not_after?: number;
  added_at?: number;
  promoted_at?: number;
  demoted_at?: number;
  retired_at?: number;
  revoked_at?: number;
  policy?: { ctx?: string[]; typ?: string[] };
}

export interface KeyVector {
  name: string;
  /** "key": one JWK, loaded on its own; "keyring": a JWKS document; "keyring-text": a JWKS as exact JSON text (a string). */
  kind: 'key' | 'keyring' | 'keyring-text';
  reason: string;
  document: unknown;
  expected: { error: 'ERR_INVALID_KEY' | 'ERR_INVALID_KEYRING' } | { keys: KeySummary[] };
}

export interface PatternVector {
  pattern: string;
  name: string;
  match: boolean;
  reason: string;
}

export interface KeyVectorFile {
  title: string;
  warning: string;
  spec: string;
  generator: string;
  vectors: KeyVector[];
  patterns: PatternVector[];
}

const invalidKey = (name: string, reason: string, document: unknown): KeyVector => ({ name: `invalid/${name}`, kind: 'key', reason, document, expected: { error: 'ERR_INVALID_KEY' } });
const invalidKeyring = (name: string, reason: string, document: unknown): KeyVector => ({ name: `invalid/${name}`, kind: 'keyring', reason, document, expected: { error: 'ERR_INVALID_KEYRING' } });
const validKey = (name: string, reason: string, document: Jwk, summary: KeySummary): KeyVector => ({ name: `valid/${name}`, kind: 'key', reason, document, expected: { keys: [summary] } });

const HS_SUMMARY: KeySummary = { kid: 'hs256-key', alg: 'HS256', status: 'active', can_sign: true };
const ED_SUMMARY: KeySummary = { kid: 'ed25519-key', alg: 'EdDSA', status: 'active', can_sign: false };

/** Date.UTC for any year (Date.UTC reads years 0-99 as 1900-1999). */
function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

// ---- The vectors --------------------------------------------------------------------------------------

function policyVectors(): KeyVector[] {
  return [
    invalidKey('policy/member-ctxs', 'policy member "ctxs" is not ctx or typ: a misspelt member would be ignored and let the key sign any context', hs({ policy: { ctxs: ['billing.*'] } })),
    invalidKey('policy/member-uppercase-CTX', 'member names are case-sensitive: "CTX" is not "ctx"', hs({ policy: { CTX: ['billing.*'] } })),
    invalidKey('policy/member-type', 'policy member "type" (for typ) next to a valid ctx list', hs({ policy: { ctx: ['billing.*'], type: ['charge'] } })),
    invalidKey('policy/empty-ctx-list', 'an empty ctx list would refuse every message without saying so', hs({ policy: { ctx: [] } })),
    invalidKey('policy/empty-typ-list', 'an empty typ list would refuse every message without saying so', hs({ policy: { ctx: ['billing.*'], typ: [] } })),
    invalidKey('policy/empty-pattern', 'every pattern is a non-empty string', hs({ policy: { ctx: [''] } })),
    invalidKey('policy/pattern-not-string', 'every pattern is a string', hs({ policy: { typ: [1] } })),
    invalidKey('policy/list-not-array', 'ctx is a list, not a single pattern', hs({ policy: { ctx: 'billing.*' } })),
    invalidKey('policy/not-object', 'policy is an object of lists', hs({ policy: ['billing.*'] })),
    invalidKey('policy/null', 'a present policy must be an object', hs({ policy: null })),
    validKey('policy/empty-object', 'policy {} has no lists: it allows everything, like no policy', hs({ policy: {} }), { ...HS_SUMMARY, policy: {} }),
  ];
}

function statusVectors(): KeyVector[] {
  return [
    invalidKey('status/unknown-retired', '"retired" is not a status (retirement sets not_after)', hs({ status: 'retired' })),
    invalidKey('status/wrong-case', 'status values are case-sensitive', hs({ status: 'Primary' })),
    invalidKey('status/empty', 'the empty string is not a status', hs({ status: '' })),
    invalidKey('status/null', 'a present member with null is not absent: null is not a status', hs({ status: null })),
    invalidKey('alg/null', 'a present member with null is not absent: null is not an algorithm', hs({ alg: null })),
    validKey('status/absent-means-active', 'an absent status is active (verify-only); an absent alg follows kty (oct: HS256)', { kty: 'oct', kid: 'hs256-key', k: HS256 }, HS_SUMMARY),
  ];
}

function timestampVectors(): KeyVector[] {
  const grammar: Array<[string, string, unknown]> = [
    ['date-only', 'a date without a time', '2026-01-01'],
    ['space-separator', 'a space instead of T', '2026-01-01 00:00:00Z'],
    ['no-seconds', 'the seconds are required', '2026-01-01T00:00Z'],
    ['no-zone', 'without a zone the instant would depend on the local time of the loader', '2026-01-01T00:00:00'],
    ['offset-without-colon', 'the offset is hh:mm', '2026-01-01T00:00:00+0100'],
    ['offset-hours-only', 'the offset is hh:mm', '2026-01-01T00:00:00+01'],
    ['empty-fraction', 'a "." needs at least one digit', '2026-01-01T00:00:00.Z'],
    ['ten-fraction-digits', 'at most 9 fraction digits', '2026-01-01T00:00:00.1234567890Z'],
    ['comma-fraction', 'the fraction separator is "."', '2026-01-01T00:00:00,5Z'],
    ['expanded-year', 'the year is exactly 4 digits', '+002026-01-01T00:00:00Z'],
    ['two-digit-year', 'the year is exactly 4 digits', '26-01-01T00:00:00Z'],
    ['one-digit-month', 'every field has exactly 2 digits', '2026-1-01T00:00:00Z'],
    ['zone-name', 'the zone is Z or a numeric offset', '2026-01-01T00:00:00UTC'],
    ['trailing-space', 'nothing may follow the zone', '2026-01-01T00:00:00Z '],
    ['non-ascii-digits', 'digits are ASCII 0-9', '２０２６-01-01T00:00:00Z'],
    ['rfc-2822', 'an HTTP-style date is not RFC 3339', 'Thu, 01 Jan 2026 00:00:00 GMT'],
    ['number', 'a timestamp is a string, not milliseconds', 1767225600000],
    ['null', 'a present member with null is not absent', null],
  ];
  const range: Array<[string, string, string]> = [
    ['month-00', 'month 01 to 12', '2026-00-10T00:00:00Z'],
    ['month-13', 'month 01 to 12', '2026-13-01T00:00:00Z'],
    ['day-00', 'day 01 or later', '2026-01-00T00:00:00Z'],
    ['january-32', 'January has 31 days', '2026-01-32T00:00:00Z'],
    ['april-31', 'April has 30 days (not rolled over to May 1)', '2026-04-31T00:00:00Z'],
    ['february-29-common-year', '2026 is not a leap year', '2026-02-29T00:00:00Z'],
    ['february-29-1900', '1900 is divisible by 100 and not by 400: not a leap year', '1900-02-29T00:00:00Z'],
    ['february-30-leap-year', 'February has at most 29 days', '2024-02-30T00:00:00Z'],
    ['hour-24', 'hour 00 to 23 (24:00 is not accepted)', '2026-01-01T24:00:00Z'],
    ['minute-60', 'minute 00 to 59', '2026-01-01T00:60:00Z'],
    ['second-60', 'second 00 to 59: no leap seconds', '2026-12-31T23:59:60Z'],
    ['offset-hour-24', 'offset hour 00 to 23', '2026-01-01T00:00:00+24:00'],
    ['offset-minute-60', 'offset minute 00 to 59', '2026-01-01T00:00:00-00:60'],
  ];
  const T0 = utc(2026, 1, 1);
  const at = (name: string, reason: string, value: string, expected: number): KeyVector => validKey(`timestamp/${name}`, `not_before ${JSON.stringify(value)}: ${reason}`, hs({ not_before: value }), { ...HS_SUMMARY, not_before: expected });
  return [
    ...grammar.map(([name, reason, value]) => invalidKey(`timestamp/${name}`, `not_before ${JSON.stringify(value)}: ${reason}`, hs({ not_before: value }))),
    ...range.map(([name, reason, value]) => invalidKey(`timestamp/${name}`, `not_before ${JSON.stringify(value)}: ${reason}`, hs({ not_before: value }))),
    invalidKey('timestamp/added-at-no-zone', 'the rotation timestamps follow the same grammar', hs({ added_at: '2026-01-01T00:00:00' })),
    invalidKey('timestamp/revoked-at-day-32', 'the rotation timestamps are range-checked too', hs({ revoked_at: '2026-03-32T00:00:00Z' })),
    invalidKey('timestamp/window-reversed', 'not_after is earlier than not_before', hs({ not_before: '2026-02-01T00:00:00Z', not_after: '2026-01-01T00:00:00Z' })),
    at('utc', 'Z is UTC', '2026-01-01T00:00:00Z', T0),
    at('lowercase-t-z', 'T and Z are case-insensitive', '2026-01-01t00:00:00z', T0),
    at('positive-offset', 'an offset east of UTC', '2026-01-01T01:00:00+01:00', T0),
    at('negative-zero-offset', '-00:00 is UTC', '2026-01-01T00:00:00-00:00', T0),
    at('largest-offset', 'offset +23:59', '2026-01-01T23:59:00+23:59', T0),
    at('fraction-truncated', 'digits beyond milliseconds are dropped, not rounded', '2026-01-01T00:00:00.999999999Z', T0 + 999),
    at('fraction-one-digit', '.5 is 500 ms', '2026-01-01T00:00:00.5Z', T0 + 500),
    at('february-29-2000', '2000 is divisible by 400: a leap year', '2000-02-29T00:00:00Z', utc(2000, 2, 29)),
    at('year-0000-leap', 'year 0000 is a leap year (proleptic Gregorian), and not read as 1900', '0000-02-29T00:00:00Z', utc(0, 2, 29)),
    at('year-0099', 'years below 100 are not read as 19xx', '0099-12-31T00:00:00Z', utc(99, 12, 31)),
    at('year-9999', 'the last instant of year 9999', '9999-12-31T23:59:59.999Z', utc(9999, 12, 31, 23, 59, 59, 999)),
  ];
}

function keyringVectors(): KeyVector[] {
  const many = Array.from({ length: 1001 }, (_, i) => ({ kty: 'oct', kid: `k${i}`, k: HS256 }));
  return [
    invalidKeyring('keyring/empty', 'a keyring needs at least one key: refused when loaded, not at the first message', { keys: [] }),
    invalidKeyring('keyring/no-keys-member', 'a keyring is an object with a "keys" array', { comment: 'no keys' }),
    invalidKeyring('keyring/keys-not-array', '"keys" is an array', { keys: { a: hs() } }),
    invalidKeyring('keyring/keys-null', '"keys" is an array', { keys: null }),
    invalidKeyring('keyring/not-object', 'a keyring is a JSON object', [hs()]),
    invalidKeyring('keyring/1001-keys', 'at most 1000 keys (every one of these is valid)', { keys: many }),
    invalidKeyring('keyring/duplicate-kid', 'every kid is unique within the keyring', { keys: [hs(), ed({ kid: 'hs256-key' })] }),
    invalidKeyring('keyring/two-primaries', 'at most one primary key', { keys: [hs({ status: 'primary' }), ed({ status: 'primary' })] }),
    invalidKeyring('keyring/one-invalid-key', 'one invalid key makes the whole document invalid', { keys: [ed(), hs({ status: 'retired' })] }),
    {
      name: 'invalid/keyring-text/duplicate-status',
      kind: 'keyring-text',
      reason: 'a member name repeats in a key ("status": "revoked", then "active"): parsers disagree on which one counts, so the text is refused',
      document: `{"keys":[{"kty":"oct","kid":"hs256-key","alg":"HS256","k":"${HS256}","status":"revoked","status":"active"}]}`,
      expected: { error: 'ERR_INVALID_KEYRING' },
    },
    {
      name: 'invalid/keyring-text/duplicate-keys',
      kind: 'keyring-text',
      reason: '"keys" twice at the top level',
      document: `{"keys":[],"keys":[{"kty":"oct","kid":"hs256-key","alg":"HS256","k":"${HS256}"}]}`,
      expected: { error: 'ERR_INVALID_KEYRING' },
    },
    {
      name: 'invalid/keyring-text/duplicate-policy-ctx',
      kind: 'keyring-text',
      reason: '"ctx" twice in a policy: one list would widen what the key may sign',
      document: `{"keys":[{"kty":"oct","kid":"hs256-key","alg":"HS256","k":"${HS256}","policy":{"ctx":["billing"],"ctx":["*"]}}]}`,
      expected: { error: 'ERR_INVALID_KEYRING' },
    },
    {
      name: 'valid/keyring-text/colons-in-strings',
      kind: 'keyring-text',
      reason: 'timestamps and patterns hold colons inside strings; only name separators count as members',
      document: `{ "keys": [ {"kty":"oct", "kid":"hs256-key", "alg":"HS256", "k":"${HS256}", "not_before":"2026-01-01T00:00:00Z", "policy":{"ctx":["tenant:*"]}} ] }`,
      expected: { keys: [{ ...HS_SUMMARY, not_before: Date.UTC(2026, 0, 1), policy: { ctx: ['tenant:*'] } }] },
    },
    {
      name: 'valid/keyring/two-keys-unknown-top-level-member',
      kind: 'keyring',
      reason: 'unknown top-level members of the document are ignored; keys keep their order',
      document: { keys: [hs({ status: 'primary' }), ed()], comment: 'test keyring', version: 3 },
      expected: { keys: [{ ...HS_SUMMARY, status: 'primary' }, ED_SUMMARY] },
    },
  ];
}

function keyMemberVectors(): KeyVector[] {
  return [
    invalidKey('member/not_afer', 'unknown member "not_afer" (for not_after): the key would stay valid forever', hs({ not_afer: '2026-01-01T00:00:00Z' })),
    invalidKey('member/Status', 'member names are case-sensitive: "Status" is unknown', hs({ Status: 'disabled' })),
    invalidKey('member/comment', 'only registered JWK members and sealq members are allowed', hs({ comment: 'billing key' })),
    invalidKey('member/ctx', 'a policy list outside "policy" is an unknown member, not a policy', hs({ ctx: ['billing.*'] })),
    invalidKey('kid/missing', 'kid is required', { kty: 'oct', alg: 'HS256', k: HS256 }),
    invalidKey('kid/space', 'kid is 1 to 128 characters 0x21-0x7E', hs({ kid: 'billing key' })),
    invalidKey('kid/too-long', 'kid is 1 to 128 characters 0x21-0x7E', hs({ kid: 'k'.repeat(129) })),
    invalidKey('kty/mismatch', 'kty must fit alg', hs({ alg: 'EdDSA' })),
    invalidKey('alg/unknown', 'RS256 is not a sealq algorithm', { kty: 'RSA', kid: 'rsa', alg: 'RS256', n: RSA2048_N, e: 'AQAB' }),
    invalidKey('crv/mismatch', 'EdDSA keys have crv Ed25519', ed({ crv: 'Ed448' })),
    invalidKey('use/enc', 'use, when present, is "sig"', ed({ use: 'enc' })),
    validKey(
      'member/registered-jwk-members',
      'registered JWK members (use, key_ops, x5t, x5t#S256, ext) are allowed',
      ed({ use: 'sig', key_ops: ['verify'], x5t: 'AAAA', 'x5t#S256': 'AAAA', ext: true }),
      ED_SUMMARY,
    ),
    validKey(
      'member/every-sealq-member',
      'every sealq member: status, window, policy and the rotation timestamps',
      ed({
        status: 'primary',
        not_before: '2026-01-01T00:00:00Z',
        not_after: '2027-01-01T00:00:00.250+02:00',
        policy: { ctx: ['billing.*', 'ledger'], typ: ['*'] },
        added_at: '2025-12-31T00:00:00Z',
        promoted_at: '2026-01-01T00:00:00Z',
        demoted_at: '2026-06-01T00:00:00Z',
        retired_at: '2026-06-02T00:00:00Z',
        revoked_at: '2026-06-03T00:00:00Z',
      }),
      {
        ...ED_SUMMARY,
        status: 'primary',
        not_before: utc(2026, 1, 1),
        not_after: utc(2026, 12, 31, 22, 0, 0, 250),
        added_at: utc(2025, 12, 31),
        promoted_at: utc(2026, 1, 1),
        demoted_at: utc(2026, 6, 1),
        retired_at: utc(2026, 6, 2),
        revoked_at: utc(2026, 6, 3),
        policy: { ctx: ['billing.*', 'ledger'], typ: ['*'] },
      },
    ),
  ];
}

/** The same bytes in another text: the last character's unused bits set. */
function setTrailingBit(b64: string): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  if (b64.length % 4 === 0) throw new Error('no unused bits');
  return b64.slice(0, -1) + A[A.indexOf(b64.at(-1)!) | 1]!;
}

function materialVectors(): KeyVector[] {
  const rsa = (n: string): Jwk => ({ kty: 'RSA', kid: 'rsa-key', alg: 'PS256', n, e: 'AQAB' });
  const RSA_SUMMARY: KeySummary = { kid: 'rsa-key', alg: 'PS256', status: 'active', can_sign: false };
  const okp = (x: string): Jwk => ed({ x });
  return [
    invalidKey('rsa/1024-bits', 'the RSA modulus is 2048 to 4096 bits', rsa(modulus(1024))),
    invalidKey('rsa/2047-bits', 'the RSA modulus is 2048 to 4096 bits', rsa(modulus(2047))),
    invalidKey('rsa/4097-bits', 'the RSA modulus is 2048 to 4096 bits', rsa(modulus(4097))),
    validKey('rsa/2048-bits', 'a real 2048-bit RSA public key', rsa(RSA2048_N), RSA_SUMMARY),
    validKey('rsa/4096-bits', 'a 4096-bit modulus, the upper bound (a loader only measures it)', rsa(modulus(4096)), RSA_SUMMARY),
    invalidKey('hmac/hs256-31-bytes', 'an HS256 secret is at least 32 bytes', hs({ k: HS256_31 })),
    invalidKey('hmac/hs512-63-bytes', 'an HS512 secret is at least 64 bytes', { kty: 'oct', kid: 'hs512-key', alg: 'HS512', k: HS512_63 }),
    invalidKey('hmac/hs512-with-hs256-secret', 'an HS512 secret is at least 64 bytes', { kty: 'oct', kid: 'hs512-key', alg: 'HS512', k: HS256 }),
    invalidKey('hmac/k-not-base64url', 'k is base64url', hs({ k: 'a+b/c=' })),
    invalidKey('material/k-padded', 'key material is unpadded base64url', hs({ k: `${HS256}=` })),
    invalidKey('material/k-trailing-bits', 'key material is canonical base64url: the unused bits of the last character are zero', hs({ k: setTrailingBit(HS256) })),
    invalidKey('material/ec-x-33-bytes', 'a P-256 coordinate is exactly 32 bytes (here a zero byte is prepended)', { kty: 'EC', crv: 'P-256', kid: 'p256-key', ...P256, x: Buffer.concat([Buffer.alloc(1), Buffer.from(P256.x, 'base64url')]).toString('base64url') }),
    invalidKey('material/rsa-e-even', 'an RSA exponent is odd', { ...rsa(RSA2048_N), e: 'AQAC' }),
    invalidKey('material/rsa-e-1', 'an RSA exponent is at least 3', { ...rsa(RSA2048_N), e: 'AQ' }),
    invalidKey('material/rsa-e-leading-zero', 'an RSA exponent has no leading zero bytes', { ...rsa(RSA2048_N), e: 'AAEAAQ' }),
    invalidKey('material/rsa-n-leading-zero', 'an RSA modulus has no leading zero bytes', { ...rsa(RSA2048_N), n: Buffer.concat([Buffer.alloc(1), Buffer.from(RSA2048_N, 'base64url')]).toString('base64url') }),
    invalidKey('material/rsa-e-2-31', 'an RSA exponent is below 2^31', { ...rsa(RSA2048_N), e: 'gAAAAQ' }),
    validKey('hmac/hs512-64-bytes', 'a 64-byte HS512 secret', { kty: 'oct', kid: 'hs512-key', alg: 'HS512', k: HS512 }, { kid: 'hs512-key', alg: 'HS512', status: 'active', can_sign: true }),
    validKey('ec/p256-public', 'a P-256 public key', { kty: 'EC', crv: 'P-256', kid: 'p256-key', ...P256 }, { kid: 'p256-key', alg: 'ES256', status: 'active', can_sign: false }),
    validKey('ed25519/public', 'a real Ed25519 public key', ed(), ED_SUMMARY),
    validKey('ed25519/private', 'a real Ed25519 private key (d with its own x)', ed({ d: ED_A.d }), { ...ED_SUMMARY, can_sign: true }),
    invalidKey('ed25519/private-public-mismatch', 'd and x must belong to the same key', ed({ d: ED_A.d, x: ED_B.x })),
    invalidKey('ed25519/non-canonical-y', 'x encodes y = p + 3 (not below p), a non-canonical encoding of the valid point y = 3', okp(edEncoding(P + 3n))),
    invalidKey('ed25519/non-canonical-y-is-p', 'x encodes y = p (non-canonical, and the point y = 0 has order 4)', okp(edEncoding(P))),
    invalidKey('ed25519/non-canonical-all-ones', 'x encodes y = 2^255 - 1, above p', okp(edEncoding(2n ** 255n - 1n, 1))),
    invalidKey('ed25519/small-order-identity', 'small order: the neutral point (y = 1), order 1', okp(edEncoding(1n))),
    invalidKey('ed25519/small-order-identity-sign-bit', 'small order: y = 1 with the sign bit set (x = 0 cannot be negative)', okp(edEncoding(1n, 1))),
    invalidKey('ed25519/small-order-2', 'small order: y = p - 1, order 2', okp(edEncoding(P - 1n))),
    invalidKey('ed25519/small-order-4', 'small order: y = 0, order 4', okp(edEncoding(0n))),
    invalidKey('ed25519/small-order-4-sign-bit', 'small order: y = 0 with the sign bit, order 4', okp(edEncoding(0n, 1))),
    invalidKey('ed25519/small-order-8-a', 'small order: a point of order 8', okp(edEncoding(Y8))),
    invalidKey('ed25519/small-order-8-b', 'small order: a point of order 8', okp(edEncoding(Y8, 1))),
    invalidKey('ed25519/small-order-8-c', 'small order: a point of order 8', okp(edEncoding(P - Y8))),
    invalidKey('ed25519/small-order-8-d', 'small order: a point of order 8', okp(edEncoding(P - Y8, 1))),
    invalidKey('ed25519/not-on-curve', 'x encodes y = 2, for which no x exists: not a point', okp(edEncoding(2n))),
    invalidKey('ed25519/x-31-bytes', 'x is exactly 32 bytes', okp(Buffer.from(ED_A.x, 'base64url').subarray(0, 31).toString('base64url'))),
  ];
}

function patternVectors(): PatternVector[] {
  const p = (pattern: string, name: string, match: boolean, reason: string): PatternVector => ({ pattern, name, match, reason });
  return [
    p('billing.invoices', 'billing.invoices', true, 'a pattern without * matches by equality'),
    p('billing.invoices', 'billing.Invoices', false, 'equality is exact: no case folding'),
    p('billing.*', 'billing.invoices', true, '* matches the rest'),
    p('billing.*', 'billing.', true, '* matches the empty sequence'),
    p('billing.*', 'billing', false, 'the literal "." must be there'),
    p('billing.*', 'xbilling.invoices', false, 'the pattern is anchored at the start'),
    p('*.jobs', 'eu.billing.jobs', true, '* crosses "."'),
    p('*.jobs', 'eu.jobs.old', false, 'the pattern is anchored at the end'),
    p('a*a', 'a', false, 'the parts before and after * may not overlap'),
    p('a*a', 'aa', true, '* matches the empty sequence between them'),
    p('a*b*c', 'abcbc', true, 'the middle part can be found anywhere in between'),
    p('a*b*c', 'acb', false, 'the parts appear in order'),
    p('**', '', true, 'consecutive stars are one star'),
    p('*', 'anything at all', true, '* alone matches everything'),
    p('.*', 'x', false, '"." is a literal character, not a regular expression'),
    p('[ab]', 'a', false, '"[" is literal: there are no character classes'),
    p('?', 'x', false, '"?" is literal'),
    p('a*', 'a\nb', true, '* matches line breaks too'),
    p('\u00e9t\u00e9.*', '\u00e9t\u00e9.\ud83d\ude00', true, 'non-ASCII characters match themselves; * spans a character outside the BMP'),
    p('é*', 'e\u0301', false, 'no Unicode normalisation: U+00E9 is not e + U+0301'),
    p(`${'*a'.repeat(25)}*b`, 'a'.repeat(255), false, 'a backtracking matcher takes astronomically long here; a linear one answers at once'),
    p(`${'*a'.repeat(25)}*b`, `${'a'.repeat(254)}b`, true, 'the same pattern, matching'),
  ];
}

// ---- Building, checking, writing ----------------------------------------------------------------------

export function buildKeyVectors(): KeyVectorFile {
  return {
    title: 'sealq key and keyring documents, version 1: test vectors',
    warning: 'TEST KEYS ONLY. Every key in this file is public; never use any of them outside tests.',
    spec: 'docs/SPEC.md §7',
    generator: 'scripts/make-key-vectors.ts',
    vectors: [...policyVectors(), ...statusVectors(), ...timestampVectors(), ...keyringVectors(), ...keyMemberVectors(), ...materialVectors()],
    patterns: patternVectors(),
  };
}

/** What the implementation reads from one key, in the vector's terms. */
export function summarize(key: SealKey): KeySummary {
  const s: KeySummary = { kid: key.kid, alg: key.alg, status: key.status, can_sign: key.canSign };
  if (key.notBefore !== undefined) s.not_before = key.notBefore;
  if (key.notAfter !== undefined) s.not_after = key.notAfter;
  const lc = key.lifecycle;
  if (lc?.addedAt !== undefined) s.added_at = lc.addedAt;
  if (lc?.promotedAt !== undefined) s.promoted_at = lc.promotedAt;
  if (lc?.demotedAt !== undefined) s.demoted_at = lc.demotedAt;
  if (lc?.retiredAt !== undefined) s.retired_at = lc.retiredAt;
  if (lc?.revokedAt !== undefined) s.revoked_at = lc.revokedAt;
  if (key.policy !== undefined) {
    const p: { ctx?: string[]; typ?: string[] } = {};
    if (key.policy.ctx !== undefined) p.ctx = [...key.policy.ctx];
    if (key.policy.typ !== undefined) p.typ = [...key.policy.typ];
    s.policy = p;
  }
  return s;
}

/** The implementation's outcome for a vector, in the form of `expected`. */
export function outcomeOf(v: KeyVector): KeyVector['expected'] {
  try {
    const keys = v.kind === 'key' ? [importJwk(v.document)] : Keyring.fromJwks(v.document).keys();  // keyring-text: a string, parsed by fromJwks
    return { keys: keys.map(summarize) };
  } catch (e) {
    return { error: (e as { code?: string }).code as 'ERR_INVALID_KEY' };
  }
}

/** Members on their own lines, each value on one line: readable, and a 1001-key document stays one line. */
export function serialize(file: KeyVectorFile): string {
  const obj = (o: object, indent: string): string =>
    `{\n${Object.entries(o).map(([k, v]) => `${indent}  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n${indent}}`;
  const list = (items: object[]): string => `[\n${items.map((i) => `    ${obj(i, '    ')}`).join(',\n')}\n  ]`;
  return `{
  "title": ${JSON.stringify(file.title)},
  "warning": ${JSON.stringify(file.warning)},
  "spec": ${JSON.stringify(file.spec)},
  "generator": ${JSON.stringify(file.generator)},
  "vectors": ${list(file.vectors)},
  "patterns": ${list(file.patterns)}
}
`;
}

export const KEY_VECTORS_FILE = fileURLToPath(new URL('../vectors/keys-v1.json', import.meta.url));

/** Every disagreement between the vectors and the implementation, as readable lines. */
export function disagreements(file: KeyVectorFile): string[] {
  const out: string[] = [];
  for (const v of file.vectors) {
    const got = outcomeOf(v);
    if (!isDeepStrictEqual(got, v.expected)) out.push(`${v.name}: expected ${JSON.stringify(v.expected)}, got ${JSON.stringify(got)}`);
  }
  for (const p of file.patterns) {
    if (matchPattern(p.pattern, p.name) !== p.match) out.push(`pattern ${JSON.stringify(p.pattern)} ~ ${JSON.stringify(p.name.slice(0, 40))}: expected ${p.match}`);
  }
  return out;
}

function main(): void {
  const file = buildKeyVectors();
  const names = new Set<string>();
  for (const v of file.vectors) {
    if (names.has(v.name)) throw new Error(`duplicate vector name ${v.name}`);
    names.add(v.name);
  }
  const bad = disagreements(file);
  if (bad.length > 0) {
    console.error(`the implementation disagrees with ${bad.length} vector(s); not writing:\n${bad.join('\n')}`);
    process.exit(1);
  }
  writeFileSync(KEY_VECTORS_FILE, serialize(file));
  console.log(`wrote ${KEY_VECTORS_FILE}: ${file.vectors.length} document vectors, ${file.patterns.length} pattern vectors`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
