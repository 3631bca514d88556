/**
 * Audit: onAudit delivers a structured event for every seal, open and rejection (never payload
 * or key material), and KeyUsage counts per kid what an operator checks before retiring a key.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { channel } from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { KeyUsage, Keyring, OTHER_KID, addKey, onAudit, open, promoteKey, seal } from '../src/index.js';
import type { AuditRecord } from '../src/index.js';

const PAYLOAD = 'top-secret-payload-4f1c';

/** Collects events while fn runs, then unsubscribes. */
function collect(fn: () => void, options: Parameters<typeof onAudit>[1] = {}): AuditRecord[] {
  const events: AuditRecord[] = [];
  const stop = onAudit((e) => events.push(e), options);
  try {
    fn();
  } finally {
    stop();
  }
  return events;
}

const rejecting = (fn: () => unknown): void => {
  try {
    fn();
  } catch {
    /* expected */
  }
};

describe('onAudit', () => {
  const ring = Keyring.generate('HS256', { kid: 'audit-k1' });
  const secretK = String(ring.toPrivateJwks().keys[0]!.k);

  test('seal, open and rejections each deliver one structured event', () => {
    const events = collect(() => {
      const m = seal(ring, PAYLOAD, { ctx: 'billing', typ: 'invoice', id: 'msg-1' });
      open(ring, m, { ctx: 'billing' });
      rejecting(() => open(ring, m, { ctx: 'payroll' }));
      rejecting(() => open(ring, m.slice(0, -3) + 'AAA', { ctx: 'billing' }));
      rejecting(() => open(ring, 'garbage', { ctx: 'billing' }));
    }, { now: () => 42 });
    assert.deepEqual(events, [
      { op: 'seal', outcome: 'ok', kid: 'audit-k1', ctx: 'billing', typ: 'invoice', id: 'msg-1', at: 42 },
      { op: 'open', outcome: 'ok', kid: 'audit-k1', ctx: 'billing', typ: 'invoice', id: 'msg-1', at: 42 },
      { op: 'open', outcome: 'rejected', code: 'ERR_CONTEXT_MISMATCH', kid: 'audit-k1', ctx: 'billing', typ: 'invoice', id: 'msg-1', at: 42 },
      { op: 'open', outcome: 'rejected', code: 'ERR_SIGNATURE_INVALID', kid: 'audit-k1', ctx: 'billing', typ: 'invoice', id: 'msg-1', at: 42 },
      { op: 'open', outcome: 'rejected', code: 'ERR_MALFORMED', at: 42 },
    ]);
  });

  test('events never carry the payload or key material', () => {
    const events = collect(() => {
      const m = seal(ring, PAYLOAD, { ctx: 'q' });
      open(ring, m, { ctx: 'q' });
      rejecting(() => open(ring, m, { ctx: 'other' }));
    });
    const text = JSON.stringify(events) + inspect(events, { depth: 10 });
    assert.ok(!text.includes(PAYLOAD));
    assert.ok(!text.includes(secretK));
    for (const e of events) {
      assert.deepEqual(Object.keys(e).filter((k) => !['op', 'outcome', 'kid', 'ctx', 'typ', 'id', 'code', 'at'].includes(k)), []);
    }
  });

  test('only known fields are passed on, whatever a publisher put in the channel', () => {
    const events = collect(() => {
      channel('sealq:open').publish({ op: 'open', outcome: 'ok', kid: 'x', payload: PAYLOAD, key: secretK, ctx: 'c'.repeat(1000) });
      channel('sealq:open').publish('not an event');
      channel('sealq:open').publish({ op: 'delete', outcome: 'ok' });
    });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kid, 'x');
    assert.ok(events[0]!.ctx!.length < 300, 'long fields are cut');
    assert.ok(!JSON.stringify(events).includes(PAYLOAD) && !JSON.stringify(events).includes(secretK));
  });

  test('ops filter, unsubscribe, and a throwing callback never breaks seal/open', () => {
    const onlySeal = collect(() => open(ring, seal(ring, 'x', { ctx: 'q' }), { ctx: 'q' }), { ops: ['seal'] });
    assert.deepEqual(onlySeal.map((e) => e.op), ['seal']);

    const errors: unknown[] = [];
    const stop = onAudit(() => {
      throw new Error('logger down');
    }, { onError: (e) => errors.push(e) });
    try {
      const m = seal(ring, 'x', { ctx: 'q' });
      assert.equal(open(ring, m, { ctx: 'q' }).payload.toString(), 'x');
    } finally {
      stop();
    }
    assert.equal(errors.length, 2);

    let after = 0;
    const stop2 = onAudit(() => after++);
    stop2();
    stop2(); // idempotent
    seal(ring, 'x', { ctx: 'q' });
    assert.equal(after, 0);
  });
});

describe('KeyUsage', () => {
  test('counts seals, opens and rejections per kid, with last-used times', () => {
    let clock = 1000;
    const usage = new KeyUsage({ now: () => clock }).start();
    try {
      let ring = Keyring.generate('EdDSA', { kid: 'old' });
      const m1 = seal(ring, 'a', { ctx: 'q' });
      clock = 2000;
      open(ring, m1, { ctx: 'q' });
      ring = promoteKey(addKey(ring, 'EdDSA', { kid: 'new' }), 'new', { force: true });
      clock = 3000;
      const m2 = seal(ring, 'b', { ctx: 'q' });
      open(ring, m2, { ctx: 'q' });
      open(ring, m2, { ctx: 'q' });
      clock = 4000;
      rejecting(() => open(ring, m1, { ctx: 'wrong' }));
      assert.deepEqual(usage.get('old'), { kid: 'old', seals: 1, opens: 1, rejections: 1, lastUsed: 2000, lastRejected: 4000 });
      assert.deepEqual(usage.get('new'), { kid: 'new', seals: 1, opens: 2, rejections: 0, lastUsed: 3000 });
      assert.deepEqual(usage.all().map((s) => s.kid), ['new', 'old'], 'most recently used first');
      const snapshot = JSON.parse(JSON.stringify(usage));
      assert.deepEqual(KeyUsage.fromJSON(snapshot).all(), usage.all());
    } finally {
      usage.stop();
    }
    // stopped: no more counting
    const ring = Keyring.generate('EdDSA', { kid: 'later' });
    seal(ring, 'x', { ctx: 'q' });
    assert.equal(usage.get('later'), undefined);
  });

  test('attacker-chosen kids cannot grow the counters without bound', () => {
    const usage = new KeyUsage({ maxKids: 3 });
    for (let i = 0; i < 100; i++) usage.record({ op: 'open', outcome: 'rejected', code: 'ERR_KEY_UNKNOWN', kid: `forged-${i}` });
    usage.record({ op: 'open', outcome: 'rejected', code: 'ERR_MALFORMED' });
    const all = usage.all();
    assert.equal(all.length, 4, 'three kids and the (other) bucket');
    assert.equal(usage.get(OTHER_KID)!.rejections, 98);
  });

  test('fromJSON validates its input', () => {
    assert.throws(() => KeyUsage.fromJSON({}), (e: unknown) => (e as { code?: string }).code === 'ERR_INVALID_ARGUMENT');
    const u = KeyUsage.fromJSON({ keys: [{ kid: 'a', seals: 2, opens: -1, rejections: 'x' }, { nope: 1 }] });
    assert.deepEqual(u.all(), [{ kid: 'a', seals: 2, opens: 0, rejections: 0 }]);
  });
});
