// The `sealq` command, run as users run it: the BUILT bin (dist/cli/main.js) in a child process.
// `npm test` builds first; running this file alone needs `npm run build` before.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

const BIN = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** Bytes of stdin the child accepted before it closed its end (only with `feed`). */
  fed: number;
}

interface RunOptions {
  input?: string | Buffer;
  /** Stream this many bytes of 'A' to stdin, respecting backpressure, until the child stops reading. */
  feed?: number;
  env?: Record<string, string>;
  cwd?: string;
}

// The child never inherits a keyring from the environment running the tests.
const baseEnv: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k !== 'SEALQ_KEYRING' && k !== 'SEALQ_DEBUG' && v !== undefined)) as Record<string, string>;

function sealq(args: string[], o: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...baseEnv, NO_COLOR: '1', ...o.env }, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let fed = 0;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // The child may close stdin early (that is the point of the bounded reader): EPIPE is expected.
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), fed }));
    if (o.feed !== undefined) {
      const chunk = Buffer.alloc(64 * 1024, 'A');
      const total = o.feed;
      void (async () => {
        while (fed < total) {
          const ok = await new Promise<boolean>((res) => child.stdin.write(chunk, (e) => res(e == null)));
          if (!ok) return;
          fed += chunk.length;
        }
        child.stdin.end();
      })();
    } else {
      child.stdin.end(o.input ?? '');
    }
  });
}

/** Expected failures print `CODE: message` or a usage message: never a stack trace. */
function assertNoStack(r: Run): void {
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+/, `stack trace in stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /internal error/, r.stderr);
}

function assertRejected(r: Run, code: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.startsWith(`${code}:`), `expected stderr to start with ${code}:, got ${r.stderr}`);
  assert.equal(r.stdout.length, 0, 'a rejected message prints nothing on stdout');
  assertNoStack(r);
}

function assertUsage(r: Run, pattern?: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  if (pattern !== undefined) assert.match(r.stderr, pattern);
  assert.equal(r.stdout.length, 0);
  assertNoStack(r);
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const jwksOf = (r: Run): { keys: Array<Record<string, unknown>> } => JSON.parse(r.stdout.toString('utf8')) as { keys: Array<Record<string, unknown>> };

let dir: string;
let hsFile: string; // HS256 private keyring
let edFile: string; // EdDSA private keyring
let edPubFile: string; // its public keyring

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
  dir = await mkdtemp(join(tmpdir(), 'sealq-cli-'));
  hsFile = join(dir, 'hs.json');
  edFile = join(dir, 'ed.json');
  edPubFile = join(dir, 'ed.pub.json');
  assert.equal((await sealq(['keygen', '--alg', 'HS256', '--kid', 'hs-1', '--out', hsFile])).code, 0);
  assert.equal((await sealq(['keygen', '--alg', 'EdDSA', '--kid', 'ed-1', '--out', edFile])).code, 0);
  const pub = await sealq(['public', '--keyring', edFile]);
  assert.equal(pub.code, 0, pub.stderr);
  await writeFile(edPubFile, pub.stdout);
});

after(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('sealq keygen', { concurrency: 4 }, () => {
  for (const alg of ['HS256', 'HS512', 'EdDSA', 'ES256', 'PS256']) {
    test(`${alg} on stdout: a private JWKS with one primary key`, async () => {
      const r = await sealq(['keygen', '--alg', alg, '--kid', `k-${alg}`]);
      assert.equal(r.code, 0, r.stderr);
      const { keys } = jwksOf(r);
      assert.equal(keys.length, 1);
      assert.equal(keys[0]!.alg, alg);
      assert.equal(keys[0]!.kid, `k-${alg}`);
      assert.equal(keys[0]!.status, 'primary');
      assert.ok(keys[0]!.k !== undefined || keys[0]!.d !== undefined, 'private material present');
    });
  }

  test('--out creates the file with mode 0600, refuses to overwrite it, and --force replaces it (still 0600)', async () => {
    const file = join(dir, 'new.json');
    const r = await sealq(['keygen', '--alg', 'EdDSA', '--out', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, 0, 'with --out nothing secret goes to stdout');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const first = await readFile(file, 'utf8');
    assert.equal(JSON.parse(first).keys[0].alg, 'EdDSA');

    const again = await sealq(['keygen', '--alg', 'EdDSA', '--out', file]);
    assertUsage(again, /already exists.*--force/);
    assert.equal(await readFile(file, 'utf8'), first, 'the existing keyring is untouched');

    const forced = await sealq(['keygen', '--alg', 'HS256', '--out', file, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).keys[0].alg, 'HS256');
  });

  test('missing or unknown --alg is a usage error', async () => {
    assertUsage(await sealq(['keygen']), /missing --alg/);
    assertUsage(await sealq(['keygen', '--alg', 'none']), /not supported/);
    assertUsage(await sealq(['keygen', '--alg', 'HS256', '--out', join(dir, 'no-such-dir', 'k.json')]), /cannot write/);
  });
});

describe('sealq public', { concurrency: 4 }, () => {
  test('EdDSA: public JWKS without private members', async () => {
    const r = await sealq(['public', '--keyring', edFile]);
    assert.equal(r.code, 0, r.stderr);
    const { keys } = jwksOf(r);
    assert.equal(keys[0]!.kid, 'ed-1');
    assert.equal(typeof keys[0]!.x, 'string');
    for (const m of ['d', 'k', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(keys[0]![m], undefined, `member ${m}`);
  });

  test('HS256: refuses (exit 2), explains, and prints no secret', async () => {
    const secret = JSON.parse(await readFile(hsFile, 'utf8')).keys[0].k as string;
    const r = await sealq(['public', '--keyring', hsFile]);
    assertUsage(r, /shared secret/);
    assert.ok(r.stderr.startsWith('ERR_INVALID_KEY:'), r.stderr);
    assert.ok(!r.stderr.includes(secret));
  });
});

describe('sealq seal | sealq open', { concurrency: 4 }, () => {
  test('round trip keeps every byte 0x00..0xff exactly (HS256 and EdDSA, private and public keyrings)', async () => {
    const payload = Buffer.concat([ALL_BYTES, Buffer.from('\r\n\n'), Buffer.from(ALL_BYTES).reverse()]);
    for (const [sealWith, openWith] of [[hsFile, hsFile], [edFile, edFile], [edFile, edPubFile]] as const) {
      const s = await sealq(['seal', '--keyring', sealWith, '--ctx', 'jobs', '--type', 'bin'], { input: payload });
      assert.equal(s.code, 0, s.stderr);
      const text = s.stdout.toString('latin1');
      assert.match(text, /^sealq1\.[A-Za-z0-9_.-]+\n$/, 'compact envelope and one newline');
      const o = await sealq(['open', '--keyring', openWith, '--ctx', 'jobs', '--type', 'bin'], { input: s.stdout });
      assert.equal(o.code, 0, o.stderr);
      assert.ok(o.stdout.equals(payload), 'payload bytes differ');
    }
  });

  test('open accepts the envelope with no newline, LF or CRLF, and the empty payload', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'jobs'], { input: '' });
    assert.equal(s.code, 0, s.stderr);
    const env = s.stdout.toString('utf8').trimEnd();
    for (const input of [env, `${env}\n`, `${env}\r\n`]) {
      const o = await sealq(['open', '--keyring', hsFile, '--ctx', 'jobs'], { input });
      assert.equal(o.code, 0, o.stderr);
      assert.equal(o.stdout.length, 0);
    }
    assertRejected(await sealq(['open', '--keyring', hsFile, '--ctx', 'jobs'], { input: `${env}\n\n` }), 'ERR_MALFORMED');
  });

  test('open --ctx repeated accepts any of them; --replay memory opens and completes', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'b'], { input: 'x' });
    const o = await sealq(['open', '--keyring', hsFile, '--ctx', 'a', '--ctx', 'b', '--replay', 'memory'], { input: s.stdout });
    assert.equal(o.code, 0, o.stderr);
    assert.equal(o.stdout.toString(), 'x');
  });

  test('wrong ctx: ERR_CONTEXT_MISMATCH, exit 1', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'emails'], { input: 'hi' });
    assertRejected(await sealq(['open', '--keyring', hsFile, '--ctx', 'payments'], { input: s.stdout }), 'ERR_CONTEXT_MISMATCH');
  });

  test('wrong type: ERR_TYPE_MISMATCH, exit 1', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'q', '--type', 'refund'], { input: 'hi' });
    assertRejected(await sealq(['open', '--keyring', hsFile, '--ctx', 'q', '--type', 'charge'], { input: s.stdout }), 'ERR_TYPE_MISMATCH');
  });

  test('tampered payload: ERR_SIGNATURE_INVALID, exit 1', async () => {
    const s = await sealq(['seal', '--keyring', edFile, '--ctx', 'q'], { input: '{"amount":10}' });
    const parts = s.stdout.toString('utf8').trimEnd().split('.');
    parts[2] = Buffer.from('{"amount":99}').toString('base64url');
    assertRejected(await sealq(['open', '--keyring', edPubFile, '--ctx', 'q'], { input: parts.join('.') }), 'ERR_SIGNATURE_INVALID');
  });

  test('sealed with another key: ERR_KEY_UNKNOWN', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'q'], { input: 'x' });
    assertRejected(await sealq(['open', '--keyring', edFile, '--ctx', 'q'], { input: s.stdout }), 'ERR_KEY_UNKNOWN');
  });

  test('50 MB on stdin: ERR_MALFORMED, exit 1, without reading it all', { timeout: 60_000 }, async () => {
    const total = 50 * 1024 * 1024;
    const r = await sealq(['open', '--keyring', hsFile, '--ctx', 'q'], { feed: total });
    assertRejected(r, 'ERR_MALFORMED');
    // The reader stops at its bound (about 1.4 MB) and closes stdin: the writer could not hand over 50 MB.
    assert.ok(r.fed < 16 * 1024 * 1024, `the child accepted ${r.fed} bytes of stdin`);
  });

  test('seal: a payload over 1 MiB is refused (exit 1), exactly 1 MiB is sealed', async () => {
    const over = await sealq(['seal', '--keyring', hsFile, '--ctx', 'q'], { input: Buffer.alloc(1024 * 1024 + 1) });
    assertRejected(over, 'ERR_INVALID_ARGUMENT');
    assert.match(over.stderr, /larger than 1048576 bytes/);
    const max = await sealq(['seal', '--keyring', hsFile, '--ctx', 'q'], { input: Buffer.alloc(1024 * 1024, 7) });
    assert.equal(max.code, 0, max.stderr);
    const o = await sealq(['open', '--keyring', hsFile, '--ctx', 'q'], { input: max.stdout });
    assert.equal(o.code, 0, o.stderr);
    assert.ok(o.stdout.equals(Buffer.alloc(1024 * 1024, 7)));
  });

  test('seal with a public keyring: ERR_NO_SIGNING_KEY, exit 2', async () => {
    const r = await sealq(['seal', '--keyring', edPubFile, '--ctx', 'q'], { input: 'x' });
    assertUsage(r);
    assert.ok(r.stderr.startsWith('ERR_NO_SIGNING_KEY:'), r.stderr);
  });

  test('empty or garbage stdin: ERR_MALFORMED', async () => {
    assertRejected(await sealq(['open', '--keyring', hsFile, '--ctx', 'q'], { input: '' }), 'ERR_MALFORMED');
    assertRejected(await sealq(['open', '--keyring', hsFile, '--ctx', 'q'], { input: '{"to":"mallory"}' }), 'ERR_MALFORMED');
  });
});

describe('durations', { concurrency: 4 }, () => {
  test('--expires-in 2h is signed as exp = iat + 2h', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'q', '--expires-in', '2h'], { input: 'x' });
    assert.equal(s.code, 0, s.stderr);
    const i = await sealq(['inspect'], { input: s.stdout });
    const h = JSON.parse(i.stdout.toString()).headers[0];
    assert.equal(h.exp - h.iat, 2 * 3_600_000);
  });

  test('every unit parses; a message past --max-age is ERR_EXPIRED', async () => {
    const s = await sealq(['seal', '--keyring', hsFile, '--ctx', 'q'], { input: 'x' });
    for (const d of ['600000ms', '600s', '10m', '2h', '7d']) {
      const o = await sealq(['open', '--keyring', hsFile, '--ctx', 'q', '--max-age', d, '--clock-skew', d], { input: s.stdout });
      assert.equal(o.code, 0, `${d}: ${o.stderr}`);
    }
    // max age 0 and no skew: expired the moment it was issued.
    assertRejected(await sealq(['open', '--keyring', hsFile, '--ctx', 'q', '--max-age', '0s', '--clock-skew', '0s'], { input: s.stdout }), 'ERR_EXPIRED');
  });

  test('a bad duration is a usage error naming the flag', async () => {
    assertUsage(await sealq(['seal', '--keyring', hsFile, '--ctx', 'q', '--expires-in', 'soon'], { input: 'x' }), /--expires-in/);
    assertUsage(await sealq(['open', '--keyring', hsFile, '--ctx', 'q', '--max-age', '5x'], { input: 'x' }), /--max-age "5x" is not a duration/);
  });
});

describe('usage errors: exit 2, no stack trace', { concurrency: 4 }, () => {
  test('missing --ctx', async () => {
    assertUsage(await sealq(['open', '--keyring', hsFile], { input: 'x' }), /missing --ctx/);
    assertUsage(await sealq(['seal', '--keyring', hsFile], { input: 'x' }), /missing --ctx/);
  });

  test('unknown flag and stray argument', async () => {
    assertUsage(await sealq(['open', '--keyring', hsFile, '--ctx', 'q', '--no-verify'], { input: 'x' }), /--no-verify/);
    assertUsage(await sealq(['seal', '--keyring', hsFile, '--ctx', 'q', 'extra'], { input: 'x' }), /extra/);
  });

  test('unknown command', async () => {
    assertUsage(await sealq(['frobnicate']), /unknown command "frobnicate"/);
  });

  test('unreadable keyring: missing file, a directory', async () => {
    assertUsage(await sealq(['open', '--keyring', join(dir, 'absent.json'), '--ctx', 'q'], { input: 'x' }), /cannot read keyring file.*no such file/);
    assertUsage(await sealq(['open', '--keyring', dir, '--ctx', 'q'], { input: 'x' }), /cannot read keyring file.*directory/);
  });

  test('invalid keyring: exit 2, ERR_INVALID_KEYRING, and its content is never echoed', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, 'hunter2-do-not-print {"keys":', { mode: 0o600 });
    const r = await sealq(['open', '--keyring', file, '--ctx', 'q'], { input: 'x' });
    assertUsage(r);
    assert.ok(r.stderr.startsWith('ERR_INVALID_KEYRING:'), r.stderr);
    assert.ok(!r.stderr.includes('hunter2'));
    const short = join(dir, 'short.json');
    await writeFile(short, JSON.stringify({ keys: [{ kty: 'oct', kid: 'x', alg: 'HS256', k: 'c2VjcmV0LXRvby1zaG9ydA' }] }), { mode: 0o600 });
    const r2 = await sealq(['open', '--keyring', short, '--ctx', 'q'], { input: 'x' });
    assertUsage(r2);
    assert.ok(!r2.stderr.includes('c2VjcmV0LXRvby1zaG9ydA'));
  });

  test('no keyring at all: says how to provide one', async () => {
    assertUsage(await sealq(['open', '--ctx', 'q'], { input: 'x' }), /--keyring FILE.*SEALQ_KEYRING/);
  });

  test('--replay with an unsupported scheme names the supported ones and hides the URL', async () => {
    const r = await sealq(['open', '--keyring', hsFile, '--ctx', 'q', '--replay', 'nosuch://user:pa55word@host'], { input: 'x' });
    assertUsage(r, /not supported; supported: memory/);
    assert.ok(!r.stderr.includes('pa55word'));
  });
});

describe('SEALQ_KEYRING', { concurrency: 4 }, () => {
  test('holds the keyring JSON when --keyring is absent; --keyring wins over it', async () => {
    const env = { SEALQ_KEYRING: await readFile(hsFile, 'utf8') };
    const s = await sealq(['seal', '--ctx', 'q'], { input: 'from env', env });
    assert.equal(s.code, 0, s.stderr);
    const o = await sealq(['open', '--keyring', hsFile, '--ctx', 'q'], { input: s.stdout });
    assert.equal(o.stdout.toString(), 'from env');
    // --keyring takes precedence: the EdDSA keyring does not know the HS256 kid.
    assertRejected(await sealq(['open', '--keyring', edFile, '--ctx', 'q'], { input: s.stdout, env }), 'ERR_KEY_UNKNOWN');
  });

  test('invalid content: ERR_INVALID_KEYRING naming the variable, not its content', async () => {
    const r = await sealq(['open', '--ctx', 'q'], { input: 'x', env: { SEALQ_KEYRING: 'not-json-s3cr3t' } });
    assertUsage(r, /SEALQ_KEYRING/);
    assert.ok(!r.stderr.includes('s3cr3t'));
  });
});

describe('sealq inspect', { concurrency: 4 }, () => {
  test('prints headers and kids, marked "verified": false', async () => {
    const s = await sealq(['seal', '--keyring', edFile, '--ctx', 'q', '--type', 't', '--id', 'msg-1', '--content-type', 'text/plain'], { input: 'hello' });
    const r = await sealq(['inspect'], { input: s.stdout });
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    const j = JSON.parse(text);
    assert.equal(j.verified, false);
    assert.ok(text.indexOf('"verified": false') < text.indexOf('"headers"'), 'verified:false comes first');
    assert.deepEqual(j.kids, ['ed-1']);
    assert.equal(j.payloadBytes, 5);
    assert.equal(j.headers[0].ctx, 'q');
    assert.equal(j.headers[0].typ, 't');
    assert.equal(j.headers[0].id, 'msg-1');
    assert.equal(j.headers[0].ct, 'text/plain');
  });

  test('malformed input: exit 1 with its code', async () => {
    assertRejected(await sealq(['inspect'], { input: 'sealq1.nope' }), 'ERR_MALFORMED');
    assertRejected(await sealq(['inspect'], { input: 'sealq9.a.b.c' }), 'ERR_UNSUPPORTED_VERSION');
  });
});

describe('help', { concurrency: 4 }, () => {
  for (const cmd of ['keygen', 'public', 'seal', 'open', 'inspect', 'demo']) {
    test(`sealq ${cmd} --help and sealq help ${cmd}`, async () => {
      for (const args of [[cmd, '--help'], [cmd, '-h'], ['help', cmd]]) {
        const r = await sealq(args);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout.toString(), new RegExp(`Usage: sealq ${cmd}`));
      }
    });
  }

  test('sealq --help and sealq help list every command; bare sealq is a usage error', async () => {
    for (const args of [['--help'], ['help']]) {
      const r = await sealq(args);
      assert.equal(r.code, 0);
      for (const cmd of ['keygen', 'public', 'seal', 'open', 'inspect', 'demo']) assert.match(r.stdout.toString(), new RegExp(`\\n  ${cmd} `));
    }
    const bare = await sealq([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /Usage: sealq <command>/);
  });
});

describe('unexpected errors (in process)', () => {
  test('a bug becomes one line and exit 70: no stack trace, no secret-bearing detail', async () => {
    const { PassThrough } = await import('node:stream');
    const { runCli } = await import('../src/cli/run.js');
    const stderr = new PassThrough();
    const chunks: Buffer[] = [];
    stderr.on('data', (b: Buffer) => chunks.push(b));
    const boom = { name: 'boom', summary: 'fails', help: 'Usage: sealq boom', run: async (): Promise<number> => { throw new TypeError('cannot read properties of undefined'); } };
    const code = await runCli(['boom'], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, [boom]);
    assert.equal(code, 70);
    const text = Buffer.concat(chunks).toString();
    assert.match(text, /^sealq: internal error \(TypeError\): cannot read properties of undefined\n/);
    assert.doesNotMatch(text, /\n\s+at /);
  });
});
