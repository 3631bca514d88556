/**
 * `sealq key ...` and `sealq keyring ...`, run in-process through the real dispatcher: a full
 * rotation on a keyring file (with its waiting times simulated by back-dating the lifecycle
 * stamps in the file), refusals, per-key policy from the command line, and encrypted backups.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runCli } from '../src/cli/run.js';
import { Keyring, KeyUsage, open, readKeyringFileSync, seal } from '../src/index.js';
import type { SealqJwk } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sealq-cli-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = (name = 'keys.json'): string => join(dir, `${++n}-${name}`);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function sealq(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Result> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks: { out: Buffer[]; err: Buffer[] } = { out: [], err: [] };
  out.on('data', (b: Buffer) => chunks.out.push(b));
  err.on('data', (b: Buffer) => chunks.err.push(b));
  const input = new PassThrough();
  input.end(stdin);
  const code = await runCli(args, { stdin: input, stdout: out, stderr: err, env });
  return { code, stdout: Buffer.concat(chunks.out).toString('utf8'), stderr: Buffer.concat(chunks.err).toString('utf8') };
}

function noStack(r: Result): void {
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+/, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
}
function ok(r: Result): Result {
  assert.equal(r.code, 0, `expected exit 0, got ${r.code}: ${r.stderr}`);
  noStack(r);
  return r;
}
function fails(r: Result, code: string | RegExp, exit = 2): Result {
  assert.equal(r.code, exit, `expected exit ${exit}, got ${r.code}: ${r.stderr}`);
  if (typeof code === 'string') assert.ok(r.stderr.startsWith(`${code}:`), `expected ${code}:, got ${r.stderr}`);
  else assert.match(r.stderr, code);
  noStack(r);
  return r;
}

const jwks = (file: string): { keys: SealqJwk[] } => JSON.parse(readFileSync(file, 'utf8'));
const mode = (file: string): number => statSync(file).mode & 0o777;

/** Moves a key's lifecycle stamps (and not_after) back in time: simulates waiting. */
function backdate(file: string, kid: string, ms: number): void {
  const doc = jwks(file);
  const k = doc.keys.find((x) => x.kid === kid)!;
  for (const m of ['added_at', 'promoted_at', 'demoted_at', 'retired_at', 'not_after'] as const) {
    if (typeof k[m] === 'string') k[m] = new Date(Date.parse(k[m] as string) - ms).toISOString();
  }
  writeFileSync(file, JSON.stringify(doc));
  chmodSync(file, 0o600);
}

const kids = (file: string): string[] => jwks(file).keys.map((k) => k.kid);
const statusOf = (file: string, kid: string): string | undefined => jwks(file).keys.find((k) => k.kid === kid)?.status;
const HOUR = 3_600_000;
const GRACE = 24 * HOUR + 60_000;

describe('sealq key: a full rotation on a keyring file', () => {
  test('add -> promote -> retire -> remove, each step refused until its time, file kept at 0600', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'k1', '--create']));
    assert.equal(mode(f), 0o600);
    assert.equal(statusOf(f, 'k1'), 'primary');
    const old = readKeyringFileSync(f);
    const m1 = seal(old, 'signed by k1', { ctx: 'jobs' });

    // 1. add
    const add = ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'k2']));
    assert.match(add.stdout, /added key "k2" \(EdDSA\) as verify-only/);
    assert.match(add.stdout, /sealq public --keyring/);
    assert.match(add.stdout, /sealq key promote k2/);
    assert.equal(statusOf(f, 'k2'), 'active');
    assert.equal(mode(f), 0o600);

    // 3. promote: too early, then after the publish delay
    const early = fails(await sealq(['key', 'promote', 'k2', '--keyring', f]), 'ERR_ROTATION_REFUSED');
    assert.match(early.stderr, /publish delay.*wait until \d{4}-.*--force/);
    assert.equal(statusOf(f, 'k2'), 'active', 'a refused step leaves the file unchanged');
    backdate(f, 'k2', HOUR);
    const promote = ok(await sealq(['key', 'promote', 'k2', '--keyring', f]));
    assert.match(promote.stdout, /promoted "k2".*"k1" is now verify-only/);
    assert.match(promote.stdout, /sealq key retire k1/);
    assert.equal(statusOf(f, 'k2'), 'primary');
    assert.equal(statusOf(f, 'k1'), 'active');
    assert.equal(mode(f), 0o600);
    const mid = readKeyringFileSync(f);
    assert.equal(open(mid.toPublic(), m1, { ctx: 'jobs' }).payload.toString(), 'signed by k1');

    // 4. retire: too early, then after the grace period
    fails(await sealq(['key', 'retire', 'k1', '--keyring', f]), /^ERR_ROTATION_REFUSED: .*grace period/);
    backdate(f, 'k1', GRACE);
    const retire = ok(await sealq(['key', 'retire', 'k1', '--keyring', f]));
    assert.match(retire.stdout, /retired "k1": messages it signs after .* are rejected/);
    const retired = readKeyringFileSync(f);
    assert.equal(open(retired, m1, { ctx: 'jobs' }).payload.toString(), 'signed by k1', 'issued before retirement: still opens');
    const late = seal(old, 'late', { ctx: 'jobs', now: Date.now() + 1000 });
    assert.throws(() => open(retired, late, { ctx: 'jobs' }), (e: unknown) => (e as { code?: string }).code === 'ERR_KEY_INACTIVE');

    // list shows the phases
    const list = ok(await sealq(['key', 'list', '--keyring', f]));
    assert.match(list.stdout, /^KID\s+ALG\s+STATUS\s+PHASE/);
    assert.match(list.stdout, /\nk1\s+EdDSA\s+active\s+retired\s.*remove from /);
    assert.match(list.stdout, /\nk2\s+EdDSA\s+primary\s+primary\s/);

    // 5. remove: too early, then after the grace period
    fails(await sealq(['key', 'remove', 'k1', '--keyring', f]), 'ERR_ROTATION_REFUSED');
    backdate(f, 'k1', GRACE);
    ok(await sealq(['key', 'remove', 'k1', '--keyring', f]));
    assert.deepEqual(kids(f), ['k2']);
    assert.equal(mode(f), 0o600);
  });

  test('--force does an early step; shorter waiting times can be configured', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'HS256', '--kid', 'a', '--create']));
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'HS256', '--kid', 'b']));
    ok(await sealq(['key', 'promote', 'b', '--keyring', f, '--force']));
    assert.equal(statusOf(f, 'b'), 'primary');
    ok(await sealq(['key', 'retire', 'a', '--keyring', f, '--max-validity', '0s', '--clock-skew', '0s']));
    ok(await sealq(['key', 'remove', 'a', '--keyring', f, '--max-validity', '0s', '--clock-skew', '0s']));
    assert.deepEqual(kids(f), ['b']);
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'HS256', '--kid', 'c']));
    ok(await sealq(['key', 'promote', 'c', '--keyring', f, '--publish-delay', '0s']));
  });

  test('the primary can never be retired, revoked or removed, not even with --force', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'p', '--create']));
    for (const step of ['retire', 'remove']) {
      const r = fails(await sealq(['key', step, 'p', '--keyring', f, '--force']), 'ERR_ROTATION_REFUSED');
      assert.match(r.stderr, /primary/);
      assert.doesNotMatch(r.stderr, /--force\)/, 'no hint to force what force cannot do');
    }
    fails(await sealq(['key', 'revoke', 'p', '--keyring', f]), /^ERR_ROTATION_REFUSED: .*primary/);
    assert.equal(statusOf(f, 'p'), 'primary');
  });

  test('revoke: immediate, and every message of the key is rejected', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'old', '--create']));
    const m = seal(readKeyringFileSync(f), 'x', { ctx: 'q' });
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'new']));
    ok(await sealq(['key', 'promote', 'new', '--keyring', f, '--force']));
    const r = ok(await sealq(['key', 'revoke', 'old', '--keyring', f]));
    assert.match(r.stdout, /revoked "old".*ERR_KEY_INACTIVE/);
    assert.equal(statusOf(f, 'old'), 'revoked');
    assert.throws(() => open(readKeyringFileSync(f), m, { ctx: 'q' }), (e: unknown) => (e as { code?: string }).code === 'ERR_KEY_INACTIVE');
    ok(await sealq(['key', 'remove', 'old', '--keyring', f]));
  });

  test('a keyring that is being changed by another command is not touched (lock file)', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'a', '--create']));
    writeFileSync(`${f}.lock`, '1');
    fails(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA']), /^ERR_KEYRING_SOURCE: .*another sealq command/);
    rmSync(`${f}.lock`);
    assert.deepEqual(kids(f), ['a']);
  });

  test('a group-readable keyring file is warned about, and written back as 0600', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'a', '--create']));
    chmodSync(f, 0o640);
    const r = ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'b']));
    assert.match(r.stderr, /warning: .*readable by its group/);
    assert.equal(mode(f), 0o600);
  });
});

describe('sealq key add --allow-ctx: the billing key may enqueue only billing.* jobs', () => {
  test('policy written to the key, seal refused elsewhere, forged messages rejected on open', async () => {
    const f = path('billing.json');
    const r = ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'billing-1', '--allow-ctx', 'billing.*', '--allow-type', '*', '--create']));
    assert.match(r.stdout, /policy \{"ctx":\["billing\.\*"\],"typ":\["\*"\]\}/);
    assert.deepEqual(jwks(f).keys[0]!.policy, { ctx: ['billing.*'], typ: ['*'] });

    // Through the CLI: seal for billing works, for payroll is refused.
    const env = { SEALQ_KEYRING: readFileSync(f, 'utf8') };
    const sealed = ok(await sealq(['seal', '--ctx', 'billing.invoices', '--type', 'send'], env, '{"invoice":7}'));
    const opened = ok(await sealq(['open', '--ctx', 'billing.invoices'], env, sealed.stdout));
    assert.equal(opened.stdout, '{"invoice":7}');
    fails(await sealq(['seal', '--ctx', 'payroll.run'], env, 'x'), 'ERR_KEY_NOT_PERMITTED', 1);

    // A forger with the private key but without the policy: the consumer's keyring still carries it.
    const doc = jwks(f);
    delete doc.keys[0]!.policy;
    const forged = seal(Keyring.fromJwks(doc), 'pay me', { ctx: 'payroll.run' });
    const pub = { SEALQ_KEYRING: JSON.stringify(readKeyringFileSync(f).toPublicJwks()) };
    fails(await sealq(['open', '--ctx', 'payroll.run'], pub, forged), 'ERR_KEY_NOT_PERMITTED', 1);

    const list = ok(await sealq(['key', 'list', '--keyring', f]));
    assert.match(list.stdout, /ctx=billing\.\* typ=\*/);
  });

  test('several patterns and types', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'HS256', '--create', '--allow-ctx', 'billing.*', '--allow-ctx', 'audit', '--allow-type', 'invoice.send']));
    const ring = readKeyringFileSync(f);
    assert.deepEqual(ring.primary!.policy, { ctx: ['billing.*', 'audit'], typ: ['invoice.send'] });
    seal(ring, 'x', { ctx: 'audit', typ: 'invoice.send' });
    assert.throws(() => seal(ring, 'x', { ctx: 'audit', typ: 'other' }), (e: unknown) => (e as { code?: string }).code === 'ERR_KEY_NOT_PERMITTED');
  });
});

describe('sealq key list', () => {
  test('--json and --usage', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'a', '--create']));
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'b']));
    const j = JSON.parse(ok(await sealq(['key', 'list', '--keyring', f, '--json'])).stdout);
    assert.deepEqual(j.keys.map((k: { kid: string; phase: string }) => [k.kid, k.phase]), [['a', 'primary'], ['b', 'pending']]);
    assert.equal(j.keys[1].next.step, 'promote');
    assert.ok(!JSON.stringify(j).includes('"d"'), 'no key material');

    const usage = new KeyUsage();
    usage.record({ op: 'seal', outcome: 'ok', kid: 'a', at: Date.parse('2026-01-02T03:04:05Z') } as never);
    usage.record({ op: 'open', outcome: 'rejected', kid: 'a', code: 'ERR_EXPIRED' });
    const u = path('usage.json');
    writeFileSync(u, JSON.stringify(usage));
    const t = ok(await sealq(['key', 'list', '--keyring', f, '--usage', u]));
    assert.match(t.stdout, /SEALS\s+OPENS\s+REJECTED\s+LAST_USED/);
    assert.match(t.stdout, /\na\s.*\s1\s+0\s+1\s+2026-01-02T03:04:05Z/);
  });

  test('reads SEALQ_KEYRING when no --keyring is given', async () => {
    const ring = Keyring.generate('HS256', { kid: 'from-env' });
    const r = ok(await sealq(['key', 'list'], { SEALQ_KEYRING: JSON.stringify(ring.toPrivateJwks()) }));
    assert.match(r.stdout, /from-env\s+HS256\s+primary/);
  });
});

describe('sealq key: usage errors (exit 2, no stack)', () => {
  test('each names what is wrong', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'a', '--create']));
    const cases: Array<[string[], RegExp]> = [
      [['key'], /missing subcommand/],
      [['key', 'rotate'], /unknown subcommand "rotate"/],
      [['key', 'promote', '--keyring', f], /missing KID/],
      [['key', 'promote', 'a', 'b', '--keyring', f], /unexpected argument "b"/],
      [['key', 'list', 'x'], /unexpected argument "x"/],
      [['key', 'add', '--alg', 'EdDSA'], /missing --keyring FILE/],
      [['key', 'add', '--keyring', f], /missing --alg/],
      [['key', 'add', '--keyring', f, '--alg', 'RS256'], /not supported/],
      [['key', 'add', '--keyring', join(dir, 'nope.json'), '--alg', 'EdDSA'], /does not exist: pass --create/],
      [['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--create'], /already exists/],
      [['key', 'revoke', 'a', '--keyring', f, '--force'], /--force does not apply/],
      [['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--json'], /--json does not apply/],
      [['key', 'promote', 'a', '--keyring', f, '--publish-delay', 'soon'], /not a duration/],
      [['key', 'promote', 'a', '--keyring', f, '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, pattern] of cases) {
      const r = await sealq(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern, args.join(' '));
      noStack(r);
    }
    fails(await sealq(['key', 'promote', 'zzz', '--keyring', f]), /^ERR_INVALID_ARGUMENT: no key "zzz"/);
  });

  test('--help describes the rotation sequence', async () => {
    const r = ok(await sealq(['key', '--help']));
    for (const s of ['sealq key add', 'sealq key promote', 'sealq key retire', 'sealq key revoke', 'sealq key remove', 'publish delay', 'grace period']) assert.ok(r.stdout.includes(s), s);
  });
});

describe('sealq keyring export --encrypt / import', () => {
  const PASS = 'a long and unguessable passphrase';

  test('round trip through files with SEALQ_PASSPHRASE; info without the passphrase', async () => {
    const f = path();
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'EdDSA', '--kid', 'a', '--create', '--allow-ctx', 'billing.*']));
    ok(await sealq(['key', 'add', '--keyring', f, '--alg', 'HS256', '--kid', 'b']));
    const backup = path('backup.json');
    const e = ok(await sealq(['keyring', 'export', '--encrypt', '--keyring', f, '--out', backup], { SEALQ_PASSPHRASE: PASS }));
    assert.match(e.stderr, /wrote an encrypted backup of 2 key\(s\)/);
    assert.equal(mode(backup), 0o600);
    const doc = JSON.parse(readFileSync(backup, 'utf8'));
    assert.deepEqual(doc.kids, ['a', 'b']);
    assert.equal(doc.kdf.N, 131072);

    const info = JSON.parse(ok(await sealq(['keyring', 'info', '--in', backup])).stdout);
    assert.deepEqual(info.kids, ['a', 'b']);
    assert.equal(info.unverified, true);

    const restored = path('restored.json');
    ok(await sealq(['keyring', 'import', '--in', backup, '--out', restored], { SEALQ_PASSPHRASE: PASS }));
    assert.equal(mode(restored), 0o600);
    assert.deepEqual(jwks(restored), jwks(f));
    fails(await sealq(['keyring', 'import', '--in', backup, '--out', restored], { SEALQ_PASSPHRASE: PASS }), /already exists; pass --force/);
    ok(await sealq(['keyring', 'import', '--in', backup, '--out', restored, '--force'], { SEALQ_PASSPHRASE: PASS }));
  });

  test('stdin/stdout and --passphrase-file; wrong passphrase and tampering are clear errors', async () => {
    const ring = Keyring.generate('ES256', { kid: 'e' });
    const env = { SEALQ_KEYRING: JSON.stringify(ring.toPrivateJwks()) };
    const pf = path('pass.txt');
    writeFileSync(pf, `${PASS}\n`, { mode: 0o600 });
    const backup = ok(await sealq(['keyring', 'export', '--encrypt', '--passphrase-file', pf], env)).stdout;
    const back = ok(await sealq(['keyring', 'import', '--passphrase-file', pf], {}, backup));
    assert.deepEqual(JSON.parse(back.stdout), ring.toPrivateJwks());

    const wrong = fails(await sealq(['keyring', 'import'], { SEALQ_PASSPHRASE: 'not the passphrase' }, backup), 'ERR_BACKUP_PASSPHRASE');
    assert.match(wrong.stderr, /wrong passphrase/);
    const doc = JSON.parse(backup);
    const ct = Buffer.from(doc.ciphertext, 'base64url');
    ct[5]! ^= 0x80;
    doc.ciphertext = ct.toString('base64url');
    fails(await sealq(['keyring', 'import'], { SEALQ_PASSPHRASE: PASS }, JSON.stringify(doc)), 'ERR_BACKUP_TAMPERED');
    fails(await sealq(['keyring', 'import'], { SEALQ_PASSPHRASE: PASS }, '{"hello":1}'), 'ERR_BACKUP_MALFORMED');
  });

  test('passphrase handling and usage errors', async () => {
    const env = { SEALQ_KEYRING: JSON.stringify(Keyring.generate('EdDSA').toPrivateJwks()) };
    const flag = await sealq(['keyring', 'export', '--encrypt', '--passphrase', PASS], env);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--passphrase is not accepted: .*shell history/);
    assert.doesNotMatch(flag.stderr, new RegExp(PASS));
    fails(await sealq(['keyring', 'export'], { ...env, SEALQ_PASSPHRASE: PASS }), /needs --encrypt/);
    fails(await sealq(['keyring', 'export', '--encrypt'], env), /no passphrase: set the SEALQ_PASSPHRASE/);
    fails(await sealq(['keyring', 'export', '--encrypt'], { ...env, SEALQ_PASSPHRASE: 'short' }), /^ERR_INVALID_ARGUMENT: the passphrase is too short/);
    fails(await sealq(['keyring', 'export', '--encrypt', '--passphrase-file', join(dir, 'none')], env), /cannot read --passphrase-file/);
    fails(await sealq(['keyring', 'import'], { SEALQ_PASSPHRASE: PASS }), /no backup/);
    fails(await sealq(['keyring']), /missing subcommand/);
    fails(await sealq(['keyring', 'info', '--out', 'x']), /--out does not apply/);
  });
});
