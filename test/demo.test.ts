// `sealq demo`, run as a user runs it: the BUILT bin in a child process (`npm run build` first).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderDemo, style } from '../src/cli/demo/table.js';
import type { DemoResult } from '../src/cli/demo/scenario.js';

const BIN = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

// Each attack's row starts with its name; it must show the code it was rejected with.
const ATTACKS: Array<[string, string]> = [
  ['unsigned', 'ERR_MALFORMED'],
  ['payload tampered', 'ERR_SIGNATURE_INVALID'],
  ['header tampered', 'ERR_SIGNATURE_INVALID'],
  ['forged', 'ERR_KEY_UNKNOWN'],
  ['replayed', 'ERR_REPLAYED'],
  ['expired', 'ERR_EXPIRED'],
  ['early', 'ERR_NOT_YET_VALID'],
  ['wrong queue', 'ERR_CONTEXT_MISMATCH'],
  ['wrong type', 'ERR_TYPE_MISMATCH'],
  ['algorithm confusion', 'ERR_ALG_MISMATCH'],
];

test('sealq demo: every attack rejected with its code, legitimate messages processed once, exit 0', () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
  const r = spawnSync(process.execPath, [BIN, 'demo'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.stderr, '');
  const rows = r.stdout.split('\n');
  for (const [attack, code] of ATTACKS) {
    const row = rows.find((l) => new RegExp(`^\\s+\\d+\\s+${attack}`).test(l));
    assert.ok(row !== undefined, `no row for "${attack}" in:\n${r.stdout}`);
    assert.match(row, new RegExp(`\\brejected\\s+${code}\\b`), `row for ${attack}: ${row}`);
  }
  const legit = rows.filter((l) => /^\s+\d+\s+charge /.test(l));
  assert.equal(legit.length, 2, r.stdout);
  assert.match(legit[0]!, /\bprocessed\b/);
  assert.match(legit[1]!, /\bretried, then processed\b/);
  assert.doesNotMatch(r.stdout, /FAIL/);
  assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colours when stdout is not a terminal');
  assert.match(r.stdout, /^ok: 10 attacks rejected/m);
});

test('a row that goes wrong is marked FAIL and named in the verdict', () => {
  const ok = { label: 'charge alice 10.00', expect: { kind: 'processed', runs: 1 }, body: '' } as const;
  const bad = { label: 'payload tampered: x', expect: { kind: 'rejected', code: 'ERR_SIGNATURE_INVALID' }, body: '' } as const;
  const result: DemoResult = {
    rows: [
      { step: ok, did: 'processed', why: 'verified, claimed, completed', ok: true },
      { step: bad, did: 'processed', why: 'verified, claimed, completed', ok: false, problem: 'expected rejected with ERR_SIGNATURE_INVALID; the processor ran 1 time(s)' },
    ],
    deadLetters: 0,
    charged: [],
    kid: 'k',
  };
  const out = renderDemo(result, style(false));
  assert.match(out, /payload tampered: x .*<- FAIL: expected rejected with ERR_SIGNATURE_INVALID/);
  assert.match(out, /^FAIL row 2 \(payload tampered: x\)/m);
  assert.doesNotMatch(out, /^ok:/m);
});
