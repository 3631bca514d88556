/**
 * Keys and keyrings: JWK / JWKS import and export, the public JWKS, and every way a key or a
 * keyring is refused.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  ALGS,
  Keyring,
  SealKey,
  exportPrivateJwk,
  exportPublicJwk,
  generateKey,
  importJwk,
  open,
  seal,
} from '../src/index.js';
import type { Alg, SealqJwk } from '../src/index.js';
import { ALG_SPECS } from '../src/crypto/algorithms.js';

const T = 1_700_000_000_000;
const PRIVATE_MEMBERS = ['k', 'd', 'p', 'q', 'dp', 'dq', 'qi'];

/** A private JWK of a fresh key, with sealq's metadata. */
const jwkOf = (alg: Alg, kid = `k-${alg}`): SealqJwk => exportPrivateJwk(generateKey(alg, { kid }));

function invalidKey(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'ERR_INVALID_KEY', String(e));
    if (pattern !== undefined) assert.match((e as Error).message, pattern);
    return true;
  });
}

function invalidKeyring(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'ERR_INVALID_KEYRING', String(e));
    if (pattern !== undefined) assert.match((e as Error).message, pattern);
    return true;
  });
}

describe('JWK and JWKS round trips', () => {
  for (const alg of ALGS) {
    test(`${alg}: private JWKS -> JSON -> keyring seals and opens both ways, and exports the same JWKS`, () => {
      const original = Keyring.generate(alg, { kid: `rt-${alg}` }).with(
        generateKey(alg, { kid: `rt2-${alg}`, notBefore: T - 3_600_000, notAfter: T + 3_600_000, policy: { ctx: ['billing.*'], typ: ['charge'] } }),
      );
      const jwks = original.toPrivateJwks();
      const text = JSON.stringify(jwks);
      const imported = Keyring.fromJwks(text);
      assert.deepEqual(imported.toPrivateJwks(), jwks);
      assert.deepEqual(Keyring.fromJwks(Buffer.from(text)).toPrivateJwks(), jwks, 'bytes work too');
      assert.deepEqual(Keyring.fromJwks(jwks).toPrivateJwks(), jwks, 'and the parsed object');
      assert.equal(imported.primary?.kid, `rt-${alg}`);
      const second = imported.get(`rt2-${alg}`)!;
      assert.deepEqual(second.info(), { kid: `rt2-${alg}`, alg, status: 'active', notBefore: T - 3_600_000, notAfter: T + 3_600_000, policy: { ctx: ['billing.*'], typ: ['charge'] } });
      for (const [producer, consumer] of [[original, imported], [imported, original]] as const) {
        const env = seal(producer, 'round trip', { ctx: 'q', now: T });
        assert.equal(open(consumer, env, { ctx: 'q', now: T }).payload.toString(), 'round trip');
      }
      // The JWK shape: standard members plus sealq's metadata.
      const j = jwks.keys[0]!;
      assert.equal(j.kty, ALG_SPECS[alg].kty);
      assert.equal(j.alg, alg);
      assert.equal(j.use, 'sig');
      assert.equal(j.status, 'primary');
      assert.equal(jwks.keys[1]!.not_before, new Date(T - 3_600_000).toISOString());
    });

    if (!ALG_SPECS[alg].symmetric) {
      test(`${alg}: the public JWKS has no private members and verifies what the private keyring seals`, () => {
        const kr = Keyring.generate(alg, { kid: `pub-${alg}` });
        const pub = kr.toPublicJwks();
        for (const k of pub.keys) for (const m of PRIVATE_MEMBERS) assert.equal(k[m], undefined, `public JWK has no "${m}"`);
        assert.deepEqual(exportPublicJwk(kr.primary!), pub.keys[0]);
        const verifier = Keyring.fromJwks(JSON.stringify(pub), { allowPrivate: false });
        assert.equal(verifier.primary?.canSign, false);
        const env = seal(kr, 'signed', { ctx: 'q', now: T });
        assert.equal(open(verifier, env, { ctx: 'q', now: T }).payload.toString(), 'signed');
        assert.deepEqual(kr.toPublic().toPublicJwks(), pub, 'toPublic() exports the same public JWKS');
        assert.throws(() => seal(verifier, 'x', { ctx: 'q' }), { code: 'ERR_NO_SIGNING_KEY' });
      });
    }
  }

  test('importJwk: alg is inferred from kty when absent; unknown members are ignored', () => {
    for (const alg of ['EdDSA', 'ES256', 'PS256', 'HS256'] as const) {
      const { alg: _a, ...rest } = jwkOf(alg);
      assert.equal(importJwk({ ...rest, x5t: 'ignored', ext: true }).alg, alg);
    }
  });

  test('the default kid names the algorithm and the day', () => {
    const key = generateKey('ES256');
    assert.match(key.kid, /^es256-\d{8}-[0-9a-f]{8}$/);
  });
});

describe('HMAC keys have no public half', () => {
  test('exportPublicJwk and toPublicJwks refuse with ERR_INVALID_KEY', () => {
    for (const alg of ['HS256', 'HS512'] as const) {
      const kr = Keyring.generate(alg, { kid: 'shared' });
      invalidKey(() => exportPublicJwk(kr.primary!), /shared secret/);
      invalidKey(() => kr.toPublicJwks());
    }
    // One HMAC key in an otherwise asymmetric keyring is enough to refuse.
    const mixed = Keyring.generate('EdDSA', { kid: 'ed' }).with(generateKey('HS256', { kid: 'hs' }));
    invalidKey(() => mixed.toPublicJwks());
  });

  test('toPublic keeps an HMAC key (it is one secret) and the keyring still seals', () => {
    const kr = Keyring.generate('HS256', { kid: 'shared' });
    assert.equal(kr.toPublic().primary?.canSign, true);
  });
});

describe('key validation (importJwk)', () => {
  test('kid: required, 1 to 128 printable ASCII characters, no spaces', () => {
    const j = jwkOf('HS256');
    for (const kid of [undefined, '', 'a b', 'tab\there', 'é', 'x'.repeat(129), 7]) invalidKey(() => importJwk({ ...j, kid }), /kid/);
    assert.equal(importJwk({ ...j, kid: 'x'.repeat(128) }).kid.length, 128);
  });

  test('status must be one of primary, active, disabled, revoked', () => {
    const j = jwkOf('EdDSA');
    for (const status of ['primary', 'active', 'disabled', 'revoked'] as const) assert.equal(importJwk({ ...j, status }).status, status);
    for (const status of ['Primary', 'retired', '', 1]) invalidKey(() => importJwk({ ...j, status }), /status/);
    assert.equal(importJwk({ ...j, status: undefined }).status, 'active', 'absent status means verify-only');
  });

  test('not_before / not_after: RFC 3339 timestamps, in order', () => {
    const j = jwkOf('HS256');
    const k = importJwk({ ...j, not_before: '2026-01-31T00:00:00Z', not_after: '2026-02-01T12:30:00.500+01:00' });
    assert.equal(k.notBefore, Date.UTC(2026, 0, 31));
    assert.equal(k.notAfter, Date.UTC(2026, 1, 1, 11, 30, 0, 500));
    for (const bad of ['yesterday', '', 1_700_000_000_000, '2026-13-45T00:00:00Z', null]) {
      invalidKey(() => importJwk({ ...j, not_before: bad }), /not_before/);
      invalidKey(() => importJwk({ ...j, not_after: bad }), /not_after/);
    }
    invalidKey(() => importJwk({ ...j, not_before: '2026-02-01T00:00:00Z', not_after: '2026-01-01T00:00:00Z' }), /before/);
  });

  test('alg, kty and crv must fit together; use must be sig', () => {
    const ed = jwkOf('EdDSA');
    const es = jwkOf('ES256');
    const rs = jwkOf('PS256');
    const hs = jwkOf('HS256');
    invalidKey(() => importJwk({ ...ed, alg: 'ES256' }), /kty/);
    invalidKey(() => importJwk({ ...es, alg: 'EdDSA' }), /kty/);
    invalidKey(() => importJwk({ ...rs, alg: 'HS256' }), /kty/);
    invalidKey(() => importJwk({ ...hs, alg: 'PS256' }), /kty/);
    invalidKey(() => importJwk({ ...hs, kty: 'OKP' }), /kty/);
    invalidKey(() => importJwk({ ...ed, crv: 'X25519' }), /crv/);
    invalidKey(() => importJwk({ ...ed, crv: 'Ed448' }), /crv/);
    invalidKey(() => importJwk({ ...es, crv: 'P-384' }), /crv/);
    invalidKey(() => importJwk({ ...es, crv: 'secp256k1' }), /crv/);
    for (const alg of ['none', 'RS256', 'ES384', 'HS384', '', 'hs256']) invalidKey(() => importJwk({ ...hs, alg }), /alg/);
    invalidKey(() => importJwk({ ...ed, use: 'enc' }), /use/);
    invalidKey(() => importJwk({ ...ed, kty: undefined, alg: undefined }), /alg/);
  });

  test('an HMAC secret must be at least as long as the hash output', () => {
    const j = jwkOf('HS256');
    for (const n of [0, 1, 16, 31]) invalidKey(() => importJwk({ ...j, k: randomBytes(n).toString('base64url') }));
    assert.ok(importJwk({ ...j, k: randomBytes(32).toString('base64url') }));
    assert.ok(importJwk({ ...j, k: randomBytes(100).toString('base64url') }));
    const j512 = jwkOf('HS512');
    invalidKey(() => importJwk({ ...j512, k: randomBytes(32).toString('base64url') }), /64 bytes/);
    assert.ok(importJwk({ ...j512, k: randomBytes(64).toString('base64url') }));
    for (const k of [undefined, 42, 'not base64!', 'a+b/c=']) invalidKey(() => importJwk({ ...j, k }), /k must/);
  });

  test('RSA: modulus of at least 2048 bits', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    invalidKey(() => importJwk({ ...privateKey.export({ format: 'jwk' }), kid: 'small', alg: 'PS256' }), /2048/);
    invalidKey(() => importJwk({ ...publicKey.export({ format: 'jwk' }), kid: 'small', alg: 'PS256' }), /2048/);
  });

  test('broken asymmetric material is refused', () => {
    const es = jwkOf('ES256');
    const y = Buffer.from(es.y as string, 'base64url');
    y[31]! ^= 1;
    invalidKey(() => importJwk({ ...es, y: y.toString('base64url'), d: undefined }), /invalid/);
    invalidKey(() => importJwk({ ...es, x: undefined }));
    const ed = jwkOf('EdDSA');
    invalidKey(() => importJwk({ ...ed, x: 'AAAA', d: undefined }));
    const rs = jwkOf('PS256');
    invalidKey(() => importJwk({ ...rs, n: undefined }));
  });

  test('policy must be an object of name lists', () => {
    const j = jwkOf('HS256');
    for (const policy of ['billing.*', ['billing.*'], null, { ctx: 'billing.*' }, { ctx: [''] }, { typ: [1] }]) {
      invalidKey(() => importJwk({ ...j, policy }), /policy/);
    }
    assert.deepEqual(importJwk({ ...j, policy: { ctx: ['a', 'b.*'] } }).policy, { ctx: ['a', 'b.*'] });
  });

  test('allowPrivate: false refuses private material', () => {
    for (const alg of ALGS) invalidKey(() => importJwk(jwkOf(alg), { allowPrivate: false }), /private/);
  });

  test('a JWK must be an object', () => {
    for (const v of [null, 'x', 1, [], undefined]) invalidKey(() => importJwk(v));
  });

  // The private and public members of a JWK are not checked against each other: node:crypto keeps
  // the given public point / modulus for EC and RSA (and for Ed25519 silently derives x from d), so
  // a key whose d does not belong to its x/y/n is accepted, signs, and every message it seals is
  // then rejected as ERR_SIGNATURE_INVALID by verifiers holding its published public JWK.
  test('private and public members must belong to the same key', () => {
    for (const alg of ['EdDSA', 'ES256', 'PS256'] as const) {
      const a = jwkOf(alg, 'a');
      const b = jwkOf(alg, 'a');
      const mixed = alg === 'PS256' ? { ...a, d: b.d, p: b.p, q: b.q, dp: b.dp, dq: b.dq, qi: b.qi } : { ...a, d: b.d };
      invalidKey(() => importJwk(mixed), new RegExp(alg === 'PS256' ? 'RSA' : alg === 'ES256' ? 'EC' : 'OKP'));
    }
  });

  test('an EC private scalar must be a valid scalar of the right length', () => {
    const es = jwkOf('ES256');
    for (const d of ['', (es.d as string).slice(0, 20), `${es.d as string}${es.d as string}`]) invalidKey(() => importJwk({ ...es, d }));
  });
});

describe('keyring validation', () => {
  test('duplicate kid', () => {
    const a = generateKey('HS256', { kid: 'same' });
    const b = generateKey('EdDSA', { kid: 'same' });
    invalidKeyring(() => new Keyring([a, b]), /twice/);
    invalidKeyring(() => Keyring.fromJwks({ keys: [exportPrivateJwk(a), exportPrivateJwk(b)] }), /twice/);
  });

  test('two primaries', () => {
    const a = generateKey('HS256', { kid: 'a', status: 'primary' });
    const b = generateKey('HS256', { kid: 'b', status: 'primary' });
    invalidKeyring(() => new Keyring([a, b]), /both primary/);
    invalidKeyring(() => Keyring.fromJwks({ keys: [exportPrivateJwk(a), exportPrivateJwk(b)] }), /both primary/);
    invalidKeyring(() => new Keyring([a]).with(b), /both primary/);
    // Replacing the primary by kid is fine.
    assert.equal(new Keyring([a]).with(a.with({ status: 'active' })).primary, undefined);
  });

  test('a bad kid, a bad status, a bad window in a JWKS is an invalid keyring', () => {
    invalidKeyring(() => new Keyring([generateKey('HS256', { kid: 'has space' })]), /kid/);
    const j = jwkOf('HS256');
    for (const bad of [{ kid: 'a b' }, { status: 'boss' }, { not_before: 'soon' }, { kty: 'EC' }, { k: 'c2hvcnQ' }]) {
      invalidKeyring(() => Keyring.fromJwks({ keys: [{ ...j, ...bad }] }));
    }
  });

  test('only SealKey objects', () => {
    invalidKeyring(() => new Keyring([jwkOf('HS256') as unknown as SealKey]), /SealKey/);
  });

  test('fromJwks: invalid JSON and wrong shapes are ERR_INVALID_KEYRING', () => {
    for (const text of ['', '{', 'not json', '{"keys": [}', Buffer.from([0xff, 0xfe])]) invalidKeyring(() => Keyring.fromJwks(text), /JSON/);
    for (const doc of [null, 42, [], {}, { keys: {} }, { keys: 'x' }, '[]', '{"keys":null}']) invalidKeyring(() => Keyring.fromJwks(doc), /keys/);
    invalidKeyring(() => Keyring.fromJwks('{"keys":[]}'), /at least one key/);
  });

  test('seal needs a primary key with private material: ERR_NO_SIGNING_KEY', () => {
    for (const alg of ['EdDSA', 'ES256', 'PS256'] as const) {
      const publicOnly = Keyring.fromJwks(Keyring.generate(alg, { kid: 'p' }).toPublicJwks());
      assert.equal(publicOnly.primary?.kid, 'p');
      assert.throws(() => seal(publicOnly, 'x', { ctx: 'q' }), { code: 'ERR_NO_SIGNING_KEY', message: /no private material/ });
    }
    assert.throws(() => seal(new Keyring([generateKey('HS256', { kid: 'v' })]), 'x', { ctx: 'q' }), { code: 'ERR_NO_SIGNING_KEY', message: /no primary/ });
    assert.throws(() => seal(new Keyring([]), 'x', { ctx: 'q' }), { code: 'ERR_NO_SIGNING_KEY' });
  });

  test('keyrings are immutable: with/without return new ones', () => {
    const kr = Keyring.generate('HS256', { kid: 'a' });
    const more = kr.with(generateKey('EdDSA', { kid: 'b' }));
    assert.equal(kr.size, 1);
    assert.equal(more.size, 2);
    assert.equal(more.without('a').size, 1);
    assert.equal(more.without('a').primary, undefined);
    assert.equal(more.size, 2);
    assert.deepEqual(more.keys().map((k) => k.kid), ['a', 'b']);
  });

  test('generateKey refuses an unknown algorithm', () => {
    assert.throws(() => generateKey('RS256' as Alg), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => Keyring.generate('none' as Alg), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
