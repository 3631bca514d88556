// `sealq open --replay redis://...`, run as users run it: the BUILT bin (dist/cli/main.js) in a
// child process. `npm test` builds first; running this file alone needs `npm run build` before.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { needBroker, uniqueName } from '../helpers/brokers.js';
import { deleteMatching, freePort } from '../helpers/redis.js';

const BIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const env: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('SEALQ_') && v !== undefined)) as Record<string, string>;

function sealq(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(input);
  });
}

/** A keyring file and a fresh ctx; the ctx's replay keys (default prefix) are removed afterwards. */
async function setup(t: TestContext): Promise<{ keyring: string; ctx: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sealq-cli-replay-'));
  const keyring = join(dir, 'keyring.json');
  const ctx = uniqueName('sealq-test-cli');
  t.after(async () => {
    await rm(dir, { recursive: true, force: true });
    const raw = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    raw.on('error', () => undefined);
    try {
      await deleteMatching(raw, `sealq:r:{${ctx.length}:${ctx}:*`);
    } catch {
      // Redis was not there: nothing to remove.
    } finally {
      raw.disconnect();
    }
  });
  const r = await sealq(['keygen', '--alg', 'HS256', '--out', keyring]);
  assert.equal(r.code, 0, r.stderr);
  return { keyring, ctx };
}

describe('sealq open --replay redis://', () => {
  test('two separate runs of the same envelope: the second is ERR_REPLAYED (exit 1)', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { keyring, ctx } = await setup(t);
    const sealed = await sealq(['seal', '--keyring', keyring, '--ctx', ctx], '{"job":1}');
    assert.equal(sealed.code, 0, sealed.stderr);
    const first = await sealq(['open', '--keyring', keyring, '--ctx', ctx, '--replay', 'redis://127.0.0.1:6379'], sealed.stdout);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, '{"job":1}');
    const second = await sealq(['open', '--keyring', keyring, '--ctx', ctx, '--replay', 'redis://127.0.0.1:6379/0'], sealed.stdout);
    assert.equal(second.code, 1);
    assert.equal(second.stdout, '');
    assert.match(second.stderr, /^ERR_REPLAYED\b/m);
    // Another message on the same ctx is not affected.
    const other = await sealq(['seal', '--keyring', keyring, '--ctx', ctx], '{"job":2}');
    const third = await sealq(['open', '--keyring', keyring, '--ctx', ctx, '--replay', 'redis://127.0.0.1:6379'], other.stdout);
    assert.equal(third.code, 0, third.stderr);
  });

  test('Redis unreachable: ERR_REPLAY_STORE_UNAVAILABLE (exit 1), nothing printed', async (t) => {
    const { keyring, ctx } = await setup(t);
    const sealed = await sealq(['seal', '--keyring', keyring, '--ctx', ctx], 'x');
    const r = await sealq(['open', '--keyring', keyring, '--ctx', ctx, '--replay', `redis://127.0.0.1:${await freePort()}`], sealed.stdout);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ERR_REPLAY_STORE_UNAVAILABLE\b/m);
  });

  test('a database the server does not have: ERR_REPLAY_STORE_UNAVAILABLE, not silently database 0', async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const { keyring, ctx } = await setup(t);
    const sealed = await sealq(['seal', '--keyring', keyring, '--ctx', ctx], 'x');
    const r = await sealq(['open', '--keyring', keyring, '--ctx', ctx, '--replay', 'redis://127.0.0.1:6379/9999'], sealed.stdout);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ERR_REPLAY_STORE_UNAVAILABLE\b.*database/m);
  });

  test('a malformed redis URL is a usage error (exit 2) that does not echo the URL', async (t) => {
    const { keyring, ctx } = await setup(t);
    const sealed = await sealq(['seal', '--keyring', keyring, '--ctx', ctx], 'x');
    const r = await sealq(['open', '--keyring', keyring, '--ctx', ctx, '--replay', 'redis://user:s3cr3t@/nodb'], sealed.stdout);
    assert.equal(r.code, 2);
    assert.doesNotMatch(r.stderr, /s3cr3t/);
  });
});
