/**
 * seal and open, one precise construction per rejection code, plus seal's option validation.
 * Time comes from the `now` options, never from sleeping.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, createSecretKey } from 'node:crypto';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  Keyring,
  RejectionError,
  exportPrivateJwk,
  exportPublicJwk,
  generateKey,
  open,
  seal,
  sealObject,
  toObject,
} from '../src/index.js';
import type { Envelope, OpenOptions, SealedObject } from '../src/index.js';
import { ALG_SPECS } from '../src/crypto/algorithms.js';
import { decodeCompact, encodeCompact, encodeObject } from '../src/envelope/carriers.js';
import type { RawEnvelope } from '../src/envelope/carriers.js';
import { signingInput } from '../src/envelope/pae.js';

const T = 1_700_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;

const hs = Keyring.generate('HS256', { kid: 'hs-1' });
const ed = Keyring.generate('EdDSA', { kid: 'ed-1' });
const edPublic = ed.toPublic();

/** Opens and expects a typed rejection with exactly this code. */
function rejects(keyring: Keyring, env: Envelope, options: OpenOptions, code: string): RejectionError {
  try {
    const m = open(keyring, env, options);
    assert.fail(`expected ${code}, but it opened: ${m.payload.toString('utf8').slice(0, 60)}`);
  } catch (e) {
    if (!(e instanceof RejectionError)) throw e;
    assert.equal(e.code, code, e.message);
    assert.equal(e.rejection, true);
    assert.equal(e.retryable, false);
    assert.ok(e.message.length > 0);
    return e;
  }
}

const raw = (compact: string): RawEnvelope => decodeCompact(compact, DEFAULT_MAX_PAYLOAD_BYTES);
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');
const secretOf = (keyring: Keyring): Buffer => Buffer.from(exportPrivateJwk(keyring.primary!).k as string, 'base64url');

/** An HS256 envelope over an arbitrary header text, signed correctly with `secret`. */
function hmacEnvelope(secret: Buffer, header: string, payload: string | Buffer): string {
  const hb = Buffer.from(header, 'utf8');
  const pb = Buffer.from(payload);
  const sig = createHmac('sha256', secret).update(signingInput(hb, pb)).digest();
  return encodeCompact({ payload: pb, signatures: [{ header: hb, sig }] });
}

const header = (fields: Record<string, unknown>): string => JSON.stringify({ kid: 'hs-1', alg: 'HS256', id: 'm-1', iat: T, ctx: 'q', ...fields });

describe('ERR_MALFORMED', () => {
  test('garbage', () => {
    for (const g of ['', 'hello', 'sealq1', 'sealq1.', 'sealq1..', 'sealq1...', 'sealq.1.a.b', 'SEALQ1.a.b.c', 'sealq1.a.b', 'sealq1.@@@.e30.AAAA', ' sealq1.e30.e30.AAAA', '{"sealq":1}']) {
      rejects(hs, g, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    }
    for (const g of [{}, [], { sealq: '1' }, { sealq: 1 }, { sealq: 1, payload: 'x', signatures: [] }, { sealq: 1, payload: 'x', payload64: 'eA', signatures: [{ header: '{}', sig: 'AA' }] }]) {
      rejects(hs, g as unknown as SealedObject, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    }
    rejects(hs, null as unknown as string, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    rejects(hs, 42 as unknown as string, { ctx: 'q', now: T }, 'ERR_MALFORMED');
  });

  test('non-canonical base64url (padding, trailing bits, standard alphabet) is malformed, not re-encoded', () => {
    const env = seal(hs, 'hello', { ctx: 'q', now: T });
    const [h, p, s] = env.slice('sealq1.'.length).split('.') as [string, string, string];
    // "hello" is 5 bytes: 7 base64url characters, whose last one carries 2 unused bits.
    const last = p.at(-1)!;
    const sibling = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last) ^ 1)]!;
    assert.ok(Buffer.from(p.slice(0, -1) + sibling, 'base64url').equals(Buffer.from('hello')), 'the sibling decodes to the same bytes');
    for (const bad of [`${h}.${p.slice(0, -1)}${sibling}.${s}`, `${h}.${p}=.${s}`, `${h.replaceAll('-', '+').replaceAll('_', '/')}x.${p}.${s}`]) {
      rejects(hs, `sealq1.${bad}`, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    }
  });

  test('truncated: every prefix of an envelope is rejected; those that lose a part are malformed', () => {
    const env = seal(ed, 'a payload of some length', { ctx: 'q', now: T });
    const lastDot = env.lastIndexOf('.');
    for (let n = 0; n < env.length; n++) {
      const cut = env.slice(0, n);
      if (n <= lastDot + 1) rejects(edPublic, cut, { ctx: 'q', now: T }, 'ERR_MALFORMED');
      else {
        // Cut inside the signature: a shorter (or non-canonical) signature, never accepted.
        assert.throws(() => open(edPublic, cut, { ctx: 'q', now: T }), (e: unknown) =>
          e instanceof RejectionError && (e.code === 'ERR_MALFORMED' || e.code === 'ERR_SIGNATURE_INVALID'));
      }
    }
    const obj = sealObject(ed, 'payload', { ctx: 'q', now: T });
    rejects(edPublic, { ...obj, signatures: [{ header: obj.signatures[0]!.header.slice(0, -1), sig: obj.signatures[0]!.sig }] }, { ctx: 'q', now: T }, 'ERR_MALFORMED');
  });

  test('oversized: a 50 MB string or byte array is refused (before any crypto)', () => {
    const huge = 'sealq1.' + 'A'.repeat(50 * 1024 * 1024);
    rejects(hs, huge, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    rejects(hs, Buffer.alloc(50 * 1024 * 1024, 0x41), { ctx: 'q', now: T }, 'ERR_MALFORMED');
    rejects(hs, { sealq: 1, payload: 'A'.repeat(50 * 1024 * 1024), signatures: [{ header: '{}', sig: 'AA' }] }, { ctx: 'q', now: T }, 'ERR_MALFORMED');
  });

  test('oversized with the maxPayloadBytes option, in every carrier', () => {
    const env = seal(hs, Buffer.alloc(2000, 7), { ctx: 'q', now: T });
    assert.equal(open(hs, env, { ctx: 'q', now: T, maxPayloadBytes: 2000 }).payload.length, 2000);
    rejects(hs, env, { ctx: 'q', now: T, maxPayloadBytes: 1999 }, 'ERR_MALFORMED');
    rejects(hs, env, { ctx: 'q', now: T, maxPayloadBytes: 1000 }, 'ERR_MALFORMED');
    rejects(hs, toObject(env), { ctx: 'q', now: T, maxPayloadBytes: 1999 }, 'ERR_MALFORMED');
    const text = sealObject(hs, 'é'.repeat(600), { ctx: 'q', now: T }); // 600 characters, 1200 UTF-8 bytes
    rejects(hs, text, { ctx: 'q', now: T, maxPayloadBytes: 1000 }, 'ERR_MALFORMED');
    assert.equal(open(hs, text, { ctx: 'q', now: T, maxPayloadBytes: 1200 }).payload.length, 1200);
    // The default is 1 MiB.
    const big = seal(hs, Buffer.alloc(DEFAULT_MAX_PAYLOAD_BYTES), { ctx: 'q', now: T });
    assert.equal(open(hs, big, { ctx: 'q', now: T }).payload.length, DEFAULT_MAX_PAYLOAD_BYTES);
    assert.throws(() => seal(hs, Buffer.alloc(DEFAULT_MAX_PAYLOAD_BYTES + 1), { ctx: 'q' }), { code: 'ERR_INVALID_ARGUMENT' });
  });

  test('too many signatures, or a dangling one', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T });
    const [h, , s] = env.slice('sealq1.'.length).split('.');
    rejects(hs, `${env}.${h}.${s}.${h}.${s}.${h}.${s}.${h}.${s}`, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    rejects(hs, `${env}.${h}`, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    const obj = toObject(env);
    rejects(hs, { ...obj, signatures: Array(5).fill(obj.signatures[0]) }, { ctx: 'q', now: T }, 'ERR_MALFORMED');
    rejects(hs, { ...obj, extra: 1 } as SealedObject, { ctx: 'q', now: T }, 'ERR_MALFORMED');
  });

  test('a correctly signed header that is not a valid v1 header is malformed', () => {
    const secret = secretOf(hs);
    const bad = [
      '[]',
      'null',
      'not json',
      '{"kid":"hs-1"}',
      header({ crit: ['x'] }), // unknown fields are refused: a v1 verifier cannot know what they mean
      header({ alg: 'none' }),
      header({ alg: 'hs256' }),
      header({ iat: -1 }),
      header({ iat: 1.5 }),
      header({ iat: String(T) }),
      header({ id: '' }),
      header({ id: 'has space' }),
      header({ ctx: '' }),
      header({ ctx: 'x'.repeat(257) }),
      header({ typ: 7 }),
      header({ nbf: T + 10, exp: T + 10 }),
    ];
    for (const h of bad) rejects(hs, hmacEnvelope(secret, h, 'x'), { ctx: 'q', now: T }, 'ERR_MALFORMED');
    // Invalid UTF-8 in the header bytes.
    const hb = Buffer.from([0x7b, 0xff, 0x7d]);
    const sig = createHmac('sha256', secret).update(signingInput(hb, Buffer.from('x'))).digest();
    rejects(hs, encodeCompact({ payload: Buffer.from('x'), signatures: [{ header: hb, sig }] }), { ctx: 'q', now: T }, 'ERR_MALFORMED');
    // The same construction with a valid header opens: the rejections above are about the header.
    assert.equal(open(hs, hmacEnvelope(secret, header({}), 'x'), { ctx: 'q', now: T }).payload.toString(), 'x');
  });
});

describe('ERR_UNSUPPORTED_VERSION', () => {
  test('compact sealq2. prefix', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T });
    rejects(hs, env.replace(/^sealq1\./, 'sealq2.'), { ctx: 'q', now: T }, 'ERR_UNSUPPORTED_VERSION');
    rejects(hs, env.replace(/^sealq1\./, 'sealq10.'), { ctx: 'q', now: T }, 'ERR_UNSUPPORTED_VERSION');
    rejects(hs, Buffer.from(env.replace(/^sealq1\./, 'sealq2.')), { ctx: 'q', now: T }, 'ERR_UNSUPPORTED_VERSION');
  });

  test('object with sealq: 2', () => {
    const obj = sealObject(hs, 'x', { ctx: 'q', now: T });
    rejects(hs, { ...obj, sealq: 2 } as unknown as SealedObject, { ctx: 'q', now: T }, 'ERR_UNSUPPORTED_VERSION');
    rejects(hs, { ...obj, sealq: 0 } as unknown as SealedObject, { ctx: 'q', now: T }, 'ERR_UNSUPPORTED_VERSION');
  });
});

describe('ERR_KEY_UNKNOWN', () => {
  test('the kid is not in the consumer keyring', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T });
    const e = rejects(ed, env, { ctx: 'q', now: T }, 'ERR_KEY_UNKNOWN');
    assert.match(e.message, /hs-1/);
    rejects(Keyring.generate('HS256', { kid: 'hs-2' }), env, { ctx: 'q', now: T }, 'ERR_KEY_UNKNOWN');
    rejects(new Keyring([]), sealObject(ed, 'x', { ctx: 'q', now: T }), { ctx: 'q', now: T }, 'ERR_KEY_UNKNOWN');
  });
});

describe('ERR_ALG_MISMATCH', () => {
  test('MUST HOLD: HS256 header keyed with the bytes of the Ed25519 public key under its kid is rejected', () => {
    const pubJwk = exportPublicJwk(ed.primary!);
    const spki = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pubJwk.x as string }, format: 'jwk' });
    // Every form of "the public key" an attacker might try as the HMAC secret.
    const forms: Array<[string, Buffer]> = [
      ['raw 32-byte public key', Buffer.from(pubJwk.x as string, 'base64url')],
      ['SPKI DER', spki.export({ format: 'der', type: 'spki' })],
      ['SPKI PEM text', Buffer.from(spki.export({ format: 'pem', type: 'spki' }))],
      ['JWK x text', Buffer.from(pubJwk.x as string)],
      ['public JWKS text', Buffer.from(JSON.stringify(ed.toPublicJwks()))],
    ];
    for (const [what, keyBytes] of forms) {
      const hb = Buffer.from(JSON.stringify({ kid: 'ed-1', alg: 'HS256', id: `forged-${what.length}`, iat: T, ctx: 'payments', typ: 'refund' }));
      const payload = Buffer.from('{"refund":1000000}');
      const input = signingInput(hb, payload);
      const tag = createHmac('sha256', keyBytes).update(input).digest();
      // The forgery is a perfectly good HMAC: a verifier that took alg from the message would accept it.
      assert.equal(ALG_SPECS.HS256.verify(createSecretKey(keyBytes), input, tag), true);
      const forged: RawEnvelope = { payload, signatures: [{ header: hb, sig: tag }] };
      for (const env of [encodeCompact(forged), encodeObject(forged)]) {
        for (const consumer of [ed, edPublic]) {
          const e = rejects(consumer, env, { ctx: 'payments', now: T }, 'ERR_ALG_MISMATCH');
          assert.match(e.message, /HS256/, what);
        }
      }
    }
  });

  test('any other claimed algorithm than the key\'s own is rejected', () => {
    const es = Keyring.generate('ES256', { kid: 'es-1' });
    const env = seal(es, 'x', { ctx: 'q', now: T });
    const [h, p, s] = env.slice('sealq1.'.length).split('.') as [string, string, string];
    for (const alg of ['EdDSA', 'PS256', 'HS256', 'HS512']) {
      const hb = b64(Buffer.from(Buffer.from(h, 'base64url').toString().replace('"alg":"ES256"', `"alg":"${alg}"`)));
      rejects(es.toPublic(), `sealq1.${hb}.${p}.${s}`, { ctx: 'q', now: T }, 'ERR_ALG_MISMATCH');
    }
  });
});

describe('ERR_SIGNATURE_INVALID', () => {
  for (const [name, kr] of [['HS256', hs], ['EdDSA', ed]] as const) {
    const verifier = name === 'HS256' ? kr : kr.toPublic();

    test(`${name}: payload tampered`, () => {
      const env = seal(kr, '{"amount":10}', { ctx: 'q', now: T });
      const [h, , s] = env.slice('sealq1.'.length).split('.');
      rejects(verifier, `sealq1.${h}.${b64('{"amount":99}')}.${s}`, { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
      const obj = toObject(env);
      rejects(verifier, { ...obj, payload: '{"amount":99}' }, { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
      rejects(verifier, { ...obj, payload: '{"amount":10} ' }, { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
      // The same text as bytes instead of text is the same payload: not a tampering.
      const { payload: _text, ...rest } = obj;
      assert.equal(open(verifier, { ...rest, payload64: b64('{"amount":10}') }, { ctx: 'q', now: T }).payload.toString(), '{"amount":10}');
    });

    test(`${name}: header tampered (moved to another queue, re-dated, re-serialised)`, () => {
      const env = seal(kr, 'x', { ctx: 'q', typ: 'a', now: T, expiresIn: '1m' });
      const [h, p, s] = env.slice('sealq1.'.length).split('.') as [string, string, string];
      const text = Buffer.from(h, 'base64url').toString();
      const edits = [
        text.replace('"ctx":"q"', '"ctx":"r"'),
        text.replace('"typ":"a"', '"typ":"b"'),
        text.replace(`"exp":${T + MIN}`, `"exp":${T + 100 * HOUR}`),
        JSON.stringify(JSON.parse(text), null, 1), // the same JSON value, other bytes
        text.replace(/}$/, ' }'),
      ];
      for (const edited of edits) {
        assert.notEqual(edited, text);
        const wantCtx = (JSON.parse(edited) as { ctx: string }).ctx;
        rejects(verifier, `sealq1.${b64(edited)}.${p}.${s}`, { ctx: wantCtx, now: T }, 'ERR_SIGNATURE_INVALID');
      }
    });

    test(`${name}: another key with the same kid`, () => {
      const env = seal(kr, 'x', { ctx: 'q', now: T });
      const impostor = Keyring.generate(name, { kid: kr.primary!.kid });
      rejects(name === 'HS256' ? impostor : impostor.toPublic(), env, { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
      // ...and the other way round: the impostor's message does not open with the real keyring.
      rejects(verifier, seal(impostor, 'x', { ctx: 'q', now: T }), { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
    });

    test(`${name}: signature swapped, truncated or extended`, () => {
      const a = seal(kr, 'x', { ctx: 'q', now: T, id: 'a' });
      const b = seal(kr, 'x', { ctx: 'q', now: T, id: 'b' });
      const [ha, pa] = a.slice('sealq1.'.length).split('.');
      const sb = b.slice(b.lastIndexOf('.') + 1);
      rejects(verifier, `sealq1.${ha}.${pa}.${sb}`, { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
      const sa = Buffer.from(a.slice(a.lastIndexOf('.') + 1), 'base64url');
      for (const sig of [sa.subarray(0, sa.length - 1), Buffer.concat([sa, Buffer.from([0])]), Buffer.alloc(sa.length)]) {
        rejects(verifier, `sealq1.${ha}.${pa}.${b64(sig)}`, { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
      }
    });
  }
});

describe('ERR_KEY_INACTIVE', () => {
  const env = seal(ed, 'x', { ctx: 'q', now: T });
  const key = ed.primary!.toPublic();

  test('disabled and revoked keys verify nothing', () => {
    for (const status of ['disabled', 'revoked'] as const) {
      const e = rejects(new Keyring([key.with({ status })]), env, { ctx: 'q', now: T }, 'ERR_KEY_INACTIVE');
      assert.match(e.message, new RegExp(status));
    }
    // A verify-only (active) key still verifies.
    assert.equal(open(new Keyring([key.with({ status: 'active' })]), env, { ctx: 'q', now: T }).payload.toString(), 'x');
  });

  test('key notBefore / notAfter against the signed iat (bounds inclusive)', () => {
    const check = (window: { notBefore?: number; notAfter?: number }, ok: boolean): void => {
      const kr = new Keyring([key.with(window)]);
      if (ok) assert.equal(open(kr, env, { ctx: 'q', now: T }).header.iat, T);
      else rejects(kr, env, { ctx: 'q', now: T }, 'ERR_KEY_INACTIVE');
    };
    check({ notBefore: T + 1 }, false);
    check({ notBefore: T }, true);
    check({ notAfter: T - 1 }, false);
    check({ notAfter: T }, true);
    check({ notBefore: T - HOUR, notAfter: T + HOUR }, true);
    // It is the message's iat that counts, not the consumer's clock.
    const kr = new Keyring([key.with({ notAfter: T })]);
    assert.ok(open(kr, env, { ctx: 'q', now: T + HOUR }));
  });
});

describe('ERR_KEY_NOT_PERMITTED', () => {
  test('a consumer-side policy `billing.*` refuses other contexts', () => {
    const producer = Keyring.generate('EdDSA', { kid: 'pol-1' });
    const consumer = new Keyring([producer.primary!.toPublic().with({ status: 'active', policy: { ctx: ['billing.*'] } })]);
    assert.ok(open(consumer, seal(producer, 'x', { ctx: 'billing.invoices', now: T }), { ctx: 'billing.invoices', now: T }));
    for (const ctx of ['orders', 'billing', 'billingX.invoices', 'xbilling.invoices']) {
      rejects(consumer, seal(producer, 'x', { ctx, now: T }), { ctx, now: T }, 'ERR_KEY_NOT_PERMITTED');
    }
  });

  test('a typ policy: other types, and a message without a type, are refused', () => {
    const producer = Keyring.generate('HS256', { kid: 'pol-2' });
    const consumer = new Keyring([producer.primary!.with({ policy: { typ: ['charge'] } })]);
    assert.ok(open(consumer, seal(producer, 'x', { ctx: 'q', typ: 'charge', now: T }), { ctx: 'q', now: T }));
    rejects(consumer, seal(producer, 'x', { ctx: 'q', typ: 'refund', now: T }), { ctx: 'q', now: T }, 'ERR_KEY_NOT_PERMITTED');
    rejects(consumer, seal(producer, 'x', { ctx: 'q', now: T }), { ctx: 'q', now: T }, 'ERR_KEY_NOT_PERMITTED');
  });

  test('seal refuses to sign outside its own key policy', () => {
    const kr = new Keyring([generateKey('HS256', { kid: 'pol-3', status: 'primary', policy: { ctx: ['billing.*'] } })]);
    assert.throws(() => seal(kr, 'x', { ctx: 'orders' }), { code: 'ERR_KEY_NOT_PERMITTED' });
    assert.ok(seal(kr, 'x', { ctx: 'billing.x' }));
  });
});

describe('ERR_CONTEXT_MISMATCH and ERR_TYPE_MISMATCH', () => {
  const env = seal(hs, 'x', { ctx: 'emails', typ: 'welcome', now: T });

  test('context', () => {
    const e = rejects(hs, env, { ctx: 'sms', now: T }, 'ERR_CONTEXT_MISMATCH');
    assert.match(e.message, /emails/);
    rejects(hs, env, { ctx: ['sms', 'push'], now: T }, 'ERR_CONTEXT_MISMATCH');
    rejects(hs, env, { ctx: 'Emails', now: T }, 'ERR_CONTEXT_MISMATCH');
    assert.ok(open(hs, env, { ctx: ['sms', 'emails'], now: T }));
  });

  test('type', () => {
    rejects(hs, env, { ctx: 'emails', typ: 'reset', now: T }, 'ERR_TYPE_MISMATCH');
    rejects(hs, env, { ctx: 'emails', typ: ['reset', 'digest'], now: T }, 'ERR_TYPE_MISMATCH');
    assert.ok(open(hs, env, { ctx: 'emails', typ: ['reset', 'welcome'], now: T }));
    assert.ok(open(hs, env, { ctx: 'emails', now: T }), 'no typ option accepts any type');
    const untyped = seal(hs, 'x', { ctx: 'emails', now: T });
    rejects(hs, untyped, { ctx: 'emails', typ: 'welcome', now: T }, 'ERR_TYPE_MISMATCH');
  });
});

describe('ERR_EXPIRED', () => {
  test('expiresIn / expiresAt: exp is the first instant no longer valid (clock skew added)', () => {
    for (const env of [seal(hs, 'x', { ctx: 'q', now: T, expiresIn: '5m' }), seal(hs, 'x', { ctx: 'q', now: T, expiresAt: new Date(T + 5 * MIN) })]) {
      assert.ok(open(hs, env, { ctx: 'q', now: T + 5 * MIN - 1, clockSkew: 0 }));
      rejects(hs, env, { ctx: 'q', now: T + 5 * MIN, clockSkew: 0 }, 'ERR_EXPIRED');
      assert.ok(open(hs, env, { ctx: 'q', now: T + 6 * MIN - 1 }), 'the default skew is 60s');
      rejects(hs, env, { ctx: 'q', now: T + 6 * MIN }, 'ERR_EXPIRED');
    }
  });

  test('without exp: iat plus maxAge (default 24h)', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T });
    assert.ok(open(hs, env, { ctx: 'q', now: T + 24 * HOUR - 1, clockSkew: 0 }));
    rejects(hs, env, { ctx: 'q', now: T + 24 * HOUR, clockSkew: 0 }, 'ERR_EXPIRED');
    assert.ok(open(hs, env, { ctx: 'q', now: T + HOUR - 1, clockSkew: 0, maxAge: '1h' }));
    rejects(hs, env, { ctx: 'q', now: T + HOUR, clockSkew: 0, maxAge: '1h' }, 'ERR_EXPIRED');
    rejects(hs, env, { ctx: 'q', now: T + HOUR, clockSkew: '0s', maxAge: HOUR }, 'ERR_EXPIRED');
  });

  test('a signed exp wins over the consumer maxAge', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T, expiresIn: '7d' });
    assert.ok(open(hs, env, { ctx: 'q', now: T + 3 * 24 * HOUR, maxAge: '1h' }));
  });
});

describe('ERR_NOT_YET_VALID', () => {
  test('nbf (delayed job)', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T, notBefore: T + HOUR });
    rejects(hs, env, { ctx: 'q', now: T }, 'ERR_NOT_YET_VALID');
    rejects(hs, env, { ctx: 'q', now: T + HOUR - 1, clockSkew: 0 }, 'ERR_NOT_YET_VALID');
    assert.ok(open(hs, env, { ctx: 'q', now: T + HOUR, clockSkew: 0 }));
    assert.ok(open(hs, env, { ctx: 'q', now: T + HOUR - MIN }), 'within the default skew');
  });

  test('iat in the future beyond the clock skew', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T + 2 * MIN });
    rejects(hs, env, { ctx: 'q', now: T }, 'ERR_NOT_YET_VALID');
    assert.ok(open(hs, env, { ctx: 'q', now: T + MIN }), 'exactly at the edge of the 60s skew');
    assert.ok(open(hs, env, { ctx: 'q', now: T, clockSkew: '2m' }));
    rejects(hs, env, { ctx: 'q', now: T + MIN, clockSkew: 0 }, 'ERR_NOT_YET_VALID');
  });
});

describe('multiple signatures (rotation, migration between algorithms)', () => {
  const a = Keyring.generate('HS256', { kid: 'old-hs' });
  const b = Keyring.generate('EdDSA', { kid: 'new-ed' });
  const payload = 'migrating';
  const sa = raw(seal(a, payload, { ctx: 'q', now: T, id: 'same-id' }));
  const sb = raw(seal(b, payload, { ctx: 'q', now: T, id: 'same-id' }));
  const both: RawEnvelope = { payload: sa.payload, signatures: [sa.signatures[0]!, sb.signatures[0]!] };

  test('a consumer that knows only the second kid opens it (compact and object)', () => {
    for (const env of [encodeCompact(both), encodeObject(both)]) {
      const m = open(b.toPublic(), env, { ctx: 'q', now: T });
      assert.equal(m.payload.toString(), payload);
      assert.equal(m.header.kid, 'new-ed');
      assert.equal(open(a, env, { ctx: 'q', now: T }).header.kid, 'old-hs');
    }
  });

  test('a broken first signature does not stop a valid second one; all broken is rejected', () => {
    const bad = (s: RawEnvelope['signatures'][number]): RawEnvelope['signatures'][number] => ({ header: s.header, sig: Buffer.alloc(s.sig.length) });
    const firstBad: RawEnvelope = { payload: both.payload, signatures: [bad(both.signatures[0]!), both.signatures[1]!] };
    const union = new Keyring([...a.keys(), ...b.toPublic().keys().map((k) => k.with({ status: 'active' }))]);
    assert.equal(open(union, encodeCompact(firstBad), { ctx: 'q', now: T }).header.kid, 'new-ed');
    rejects(a, encodeCompact(firstBad), { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
    const allBad: RawEnvelope = { payload: both.payload, signatures: both.signatures.map(bad) };
    rejects(union, encodeCompact(allBad), { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
  });

  test('a consumer that knows neither kid: ERR_KEY_UNKNOWN naming both', () => {
    const e = rejects(Keyring.generate('HS256', { kid: 'other' }), encodeCompact(both), { ctx: 'q', now: T }, 'ERR_KEY_UNKNOWN');
    assert.match(e.message, /old-hs/);
    assert.match(e.message, /new-ed/);
  });

  test('a payload swapped under both signatures is rejected', () => {
    const swapped: RawEnvelope = { payload: Buffer.from('other'), signatures: both.signatures };
    rejects(b.toPublic(), encodeCompact(swapped), { ctx: 'q', now: T }, 'ERR_SIGNATURE_INVALID');
  });
});

describe('seal option validation: ERR_INVALID_ARGUMENT', () => {
  const bad: Array<[string, () => unknown]> = [
    ['no options', () => seal(hs, 'x', undefined as unknown as { ctx: string })],
    ['empty ctx', () => seal(hs, 'x', { ctx: '' })],
    ['ctx too long', () => seal(hs, 'x', { ctx: 'q'.repeat(257) })],
    ['ctx not a string', () => seal(hs, 'x', { ctx: 7 as unknown as string })],
    ['id with a space', () => seal(hs, 'x', { ctx: 'q', id: 'a b' })],
    ['empty id', () => seal(hs, 'x', { ctx: 'q', id: '' })],
    ['id too long', () => seal(hs, 'x', { ctx: 'q', id: 'i'.repeat(129) })],
    ['non-ASCII id', () => seal(hs, 'x', { ctx: 'q', id: 'idé' })],
    ['empty typ', () => seal(hs, 'x', { ctx: 'q', typ: '' })],
    ['expiresAt and expiresIn together', () => seal(hs, 'x', { ctx: 'q', expiresAt: T + HOUR, expiresIn: '5m' })],
    ['bad expiresIn', () => seal(hs, 'x', { ctx: 'q', expiresIn: '5 minutes' })],
    ['negative expiresIn', () => seal(hs, 'x', { ctx: 'q', expiresIn: -1 })],
    ['exp not after nbf', () => seal(hs, 'x', { ctx: 'q', now: T, notBefore: T + HOUR, expiresAt: T + HOUR })],
    ['negative now', () => seal(hs, 'x', { ctx: 'q', now: -1 })],
    ['fractional now', () => seal(hs, 'x', { ctx: 'q', now: 1.5 })],
    ['invalid Date', () => seal(hs, 'x', { ctx: 'q', expiresAt: new Date(Number.NaN) })],
    ['lone high surrogate', () => seal(hs, 'ok \ud800', { ctx: 'q' })],
    ['lone low surrogate', () => sealObject(hs, '\udc00 ok', { ctx: 'q' })],
    ['payload not a string or bytes', () => seal(hs, 42 as unknown as string, { ctx: 'q' })],
    ['payload over maxPayloadBytes', () => seal(hs, 'abcdef', { ctx: 'q', maxPayloadBytes: 5 })],
  ];
  for (const [what, fn] of bad) {
    test(what, () => {
      assert.throws(fn, (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'ERR_INVALID_ARGUMENT', String(e));
        assert.equal((e as { rejection?: boolean }).rejection, false);
        return true;
      });
    });
  }

  test('a well-formed astral string is fine (only lone surrogates are refused)', () => {
    const env = seal(hs, '🔐 ok', { ctx: 'q', now: T });
    assert.equal(open(hs, env, { ctx: 'q', now: T }).payload.toString('utf8'), '🔐 ok');
  });

  test('open option errors are usage errors, not rejections', () => {
    const env = seal(hs, 'x', { ctx: 'q', now: T });
    for (const o of [{}, { ctx: '' }, { ctx: [] }, { ctx: 'q', typ: '' }, { ctx: 'q', maxAge: 'forever' }, { ctx: 'q', clockSkew: -5 }]) {
      assert.throws(() => open(hs, env, { now: T, ...o } as OpenOptions), { code: 'ERR_INVALID_ARGUMENT', rejection: false });
    }
  });
});

describe('what opens', () => {
  test('the header and payload come back exactly as sealed', () => {
    const env = seal(ed, Buffer.from([0, 255, 1]), { ctx: 'q', typ: 't', ct: 'application/octet-stream', id: 'job-7', now: T, notBefore: T - 1, expiresIn: '1h' });
    const m = open(edPublic, env, { ctx: 'q', typ: 't', now: T });
    assert.deepEqual([...m.payload], [0, 255, 1]);
    assert.deepEqual({ ...m.header }, { kid: 'ed-1', alg: 'EdDSA', id: 'job-7', iat: T, nbf: T - 1, exp: T + HOUR, ctx: 'q', typ: 't', ct: 'application/octet-stream' });
    assert.equal(m.validUntil, T + HOUR + MIN);
  });

  test('random ids are 128 bits and distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => open(hs, seal(hs, 'x', { ctx: 'q', now: T }), { ctx: 'q', now: T }).header.id));
    assert.equal(ids.size, 1000);
    for (const id of ids) assert.equal(Buffer.from(id, 'base64url').length, 16);
  });
});
