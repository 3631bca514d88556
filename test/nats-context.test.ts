// The NATS ctx (`nats:<subject>`), subject matching and the term-reason version check of sealq/nats, no broker needed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { natsContext, parseNatsContext, subjectMatches, termTakesReason } from '../src/adapters/nats/index.js';

describe('natsContext', () => {
  test('is the subject, reversible', () => {
    assert.equal(natsContext('orders.created'), 'nats:orders.created');
    assert.equal(parseNatsContext(natsContext('a.b-c_d.é')), 'a.b-c_d.é');
    for (const ctx of ['orders', 'nats:', 'amqp:/x']) assert.equal(parseNatsContext(ctx), undefined, ctx);
  });

  test('refuses what is not a concrete subject: wildcards, empty tokens, whitespace', () => {
    for (const s of ['', 'a.*', 'a.>', '>', 'a..b', '.a', 'a.', 'a b', 'a\tb', 'x'.repeat(1025)]) {
      assert.throws(() => natsContext(s), { code: 'ERR_INVALID_ARGUMENT' }, JSON.stringify(s));
    }
    assert.throws(() => natsContext(undefined as unknown as string), { code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('subjectMatches', () => {
  test('* is one token, a final > one or more', () => {
    const yes: Array<[string, string]> = [['a.b', 'a.b'], ['a.*', 'a.b'], ['*.b', 'a.b'], ['a.>', 'a.b'], ['a.>', 'a.b.c'], ['>', 'a'], ['a.*.c', 'a.b.c']];
    const no: Array<[string, string]> = [['a.b', 'a.c'], ['a.*', 'a'], ['a.*', 'a.b.c'], ['a.>', 'a'], ['a.b', 'a.b.c'], ['a.b.c', 'a.b'], ['*', 'a.b']];
    for (const [p, s] of yes) assert.ok(subjectMatches(p, s), `${p} ~ ${s}`);
    for (const [p, s] of no) assert.ok(!subjectMatches(p, s), `${p} !~ ${s}`);
  });
});

describe('termTakesReason', () => {
  test('only servers 2.11 and later take a reason on term', () => {
    for (const v of ['2.11.0', '2.12.3', '3.0.0', 'v2.11.1']) assert.ok(termTakesReason(v), v);
    for (const v of ['2.9.10', '2.10.24', '1.4.1', '', undefined, 'dev']) assert.ok(!termTakesReason(v), String(v));
  });
});
