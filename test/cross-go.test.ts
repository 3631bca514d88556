/**
 * Cross test, Go -> TypeScript: the Go implementation (go/internal/crosshelper) seals in every
 * algorithm and carrier, and TypeScript opens each; a Go consumer completes a message in the
 * shared Redis replay store, and a TypeScript consumer on the same store then gets ERR_REPLAYED.
 * The other direction runs in Go (go/cross_test.go, go/redisstore/cross_test.go).
 * Without a Go toolchain the tests are skipped with a message saying what to install; with
 * CI=true they fail instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { open, openAndClaim, parseSealedObject, seal } from '../src/index.js';
import { RedisReplayStore } from '../src/replay/redis.js';
import { ALG_KEYS, CTX, PAYLOADS, TYP, keyringFor } from './fixtures/cross/keys.js';
import { BROKERS, needBroker, uniqueName } from './helpers/brokers.js';
import { deleteMatching } from './helpers/redis.js';
import type { Alg } from '../src/index.js';

const GO_DIR = fileURLToPath(new URL('../go/', import.meta.url));
const VECTORS = fileURLToPath(new URL('../vectors/envelope-v1.json', import.meta.url));

let helper: string | undefined;

/** Builds the Go helper once; skips (or fails with CI=true) when Go is not installed. */
function goHelper(t: TestContext): string | undefined {
  if (helper !== undefined) return helper;
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0) {
    const msg = 'the Go toolchain is not on PATH: install Go 1.24 or later to run the Go cross tests';
    if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: they must not be skipped)`);
    t.skip(msg);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sealq-cross-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  helper = join(dir, 'crosshelper');
  execFileSync('go', ['build', '-o', helper, './internal/crosshelper'], { cwd: GO_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  return helper;
}

interface GoEnvelope {
  alg: Alg;
  carrier: 'compact' | 'object' | 'detached';
  payload: string;
  envelope: string;
  body?: string;
}

test('Go seals in every algorithm and carrier, TypeScript opens each', (t) => {
  const bin = goHelper(t);
  if (bin === undefined) return;
  const envs = JSON.parse(execFileSync(bin, ['seal', VECTORS], { encoding: 'utf8' })) as GoEnvelope[];
  const pairs = new Set<string>();
  for (const e of envs) {
    const keyring = keyringFor(e.alg);
    const payload = Buffer.from(e.payload, 'base64url');
    const envelope = e.carrier === 'compact' ? e.envelope
      : e.carrier === 'object' ? parseSealedObject(e.envelope)
      : { seal: e.envelope, payload: Buffer.from(e.body!, 'base64url') };
    const msg = open(keyring, envelope, { ctx: CTX, typ: TYP });
    assert.deepEqual(Buffer.from(msg.payload), payload, `${e.alg} ${e.carrier}: payload`);
    assert.equal(msg.header.alg, e.alg);
    assert.equal(msg.header.ct, 'application/octet-stream');
    assert.ok(msg.header.exp !== undefined);
    if (e.carrier === 'object') {
      // Go writes the object carrier as JSON.stringify writes TypeScript's.
      assert.equal(JSON.stringify(parseSealedObject(e.envelope)), e.envelope, `${e.alg}: the same object text`);
    }
    pairs.add(`${e.alg}/${e.carrier}`);
  }
  assert.equal(pairs.size, ALG_KEYS.length * 3, 'every algorithm in every carrier');
  assert.equal(envs.length, ALG_KEYS.length * 3 * PAYLOADS.length);
});

test('a Go consumer completes a message in Redis; a TypeScript consumer on the same store gets ERR_REPLAYED', async (t) => {
  if (!(await needBroker(t, 'redis'))) return;
  const bin = goHelper(t);
  if (bin === undefined) return;
  const url = `redis://${BROKERS.redis.host}:${BROKERS.redis.port}`;
  const prefix = `${uniqueName('sealq-cross')}:`;
  const admin = new Redis(url);
  const store = new RedisReplayStore({ redis: url, prefix });
  try {
    for (const [alg] of ALG_KEYS) {
      const keyring = keyringFor(alg);
      const envelope = seal(keyring, `job for ${alg}`, { ctx: CTX, typ: TYP });
      const done = JSON.parse(execFileSync(bin, ['complete', VECTORS, url, prefix, alg, envelope], { encoding: 'utf8' })) as { id: string; key: string };
      const id = open(keyring, envelope, { ctx: CTX }).header.id;
      assert.equal(done.id, id);
      assert.equal(done.key, store.keyOf({ ctx: CTX, id }), 'Go and TypeScript compute the same store key');
      await assert.rejects(openAndClaim(keyring, envelope, { ctx: CTX, replay: store }), { code: 'ERR_REPLAYED' });
    }
  } finally {
    await store.close();
    await deleteMatching(admin, `${prefix}*`);
    admin.disconnect();
  }
});
