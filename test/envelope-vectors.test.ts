// Checks the implementation against every envelope test vector in vectors/envelope-v1.json
// (docs/SPEC.md), and that the generator still produces the committed file: byte for byte for the
// deterministic vectors (HMAC, Ed25519, fixed-salt PS256), everything but the signatures for the
// randomized ES256 / PS256 ones.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Keyring, REJECTION_CODES, RejectionError, importJwk, open, parseSealedObject, seal, sealDetached, sealObject } from '../src/index.js';
import type { Envelope, OpenOptions, SealOptions } from '../src/index.js';
import { VECTORS_FILE, buildVectors, canonicalHeader, vectorEnvelope } from '../scripts/make-vectors.js';
import type { Vector, VectorFile } from '../scripts/make-vectors.js';

const file: VectorFile = JSON.parse(readFileSync(VECTORS_FILE, 'utf8'));

type Outcome = { payload_b64url: string; header: Record<string, unknown>; valid_until: number } | { error: string };

function outcome(v: Vector, given?: Envelope): Outcome {
  const keyring = Keyring.fromJwks(v.keyring);
  try {
    const envelope = given ?? (vectorEnvelope(v, (text) => parseSealedObject(text)) as Envelope);
    const m = open(keyring, envelope, v.options as OpenOptions);
    return { payload_b64url: m.payload.toString('base64url'), header: { ...m.header }, valid_until: m.validUntil };
  } catch (e) {
    // A vector must be rejected with a typed rejection, never an untyped exception.
    assert.ok(e instanceof RejectionError, `${v.name}: threw ${String(e)} instead of a RejectionError`);
    return { error: e.code };
  }
}

describe('envelope vectors (vectors/envelope-v1.json)', () => {
  test('the file is well formed', () => {
    assert.ok(file.vectors.length > 0);
    assert.match(file.warning, /TEST KEYS ONLY/);
    const names = new Set<string>();
    for (const v of file.vectors) {
      assert.ok(!names.has(v.name), `duplicate name ${v.name}`);
      names.add(v.name);
      assert.deepEqual(Object.keys(v).sort(), ['carrier', 'description', 'envelope', 'expected', 'keyring', 'name', 'options', 'reproducible']);
      assert.ok(['compact', 'object', 'object-json', 'detached'].includes(v.carrier), v.name);
      assert.equal(typeof v.options.now, 'number');
    }
  });

  test('every rejection code that open can produce has a vector', () => {
    // Replay codes come from the replay store (openAndClaim), never from open itself.
    const replay = new Set(['ERR_REPLAYED', 'ERR_IN_FLIGHT', 'ERR_REPLAY_STORE_UNAVAILABLE']);
    const seen = new Set(file.vectors.map((v) => ('error' in v.expected ? v.expected.error : 'valid')));
    for (const code of REJECTION_CODES) if (!replay.has(code)) assert.ok(seen.has(code), `no vector for ${code}`);
    for (const code of seen) assert.ok(code === 'valid' || (REJECTION_CODES as readonly string[]).includes(code), `unknown code ${code}`);
  });

  for (const v of file.vectors) {
    test(v.name, () => {
      assert.deepEqual(outcome(v), v.expected, v.description);
      // The bytes form of a compact envelope opens to the same result.
      if (v.carrier === 'compact') assert.deepEqual(outcome(v, Buffer.from(v.envelope as string, 'latin1')), v.expected, `${v.description} (as bytes)`);
    });
  }
});

test('the worked example of SPEC §4', () => {
  const header = '{"kid":"hs256-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q"}';
  const compact = 'sealq1.eyJraWQiOiJoczI1Ni10ZXN0IiwiYWxnIjoiSFMyNTYiLCJpZCI6Im0xIiwiaWF0IjoxNzY3MjI1NjAwMDAwLCJjdHgiOiJxIn0.aGk.vMBbee5JxnvU6nInHXU1zlX-uKfJqVNzdagctT-stJI';
  const keyring = new Keyring([importJwk(file.test_keys.hs256)]);
  const m = open(keyring, compact, { ctx: 'q', now: 1767225600000 });
  assert.equal(m.payload.toString('utf8'), 'hi');
  assert.equal(JSON.stringify(m.header), header);
  assert.equal(compact.split('.')[3], Buffer.from('bcc05b79ee49c67bd4ea72271d7535ce55feb8a7c9a9537375a81cb53facb492', 'hex').toString('base64url'));
});

describe('make-vectors', () => {
  const fresh = buildVectors();

  test('regenerates the committed file: deterministic vectors byte for byte', () => {
    assert.deepEqual(fresh.vectors.map((v) => v.name), file.vectors.map((v) => v.name));
    assert.equal(JSON.stringify(fresh.test_keys), JSON.stringify(file.test_keys));
    let reproduced = 0;
    fresh.vectors.forEach((v, i) => {
      const old = file.vectors[i]!;
      assert.equal(v.reproducible, old.reproducible, v.name);
      if (v.reproducible) {
        assert.equal(JSON.stringify(v), JSON.stringify(old), `${v.name} differs from the committed vector`);
        reproduced++;
      } else {
        // ES256 and PS256 signatures are randomized: everything except the envelope must match.
        assert.equal(JSON.stringify({ ...v, envelope: null }), JSON.stringify({ ...old, envelope: null }), v.name);
      }
    });
    assert.ok(reproduced >= file.vectors.length * 0.8, `only ${reproduced} vectors are reproducible`);
  });

  test('freshly generated ES256 and PS256 vectors pass too', () => {
    for (const v of fresh.vectors.filter((x) => !x.reproducible)) assert.deepEqual(outcome(v), v.expected, v.name);
  });

  test('seal and sealObject produce the canonical valid vectors byte for byte', () => {
    const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const isUtf8 = (b: Buffer): boolean => {
      try {
        utf8.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    let checked = 0;
    for (const v of file.vectors) {
      if (!('header' in v.expected) || !v.reproducible || v.carrier === 'object-json') continue;
      const { header, payload_b64url } = v.expected;
      // A producer's ES256 nonce and PS256 salt are random: only the generator's fixed-salt PS256
      // vectors are reproducible, and no producer can reproduce them.
      if (header.alg === 'ES256' || header.alg === 'PS256') continue;
      const payload = Buffer.from(payload_b64url, 'base64url');
      const obj = v.carrier === 'object' ? (v.envelope as { signatures: Array<{ header: string }>; payload64?: string }) : undefined;
      const text = v.carrier === 'detached' ? (v.envelope as { seal: string }).seal : (v.envelope as string);
      const sigs = obj !== undefined ? obj.signatures : text.split('.').slice(1);
      if (obj === undefined ? sigs.length !== 3 : sigs.length !== 1) continue;
      const carried = obj !== undefined ? Buffer.from(obj.signatures[0]!.header, 'utf8') : Buffer.from(sigs[0] as string, 'base64url');
      if (!carried.equals(canonicalHeader(header as never))) continue; // hand-made header bytes: not what a producer emits
      if (obj !== undefined && (obj.payload64 !== undefined) === isUtf8(payload)) continue; // producers use "payload" for UTF-8
      const jwk = Object.values(file.test_keys).find((k) => {
        const mine = v.keyring.keys.find((x) => x.kid === header.kid)!;
        return k.kid === header.kid && (k.k ?? k.x) === (mine.k ?? mine.x);
      });
      assert.ok(jwk !== undefined, `${v.name}: no signing key in test_keys`);
      const signer = new Keyring([importJwk({ ...jwk, status: 'primary' })]);
      const options: SealOptions = { ctx: header.ctx as string, id: header.id as string, now: header.iat as number };
      if (header.typ !== undefined) options.typ = header.typ as string;
      if (header.ct !== undefined) options.ct = header.ct as string;
      if (header.nbf !== undefined) options.notBefore = header.nbf as number;
      if (header.exp !== undefined) options.expiresAt = header.exp as number;
      if (v.options.maxValidity !== undefined) options.maxValidity = v.options.maxValidity;
      if (v.carrier === 'compact') assert.equal(seal(signer, payload, options), v.envelope, v.name);
      else if (v.carrier === 'detached') assert.deepEqual(sealDetached(signer, payload, options), { seal: text, payload }, v.name);
      else assert.deepEqual(sealObject(signer, payload, options), obj, v.name);
      checked++;
    }
    assert.ok(checked >= 10, `only ${checked} vectors checked against seal`);
  });
});
