/**
 * Key policies: `*` patterns match in linear time whatever the ctx an attacker sends, and a
 * policy that is misspelt or empty is refused when the key is loaded instead of being ignored.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keyring, exportPrivateJwk, generateKey, importJwk, open, seal } from '../src/index.js';
import { matchPattern } from '../src/keys/policy.js';

const T = 1_700_000_000_000;

/** The pattern language as a regular expression: a reference for small inputs only (it backtracks). */
function reference(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^]*')}$`);
  return re.test(name);
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'ok';
}

describe('policy patterns match in linear time', () => {
  test('a hostile pattern against a long ctx is decided (it took minutes with a backtracking regex)', () => {
    const pattern = `${'*a'.repeat(25)}*b`;
    const long = 'a'.repeat(100_000);
    assert.equal(matchPattern(pattern, long), false);
    assert.equal(matchPattern(pattern, `${long}b`), true);

    const ctx = 'a'.repeat(255); // the longest ctx a header may carry is 256 code units

    // The same through open(): a consumer holding the key with that policy refuses the message.
    const producer = Keyring.generate('HS256', { kid: 'hostile' });
    const consumer = new Keyring([producer.primary!.with({ policy: { ctx: [pattern] } })]);
    const env = seal(producer, 'x', { ctx, now: T });
    assert.equal(code(() => open(consumer, env, { ctx, now: T })), 'ERR_KEY_NOT_PERMITTED');
    const allowed = `${ctx}b`;
    assert.equal(open(consumer, seal(producer, 'x', { ctx: allowed, now: T }), { ctx: allowed, now: T }).payload.toString(), 'x');
  });

  test('semantics: * is any sequence of UTF-16 code units, every other unit matches itself', () => {
    const cases: Array<[string, string, boolean]> = [
      ['billing.*', 'billing.invoices', true],
      ['billing.*', 'billing.', true],
      ['billing.*', 'billing', false],
      ['billing.*', 'xbilling.a', false],
      ['*.jobs', 'a.b.jobs', true],
      ['a*a', 'a', false], // prefix and suffix may not overlap
      ['a*a', 'aa', true],
      ['*', '', true],
      ['**', 'x', true],
      ['a**b', 'ab', true],
      ['a*b*c', 'abcbc', true],
      ['a*b*c', 'acb', false],
      ['.*', 'x', false], // `.` is literal
      ['?', 'x', false],
      ['[ab]', 'a', false],
      ['a*', 'a\n', true], // * crosses line breaks
      ['\ud83d*', '\ud83d\ude00', true], // code units, not code points
      ['*\ude00', '\ud83d\ude00', true],
      ['é*', 'e\u0301', false], // no Unicode normalisation
    ];
    for (const [p, n, want] of cases) assert.equal(matchPattern(p, n), want, `${JSON.stringify(p)} ~ ${JSON.stringify(n)}`);
  });

  test('agrees with the regular-expression reading on random small inputs', () => {
    const unit = fc.constantFrom('a', 'b', '.', '*');
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 8 }), fc.array(fc.constantFrom('a', 'b', '.'), { maxLength: 12 }), (p, n) => {
        const pattern = p.join('');
        const name = n.join('');
        assert.equal(matchPattern(pattern, name), reference(pattern, name), `${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`);
      }),
      { numRuns: 3000 },
    );
  });
});
describe('a policy is exact: misspelt members and empty lists are refused', () => {
  const j = exportPrivateJwk(generateKey('HS256', { kid: 'p' }));

  test('an unknown policy member is ERR_INVALID_KEY (a typo would otherwise allow everything)', () => {
    for (const policy of [{ ctxs: ['billing.*'] }, { CTX: ['billing.*'] }, { ctx: ['billing.*'], type: ['charge'] }, { Typ: ['x'] }]) {
      assert.throws(() => importJwk({ ...j, policy }), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'ERR_INVALID_KEY');
        assert.match((e as Error).message, /policy/);
        return true;
      }, JSON.stringify(policy));
      assert.equal(code(() => Keyring.fromJwks({ keys: [{ ...j, policy }] })), 'ERR_INVALID_KEYRING');
    }
  });

  test('an empty list is ERR_INVALID_KEY (it would silently deny everything)', () => {
    for (const policy of [{ ctx: [] }, { typ: [] }, { ctx: ['a'], typ: [] }]) {
      assert.throws(() => importJwk({ ...j, policy }), { code: 'ERR_INVALID_KEY', message: /empty/ }, JSON.stringify(policy));
    }
    assert.throws(() => generateKey('HS256', { kid: 'g', policy: { ctx: [] } }), { code: 'ERR_INVALID_KEY' });
    assert.throws(() => generateKey('HS256', { kid: 'g', policy: { ctxs: ['a'] } as never }), { code: 'ERR_INVALID_KEY' });
  });

  test('valid policies still load, and {} is the same as no policy', () => {
    assert.deepEqual(importJwk({ ...j, policy: { ctx: ['a', 'b.*'], typ: ['*'] } }).policy, { ctx: ['a', 'b.*'], typ: ['*'] });
    assert.deepEqual(importJwk({ ...j, policy: {} }).policy, {});
  });

  test('the loaded policy is a frozen copy: changing the document afterwards changes nothing', () => {
    const policy = { ctx: ['billing.*'] };
    const key = importJwk({ ...j, status: 'primary', policy });
    policy.ctx.push('*');
    assert.deepEqual(key.policy, { ctx: ['billing.*'] });
    assert.ok(Object.isFrozen(key.policy) && Object.isFrozen(key.policy!.ctx));
    assert.equal(code(() => seal(new Keyring([key]), 'x', { ctx: 'orders' })), 'ERR_KEY_NOT_PERMITTED');
  });
});
