// Checks the implementation against every key document vector in vectors/keys-v1.json
// (docs/SPEC.md §7), and that the generator still produces the committed file byte for byte.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Keyring, SealqError } from '../src/index.js';
import { matchPattern } from '../src/keys/policy.js';
import { KEY_VECTORS_FILE, buildKeyVectors, outcomeOf, serialize, summarize } from '../scripts/make-key-vectors.js';
import type { KeyVector, KeyVectorFile } from '../scripts/make-key-vectors.js';

const text = readFileSync(KEY_VECTORS_FILE, 'utf8');
const file: KeyVectorFile = JSON.parse(text);

/** Every string of 16 characters or more in a document: key material and anything else a message must not echo. */
function longStrings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string' && v.length >= 16) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => longStrings(x, out));
  else if (typeof v === 'object' && v !== null) Object.values(v).forEach((x) => longStrings(x, out));
  return out;
}

describe('key document vectors (vectors/keys-v1.json)', () => {
  test('the file is well formed and self-describing', () => {
    assert.match(file.warning, /TEST KEYS ONLY/);
    assert.ok(file.vectors.length >= 100);
    const names = new Set<string>();
    for (const v of file.vectors) {
      assert.deepEqual(Object.keys(v), ['name', 'kind', 'reason', 'document', 'expected'], v.name);
      assert.ok(!names.has(v.name), `duplicate name ${v.name}`);
      names.add(v.name);
      assert.ok(v.kind === 'key' || v.kind === 'keyring' || (v.kind === 'keyring-text' && typeof v.document === 'string'), v.name);
      assert.ok(v.reason.length > 10, v.name);
      if ('error' in v.expected) {
        assert.ok(v.name.startsWith('invalid/'), v.name);
        assert.equal(v.expected.error, v.kind === 'key' ? 'ERR_INVALID_KEY' : 'ERR_INVALID_KEYRING', v.name);
      } else {
        assert.ok(v.name.startsWith('valid/'), v.name);
      }
    }
    for (const p of file.patterns) assert.deepEqual(Object.keys(p), ['pattern', 'name', 'match', 'reason']);
  });

  test('the generator reproduces the committed file byte for byte', () => {
    assert.equal(serialize(buildKeyVectors()), text, 'run: node --import tsx scripts/make-key-vectors.ts');
  });

  test('every vector gives its expected outcome', () => {
    for (const v of file.vectors) assert.deepEqual(outcomeOf(v), v.expected, `${v.name}: ${v.reason}`);
  });

  test('a key vector as the only key of a keyring: an invalid key makes ERR_INVALID_KEYRING, a valid one reads the same', () => {
    for (const v of file.vectors.filter((x): x is KeyVector => x.kind === 'key')) {
      const keyring: KeyVector = { ...v, kind: 'keyring', document: { keys: [v.document] } };
      const want = 'error' in v.expected ? { error: 'ERR_INVALID_KEYRING' } : v.expected;
      assert.deepEqual(outcomeOf(keyring), want, v.name);
    }
  });

  test('refusals are typed SealqErrors whose message shows no value from the document', () => {
    for (const v of file.vectors.filter((x) => 'error' in x.expected)) {
      let err: unknown;
      try {
        if (v.kind === 'key') Keyring.fromJwks({ keys: [v.document] });
        else Keyring.fromJwks(v.document);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SealqError, v.name);
      for (const s of longStrings(v.document)) {
        // kids are public identifiers and may be named; key material and timestamps' text need not be.
        if (s === (v.document as { kid?: unknown }).kid || /^\d{4}-/.test(s)) continue;
        assert.ok(!err.message.includes(s), `${v.name}: the message shows ${s.slice(0, 20)}...`);
      }
    }
  });

  test('every pattern vector', () => {
    for (const p of file.patterns) assert.equal(matchPattern(p.pattern, p.name), p.match, `${p.pattern} ~ ${p.name.slice(0, 40)}: ${p.reason}`);
  });

  test('summaries read back what the exporters write', () => {
    const ring = Keyring.fromJwks(file.vectors.find((v) => v.name === 'valid/keyring/two-keys-unknown-top-level-member')!.document);
    assert.deepEqual(Keyring.fromJwks(ring.toPrivateJwks()).keys().map(summarize), ring.keys().map(summarize));
  });
});
