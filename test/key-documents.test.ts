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
