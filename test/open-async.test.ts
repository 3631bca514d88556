// openAsync (signature work on the thread pool) gives exactly open's verdicts: on every vector, on
// random messages and tampering, and under load with many messages in flight at once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Keyring, open, openAsync, parseSealedObject, seal, sealAsync, sealDetachedAsync, RejectionError } from '../src/index.js';
import type { Alg, Envelope, OpenOptions } from '../src/index.js';
import { VECTORS_FILE, vectorEnvelope } from '../scripts/make-vectors.js';
import type { VectorFile } from '../scripts/make-vectors.js';

const file: VectorFile = JSON.parse(readFileSync(VECTORS_FILE, 'utf8'));

type Verdict = { payload: string; header: unknown; validUntil: number } | { code: string };

function syncVerdict(keyring: Keyring, env: Envelope, o: OpenOptions): Verdict {
  try {
    const m = open(keyring, env, o);
    return { payload: m.payload.toString('base64url'), header: m.header, validUntil: m.validUntil };
  } catch (e) {
    assert.ok(e instanceof RejectionError);
    return { code: e.code };
  }
}

async function asyncVerdict(keyring: Keyring, env: Envelope, o: OpenOptions): Promise<Verdict> {
  try {
    const m = await openAsync(keyring, env, o);
    return { payload: m.payload.toString('base64url'), header: m.header, validUntil: m.validUntil };
  } catch (e) {
    assert.ok(e instanceof RejectionError);
    return { code: e.code };
  }
}

describe('openAsync agrees with open', () => {
  test('on every vector', async () => {
    for (const v of file.vectors) {
      const keyring = Keyring.fromJwks(v.keyring);
      let env: Envelope;
      try {
        env = vectorEnvelope(v, (t) => parseSealedObject(t)) as Envelope;
      } catch {
        continue; // object JSON text that the parser itself refuses: no envelope to open
      }
      assert.deepEqual(await asyncVerdict(keyring, env, v.options as OpenOptions), syncVerdict(keyring, env, v.options as OpenOptions), v.name);
    }
  });

  const algs: Alg[] = ['HS256', 'EdDSA', 'ES256', 'PS256'];
  const rings = Object.fromEntries(algs.map((a) => [a, Keyring.generate(a)])) as Record<Alg, Keyring>;

  test('property: random payloads, contexts and tampering, in every algorithm', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...algs), fc.uint8Array({ maxLength: 64 }), fc.constantFrom('a', 'b'), fc.nat({ max: 400 }),
      async (alg, payload, ctx, flip) => {
        const env = seal(rings[alg], payload, { ctx: 'a' });
        const chars = [...env];
        const i = flip % chars.length;
        if (flip > 200 && i > 7 && chars[i] !== '.') chars[i] = chars[i] === 'A' ? 'B' : 'A';
        const tampered = chars.join('');
        assert.deepEqual(await asyncVerdict(rings[alg], tampered, { ctx }), syncVerdict(rings[alg], tampered, { ctx }));
      },
    ), { numRuns: 150 });
  });

  test('1,000 messages in flight at once: each gets its own verdict', async () => {
    const ring = rings.EdDSA;
    const other = Keyring.generate('EdDSA');
    const envs = Array.from({ length: 1000 }, (_, i) => {
      const env = seal(i % 3 === 0 ? other : ring, `message ${i}`, { ctx: 'load', id: `m${i}` });
      if (i % 3 !== 1) return env;
      const [v, h, , sig] = env.split('.');
      return [v, h, Buffer.from(`message ${i + 1}`).toString('base64url'), sig].join('.'); // another payload
    });
    const results = await Promise.allSettled(envs.map((e) => openAsync(ring, e, { ctx: 'load' })));
    const code = (r: PromiseSettledResult<unknown>): string | undefined => (r.status === 'rejected' ? (r.reason as RejectionError).code : undefined);
    results.forEach((r, i) => {
      if (i % 3 === 0) assert.equal(code(r), 'ERR_KEY_UNKNOWN', `message ${i}`);
      else if (i % 3 === 1) assert.equal(code(r), 'ERR_SIGNATURE_INVALID', `message ${i}`);
      else assert.ok(r.status === 'fulfilled' && r.value.payload.toString() === `message ${i}` && r.value.header.id === `m${i}`, `message ${i}`);
    });
  });

  test('sealAsync on the thread pool seals what open accepts, in every carrier', async () => {
    for (const alg of algs) {
      const env = await sealAsync(rings[alg], 'pooled', { ctx: 'p' });
      assert.equal(open(rings[alg], env, { ctx: 'p' }).payload.toString(), 'pooled');
      const d = await sealDetachedAsync(rings[alg], 'pooled', { ctx: 'p' });
      assert.equal((await openAsync(rings[alg], d, { ctx: 'p' })).payload.toString(), 'pooled');
    }
  });

  test('bad options are refused as a rejected promise, not a synchronous throw', async () => {
    const p = openAsync(rings.EdDSA, 'x', { ctx: 'q', now: Number.NaN });
    await assert.rejects(p, { code: 'ERR_INVALID_ARGUMENT' });
  });
});
