// The CLI as a new user met it in the first hour: each rough edge they hit, replayed against the
// BUILT bin (dist/cli/main.js) in a child process. `npm test` builds first.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sealq-cli-new-user-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k !== 'SEALQ_KEYRING' && k !== 'SEALQ_DEBUG' && v !== undefined)) as Record<string, string>;

function sealq(args: string[], input: string | Buffer = '', env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...baseEnv, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input);
  });
}

let n = 0;
async function keyring(alg: string): Promise<string> {
  const file = join(dir, `k${n++}.json`);
  const r = await sealq(['keygen', '--alg', alg, '--out', file]);
  assert.equal(r.code, 0, r.stderr);
  return file;
}

describe('usage errors come in one style: CODE: message, exit 2', { concurrency: 4 }, () => {
  test('a wrong command line and a wrong configuration both start with their code', async () => {
    const hs = await keyring('HS256');
    const ed = await keyring('EdDSA');
    const pub = join(dir, 'pub.json');
    writeFileSync(pub, (await sealq(['public', '--keyring', ed])).stdout);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"keys": 1}', { mode: 0o600 });
    const cases: Array<[string[], string]> = [
      [['seal', '--keyring', hs], 'ERR_USAGE'], // missing --ctx
      [['open', '--keyring', hs, '--ctx', 'q', '--no-verify'], 'ERR_USAGE'], // unknown flag
      [['frobnicate'], 'ERR_USAGE'], // unknown command
      [['open', '--keyring', hs, '--ctx', 'q', '--max-age', 'soon'], 'ERR_USAGE'],
      [['key', 'promote'], 'ERR_USAGE'], // missing KID
      [['open', '--keyring', join(dir, 'absent.json'), '--ctx', 'q'], 'ERR_KEYRING_SOURCE'],
      [['open', '--keyring', bad, '--ctx', 'q'], 'ERR_INVALID_KEYRING'],
      [['seal', '--keyring', pub, '--ctx', 'q'], 'ERR_NO_SIGNING_KEY'],
    ];
    for (const [args, code] of cases) {
      const r = await sealq(args, 'x');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith(`${code}: `), `sealq ${args.join(' ')} printed: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^sealq [a-z]+: /m, 'no second style');
    }
    const usage = await sealq(['seal', '--keyring', hs], 'x');
    assert.match(usage.stderr, /^ERR_USAGE: missing --ctx.*\nRun 'sealq seal --help' for usage\.\n$/);
  });
});

describe('values that start with a dash get a plain message', { concurrency: 4 }, () => {
  test('--max-age -5s', async () => {
    const hs = await keyring('HS256');
    for (const args of [['--max-age', '-5s'], ['--max-age=-5s']]) {
      const r = await sealq(['open', '--keyring', hs, '--ctx', 'q', ...args], 'x');
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^ERR_USAGE: --max-age -5s: .*cannot be negative \(did you mean --max-age 5s\?\)/);
      assert.doesNotMatch(r.stderr, /ambiguous|option argument|positional/i, 'no parser jargon');
    }
  });

  test('a flag followed by another flag, or by nothing', async () => {
    const hs = await keyring('HS256');
    const r = await sealq(['seal', '--keyring', hs, '--ctx', '--type', 'welcome'], 'x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^ERR_USAGE: --ctx needs a value, but "--type" follows it/);
    const last = await sealq(['seal', '--ctx', 'q', '--keyring'], 'x');
    assert.equal(last.code, 2);
    assert.match(last.stderr, /^ERR_USAGE: --keyring needs a value\n/);
  });
});

describe('each subcommand has its own --help', { concurrency: 4 }, () => {
  test('sealq key <sub> --help shows that subcommand only', async () => {
    for (const sub of ['list', 'add', 'promote', 'retire', 'revoke', 'remove']) {
      const r = await sealq(['key', sub, '--help']);
      assert.equal(r.code, 0, r.stderr);
      const text = r.stdout.toString();
      assert.match(text, new RegExp(`^Usage: sealq key ${sub} `), text);
      for (const other of ['list', 'add', 'promote', 'retire', 'revoke', 'remove'].filter((s) => s !== sub)) {
        assert.doesNotMatch(text, new RegExp(`Usage: sealq key ${other}`), `${sub} help shows ${other}`);
      }
    }
    const revoke = (await sealq(['key', 'revoke', 'some-kid', '--keyring', 'k.json', '-h'])).stdout.toString();
    assert.match(revoke, /every message it signed is rejected at once/);
    assert.deepEqual(revoke.split('Options:\n')[1]!.match(/^ {2}--[a-z-]+/gm), ['  --keyring'], 'only the flags revoke takes');
    assert.equal((await sealq(['help', 'key', 'add'])).stdout.toString(), (await sealq(['key', 'add', '--help'])).stdout.toString());
    assert.match((await sealq(['key', '--help'])).stdout.toString(), /A rotation, with the default waiting times/, 'the command help still shows the whole rotation');
  });

  test('sealq keyring <sub> --help too', async () => {
    for (const sub of ['export', 'import', 'info']) {
      const text = (await sealq(['keyring', sub, '--help'])).stdout.toString();
      assert.match(text, new RegExp(`^Usage: sealq keyring ${sub} `));
      assert.equal(text.match(/^Usage:/gm)?.length, 1);
    }
  });
});

describe('keyring files', { concurrency: 4 }, () => {
  test('a private keyring readable by everyone is warned about by every command that reads it', { skip: process.platform === 'win32' }, async () => {
    const hs = await keyring('HS256');
    chmodSync(hs, 0o644);
    const sealed = await sealq(['seal', '--keyring', hs, '--ctx', 'q'], 'hello');
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.match(sealed.stderr, /^sealq seal: warning: keyring file ".*" holds secret keys and is readable by everyone on this machine \(mode 0644\): run chmod 600 on it\n$/);
    const opened = await sealq(['open', '--keyring', hs, '--ctx', 'q'], sealed.stdout);
    assert.equal(opened.stdout.toString(), 'hello');
    assert.match(opened.stderr, /^sealq open: warning: .*readable by everyone/);
    const listed = await sealq(['key', 'list', '--keyring', hs]);
    assert.match(listed.stderr, /^sealq key: warning: .*readable by everyone/);

    // A public keyring holds nothing secret: no warning. Neither for a private one at 0600.
    const ed = await keyring('EdDSA');
    const pub = join(dir, 'public-0644.json');
    writeFileSync(pub, (await sealq(['public', '--keyring', ed])).stdout, { mode: 0o644 });
    chmodSync(pub, 0o644);
    const signed = await sealq(['seal', '--keyring', ed, '--ctx', 'q'], 'hi');
    assert.equal(signed.stderr, '');
    assert.equal((await sealq(['open', '--keyring', pub, '--ctx', 'q'], signed.stdout)).stderr, '');
  });

  test('sealq public on a keyring that mixes HS256 with EdDSA publishes the EdDSA key and names what it left out', async () => {
    const file = await keyring('HS256');
    const hsKid = (JSON.parse(readFileSync(file, 'utf8')) as { keys: Array<{ kid: string }> }).keys[0]!.kid;
    const add = await sealq(['key', 'add', '--keyring', file, '--alg', 'EdDSA', '--kid', 'ed-next']);
    assert.equal(add.code, 0, add.stderr);
    const r = await sealq(['public', '--keyring', file]);
    assert.equal(r.code, 0, r.stderr);
    const jwks = JSON.parse(r.stdout.toString()) as { keys: Array<Record<string, unknown>> };
    assert.deepEqual(jwks.keys.map((k) => k.kid), ['ed-next']);
    assert.equal(jwks.keys[0]!.d, undefined, 'no private member');
    assert.ok(!r.stdout.toString().includes('"k"'), 'no shared secret');
    assert.match(r.stderr, new RegExp(`^sealq public: warning: left out "${hsKid}" \\(HS256, primary\\): a shared secret has no public half`));
    // Only shared secrets: nothing to publish, refused as before.
    const hsOnly = await sealq(['public', '--keyring', await keyring('HS512')]);
    assert.equal(hsOnly.code, 2);
    assert.match(hsOnly.stderr, /^ERR_INVALID_KEY: /);
  });

  test('a key made by keygen shows when it was added in sealq key list', async () => {
    const file = await keyring('EdDSA');
    const r = await sealq(['key', 'list', '--keyring', file]);
    assert.equal(r.code, 0, r.stderr);
    const [head, row] = r.stdout.toString().trim().split('\n') as [string, string];
    const added = row.slice(head.indexOf('ADDED')).split(/\s+/)[0]!;
    assert.match(added, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, `ADDED is "${added}"`);
    // Printed on stdout too, for --out-less use.
    const printed = JSON.parse((await sealq(['keygen', '--alg', 'HS256'])).stdout.toString()) as { keys: Array<{ added_at?: unknown }> };
    assert.equal(typeof printed.keys[0]!.added_at, 'string');
  });
});

describe('--max-payload raises the 1 MiB limit on seal and open', { concurrency: 4 }, () => {
  test('a 2 MiB payload: refused by default, sealed and opened with --max-payload 2MiB', async () => {
    const hs = await keyring('HS256');
    const big = Buffer.alloc(2 * 1024 * 1024, 'a');
    const refused = await sealq(['seal', '--keyring', hs, '--ctx', 'q'], big);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /raise the limit with --max-payload/);
    const sealed = await sealq(['seal', '--keyring', hs, '--ctx', 'q', '--max-payload', '2MiB'], big);
    assert.equal(sealed.code, 0, sealed.stderr);
    const tooBig = await sealq(['open', '--keyring', hs, '--ctx', 'q'], sealed.stdout);
    assert.equal(tooBig.code, 1);
    assert.match(tooBig.stderr, /^ERR_MALFORMED: .*--max-payload/);
    const opened = await sealq(['open', '--keyring', hs, '--ctx', 'q', '--max-payload', `${2 * 1024 * 1024}`], sealed.stdout);
    assert.equal(opened.code, 0, opened.stderr);
    assert.ok(opened.stdout.equals(big));
    // And lowering it works the same way.
    assert.equal((await sealq(['open', '--keyring', hs, '--ctx', 'q', '--max-payload', '1KiB'], sealed.stdout)).code, 1);
  });

  test('a size that is not one is a usage error', async () => {
    const hs = await keyring('HS256');
    for (const [size, why] of [['2MB', /not a size: use bytes, KiB or MiB/], ['lots', /not a size/], ['0', /at least 1 byte/], ['1024MiB', /at most 256MiB/]] as const) {
      const r = await sealq(['seal', '--keyring', hs, '--ctx', 'q', '--max-payload', size], 'x');
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
    }
  });
});

describe('the examples keep private keyrings out of git', () => {
  // The private keyrings the README and the examples make; and every keyring file the examples use.
  const exampleFiles = readdirSync(join(ROOT, 'examples'), { recursive: true, encoding: 'utf8' }).map((f) => join('examples', f).replace(/\\/g, '/'));
  const exampleDocs = exampleFiles.filter((f) => f.endsWith('.md'));
  const privateFiles = new Set<string>();
  for (const doc of [...exampleDocs, 'README.md']) {
    for (const m of readFileSync(join(ROOT, doc), 'utf8').matchAll(/sealq keygen [^\n]*--out (\S+)/g)) privateFiles.add(m[1]!);
  }
  const examples = new Set<string>();
  for (const doc of exampleDocs) {
    for (const m of readFileSync(join(ROOT, doc), 'utf8').matchAll(/sealq keygen [^\n]*--out (\S+)|sealq public [^\n]*> (\S+)|KEYRING_FILE=(\S+)/g)) examples.add(m[1] ?? m[2] ?? m[3]!);
  }
  for (const code of exampleFiles.filter((f) => /\.(ts|mjs|js)$/.test(f))) {
    for (const m of readFileSync(join(ROOT, code), 'utf8').matchAll(/KEYRING_FILE \?\? '([^']+)'/g)) examples.add(m[1]!);
  }

  test('the examples keep their keyrings under .keys/', () => {
    assert.ok(examples.size >= 2, [...examples].join(' '));
    for (const f of examples) assert.match(f, /^\.keys\//, `${f} is written into the working tree`);
  });

  test('git ignores every keyring file the README and the examples make', (t) => {
    const files = [...privateFiles, ...examples];
    const git = spawnSync('git', ['check-ignore', '--no-index', '--verbose', '--non-matching', ...files], { cwd: ROOT, encoding: 'utf8' });
    if (git.error !== undefined || git.status === 128) {
      t.skip(`git cannot check .gitignore here: ${git.error?.message ?? git.stderr.trim()}`);
      return;
    }
    const notIgnored = git.stdout.split('\n').filter((l) => l.startsWith('::')).map((l) => l.slice(2).trim());
    assert.deepEqual(notIgnored, [], 'not covered by .gitignore');
    assert.ok(privateFiles.has('keyring.json'), "the README's own keyring is checked too");
  });
});
