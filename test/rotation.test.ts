/**
 * Rotation lifecycle: add -> publish -> promote -> retire -> remove, revocation, the waiting
 * times that protect messages in flight, per-key policy, and what open() does at each step.
 * Time is injected (`now`) everywhere: nothing here waits on a real clock.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Keyring,
  RotationRefusedError,
  addKey,
  exportPrivateJwk,
  generateKey,
  isRetired,
  open,
  promoteKey,
  removeKey,
  retireKey,
  revokeKey,
  rotationState,
  seal,
} from '../src/index.js';
import type { Alg, RotationOptions } from '../src/index.js';

const T0 = 1_800_000_000_000;
const MIN = 60_000;
const HOUR = 60 * MIN;
// Short waiting times so the arithmetic is easy to follow: publish 10 min, messages valid 30 min, skew 1 min.
const GRACE: RotationOptions = { publishDelay: '10m', maxMessageValidity: '30m', clockSkew: '1m' };
const GRACE_MS = 31 * MIN;
const at = (now: number, extra: RotationOptions = {}): RotationOptions => ({ ...GRACE, ...extra, now });

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped ${String(e)}`;
  }
  return 'ok';
}

function refused(fn: () => unknown, forceable: boolean, pattern?: RegExp): RotationRefusedError {
  let err: unknown;
  assert.throws(fn, (e: unknown) => {
    err = e;
    return e instanceof RotationRefusedError;
  });
  const r = err as RotationRefusedError;
  assert.equal(r.code, 'ERR_ROTATION_REFUSED');
  assert.equal(r.forceable, forceable, r.message);
  if (pattern !== undefined) assert.match(r.message, pattern);
  return r;
}

/** A keyring with one primary key "k1", as `sealq keygen` makes it, at T0 - 1 day. */
function start(alg: Alg = 'EdDSA'): Keyring {
  return addKey(new Keyring([]), alg, { kid: 'k1', primary: true, now: T0 - 24 * HOUR });
}

const opts = (now: number) => ({ ctx: 'jobs', now, maxAge: '30m', clockSkew: '1m' });

describe('the full lifecycle', () => {
  for (const alg of ['EdDSA', 'HS256', 'ES256'] as const) {
    test(`${alg}: add -> promote -> retire -> remove keeps every legitimate message opening`, () => {
      let ring = start(alg);
      // Messages signed by the old key before anything happens.
      const m0 = seal(ring, 'before', { ctx: 'jobs', now: T0 });

      // 1. add: verify-only, stamped.
      ring = addKey(ring, alg, { kid: 'k2', ...at(T0) });
      assert.equal(ring.get('k2')!.status, 'active');
      assert.equal(ring.get('k2')!.lifecycle!.addedAt, T0);
      assert.equal(ring.primary!.kid, 'k1', 'adding does not change who signs');
      // 2. publish: consumers get this keyring (here: the same object; the public copy for asymmetric keys).
      const consumers = () => (alg === 'HS256' ? ring : ring.toPublic());

      // 3. promote, after the publish delay.
      const tP = T0 + 10 * MIN;
      ring = promoteKey(ring, 'k2', at(tP));
      assert.equal(ring.primary!.kid, 'k2');
      assert.equal(ring.get('k1')!.status, 'active', 'the old primary stays verify-only');
      assert.equal(ring.get('k1')!.lifecycle!.demotedAt, tP);
      assert.equal(ring.get('k2')!.lifecycle!.promotedAt, tP);
      const m1 = seal(ring, 'after promote', { ctx: 'jobs', now: tP + 1 });
      assert.equal(open(consumers(), m1, opts(tP + 2)).payload.toString(), 'after promote');
      assert.equal(open(consumers(), m0, opts(tP + 2)).payload.toString(), 'before', 'old-key messages still open');

      // A producer that has not reloaded yet still signs with k1 just before retirement.
      const oldProducer = new Keyring([ring.get('k1')!.with({ status: 'primary' })]);
      const tR = tP + GRACE_MS;
      const lastOld = seal(oldProducer, 'last old', { ctx: 'jobs', now: tR - 1 });

      // 4. retire, after the grace period.
      ring = retireKey(ring, 'k1', at(tR));
      assert.equal(ring.get('k1')!.notAfter, tR);
      assert.ok(isRetired(ring.get('k1')!, tR));
      // Issued before retirement: still opens until it expires.
      assert.equal(open(consumers(), lastOld, opts(tR + 5 * MIN)).payload.toString(), 'last old');
      // Issued after retirement by the old key: rejected.
      const late = seal(oldProducer, 'too late', { ctx: 'jobs', now: tR + 1 });
      assert.equal(code(() => open(consumers(), late, opts(tR + 2))), 'ERR_KEY_INACTIVE');
      // The new key goes on.
      assert.equal(open(consumers(), seal(ring, 'new', { ctx: 'jobs', now: tR + 3 }), opts(tR + 4)).payload.toString(), 'new');

      // 5. remove, after the grace period since retirement.
      refused(() => removeKey(ring, 'k1', at(tR + GRACE_MS - 1)), true, /grace period/);
      ring = removeKey(ring, 'k1', at(tR + GRACE_MS));
      assert.equal(ring.get('k1'), undefined);
      assert.equal(code(() => open(consumers(), late, opts(tR + GRACE_MS))), 'ERR_KEY_UNKNOWN');
      assert.deepEqual(ring.keys().map((k) => k.kid), ['k2']);
    });
  }

  test('the lifecycle stamps survive a JWKS round trip (private and public)', () => {
    let ring = start();
    ring = addKey(ring, 'EdDSA', { kid: 'k2', ...at(T0) });
    ring = promoteKey(ring, 'k2', at(T0 + HOUR));
    ring = retireKey(ring, 'k1', at(T0 + 2 * HOUR));
    const jwks = ring.toPrivateJwks();
    const k1 = jwks.keys.find((k) => k.kid === 'k1')!;
    assert.equal(k1.added_at, new Date(T0 - 24 * HOUR).toISOString());
    assert.equal(k1.promoted_at, new Date(T0 - 24 * HOUR).toISOString());
    assert.equal(k1.demoted_at, new Date(T0 + HOUR).toISOString());
    assert.equal(k1.retired_at, new Date(T0 + 2 * HOUR).toISOString());
    assert.equal(k1.not_after, new Date(T0 + 2 * HOUR).toISOString());
    for (const copy of [Keyring.fromJwks(JSON.stringify(jwks)), Keyring.fromJwks(ring.toPublicJwks())]) {
      assert.deepEqual(copy.get('k1')!.lifecycle, ring.get('k1')!.lifecycle);
      assert.deepEqual(copy.get('k2')!.lifecycle, ring.get('k2')!.lifecycle);
      assert.equal(copy.get('k1')!.notAfter, T0 + 2 * HOUR);
    }
  });

  test('each step returns a new keyring and leaves the input unchanged', () => {
    const ring = start();
    const added = addKey(ring, 'EdDSA', { kid: 'k2', ...at(T0) });
    assert.equal(ring.size, 1);
    const promoted = promoteKey(added, 'k2', at(T0 + HOUR));
    assert.equal(added.primary!.kid, 'k1');
    retireKey(promoted, 'k1', at(T0 + 2 * HOUR));
    assert.equal(promoted.get('k1')!.notAfter, undefined);
  });
});

describe('refusals that protect messages in flight', () => {
  test('promote before the publish delay is refused, with the time it becomes allowed; force overrides', () => {
    const ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    const r = refused(() => promoteKey(ring, 'k2', at(T0 + 10 * MIN - 1)), true, /publish delay/);
    assert.equal(r.allowedAt, T0 + 10 * MIN);
    assert.match(r.message, /k2/);
    assert.equal(promoteKey(ring, 'k2', at(T0 + 1, { force: true })).primary!.kid, 'k2');
  });

  test('the default publish delay is one hour', () => {
    const ring = addKey(start(), 'EdDSA', { kid: 'k2', now: T0 });
    refused(() => promoteKey(ring, 'k2', { now: T0 + HOUR - 1 }), true);
    assert.equal(promoteKey(ring, 'k2', { now: T0 + HOUR }).primary!.kid, 'k2');
  });

  test('retire within the grace period after demotion is refused; force overrides', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    ring = promoteKey(ring, 'k2', at(T0 + HOUR));
    const r = refused(() => retireKey(ring, 'k1', at(T0 + HOUR + GRACE_MS - 1)), true, /grace period/);
    assert.equal(r.allowedAt, T0 + HOUR + GRACE_MS);
    assert.equal(retireKey(ring, 'k1', at(T0 + HOUR + 1, { force: true })).get('k1')!.notAfter, T0 + HOUR + 1);
  });

  test('the default grace period is 24h + 60s (open()\'s default maxAge and clock skew)', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', now: T0 });
    ring = promoteKey(ring, 'k2', { now: T0 + HOUR });
    refused(() => retireKey(ring, 'k1', { now: T0 + HOUR + 24 * HOUR + MIN - 1 }), true);
    retireKey(ring, 'k1', { now: T0 + HOUR + 24 * HOUR + MIN });
  });

  test('removing an active key that signed messages requires retiring it first', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    ring = promoteKey(ring, 'k2', at(T0 + HOUR));
    refused(() => removeKey(ring, 'k1', at(T0 + 100 * HOUR)), true, /retire it first/);
    assert.equal(removeKey(ring, 'k1', at(T0 + 100 * HOUR, { force: true })).get('k1'), undefined);
  });

  test('a key that was added but never promoted can be removed at once (nothing was signed with it)', () => {
    const ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    assert.equal(removeKey(ring, 'k2', at(T0 + 1)).get('k2'), undefined);
  });

  test('revoked and disabled keys can be removed at once', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    ring = addKey(ring, 'EdDSA', { kid: 'k3', ...at(T0) });
    ring = promoteKey(ring, 'k2', at(T0 + HOUR));
    ring = revokeKey(ring, 'k1', at(T0 + HOUR + 1));
    ring = ring.with(ring.get('k3')!.with({ status: 'disabled' }));
    ring = removeKey(ring, 'k1', at(T0 + HOUR + 2));
    ring = removeKey(ring, 'k3', at(T0 + HOUR + 2));
    assert.deepEqual(ring.keys().map((k) => k.kid), ['k2']);
  });

  test('refusals state waiting times as durations (1h, 1d + 1m), not milliseconds', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', now: T0 });
    const early = refused(() => promoteKey(ring, 'k2', { now: T0 + 1 }), true, /publish delay \(1h\)/);
    assert.doesNotMatch(early.message, /\d ms\b/);
    ring = promoteKey(ring, 'k2', { now: T0 + HOUR });
    refused(() => retireKey(ring, 'k1', { now: T0 + HOUR + 1 }), true, /grace period \(max message validity \+ clock skew, 1d \+ 1m\)/);
    refused(() => retireKey(ring, 'k1', { now: T0 + HOUR + 1, maxMessageValidity: '90m', clockSkew: 1500 }), true, /90m \+ 1500ms/);
    ring = retireKey(ring, 'k1', { now: T0 + 30 * HOUR });
    const r = refused(() => removeKey(ring, 'k1', { now: T0 + 30 * HOUR + 1, maxMessageValidity: '2d', clockSkew: '30s' }), true, /grace period \(2d \+ 30s\)/);
    assert.doesNotMatch(r.message, /\d ms\b/);
  });

  test('the only key of a keyring cannot be removed: the file would hold an empty keyring no loader accepts', () => {
    const verifier = Keyring.fromJwks(start().toPublicJwks()).toPublic();
    const only = new Keyring([verifier.get('k1')!.with({ status: 'disabled' })]);
    refused(() => removeKey(only, 'k1', at(T0)), false, /at least one key/);
    refused(() => removeKey(only, 'k1', at(T0, { force: true })), false, /at least one key/);
  });

  test('a key imported without lifecycle stamps (pre-rotation keyring) is not blocked by unknown times', () => {
    const k1 = generateKey('EdDSA', { kid: 'k1', status: 'primary' });
    let ring = new Keyring([k1, generateKey('EdDSA', { kid: 'k2' })]);
    ring = promoteKey(ring, 'k2', at(T0));
    // k1 has a demotedAt now, so its retirement waits for the grace period.
    refused(() => retireKey(ring, 'k1', at(T0 + 1)), true);
  });
});

describe('the primary key is protected, forced or not', () => {
  const ring = start();
  for (const [name, fn] of [
    ['retire', retireKey],
    ['revoke', revokeKey],
    ['remove', removeKey],
  ] as const) {
    test(`${name} of the primary is refused even with force`, () => {
      refused(() => fn(ring, 'k1', at(T0, { force: true })), false, /primary/);
    });
  }
  test('adding a second primary is refused', () => {
    refused(() => addKey(ring, 'EdDSA', { kid: 'k2', primary: true, now: T0 }), false, /already has primary/);
  });
});

describe('other refusals and typed errors', () => {
  test('unknown kid, duplicate kid, promoting a revoked or retired key, double retire/revoke', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    assert.equal(code(() => promoteKey(ring, 'nope', at(T0))), 'ERR_INVALID_ARGUMENT');
    assert.equal(code(() => addKey(ring, 'EdDSA', { kid: 'k2', ...at(T0) })), 'ERR_INVALID_ARGUMENT');
    assert.equal(code(() => promoteKey(ring, 'k1', at(T0))), 'ERR_ROTATION_REFUSED');
    ring = addKey(ring, 'EdDSA', { kid: 'k3', ...at(T0) });
    const revoked = revokeKey(ring, 'k3', at(T0));
    refused(() => promoteKey(revoked, 'k3', at(T0 + HOUR, { force: true })), false, /revoked/);
    refused(() => revokeKey(revoked, 'k3', at(T0 + HOUR)), false, /already revoked/);
    refused(() => retireKey(revoked, 'k3', at(T0 + HOUR)), false, /revoked/);
    const retired = retireKey(ring, 'k2', at(T0 + 1));
    refused(() => promoteKey(retired, 'k2', at(T0 + HOUR, { force: true })), false, /retired/);
    refused(() => retireKey(retired, 'k2', at(T0 + HOUR)), false, /already retired/);
  });

  test('a key with a future not_before cannot be promoted before it', () => {
    const ring = addKey(start(), 'EdDSA', { kid: 'k2', notBefore: T0 + 5 * HOUR, ...at(T0) });
    refused(() => promoteKey(ring, 'k2', at(T0 + HOUR)), true, /not valid before/);
    promoteKey(ring, 'k2', at(T0 + 5 * HOUR));
  });

  test('adding an existing SealKey keeps its material and kid', () => {
    const key = generateKey('ES256', { kid: 'mine' });
    const ring = addKey(start(), key, at(T0));
    assert.equal(ring.get('mine')!.status, 'active');
    assert.deepEqual(exportPrivateJwk(ring.get('mine')!).d, exportPrivateJwk(key).d);
    assert.equal(code(() => addKey(start(), key, { kid: 'other', now: T0 })), 'ERR_INVALID_ARGUMENT');
  });
});

describe('revocation', () => {
  test('a revoked key rejects its messages with ERR_KEY_INACTIVE, even those issued before', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    const before = seal(ring, 'x', { ctx: 'jobs', now: T0 });
    assert.equal(open(ring, before, opts(T0 + 1)).payload.toString(), 'x');
    // Compromise of k1: promote k2 at once (forced), then revoke k1.
    ring = promoteKey(ring, 'k2', at(T0 + 1, { force: true }));
    ring = revokeKey(ring, 'k1', at(T0 + 2));
    assert.equal(ring.get('k1')!.status, 'revoked');
    assert.equal(ring.get('k1')!.lifecycle!.revokedAt, T0 + 2);
    assert.equal(code(() => open(ring, before, opts(T0 + 3))), 'ERR_KEY_INACTIVE');
    assert.equal(code(() => open(ring.toPublic(), before, opts(T0 + 3))), 'ERR_KEY_INACTIVE');
    // and the revocation survives publishing
    assert.equal(code(() => open(Keyring.fromJwks(ring.toPublicJwks()), before, opts(T0 + 3))), 'ERR_KEY_INACTIVE');
  });
});

describe('rotationState', () => {
  test('names each phase and the next step with its time', () => {
    let ring = addKey(start(), 'EdDSA', { kid: 'k2', ...at(T0) });
    const s0 = Object.fromEntries(rotationState(ring, at(T0)).map((s) => [s.kid, s]));
    assert.equal(s0.k1!.phase, 'primary');
    assert.equal(s0.k2!.phase, 'pending');
    assert.deepEqual(s0.k2!.next, { step: 'promote', allowedAt: T0 + 10 * MIN });
    ring = promoteKey(ring, 'k2', at(T0 + HOUR));
    const s1 = Object.fromEntries(rotationState(ring, at(T0 + HOUR)).map((s) => [s.kid, s]));
    assert.equal(s1.k1!.phase, 'previous');
    assert.deepEqual(s1.k1!.next, { step: 'retire', allowedAt: T0 + HOUR + GRACE_MS });
    ring = retireKey(ring, 'k1', at(T0 + 2 * HOUR));
    assert.equal(rotationState(ring, at(T0 + 2 * HOUR)).find((s) => s.kid === 'k1')!.phase, 'retired');
    assert.equal(rotationState(ring, at(T0 + 2 * HOUR + GRACE_MS)).find((s) => s.kid === 'k1')!.phase, 'removable');
    ring = addKey(ring, 'EdDSA', { kid: 'k3', ...at(T0) });
    ring = revokeKey(ring, 'k3', at(T0 + 3 * HOUR));
    assert.equal(rotationState(ring, at(T0 + 3 * HOUR)).find((s) => s.kid === 'k3')!.phase, 'revoked');
  });
});

describe('per-key policy: the billing service\'s key may enqueue only billing.* jobs', () => {
  function billing(): Keyring {
    return addKey(new Keyring([]), 'EdDSA', { kid: 'billing-1', primary: true, policy: { ctx: ['billing.*'], typ: ['*'] }, now: T0 });
  }

  test('seal for a billing.* context works and opens', () => {
    const ring = billing();
    const m = seal(ring, '{"invoice":1}', { ctx: 'billing.invoices', typ: 'send', now: T0 });
    assert.equal(open(ring.toPublic(), m, { ctx: 'billing.invoices', now: T0 + 1 }).header.kid, 'billing-1');
  });

  test('seal for another context is refused (ERR_KEY_NOT_PERMITTED)', () => {
    assert.equal(code(() => seal(billing(), 'x', { ctx: 'payroll.run', now: T0 })), 'ERR_KEY_NOT_PERMITTED');
    assert.equal(code(() => seal(billing(), 'x', { ctx: 'billing', now: T0 })), 'ERR_KEY_NOT_PERMITTED', 'billing.* needs the dot');
  });

  test('a forged message for another context, really signed by the billing key, is rejected on open', () => {
    const ring = billing();
    // The forger holds the billing key's private half but strips its policy to get past seal()'s own check.
    const jwk = exportPrivateJwk(ring.get('billing-1')!);
    delete jwk.policy;
    const stolen = Keyring.fromJwks({ keys: [jwk] });
    const forged = seal(stolen, 'pay me', { ctx: 'payroll.run', typ: 'pay', now: T0 });
    // The consumer's keyring carries the policy: the signature is valid but the key may not sign payroll.
    assert.equal(code(() => open(ring.toPublic(), forged, { ctx: 'payroll.run', now: T0 + 1 })), 'ERR_KEY_NOT_PERMITTED');
    assert.equal(code(() => open(Keyring.fromJwks(ring.toPublicJwks()), forged, { ctx: 'payroll.run', now: T0 + 1 })), 'ERR_KEY_NOT_PERMITTED');
  });

  test('the policy survives rotation: a promoted key keeps its own policy', () => {
    let ring = billing();
    ring = addKey(ring, 'EdDSA', { kid: 'billing-2', policy: { ctx: ['billing.*'] }, ...at(T0) });
    ring = promoteKey(ring, 'billing-2', at(T0 + HOUR));
    assert.deepEqual(ring.primary!.policy, { ctx: ['billing.*'] });
    assert.equal(code(() => seal(ring, 'x', { ctx: 'payroll.run', now: T0 + HOUR })), 'ERR_KEY_NOT_PERMITTED');
  });
});
