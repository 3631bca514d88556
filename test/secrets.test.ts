/**
 * Keys stay secret (DESIGN promise 7): for every algorithm, no secret member of a key (k, d, p,
 * q, dp, dq, qi), in any common textual form, appears in what a program might log: JSON.stringify
 * and util.inspect of keys and keyrings, the messages, stacks and inspected form of every error a
 * bad key, a bad envelope or a bad seal call produces, and the audit events on diagnostics_channel.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { generateKeyPairSync } from 'node:crypto';
import { format, inspect } from 'node:util';
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
  sealObject,
} from '../src/index.js';
import type { Alg, SealqJwk } from '../src/index.js';
import { encodeCompact } from '../src/envelope/carriers.js';
import { ALG_SPECS } from '../src/crypto/algorithms.js';

const SECRET_MEMBERS = ['k', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;

interface Needle {
  member: string;
  form: string;
  text: string;
  caseless: boolean;
}

/**
 * Every secret member as base64url, base64 (padded and not), hex (also as util.inspect prints a
 * Buffer: "1e 22 5c") and a decimal byte list (as a Uint8Array prints); each whole and as a leading
 * fragment, so a truncated dump is caught too.
 */
function needles(jwk: Record<string, unknown>): Needle[] {
  const out: Needle[] = [];
  for (const member of SECRET_MEMBERS) {
    const v = jwk[member];
    if (typeof v !== 'string') continue;
    const b = Buffer.from(v, 'base64url');
    assert.ok(b.length >= 16, `${member} is a real secret`);
    const forms: Array<[string, string, boolean]> = [
      ['base64url', b.toString('base64url'), false],
      ['base64', b.toString('base64'), false],
      ['base64 unpadded', b.toString('base64').replace(/=+$/, ''), false],
      ['hex', b.toString('hex'), true],
      ['spaced hex', [...b].map((x) => x.toString(16).padStart(2, '0')).join(' '), true],
      ['decimal list', [...b].join(', '), false],
    ];
    for (const [form, text, caseless] of forms) {
      out.push({ member, form, text, caseless });
      out.push({ member, form: `${form} fragment`, text: text.slice(0, form === 'decimal list' ? 28 : 16), caseless });
    }
  }
  return out;
}

function assertClean(text: string, secrets: readonly Needle[], where: string): void {
  const lower = text.toLowerCase();
  for (const n of secrets) {
    const hay = n.caseless ? lower : text;
    assert.ok(!hay.includes(n.caseless ? n.text.toLowerCase() : n.text), `${where} contains the secret ${n.member} (${n.form})`);
  }
}

/** Every way a program might print a value. */
function renderings(v: unknown): Array<[string, string]> {
  return [
    ['JSON.stringify', JSON.stringify(v) ?? 'undefined'],
    ['util.inspect(depth: Infinity, showHidden)', inspect(v, { depth: Infinity, showHidden: true })],
    ['util.inspect(customInspect: false)', inspect(v, { depth: Infinity, showHidden: true, customInspect: false, getters: true })],
    ['String()', String(v)],
    ['format(%o %O %j %s)', format('%o %O %j %s', v, v, v, v)],
  ];
}

/** Everything an error shows: message, stack, inspected form (with its cause chain) and JSON. */
function errorRenderings(e: unknown): Array<[string, string]> {
  const err = e as Error;
  return [['message', err.message], ['stack', err.stack ?? ''], ...renderings(e)];
}

function caught(fn: () => unknown, what: string): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail(`expected an error: ${what}`);
}

// RSA below 2048 bits is refused on import; its secret must not leak from that refusal either.
function smallRsaJwk(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'rsa-1024', alg: 'PS256' };
}

/** Broken variants of a valid private JWK: each must be refused without echoing its secrets. */
function badVariants(alg: Alg, jwk: SealqJwk): Array<[string, Record<string, unknown>]> {
  const v: Array<[string, Record<string, unknown>]> = [
    ['unknown alg', { ...jwk, alg: 'HS384' }],
    ['wrong kty', { ...jwk, kty: jwk.kty === 'oct' ? 'RSA' : 'oct' }],
    ['bad status', { ...jwk, status: 'super' }],
    ['bad not_before', { ...jwk, not_before: 'yesterday' }],
    ['bad kid', { ...jwk, kid: 'has space' }],
    ['use enc', { ...jwk, use: 'enc' }],
  ];
  if (alg === 'HS256' || alg === 'HS512') {
    const k = jwk.k as string;
    v.push(['secret too short', { ...jwk, k: Buffer.from(k, 'base64url').subarray(0, 16).toString('base64url') }]);
    v.push(['secret not base64url', { ...jwk, k: `${k}!` }]);
    v.push(['secret not a string', { ...jwk, k: [...Buffer.from(k, 'base64url')] }]);
  } else {
    v.push(['private key without public part', Object.fromEntries(Object.entries(jwk).filter(([m]) => m !== 'x' && m !== 'n'))]);
    v.push(['private scalar not a string', { ...jwk, d: [...Buffer.from(jwk.d as string, 'base64url')] }]);
    if (alg !== 'PS256') v.push(['wrong crv', { ...jwk, crv: alg === 'EdDSA' ? 'Ed448' : 'P-384' }]);
  }
  if (alg === 'ES256') {
    // A point not on the curve.
    const y = Buffer.from(jwk.y as string, 'base64url');
    y[31]! ^= 1;
    v.push(['bad EC point', { ...jwk, y: y.toString('base64url') }]);
  }
  if (alg === 'PS256') {
    v.push(['missing prime', Object.fromEntries(Object.entries(jwk).filter(([m]) => m !== 'q'))]);
    const n = Buffer.from(jwk.n as string, 'base64url');
    v.push(['public exponent not a string', { ...jwk, e: 65537 }]);
    v.push(['modulus of 1024 bits', { ...jwk, n: n.subarray(0, 128).toString('base64url') }]);
  }
  return v;
}

for (const alg of ALGS) {
  describe(`no secret leaks: ${alg}`, () => {
    const keyring = Keyring.generate(alg, { kid: `secret-${alg}` }).with(generateKey(alg, { kid: `second-${alg}` }));
    const jwks = keyring.toPrivateJwks();
    const secrets = jwks.keys.flatMap(needles);
    const primary = keyring.primary!;

    test('the secret needles are real (they are found in the private JWKS)', () => {
      assert.ok(secrets.length > 0);
      const text = JSON.stringify(jwks);
      assert.ok(secrets.filter((n) => n.form === 'base64url').every((n) => text.includes(n.text)));
    });

    test('keys and keyrings: JSON.stringify, util.inspect, String, format', () => {
      const things: Array<[string, unknown]> = [
        ['keyring', keyring],
        ['public keyring', keyring.toPublic()],
        ['key', primary],
        ['key.with()', primary.with({ status: 'disabled' })],
        ['key.toPublic()', primary.toPublic()],
        ['key.info()', primary.info()],
        ['keyring.keys()', keyring.keys()],
        ['{ keyring } nested', { config: { keyring, key: primary } }],
        ['imported key', importJwk(jwks.keys[0])],
      ];
      if (!ALG_SPECS[alg].symmetric) {
        things.push(['public JWKS', keyring.toPublicJwks()], ['public JWK', exportPublicJwk(primary)]);
      }
      for (const [what, v] of things) {
        for (const [how, text] of renderings(v)) assertClean(text, secrets, `${how} of ${what}`);
      }
    });

    test('the public JWKS has no private members', () => {
      if (ALG_SPECS[alg].symmetric) {
        assert.throws(() => keyring.toPublicJwks(), { code: 'ERR_INVALID_KEY' });
        return;
      }
      for (const k of keyring.toPublicJwks().keys) {
        for (const m of SECRET_MEMBERS) assert.equal(k[m], undefined, `public JWK has no ${m}`);
      }
    });

    test('errors from importing bad JWKs (importJwk and Keyring.fromJwks)', () => {
      const variants = [...badVariants(alg, exportPrivateJwk(primary))];
      const small = alg === 'PS256' ? smallRsaJwk() : undefined;
      if (small !== undefined) variants.push(['RSA-1024 key', small]);
      const allSecrets = small === undefined ? secrets : [...secrets, ...needles(small)];
      for (const [what, bad] of variants) {
        const e1 = caught(() => importJwk(bad), what);
        assert.equal((e1 as { code?: string }).code, 'ERR_INVALID_KEY', `${what}: ${String(e1)}`);
        for (const [how, text] of errorRenderings(e1)) assertClean(text, allSecrets, `${how} of the importJwk error for ${what}`);
        for (const doc of [{ keys: [bad] }, JSON.stringify({ keys: [bad] })]) {
          const e2 = caught(() => Keyring.fromJwks(doc), what);
          assert.equal((e2 as { code?: string }).code, 'ERR_INVALID_KEYRING', `${what}: ${String(e2)}`);
          for (const [how, text] of errorRenderings(e2)) assertClean(text, allSecrets, `${how} of the fromJwks error for ${what}`);
        }
      }
      // Invalid JSON that contains a secret must not be echoed back.
      const broken = JSON.stringify(jwks).slice(0, -2);
      const e3 = caught(() => Keyring.fromJwks(broken), 'invalid JSON');
      for (const [how, text] of errorRenderings(e3)) assertClean(text, secrets, `${how} of the invalid-JSON error`);
      // Private material where only public keys are accepted.
      const e4 = caught(() => Keyring.fromJwks(jwks, { allowPrivate: false }), 'allowPrivate: false');
      for (const [how, text] of errorRenderings(e4)) assertClean(text, secrets, `${how} of the allowPrivate error`);
    });

    test('errors from open() rejections', () => {
      const now = 1_700_000_000_000;
      const good = seal(keyring, 'hello', { ctx: 'q', typ: 'job', now, expiresIn: '1m' });
      const [, h, p, s] = /^sealq1\.([^.]+)\.([^.]*)\.([^.]+)$/.exec(good)!;
      const otherAlg: Alg = alg === 'HS256' ? 'EdDSA' : 'HS256';
      const forged = (): string => {
        // The algorithm-confusion forgery, keyed with the public half (or, for HMAC, a wrong alg).
        const hb = Buffer.from(JSON.stringify({ kid: primary.kid, alg: otherAlg, id: 'x', iat: now, ctx: 'q' }));
        return encodeCompact({ payload: Buffer.from('x'), signatures: [{ header: hb, sig: Buffer.alloc(otherAlg === 'HS256' ? 32 : 64, 1) }] });
      };
      const flip = Buffer.from(s!, 'base64url');
      flip[0]! ^= 1;
      const cases: Array<[string, () => unknown]> = [
        ['garbage', () => open(keyring, 'not an envelope', { ctx: 'q', now })],
        ['bad signature', () => open(keyring, `sealq1.${h}.${p}.${flip.toString('base64url')}`, { ctx: 'q', now })],
        ['tampered payload', () => open(keyring, `sealq1.${h}.${Buffer.from('hellO').toString('base64url')}.${s}`, { ctx: 'q', now })],
        ['wrong ctx', () => open(keyring, good, { ctx: 'other', now })],
        ['wrong typ', () => open(keyring, good, { ctx: 'q', typ: 'other', now })],
        ['expired', () => open(keyring, good, { ctx: 'q', now: now + 3_600_000 })],
        ['unknown kid', () => open(Keyring.generate(alg, { kid: 'someone-else' }), good, { ctx: 'q', now })],
        ['alg mismatch', () => open(keyring, forged(), { ctx: 'q', now })],
        ['key disabled', () => open(new Keyring([primary.with({ status: 'disabled' })]), good, { ctx: 'q', now })],
        ['bad options', () => open(keyring, good, { ctx: '' })],
      ];
      for (const [what, fn] of cases) {
        const e = caught(fn, what);
        assert.equal(typeof (e as { code?: unknown }).code, 'string', `${what}: ${String(e)}`);
        for (const [how, text] of errorRenderings(e)) assertClean(text, secrets, `${how} of the open error for ${what}`);
      }
    });

    test('errors from seal()', () => {
      const policyKeyring = new Keyring([primary.with({ policy: { ctx: ['billing.*'] } })]);
      const cases: Array<[string, () => unknown]> = [
        ['no ctx', () => seal(keyring, 'x', { ctx: '' })],
        ['bad id', () => seal(keyring, 'x', { ctx: 'q', id: 'has space' })],
        ['lone surrogate', () => seal(keyring, '\ud800', { ctx: 'q' })],
        ['expiresAt and expiresIn', () => seal(keyring, 'x', { ctx: 'q', expiresAt: 1, expiresIn: '1m' })],
        ['bad duration', () => sealObject(keyring, 'x', { ctx: 'q', expiresIn: 'soon' })],
        ['oversized', () => seal(keyring, Buffer.alloc(64), { ctx: 'q', maxPayloadBytes: 10 })],
        ['not permitted', () => seal(policyKeyring, 'x', { ctx: 'orders' })],
        ['no signing key', () => seal(keyring.toPublic().without(`second-${alg}`).with(ALG_SPECS[alg].symmetric ? primary.with({ status: 'active' }) : primary.toPublic()), 'x', { ctx: 'q' })],
        ['payload not bytes', () => seal(keyring, { secret: true } as unknown as string, { ctx: 'q' })],
      ];
      for (const [what, fn] of cases) {
        const e = caught(fn, what);
        assert.equal(typeof (e as { code?: unknown }).code, 'string', `${what}: ${String(e)}`);
        for (const [how, text] of errorRenderings(e)) assertClean(text, secrets, `${how} of the seal error for ${what}`);
      }
    });

    test('audit events on diagnostics_channel sealq:seal and sealq:open', () => {
      const events: unknown[] = [];
      const onEvent = (m: unknown): void => void events.push(m);
      subscribe('sealq:seal', onEvent);
      subscribe('sealq:open', onEvent);
      try {
        const now = 1_700_000_000_000;
        const env = seal(keyring, 'payload', { ctx: 'q', typ: 't', now });
        open(keyring, env, { ctx: 'q', now });
        for (const fn of [
          () => open(keyring, env, { ctx: 'elsewhere', now }),
          () => open(keyring, `${env.slice(0, -4)}AAAA`, { ctx: 'q', now }),
          () => open(keyring, 'sealq1.e30.e30.e30', { ctx: 'q', now }),
        ]) caught(fn, 'a rejected open');
      } finally {
        unsubscribe('sealq:seal', onEvent);
        unsubscribe('sealq:open', onEvent);
      }
      assert.ok(events.length >= 5, `events were published (${events.length})`);
      for (const [how, text] of renderings(events)) assertClean(text, secrets, `${how} of the audit events`);
    });
  });
}

test('a SealKey built directly prints no material either', () => {
  const key = generateKey('HS256', { kid: 'direct' });
  assert.ok(key instanceof SealKey);
  const secrets = needles(exportPrivateJwk(key));
  for (const [how, text] of renderings(key)) assertClean(text, secrets, how);
  // The detector works: the private JWK itself does contain it.
  assert.throws(() => assertClean(JSON.stringify(exportPrivateJwk(key)), secrets, 'private JWK'), /contains the secret k/);
});
