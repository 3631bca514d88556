// Issue 7 hardening of the core: options that would switch checks off, producer sanity, the
// headers carrier and the object carrier as JSON text. Each case failed before the fix.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Keyring, open, parseSealedObject, seal, sealDetached, sealObject, toCompact, toDetached, toObject,
  InvalidArgumentError, MalformedError, ValidityTooLongError, SEAL_HEADER,
} from '../src/index.js';

const keyring = Keyring.generate('HS256');
const T = Date.UTC(2026, 0, 1);
const expired = seal(keyring, 'x', { ctx: 'q', now: T, expiresIn: '1m' });
const future = seal(keyring, 'x', { ctx: 'q', now: T + 86_400_000 });

describe('open refuses options that would switch a check off', () => {
  for (const [name, now] of [['NaN', Number.NaN], ['Infinity', Infinity], ['a Date', new Date(T)], ['a numeric string', String(T)], ['a negative number', -1], ['a fraction', T + 0.5]] as const) {
    test(`now: ${name}`, () => {
      assert.throws(() => open(keyring, expired, { ctx: 'q', now: now as number }), InvalidArgumentError);
      assert.throws(() => open(keyring, future, { ctx: 'q', now: now as number }), InvalidArgumentError);
    });
  }
  for (const v of [Number.NaN, Infinity, 0, -5, 1.5, '1024']) {
    test(`maxPayloadBytes: ${String(v)}`, () => {
      assert.throws(() => open(keyring, expired, { ctx: 'q', now: T, maxPayloadBytes: v as number }), InvalidArgumentError);
    });
  }
  for (const [k, v] of [['maxAge', Number.NaN], ['clockSkew', Infinity], ['maxAge', -1], ['maxValidity', 0], ['maxValidity', 'forever']] as const) {
    test(`${k}: ${String(v)}`, () => {
      assert.throws(() => open(keyring, expired, { ctx: 'q', now: T, [k]: v }), InvalidArgumentError);
    });
  }
});

describe('seal refuses what no consumer should accept', () => {
  test('expiresIn 0s: dead when sealed', () => {
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', expiresIn: '0s' }), /longer than 0/);
  });
  test('expiresIn 99999d: beyond maxValidity', () => {
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', expiresIn: '99999d' }), (e: unknown) => e instanceof InvalidArgumentError && /maxValidity \(30d\)/.test(e.message));
  });
  test('a longer window when the producer raises maxValidity, and the consumer must raise it too', () => {
    const env = seal(keyring, 'x', { ctx: 'q', now: T, expiresIn: '40d', maxValidity: '60d' });
    assert.throws(() => open(keyring, env, { ctx: 'q', now: T }), ValidityTooLongError);
    assert.equal(open(keyring, env, { ctx: 'q', now: T, maxValidity: '60d' }).payload.toString(), 'x');
  });
  test('expiresAt in the past, or not after notBefore', () => {
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', now: T, expiresAt: T - 1 }), InvalidArgumentError);
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', now: T, notBefore: T + 2000, expiresAt: T + 1000 }), InvalidArgumentError);
  });
  test('an invalid Date, NaN or a string as a time', () => {
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', expiresAt: new Date('nope') }), /invalid Date/);
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', now: Number.NaN }), InvalidArgumentError);
    assert.throws(() => seal(keyring, 'x', { ctx: 'q', notBefore: '2026-01-01' as unknown as number }), InvalidArgumentError);
  });
  test('a lone surrogate in ctx, typ or ct', () => {
    for (const o of [{ ctx: 'q\ud800' }, { ctx: 'q', typ: '\udc00' }, { ctx: 'q', ct: 'text/\ud83c' }]) {
      assert.throws(() => seal(keyring, 'x', o), InvalidArgumentError);
    }
    assert.equal(open(keyring, seal(keyring, 'x', { ctx: 'q\u{1F30D}' }), { ctx: 'q\u{1F30D}' }).header.ctx, 'q\u{1F30D}');
  });
});

describe('headers carrier', () => {
  test('the body is the payload, untouched; the seal header holds no payload', () => {
    const d = sealDetached(keyring, Buffer.from([0, 1, 2, 255]), { ctx: 'orders', typ: 'created' });
    assert.deepEqual([...d.payload], [0, 1, 2, 255]);
    assert.match(d.seal, /^sealq1\.[\w-]+\.\.[\w-]+$/);
    assert.equal(SEAL_HEADER, 'sealq');
    assert.deepEqual([...open(keyring, d, { ctx: 'orders', typ: 'created' }).payload], [0, 1, 2, 255]);
  });
  test('a missing header or a whole envelope in the header is malformed', () => {
    const compact = seal(keyring, 'x', { ctx: 'q' });
    assert.throws(() => open(keyring, { seal: undefined as unknown as string, payload: Buffer.from('x') }, { ctx: 'q' }), /not sealed/);
    assert.throws(() => open(keyring, { seal: compact, payload: Buffer.from('x') }, { ctx: 'q' }), /empty payload part/);
  });
  test('property: every carrier converts to every other without re-signing, and opens the same', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.isWellFormed()), (bytes, ctx) => {
      const compact = seal(keyring, bytes, { ctx });
      const viaDetached = toDetached(compact);
      const viaObject = toObject(viaDetached);
      assert.equal(toCompact(viaDetached), compact);
      assert.equal(toCompact(viaObject), compact);
      assert.deepEqual(toDetached(viaObject), viaDetached);
      for (const env of [compact, viaDetached, viaObject]) assert.deepEqual([...open(keyring, env, { ctx }).payload], [...bytes]);
    }), { numRuns: 200 });
  });
});

describe('object carrier as JSON text', () => {
  const obj = sealObject(keyring, '{"amount":1}', { ctx: 'q' });
  test('parses and opens', () => {
    assert.equal(open(keyring, parseSealedObject(JSON.stringify(obj)), { ctx: 'q' }).payload.toString(), '{"amount":1}');
  });
  test('a duplicate payload is refused, whichever one JSON.parse would keep', () => {
    const text = JSON.stringify(obj).replace('"payload":', '"payload":"{\\"amount\\":999}","payload":');
    assert.throws(() => parseSealedObject(text), MalformedError);
  });
  test('colons inside strings do not count as members', () => {
    const o = sealObject(keyring, 'a:b:"c:d"', { ctx: 'tenant:1', typ: 'x:y' });
    assert.equal(open(keyring, parseSealedObject(JSON.stringify(o)), { ctx: 'tenant:1' }).payload.toString(), 'a:b:"c:d"');
  });
});
