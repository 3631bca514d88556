/**
 * What a new user sees when loading a keyring goes wrong, and when printing one: an unset
 * variable, a path where JSON belongs (and JSON where a path belongs), and String(keyring).
 * Every message says what to do and never shows key material.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Keyring, generateKey, keyringFromEnv, readKeyringFileSync } from '../src/index.js';

function caught(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  assert.fail('expected an error');
}

describe('loading: the message says what was wrong and what to set', () => {
  test('Keyring.fromJwks(process.env.SEALQ_KEYRING) with the variable unset says it was undefined and names SEALQ_KEYRING', () => {
    const env: NodeJS.ProcessEnv = {};
    const e = caught(() => Keyring.fromJwks(env.SEALQ_KEYRING));
    assert.equal(e.code, 'ERR_INVALID_KEYRING');
    assert.match(e.message, /undefined/);
    assert.match(e.message, /SEALQ_KEYRING/);
    assert.match(e.message, /not set/);
    assert.match(caught(() => Keyring.fromJwks(null)).message, /was null/);
    assert.match(caught(() => Keyring.fromJwks('')).message, /empty/);
  });

  test('a file path given as keyring JSON is recognised as a path', () => {
    for (const path of ['/run/secrets/sealq/keys.json', './consumer-keyring.json', 'keys.json', '../keys.jwks', 'C:\\keys\\prod.json', '~/keys.json', '/etc/sealq/keys']) {
      const e = caught(() => Keyring.fromJwks(path));
      assert.equal(e.code, 'ERR_INVALID_KEYRING');
      assert.match(e.message, /looks like a file path/, path);
      assert.match(e.message, /readKeyringFileSync/);
      const fromEnv = caught(() => keyringFromEnv({ env: { SEALQ_KEYRING: path } }));
      assert.equal(fromEnv.code, 'ERR_INVALID_KEYRING');
      assert.match(fromEnv.message, /SEALQ_KEYRING environment variable looks like a file path/);
      assert.match(fromEnv.message, /KEYRING_FILE/);
      assert.match(fromEnv.message, /readKeyringFileSync/);
    }
    // Not JSON and not a path: the plain message.
    assert.doesNotMatch(caught(() => Keyring.fromJwks('hello')).message, /path/);
  });

  test('keyring JSON given to readKeyringFileSync as a path is refused without echoing it', () => {
    const json = JSON.stringify(Keyring.generate('HS256', { kid: 'secret-ring' }).toPrivateJwks());
    const k = JSON.parse(json).keys[0].k as string;
    const e = caught(() => readKeyringFileSync(json));
    assert.equal(e.code, 'ERR_KEYRING_SOURCE');
    assert.match(e.message, /looks like keyring JSON/);
    assert.match(e.message, /keyringFromEnv/);
    assert.ok(!e.message.includes(k), 'the secret is not in the message');
    assert.ok(!e.message.includes('secret-ring'), 'nothing of the value is shown');
  });
});

describe('String(keyring) is a redacted summary', () => {
  test('kids, algorithms and statuses, never material', () => {
    const ring = Keyring.generate('HS256', { kid: 'hs-1' }).with(generateKey('EdDSA', { kid: 'ed-2' }));
    const secret = ring.toPrivateJwks().keys[0]!.k as string;
    for (const text of [String(ring), `${ring}`, ring.toString(), inspect(ring)]) {
      assert.equal(text, 'Keyring { hs-1 (HS256, primary), ed-2 (EdDSA, active) }');
      assert.ok(!text.includes(secret));
    }
    assert.equal(String(new Keyring([])), 'Keyring { no keys }');
    assert.equal(String(ring.get('ed-2')), `SealKey { kid: "ed-2", alg: 'EdDSA', status: 'active', material: [redacted] }`);
  });
});
