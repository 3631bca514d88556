/**
 * Key and keyring documents (SPEC §7.1): what a key may contain, the exact timestamp grammar, the
 * keyring limits and the Ed25519 public key rule. Each refusal is ERR_INVALID_KEY for one key
 * (importJwk) and ERR_INVALID_KEYRING for a document (Keyring.fromJwks).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring, exportPrivateJwk, exportPublicJwk, generateKey, importJwk } from '../src/index.js';
import type { Alg } from '../src/index.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'ok';
}

const jwkOf = (alg: Alg, kid = `k-${alg}`): Record<string, unknown> => ({ ...exportPrivateJwk(generateKey(alg, { kid })) });

describe('unknown members of a key are refused', () => {
  test('a misspelt sealq member is ERR_INVALID_KEY / ERR_INVALID_KEYRING, named in the message', () => {
    const j = jwkOf('HS256');
    for (const member of ['not_afer', 'notAfter', 'polcy', 'Status', 'ctx', 'expires', 'comment']) {
      assert.throws(() => importJwk({ ...j, [member]: 'x' }), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'ERR_INVALID_KEY');
        assert.match((e as Error).message, new RegExp(`unknown member "${member}"`));
        return true;
      });
      assert.equal(code(() => Keyring.fromJwks({ keys: [{ ...j, [member]: 'x' }] })), 'ERR_INVALID_KEYRING', member);
    }
    assert.equal(code(() => importJwk(JSON.parse(`{"__proto__": {}, ${JSON.stringify(j).slice(1)}`))), 'ERR_INVALID_KEY');
  });

  test('registered JWK members and everything sealq writes are accepted', () => {
    const registered = { use: 'sig', key_ops: ['sign', 'verify'], x5u: 'https://example.com/x5u', x5c: [], x5t: 'AAAA', 'x5t#S256': 'AAAA', ext: true };
    for (const alg of ['HS256', 'EdDSA', 'ES256', 'PS256'] as const) {
      assert.equal(importJwk({ ...jwkOf(alg), ...registered }).alg, alg);
    }
    // Every member the rotation functions and exporters write reads back.
    const key = generateKey('EdDSA', { kid: 'full', notBefore: 1_000, notAfter: 2_000, policy: { ctx: ['a.*'], typ: ['*'] } })
      .with({ lifecycle: { addedAt: 1, promotedAt: 2, demotedAt: 3, retiredAt: 4, revokedAt: 5 } });
    for (const jwk of [exportPrivateJwk(key), exportPublicJwk(key)]) {
      assert.deepEqual(importJwk(jwk).info(), key.info());
    }
  });

  test('unknown top-level members of a keyring document are ignored', () => {
    const j = jwkOf('HS256');
    assert.equal(Keyring.fromJwks({ keys: [j], comment: 'prod keys', version: 3 }).size, 1);
  });
});

describe('key timestamps: exactly RFC 3339 date-time, range-checked (SPEC §7.1)', () => {
  const j = jwkOf('HS256');
  const at = (t: string): number | undefined => importJwk({ ...j, not_before: t }).notBefore;
  const refused = (t: unknown, why: string): void => {
    assert.equal(code(() => importJwk({ ...j, not_before: t })), 'ERR_INVALID_KEY', `${JSON.stringify(t)}: ${why}`);
    assert.equal(code(() => Keyring.fromJwks({ keys: [{ ...j, added_at: t }] })), 'ERR_INVALID_KEYRING', `${JSON.stringify(t)} as added_at`);
  };

  test('every grammar failure is refused', () => {
    const cases: Array<[unknown, string]> = [
      ['2026-01-01', 'date only'],
      ['2026-01-01 00:00:00Z', 'space for T'],
      ['2026-01-01T00:00Z', 'no seconds'],
      ['2026-01-01T00:00:00', 'no zone'],
      ['2026-01-01T00:00:00+0100', 'offset without colon'],
      ['2026-01-01T00:00:00+01', 'offset without minutes'],
      ['2026-01-01T00:00:00.Z', 'empty fraction'],
      ['2026-01-01T00:00:00.1234567890Z', 'ten fraction digits'],
      ['2026-01-01T00:00:00,5Z', 'comma fraction'],
      ['+002026-01-01T00:00:00Z', 'expanded year'],
      ['26-01-01T00:00:00Z', 'two-digit year'],
      ['2026-1-01T00:00:00Z', 'one-digit month'],
      ['2026-01-01T0:00:00Z', 'one-digit hour'],
      ['2026-01-01T00:00:00UTC', 'zone name'],
      ['2026-01-01T00:00:00 Z', 'space before zone'],
      [' 2026-01-01T00:00:00Z', 'leading space'],
      ['2026-01-01T00:00:00Z\n', 'trailing newline'],
      ['２０２６-01-01T00:00:00Z', 'non-ASCII digits'],
      ['Thu, 01 Jan 2026 00:00:00 GMT', 'RFC 2822'],
      [1_767_225_600_000, 'a number'],
      [null, 'null'],
      ['', 'empty'],
    ];
    for (const [t, why] of cases) refused(t, why);
  });

  test('every range failure is refused, not rolled over', () => {
    const cases: Array<[string, string]> = [
      ['2026-00-10T00:00:00Z', 'month 00'],
      ['2026-13-01T00:00:00Z', 'month 13'],
      ['2026-01-00T00:00:00Z', 'day 00'],
      ['2026-01-32T00:00:00Z', 'January 32'],
      ['2026-04-31T00:00:00Z', 'April 31'],
      ['2026-02-29T00:00:00Z', 'February 29 of a common year'],
      ['1900-02-29T00:00:00Z', 'February 29 of a century year not divisible by 400'],
      ['2100-02-29T00:00:00Z', 'February 29 of 2100'],
      ['2024-02-30T00:00:00Z', 'February 30 of a leap year'],
      ['2026-01-01T24:00:00Z', 'hour 24'],
      ['2026-01-01T00:60:00Z', 'minute 60'],
      ['2026-12-31T23:59:60Z', 'leap second'],
      ['2026-01-01T00:00:00+24:00', 'offset hour 24'],
      ['2026-01-01T00:00:00-00:60', 'offset minute 60'],
    ];
    for (const [t, why] of cases) refused(t, why);
  });

  test('valid forms read as the instant they name', () => {
    const T0 = Date.UTC(2026, 0, 1);
    assert.equal(at('2026-01-01T00:00:00Z'), T0);
    assert.equal(at('2026-01-01t00:00:00z'), T0);
    assert.equal(at('2026-01-01T01:00:00+01:00'), T0);
    assert.equal(at('2026-01-01T00:00:00-00:00'), T0);
    assert.equal(at('2026-01-01T23:59:00+23:59'), T0);
    assert.equal(at('2025-12-31T00:01:00-23:59'), T0);
    assert.equal(at('2026-01-01T00:00:00.5Z'), T0 + 500);
    assert.equal(at('2026-01-01T00:00:00.999999999Z'), T0 + 999, 'digits beyond milliseconds are dropped, not rounded');
    assert.equal(at('2024-02-29T23:59:59Z'), Date.UTC(2024, 1, 29, 23, 59, 59));
    assert.equal(at('2000-02-29T00:00:00Z'), Date.UTC(2000, 1, 29));
    assert.equal(at('0000-02-29T00:00:00Z'), Date.parse('0000-02-29T00:00:00Z'), 'year 0 is a leap year');
    assert.equal(at('0000-01-01T00:00:00Z'), -62_167_219_200_000);
    assert.equal(at('0099-12-31T00:00:00Z'), Date.parse('0099-12-31T00:00:00Z'), 'years below 100 are not read as 19xx');
    assert.equal(at('9999-12-31T23:59:59.999Z'), 253_402_300_799_999);
  });
});

describe('keyring document limits (normative)', () => {
  test('an empty keyring is refused when loaded, with a message that says what to do', () => {
    for (const doc of ['{"keys":[]}', { keys: [] }, Buffer.from('{"keys":[]}')]) {
      assert.throws(() => Keyring.fromJwks(doc), { code: 'ERR_INVALID_KEYRING', message: /a keyring needs at least one key/ });
    }
  });

  test('more than 1000 keys is refused before any key is imported', () => {
    const j = jwkOf('HS256', 'k');
    const one = (i: number): Record<string, unknown> => ({ ...j, kid: `k${i}` });
    assert.equal(Keyring.fromJwks({ keys: Array.from({ length: 1000 }, (_, i) => one(i)) }).size, 1000);
    // Entries that are not even keys: only the count is looked at.
    assert.throws(() => Keyring.fromJwks({ keys: Array.from({ length: 1001 }, () => 'not a key') }), { code: 'ERR_INVALID_KEYRING', message: /at most 1000 keys/ });
  });

  test('an unknown status is refused, also for keys made in code', () => {
    const j = jwkOf('EdDSA');
    for (const status of ['retired', 'Primary', 'inactive', '', null, 1]) {
      assert.equal(code(() => importJwk({ ...j, status })), 'ERR_INVALID_KEY', String(status));
      assert.equal(code(() => Keyring.fromJwks({ keys: [{ ...j, status }] })), 'ERR_INVALID_KEYRING', String(status));
    }
    assert.equal(code(() => generateKey('HS256', { status: 'retired' as never })), 'ERR_INVALID_KEY');
    assert.equal(code(() => generateKey('HS256').with({ status: 'gone' as never })), 'ERR_INVALID_KEY');
  });

  test('RSA modulus from 2048 to 4096 bits', () => {
    const modulus = (first: number, bytes: number): string => {
      const n = Buffer.alloc(bytes, 0xa5);
      n[0] = first;
      n[bytes - 1]! |= 1;
      return n.toString('base64url');
    };
    const rsa = (n: string): Record<string, unknown> => ({ kty: 'RSA', kid: 'r', alg: 'PS256', n, e: 'AQAB' });
    assert.equal(code(() => importJwk(rsa(modulus(0x7f, 256)))), 'ERR_INVALID_KEY', '2047 bits');
    assert.equal(code(() => importJwk(rsa(modulus(0x01, 513)))), 'ERR_INVALID_KEY', '4097 bits');
    assert.equal(code(() => Keyring.fromJwks({ keys: [rsa(modulus(0x01, 513))] })), 'ERR_INVALID_KEYRING', '4097 bits in a keyring');
    assert.equal(importJwk(rsa(modulus(0x80, 256))).alg, 'PS256', '2048 bits');
    assert.equal(importJwk(rsa(modulus(0x80, 512))).alg, 'PS256', '4096 bits');
  });
});

describe('Ed25519 public keys: canonical, on the curve, not of small order (SPEC §7.1)', () => {
  const P = 2n ** 255n - 19n;
  /** The 32-byte encoding of y with the sign bit of x, as base64url. */
  const enc = (y: bigint, sign = 0): string => {
    const b = Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse();
    b[31]! |= sign << 7;
    return b.toString('base64url');
  };
  const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
  const okp = (x: string): Record<string, unknown> => ({ kty: 'OKP', crv: 'Ed25519', kid: 'ed', alg: 'EdDSA', x });
  const refused = (x: string, pattern: RegExp, why: string): void => {
    assert.throws(() => importJwk(okp(x)), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'ERR_INVALID_KEY', `${why}: ${String(e)}`);
      assert.match((e as Error).message, pattern, why);
      return true;
    });
    assert.equal(code(() => Keyring.fromJwks({ keys: [okp(x)] })), 'ERR_INVALID_KEYRING', why);
  };

  test('a non-canonical x (y >= p) is refused, for every such y and both signs', () => {
    for (let y = P; y < 2n ** 255n; y++) {
      for (const sign of [0, 1]) refused(enc(y, sign), /canonical/, `y = p + ${y - P}, sign ${sign}`);
    }
  });

  test('the eight small-order points are refused, with either sign bit', () => {
    for (const y of [0n, 1n, P - 1n, Y8, P - Y8]) {
      for (const sign of [0, 1]) refused(enc(y, sign), /small order/, `y = ${y}, sign ${sign}`);
    }
  });

  test('a y that is not on the curve is refused', () => {
    refused(enc(2n), /not a point/, 'y = 2');
  });

  test('x must be exactly 32 bytes of canonical base64url', () => {
    const good = exportPublicJwk(generateKey('EdDSA', { kid: 'g' })).x as string;
    for (const x of [good.slice(0, -1), `${good}A`, 'AAAA', `${good.slice(0, -1)}${good.at(-1) === 'A' ? 'B' : 'A'}=`, 42, '']) {
      assert.equal(code(() => importJwk(okp(x as string))), 'ERR_INVALID_KEY', String(x));
    }
  });

  test('real keys are accepted, public and private', () => {
    for (let i = 0; i < 50; i++) {
      const key = generateKey('EdDSA', { kid: `ok-${i}` });
      assert.equal(importJwk(exportPublicJwk(key)).alg, 'EdDSA');
      assert.equal(importJwk(exportPrivateJwk(key)).canSign, true);
    }
    // The base point (y = 4/5) is a valid, prime-order point.
    assert.equal(importJwk(okp(enc(0x6666666666666666666666666666666666666666666666666666666666666658n))).alg, 'EdDSA');
  });
});
