// Verifier strictness (SPEC §3.3, §5.3, §6, §7.1, §8): duplicate header members, exact PS256
// signature length, RFC 3339 key timestamps with a zone, signature entries with only header/sig,
// malformed headers in multi-signature envelopes, and toObject on header bytes that are not UTF-8.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  InvalidKeyError,
  InvalidKeyringError,
  Keyring,
  MalformedError,
  importJwk,
  open,
  seal,
  sealObject,
  toCompact,
  toObject,
} from '../src/index.js';
import type { OpenedMessage, SealedObject } from '../src/index.js';

const T0 = Date.UTC(2026, 0, 1);
const CTX = 'billing.invoices';
const OPTS = { ctx: CTX, now: T0 + 1_000 };
const PAYLOAD = Buffer.from('{"n":1}', 'utf8');

// TEST KEYS ONLY (a fixed HMAC secret so the headers below can be signed by hand).
const SECRET = 'jyYMcjBt-BQEbdmSt3-5aPc2fy3O09Ulz84E_x_EV-o';
const hsJwk = { kty: 'oct', kid: 'hs', alg: 'HS256', k: SECRET };
const hsRing = new Keyring([importJwk({ ...hsJwk, status: 'primary' })]);

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** HMAC-SHA-256 over the signing input of SPEC §4, for header bytes sealq itself would never emit. */
function hsSig(header: Buffer | string, payload: Buffer = PAYLOAD, secret = SECRET): Buffer {
  const h = Buffer.from(header);
  const si = Buffer.concat([Buffer.from(`sealq/v1 ${h.length} `), h, Buffer.from(` ${payload.length} `), payload]);
  return createHmac('sha256', Buffer.from(secret, 'base64url')).update(si).digest();
}

/** A compact envelope from (header, signature) pairs over PAYLOAD. */
function compact(...sigs: Array<[Buffer | string, Buffer]>): string {
  const [[h0, s0], ...more] = sigs;
  return [`sealq1.${b64(h0!)}.${b64(PAYLOAD)}.${b64(s0!)}`, ...more.map(([h, s]) => `${b64(h)}.${b64(s)}`)].join('.');
}

const header = (kid = 'hs', alg = 'HS256', more = ''): string => `{"kid":"${kid}","alg":"${alg}","id":"m1","iat":${T0}${more},"ctx":"${CTX}"}`;

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped ${String(e)}`;
  }
  return 'ok';
}

function rejects(fn: () => unknown, want: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.equal((e as { code?: string }).code, want, String(e));
    if (message !== undefined) assert.match((e as Error).message, message);
    return;
  }
  assert.fail(`expected ${want}, it succeeded`);
}

describe('duplicate header members (SPEC §3.3 step 4, §15.7)', () => {
  const signed = (h: string): string => compact([h, hsSig(h)]);

  test('a correctly signed header with a name twice is malformed, whichever value a parser would keep', () => {
    const first = `{"kid":"hs","alg":"HS256","id":"m1","iat":${T0},"ctx":"billing.refunds","ctx":"${CTX}"}`;
    rejects(() => open(hsRing, signed(first), OPTS), 'ERR_MALFORMED', /duplicate/);
    const last = `{"kid":"hs","alg":"HS256","id":"m1","iat":${T0},"ctx":"${CTX}","ctx":"billing.refunds"}`;
    rejects(() => open(hsRing, signed(last), OPTS), 'ERR_MALFORMED', /duplicate/);
  });

  test('the same value twice is still a duplicate', () => {
    rejects(() => open(hsRing, signed(`{"kid":"hs","kid":"hs","alg":"HS256","id":"m1","iat":${T0},"ctx":"${CTX}"}`), OPTS), 'ERR_MALFORMED', /duplicate/);
  });

  test('names are compared after unescaping', () => {
    rejects(() => open(hsRing, signed(`{"kid":"hs","alg":"HS256","id":"m1","iat":${T0},"c\\u0074x":"x","ctx":"${CTX}"}`), OPTS), 'ERR_MALFORMED', /duplicate/);
  });

  test('a duplicate in the object carrier is malformed too', () => {
    const h = `{"kid":"hs","alg":"HS256","id":"m1","id":"m2","iat":${T0},"ctx":"${CTX}"}`;
    const o: SealedObject = { sealq: 1, payload: PAYLOAD.toString('utf8'), signatures: [{ header: h, sig: b64(hsSig(h)) }] };
    rejects(() => open(hsRing, o, OPTS), 'ERR_MALFORMED', /duplicate/);
  });

  test('nested values are malformed', () => {
    rejects(() => open(hsRing, signed(header('hs', 'HS256', ',"typ":{"name":"x"}')), OPTS), 'ERR_MALFORMED');
    rejects(() => open(hsRing, signed(header('hs', 'HS256', ',"typ":{}')), OPTS), 'ERR_MALFORMED');
    rejects(() => open(hsRing, signed(header('hs', 'HS256', ',"typ":["a:b"]')), OPTS), 'ERR_MALFORMED');
  });

  test('colons, quotes and backslashes inside strings and whitespace around separators are not members', () => {
    const h = `{ "kid" : "hs" , "alg":"HS256","id":"a:b\\"c:d","iat" :${T0},\n"ctx":"${CTX}","typ":"C:\\\\jobs\\\\","ct":"x\\u003ay \\" : \\\\"}`;
    const m: OpenedMessage = open(hsRing, signed(h), OPTS);
    assert.equal(m.header.id, 'a:b"c:d');
    assert.equal(m.header.typ, 'C:\\jobs\\');
    assert.equal(m.header.ct, 'x:y " : \\');
  });

  test('headers that sealq emits always open (canonical form has no duplicates)', () => {
    const env = seal(hsRing, PAYLOAD, { ctx: 'a:b', typ: 'x"y:z\\', ct: 'text/plain', now: T0 });
    assert.equal(open(hsRing, env, { ctx: 'a:b', now: T0 }).header.typ, 'x"y:z\\');
  });
});

describe('PS256 signatures are exactly the modulus length (SPEC §6)', () => {
  // A committed vector whose 256-byte signature starts with 0x00 (vectors/envelope-v1.json).
  const file = JSON.parse(readFileSync(new URL('../vectors/envelope-v1.json', import.meta.url), 'utf8')) as {
    vectors: Array<{ name: string; keyring: unknown; envelope: string; options: { ctx: string; now: number } }>;
  };
  const v = file.vectors.find((x) => x.name === 'valid/ps256-leading-zero')!;
  const ring = Keyring.fromJwks(v.keyring);
  const [prefix, h, p, s] = v.envelope.split('.');
  const sig = Buffer.from(s!, 'base64url');
  const withSig = (b: Buffer): string => [prefix, h, p, b64(b)].join('.');

  test('the vector signature has a leading zero byte and verifies at full length', () => {
    assert.equal(sig.length, 256);
    assert.equal(sig[0], 0);
    assert.equal(code(() => open(ring, v.envelope, v.options)), 'ok');
  });

  test('without its leading zero byte it is ERR_SIGNATURE_INVALID', () => {
    rejects(() => open(ring, withSig(sig.subarray(1)), v.options), 'ERR_SIGNATURE_INVALID');
  });

  test('with an extra leading zero byte it is ERR_SIGNATURE_INVALID', () => {
    rejects(() => open(ring, withSig(Buffer.concat([Buffer.alloc(1), sig])), v.options), 'ERR_SIGNATURE_INVALID');
  });

  test('a 3072-bit key needs 384-byte signatures', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const r = new Keyring([importJwk({ ...privateKey.export({ format: 'jwk' }), kid: 'rsa3072', alg: 'PS256', status: 'primary' })]);
    const env = seal(r, PAYLOAD, { ctx: CTX, now: T0 });
    const parts = env.split('.');
    const s3 = Buffer.from(parts[3]!, 'base64url');
    assert.equal(s3.length, 384);
    assert.equal(code(() => open(r, env, OPTS)), 'ok');
    parts[3] = b64(s3.subarray(0, 256));
    rejects(() => open(r, parts.join('.'), OPTS), 'ERR_SIGNATURE_INVALID');
  });
});

describe('key timestamps are RFC 3339 with a zone (SPEC §7.1)', () => {
  for (const member of ['not_before', 'not_after', 'added_at', 'promoted_at', 'demoted_at', 'retired_at', 'revoked_at']) {
    test(`${member} without a zone is ERR_INVALID_KEY`, () => {
      assert.throws(() => importJwk({ ...hsJwk, [member]: '2026-01-01T00:00:00' }), (e: unknown) => {
        assert.ok(e instanceof InvalidKeyError);
        assert.equal(e.code, 'ERR_INVALID_KEY');
        assert.match(e.message, new RegExp(member));
        assert.ok(!e.message.includes(SECRET), 'no key material in the message');
        return true;
      });
    });
  }

  test('other forms Date.parse would accept are refused', () => {
    for (const t of ['2026-01-01', '2026-01-01T00:00Z', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00.000', 'Thu, 01 Jan 2026 00:00:00 GMT', '20260101T000000Z', '2026-01-01T00:00:00+0100', '2026-01-01T00:00:00.1234567890Z']) {
      assert.equal(code(() => importJwk({ ...hsJwk, not_before: t })), 'ERR_INVALID_KEY', t);
    }
    assert.equal(code(() => importJwk({ ...hsJwk, not_before: T0 })), 'ERR_INVALID_KEY', 'a number');
  });

  test('Z, lowercase t/z, numeric offsets and fractions are read as the instant they name', () => {
    const at = (t: string): number | undefined => importJwk({ ...hsJwk, not_before: t }).notBefore;
    assert.equal(at('2026-01-01T00:00:00Z'), T0);
    assert.equal(at('2026-01-01t00:00:00z'), T0);
    assert.equal(at('2026-01-01T01:00:00+01:00'), T0);
    assert.equal(at('2025-12-31T19:00:00-05:00'), T0);
    assert.equal(at('2026-01-01T00:00:00-00:00'), T0);
    assert.equal(at('2026-01-01T00:00:00.5Z'), T0 + 500);
    assert.equal(at('2026-01-01T00:00:00.123456789Z'), T0 + 123, 'digits beyond milliseconds are dropped');
  });

  test('in a keyring document the error is ERR_INVALID_KEYRING', () => {
    assert.throws(() => Keyring.fromJwks({ keys: [{ ...hsJwk, not_after: '2026-06-30T00:00:00' }] }), InvalidKeyringError);
  });

  test('days and times that do not exist are refused, not rolled over', () => {
    for (const t of ['2026-02-30T00:00:00Z', '2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:60:00Z']) {
      assert.equal(code(() => importJwk({ ...hsJwk, not_before: t })), 'ERR_INVALID_KEY', t);
    }
    assert.equal(importJwk({ ...hsJwk, not_before: '2024-02-29T23:59:59Z' }).notBefore, Date.UTC(2024, 1, 29, 23, 59, 59));
  });
});

describe('the header byte bound is the same in both carriers', () => {
  test('a header of at most 4096 characters but more than 4096 UTF-8 bytes is ERR_MALFORMED in the object carrier', () => {
    const obj = sealObject(hsRing, PAYLOAD, { ...OPTS, typ: 'é'.repeat(200) });
    const big = JSON.stringify({ ...JSON.parse(obj.signatures[0]!.header), typ: 'é'.repeat(2500) });
    assert.ok(big.length <= 4096 && Buffer.byteLength(big) > 4096);
    const forged: SealedObject = { ...obj, signatures: [{ header: big, sig: obj.signatures[0]!.sig }] };
    assert.equal(code(() => open(hsRing, forged, OPTS)), 'ERR_MALFORMED');
  });
});

describe('signature entries of the object carrier (SPEC §5.3)', () => {
  const o = sealObject(hsRing, PAYLOAD, { ctx: CTX, now: T0 });
  const withEntry = (extra: Record<string, unknown>): SealedObject => ({ ...o, signatures: [{ ...o.signatures[0]!, ...extra } as SealedObject['signatures'][number]] });

  test('a member besides header and sig is ERR_MALFORMED', () => {
    for (const extra of [{ kid: 'hs' }, { protected: 'x' }, { header2: null }]) {
      rejects(() => open(hsRing, withEntry(extra), OPTS), 'ERR_MALFORMED', new RegExp(Object.keys(extra)[0]!));
      rejects(() => toCompact(withEntry(extra)), 'ERR_MALFORMED');
    }
  });

  test('header and sig alone open, in any member order', () => {
    assert.equal(code(() => open(hsRing, o, OPTS)), 'ok');
    const { header, sig } = o.signatures[0]!;
    assert.equal(code(() => open(hsRing, { ...o, signatures: [{ sig, header }] }, OPTS)), 'ok');
  });

  test('the entry check applies to every entry, not only the first', () => {
    const two: SealedObject = { ...o, signatures: [o.signatures[0]!, { ...o.signatures[0]!, note: 1 } as SealedObject['signatures'][number]] };
    rejects(() => open(hsRing, two, OPTS), 'ERR_MALFORMED');
  });
});

describe('malformed headers in multi-signature envelopes (SPEC §8)', () => {
  const good = header();
  const goodSig = hsSig(good);
  const future = header('p384-next', 'ES384');
  const futureSig = Buffer.alloc(96, 7);
  const unknownKid = header('nobody');
  const unknownSig = hsSig(unknownKid);
  const notUtf8 = Buffer.concat([Buffer.from(good.slice(0, -2)), Buffer.from([0xff]), Buffer.from('"}')]);

  test('a malformed header is skipped when another signature verifies', () => {
    const m = open(hsRing, compact([future, futureSig], [good, goodSig]), OPTS);
    assert.equal(m.header.kid, 'hs');
    assert.equal(open(hsRing, compact([good, goodSig], [future, futureSig]), OPTS).header.kid, 'hs');
    assert.equal(open(hsRing, compact([notUtf8, futureSig], ['not json', futureSig], [good, goodSig]), OPTS).header.kid, 'hs');
    const dup = `{"kid":"hs","kid":"hs","alg":"HS256","id":"m1","iat":${T0},"ctx":"${CTX}"}`;
    assert.equal(open(hsRing, compact([dup, hsSig(dup)], [good, goodSig]), OPTS).header.kid, 'hs');
  });

  test('nothing verifies: a known key\'s error wins over a malformed header', () => {
    const bad = Buffer.from(goodSig);
    bad[0]! ^= 1;
    rejects(() => open(hsRing, compact([future, futureSig], [good, bad]), OPTS), 'ERR_SIGNATURE_INVALID');
    rejects(() => open(hsRing, compact([good, bad], [future, futureSig]), OPTS), 'ERR_SIGNATURE_INVALID');
    const disabled = new Keyring([importJwk({ ...hsJwk, status: 'disabled' })]);
    rejects(() => open(disabled, compact(['{}', futureSig], [unknownKid, unknownSig], [good, goodSig]), OPTS), 'ERR_KEY_INACTIVE');
    rejects(() => open(hsRing, compact([future, futureSig], [header('hs', 'EdDSA'), futureSig]), OPTS), 'ERR_ALG_MISMATCH');
  });

  test('no known key: the malformed header wins over ERR_KEY_UNKNOWN, and the first malformed one is reported', () => {
    rejects(() => open(hsRing, compact([future, futureSig], [unknownKid, unknownSig]), OPTS), 'ERR_MALFORMED', /ES384/);
    rejects(() => open(hsRing, compact([unknownKid, unknownSig], [future, futureSig]), OPTS), 'ERR_MALFORMED', /ES384/);
    rejects(() => open(hsRing, compact([future, futureSig], ['[]', futureSig]), OPTS), 'ERR_MALFORMED', /ES384/);
    rejects(() => open(hsRing, compact(['[]', futureSig], [future, futureSig]), OPTS), 'ERR_MALFORMED', /not a JSON object/);
  });

  test('only unknown kids: ERR_KEY_UNKNOWN; a single malformed header: ERR_MALFORMED', () => {
    rejects(() => open(hsRing, compact([unknownKid, unknownSig], [header('other'), unknownSig]), OPTS), 'ERR_KEY_UNKNOWN');
    rejects(() => open(hsRing, compact([future, futureSig]), OPTS), 'ERR_MALFORMED');
  });

  test('the object carrier behaves the same', () => {
    const o: SealedObject = { sealq: 1, payload: PAYLOAD.toString('utf8'), signatures: [{ header: future, sig: b64(futureSig) }, { header: good, sig: b64(goodSig) }] };
    assert.equal(open(hsRing, o, OPTS).header.kid, 'hs');
    rejects(() => open(hsRing, { ...o, signatures: [o.signatures[0]!, { header: unknownKid, sig: b64(unknownSig) }] }, OPTS), 'ERR_MALFORMED');
  });
});

describe('toObject on header bytes that are not UTF-8 (SPEC §5.5)', () => {
  const good = header();
  const notUtf8 = Buffer.concat([Buffer.from(good.slice(0, -2)), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);

  test('is ERR_MALFORMED, not a TypeError', () => {
    for (const env of [compact([notUtf8, hsSig(notUtf8)]), compact([good, hsSig(good)], [notUtf8, hsSig(notUtf8)])]) {
      assert.throws(() => toObject(env), (e: unknown) => {
        assert.ok(e instanceof MalformedError, `threw ${String(e)}`);
        assert.equal(e.code, 'ERR_MALFORMED');
        assert.match(e.message, /UTF-8/);
        return true;
      });
    }
  });

  test('the compact envelope still opens when another signature verifies; UTF-8 headers convert', () => {
    const env = compact([notUtf8, hsSig(notUtf8)], [good, hsSig(good)]);
    assert.equal(open(hsRing, env, OPTS).header.kid, 'hs');
    const ok = compact([good, hsSig(good)]);
    assert.equal(toCompact(toObject(ok)), ok);
  });
});
