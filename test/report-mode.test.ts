/**
 * Report-only rollout: with mode 'report' a message that would be rejected is processed anyway,
 * marked wouldReject, and audited with the code it would have got; enforce (the default) rejects.
 * The mode can be set per ctx (the one the consumer serves, never the claimed one) and per typ.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InFlightError, Keyring, MemoryReplayStore, modeFor, onAudit, open, openAndClaim, openAsync, openOnce, seal, sealDetached, sealObject } from '../src/index.js';
import type { AuditRecord, ModeOption } from '../src/index.js';
import { runDemo } from '../src/cli/demo/scenario.js';

const ring = Keyring.generate('HS256', { kid: 'own' });
const forger = Keyring.generate('HS256', { kid: 'forger' });

describe('modeFor: the most specific rule wins', () => {
  const rules: ModeOption = {
    default: 'report',
    typ: { refund: 'enforce' },
    ctx: { payments: 'enforce', emails: { default: 'report', typ: { reset: 'enforce' } }, audit: { typ: { ping: 'report' } } },
  };
  const cases: Array<[string | undefined, string | undefined, string]> = [
    ['payments', 'charge', 'enforce'], // ctx as a mode
    ['emails', 'welcome', 'report'], // ctx default
    ['emails', 'reset', 'enforce'], // ctx typ
    ['emails', 'refund', 'report'], // the ctx default beats a global typ rule
    ['audit', 'ping', 'report'],
    ['audit', 'refund', 'enforce'], // no ctx default: the global typ rule
    ['audit', 'other', 'report'], // then the global default
    ['orders', 'refund', 'enforce'],
    ['orders', undefined, 'report'],
  ];
  for (const [ctx, typ, want] of cases) test(`${ctx} / ${typ}: ${want}`, () => assert.equal(modeFor(rules, ctx, typ), want));

  test('no mode, or rules without a default, enforce', () => {
    assert.equal(modeFor(undefined, 'q', 't'), 'enforce');
    assert.equal(modeFor({ ctx: { a: 'report' } }, 'b', undefined), 'enforce');
  });

  test('a ctx or typ named like an Object.prototype member finds nothing there', () => {
    assert.equal(modeFor({ default: 'enforce' }, 'constructor', '__proto__'), 'enforce');
    assert.equal(modeFor({ default: 'enforce', ctx: {} }, 'toString', 'hasOwnProperty'), 'enforce');
  });

  test('open refuses malformed modes with ERR_INVALID_ARGUMENT', () => {
    const m = seal(ring, 'x', { ctx: 'q' });
    for (const bad of ['reprot', { default: 'off' }, { ctx: { q: 'nope' } }, { ctx: { q: { typ: { t: 1 } } } }, { ctx: { q: { other: 'report' } } }, { modes: {} }, []]) {
      assert.throws(() => open(ring, m, { ctx: 'q', mode: bad as ModeOption }), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(bad));
    }
  });
});

describe('open in report mode', () => {
  test('a failing message of every carrier is returned as it came, marked wouldReject; nothing about it is verified', () => {
    const opts = { ctx: 'orders', mode: 'report' } as const;
    const compact = open(ring, seal(forger, 'forged', { ctx: 'orders', id: 'f1' }), opts);
    assert.equal(compact.wouldReject?.code, 'ERR_KEY_UNKNOWN');
    assert.equal(compact.payload.toString(), 'forged');
    assert.equal(compact.header.kid, 'forger', 'the header as claimed');
    assert.equal(compact.validUntil, 0);
    const obj = open(ring, sealObject(ring, 'moved', { ctx: 'emails' }), opts);
    assert.equal(obj.wouldReject?.code, 'ERR_CONTEXT_MISMATCH');
    assert.equal(obj.payload.toString(), 'moved');
    const det = sealDetached(ring, 'tampered', { ctx: 'orders' });
    const tampered = open(ring, { seal: det.seal, payload: Buffer.from('TAMPERED') }, opts);
    assert.equal(tampered.wouldReject?.code, 'ERR_SIGNATURE_INVALID');
    assert.equal(tampered.payload.toString(), 'TAMPERED');
    const unsigned = open(ring, { seal: undefined as unknown as string, payload: Buffer.from('plain body') }, opts);
    assert.equal(unsigned.wouldReject?.code, 'ERR_MALFORMED');
    assert.equal(unsigned.payload.toString(), 'plain body');
    assert.deepEqual({ ...unsigned.header }, { kid: '', alg: '', id: '', iat: 0, ctx: '' }, 'no header: every field empty');
    const text = open(ring, '{"plain":"job"}', opts);
    assert.equal(text.payload.toString(), '{"plain":"job"}');
    const plainObject = open(ring, { to: 'dave' } as never, opts);
    assert.equal(plainObject.payload.toString(), '{"to":"dave"}', 'an object that is no envelope: its JSON text');
  });

  test('a message that verifies is not marked; enforce (the default) still throws', async () => {
    const good = open(ring, seal(ring, 'ok', { ctx: 'orders' }), { ctx: 'orders', mode: 'report' });
    assert.equal(good.wouldReject, undefined);
    assert.throws(() => open(ring, seal(forger, 'x', { ctx: 'orders' }), { ctx: 'orders' }), { code: 'ERR_KEY_UNKNOWN' });
    assert.throws(() => open(ring, seal(forger, 'x', { ctx: 'orders' }), { ctx: 'orders', mode: 'enforce' }), { code: 'ERR_KEY_UNKNOWN' });
    const a = await openAsync(ring, seal(forger, 'x', { ctx: 'orders' }), { ctx: 'orders', mode: 'report' });
    assert.equal(a.wouldReject?.code, 'ERR_KEY_UNKNOWN');
  });

  test("the mode is the consumer's ctx's: a forged message claiming a report-mode ctx is still rejected on an enforcing one", () => {
    const mode: ModeOption = { ctx: { sandbox: 'report' } };
    const claimingSandbox = seal(forger, 'x', { ctx: 'sandbox' });
    assert.throws(() => open(ring, claimingSandbox, { ctx: 'payments', mode }), { code: 'ERR_KEY_UNKNOWN' });
    assert.equal(open(ring, claimingSandbox, { ctx: 'sandbox', mode }).wouldReject?.code, 'ERR_KEY_UNKNOWN');
    // Several ctx values: the claimed one counts only when it is one of them.
    assert.throws(() => open(ring, seal(forger, 'x', { ctx: 'sandbox' }), { ctx: ['payments', 'refunds'], mode }), { code: 'ERR_KEY_UNKNOWN' });
    assert.equal(open(ring, seal(forger, 'x', { ctx: 'sandbox' }), { ctx: ['payments', 'sandbox'], mode }).wouldReject?.code, 'ERR_KEY_UNKNOWN');
  });

  test('per typ: one message type enforced while the rest of the queue reports', () => {
    const mode: ModeOption = { default: 'report', typ: { refund: 'enforce' } };
    assert.throws(() => open(ring, seal(forger, 'x', { ctx: 'q', typ: 'refund' }), { ctx: 'q', typ: 'refund', mode }), { code: 'ERR_KEY_UNKNOWN' });
    assert.equal(open(ring, seal(forger, 'x', { ctx: 'q', typ: 'charge' }), { ctx: 'q', typ: 'charge', mode }).wouldReject?.code, 'ERR_KEY_UNKNOWN');
  });

  test('audited with the code it would have got and mode report', () => {
    const events: AuditRecord[] = [];
    const stop = onAudit((e) => events.push(e), { now: () => 1 });
    try {
      open(ring, seal(forger, 'x', { ctx: 'q', id: 'm1' }), { ctx: 'q', mode: 'report' });
      assert.throws(() => open(ring, seal(forger, 'x', { ctx: 'q', id: 'm2' }), { ctx: 'q' }));
    } finally {
      stop();
    }
    const opens = events.filter((e) => e.op === 'open');
    assert.deepEqual(opens.map((e) => [e.id, e.outcome, e.code, e.mode]), [['m1', 'rejected', 'ERR_KEY_UNKNOWN', 'report'], ['m2', 'rejected', 'ERR_KEY_UNKNOWN', undefined]]);
  });
});

describe('openAndClaim in report mode', () => {
  test('a replay is let through without touching the store; enforce rejects it', async () => {
    const store = new MemoryReplayStore();
    const env = seal(ring, 'job', { ctx: 'q' });
    await openOnce(ring, env, { ctx: 'q', replay: store }, () => undefined);
    await assert.rejects(openAndClaim(ring, env, { ctx: 'q', replay: store }), { code: 'ERR_REPLAYED' });
    const again = await openAndClaim(ring, env, { ctx: 'q', replay: store, mode: 'report' });
    assert.equal(again.wouldReject?.code, 'ERR_REPLAYED');
    await again.complete();
    await again.release();
    assert.equal(await again.extend(), true);
    await assert.rejects(openAndClaim(ring, env, { ctx: 'q', replay: store }), { code: 'ERR_REPLAYED' }, 'still completed');
  });

  test('a forged message is let through without a claim (its id is not trusted)', async () => {
    const store = new MemoryReplayStore();
    const forged = seal(forger, 'x', { ctx: 'q', id: 'victim-id' });
    const m = await openAndClaim(ring, forged, { ctx: 'q', replay: store, mode: 'report' });
    assert.equal(m.wouldReject?.code, 'ERR_KEY_UNKNOWN');
    await m.complete();
    const legit = seal(ring, 'y', { ctx: 'q', id: 'victim-id' });
    const claimed = await openAndClaim(ring, legit, { ctx: 'q', replay: store });
    assert.equal(claimed.wouldReject, undefined, 'the forged message did not take the legitimate id');
    await claimed.complete();
  });

  test('an unreachable store is let through in report mode; a message in flight elsewhere is still retried', async () => {
    const broken = { claim: async () => { throw new Error('ECONNREFUSED'); }, complete: async () => true, release: async () => true, extend: async () => true } as unknown as MemoryReplayStore;
    const env = seal(ring, 'job', { ctx: 'q' });
    await assert.rejects(openAndClaim(ring, env, { ctx: 'q', replay: broken }), { code: 'ERR_REPLAY_STORE_UNAVAILABLE' });
    const m = await openAndClaim(ring, env, { ctx: 'q', replay: broken, mode: 'report' });
    assert.equal(m.wouldReject?.code, 'ERR_REPLAY_STORE_UNAVAILABLE');
    const store = new MemoryReplayStore();
    const held = await openAndClaim(ring, env, { ctx: 'q', replay: store, mode: 'report' });
    await assert.rejects(openAndClaim(ring, env, { ctx: 'q', replay: store, mode: 'report' }), (e: unknown) => e instanceof InFlightError);
    await held.complete();
  });

  test('openOnce hands wouldReject to the handler', async () => {
    const seen: unknown[] = [];
    await openOnce(ring, seal(forger, 'x', { ctx: 'q' }), { ctx: 'q', replay: new MemoryReplayStore(), mode: 'report' }, (msg) => void seen.push(msg.wouldReject?.code));
    assert.deepEqual(seen, ['ERR_KEY_UNKNOWN']);
  });
});

describe('the demo in both modes', () => {
  test('report mode: every attack processed once and reported with its code; legitimate messages as before', async () => {
    const r = await runDemo({ mode: 'report' });
    assert.equal(r.mode, 'report');
    assert.ok(r.rows.every((row) => row.ok), JSON.stringify(r.rows.filter((row) => !row.ok)));
    const attacks = r.rows.filter((row) => row.step.expect.kind === 'rejected');
    assert.equal(attacks.length, 10);
    for (const row of attacks) {
      assert.equal(row.did, 'processed (report mode)', row.step.label);
      assert.equal(row.why, `would reject: ${(row.step.expect as { code: string }).code}`, row.step.label);
    }
    assert.equal(r.deadLetters, 0);
    assert.ok(r.charged.some((c) => c.startsWith('mallory')), 'the forged charge ran: report mode does not protect');
  });

  test('enforce mode: every attack rejected with its code, none processed', async () => {
    const r = await runDemo();
    const attacks = r.rows.filter((row) => row.step.expect.kind === 'rejected');
    for (const row of attacks) {
      assert.equal(row.did, 'rejected', row.step.label);
      assert.equal(row.why, (row.step.expect as { code: string }).code);
    }
    assert.equal(r.deadLetters, 10);
    assert.ok(!r.charged.some((c) => c.startsWith('mallory')));
  });
});
