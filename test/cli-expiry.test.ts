// The expiry ceiling on the command line (issue 7): `--expires-in 99999d` and `--expires-in 0s`
// are refused before stdin is read, --max-validity raises the ceiling on both sides, and a
// completion the replay store could not record has its own exit code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompletionNotRecordedError } from '../src/index.js';
import { EXIT_NOT_RECORDED, report } from '../src/cli/report.js';
import type { Io } from '../src/cli/command.js';

const BIN = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sealq-cli-expiry-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SEALQ_KEYRING')) as Record<string, string>;
const sealq = (args: string[], input = ''): { code: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const keyring = join(dir, 'keyring.json');
assert.equal(sealq(['keygen', '--alg', 'HS256', '--out', keyring]).code, 0);

test('--expires-in 99999d is refused, naming the ceiling and how to raise it', () => {
  const r = sealq(['seal', '--keyring', keyring, '--ctx', 'q', '--expires-in', '99999d'], 'x');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ERR_INVALID_ARGUMENT: .*maxValidity \(30d\)/);
  assert.equal(r.stdout, '');
});

test('--expires-in 0s is refused: the message would be dead when sealed', () => {
  const r = sealq(['seal', '--keyring', keyring, '--ctx', 'q', '--expires-in', '0s'], 'x');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /longer than 0/);
});

test('--max-validity raises the ceiling; a consumer must raise it too', () => {
  const sealed = sealq(['seal', '--keyring', keyring, '--ctx', 'q', '--expires-in', '90d', '--max-validity', '90d'], 'hello');
  assert.equal(sealed.code, 0, sealed.stderr);
  const refused = sealq(['open', '--keyring', keyring, '--ctx', 'q'], sealed.stdout);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^ERR_VALIDITY_TOO_LONG: /);
  const opened = sealq(['open', '--keyring', keyring, '--ctx', 'q', '--max-validity', '90d'], sealed.stdout);
  assert.equal(opened.code, 0, opened.stderr);
  assert.equal(opened.stdout, 'hello');
});

test('a completion the store could not record exits 3, not 1 (rejected) or 2 (usage)', () => {
  let err = '';
  const io = { stderr: { write: (s: string) => { err += s; return true; } }, env: {} } as unknown as Io;
  assert.equal(report(new CompletionNotRecordedError('the payload was written, but...'), io, 'open'), EXIT_NOT_RECORDED);
  assert.equal(EXIT_NOT_RECORDED, 3);
  assert.match(err, /^ERR_COMPLETION_NOT_RECORDED: /);
});
