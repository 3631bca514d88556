/**
 * Properties over random inputs (fast-check): what is sealed opens to the same bytes in every
 * carrier; any single-bit change to an envelope is a typed rejection, never an untyped exception
 * and never a success; and the signing input is unambiguous.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keyring, REJECTION_CODES, RejectionError, SealqError, open, seal, sealObject, toCompact, toObject } from '../src/index.js';
import type { Alg, SealedObject } from '../src/index.js';
import { signingInput } from '../src/envelope/pae.js';

const CTX = 'orders';
// RSA signing costs about a millisecond and keygen far more: fewer runs keep the file quick on 2 cores.
const ALGS: ReadonlyArray<{ alg: Alg; numRuns: number }> = [
  { alg: 'HS256', numRuns: 300 },
  { alg: 'EdDSA', numRuns: 300 },
  { alg: 'ES256', numRuns: 200 },
  { alg: 'PS256', numRuns: 50 },
];

/** Runs `fn` and returns how it failed; fails the property if it succeeded or threw anything untyped. */
function typedRejection(fn: () => unknown): RejectionError {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    assert.ok(e instanceof SealqError, `expected a SealqError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    assert.ok(e instanceof RejectionError, `expected a rejection, got usage error ${e.code}: ${e.message}`);
    assert.equal(e.rejection, true);
    assert.ok((REJECTION_CODES as readonly string[]).includes(e.code), `code ${e.code} is a rejection code`);
    return e;
  }
  assert.fail(`a mutated envelope opened: ${JSON.stringify(result, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64url') : v))}`);
}

const payloadBytes = fc.uint8Array({ maxLength: 2048 });
const payloadString = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ maxLength: 300 }));
const anyPayload = fc.oneof(payloadBytes, payloadString);

const bytesOf = (p: string | Uint8Array): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));

for (const { alg, numRuns } of ALGS) {
  describe(`properties ${alg}`, () => {
    const keyring = Keyring.generate(alg, { kid: `prop-${alg}` });
    const verifier = alg === 'HS256' ? keyring : keyring.toPublic();
    const now = 1_700_000_000_000;
    const openOpts = { ctx: CTX, now };

    test('any payload (bytes or string) opens to the same bytes in every carrier and via conversion', () => {
      fc.assert(
        fc.property(anyPayload, (payload) => {
          const want = bytesOf(payload);
          const compact = seal(keyring, payload, { ctx: CTX, now });
          const object = sealObject(keyring, payload, { ctx: CTX, now });
          const viaJson = JSON.parse(JSON.stringify(object)) as SealedObject;
          for (const env of [compact, Buffer.from(compact, 'latin1'), object, viaJson, toObject(compact), toCompact(object), toCompact(toObject(compact))]) {
            const got = open(verifier, env, openOpts);
            assert.ok(got.payload.equals(want), 'payload bytes round-trip');
            assert.equal(got.header.ctx, CTX);
          }
          if (typeof payload === 'string') assert.equal(open(verifier, compact, openOpts).payload.toString('utf8'), payload);
          // Text payloads travel as text in the object carrier (readable in dashboards).
          if (typeof payload === 'string') assert.equal(object.payload, payload);
        }),
        { numRuns },
      );
    });

    test('flipping any single bit of a compact envelope is a typed rejection (string and bytes input)', () => {
      fc.assert(
        fc.property(anyPayload, fc.nat(), fc.integer({ min: 0, max: 7 }), (payload, at, bit) => {
          const compact = seal(keyring, payload, { ctx: CTX, now });
          const i = at % compact.length;
          const flipped = compact.slice(0, i) + String.fromCharCode(compact.charCodeAt(i) ^ (1 << bit)) + compact.slice(i + 1);
          typedRejection(() => open(verifier, flipped, openOpts));
          const bytes = Buffer.from(compact, 'latin1');
          bytes[i]! ^= 1 << bit;
          typedRejection(() => open(verifier, bytes, openOpts));
        }),
        { numRuns },
      );
    });

    test('mutating the object carrier (payload text, payload64, header text, sig) is a typed rejection', () => {
      const mutation = fc.record({
        field: fc.constantFrom('payload', 'header', 'sig'),
        at: fc.nat(),
        bit: fc.integer({ min: 0, max: 7 }),
        insert: fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }),
        mode: fc.constantFrom('flip', 'insert', 'delete'),
      });
      fc.assert(
        fc.property(anyPayload, mutation, (payload, m) => {
          const object = sealObject(keyring, payload, { ctx: CTX, now });
          const mutated = structuredClone(object);
          const sig0 = mutated.signatures[0]!;
          const edit = (s: string): string => {
            const i = s.length === 0 ? 0 : m.at % s.length;
            if (m.mode === 'insert' || s.length === 0) return s.slice(0, i) + m.insert + s.slice(i);
            if (m.mode === 'delete') return s.slice(0, i) + s.slice(i + 1);
            return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << m.bit)) + s.slice(i + 1);
          };
          const flipBytes = (b64: string): string => {
            const b = Buffer.from(b64, 'base64url');
            if (b.length === 0) return 'AA';
            b[m.at % b.length]! ^= 1 << m.bit;
            return b.toString('base64url');
          };
          if (m.field === 'header') sig0.header = edit(sig0.header);
          else if (m.field === 'sig') sig0.sig = m.mode === 'flip' ? flipBytes(sig0.sig) : edit(sig0.sig);
          else if (mutated.payload !== undefined) mutated.payload = edit(mutated.payload);
          else mutated.payload64 = m.mode === 'flip' ? flipBytes(mutated.payload64!) : edit(mutated.payload64!);
          fc.pre(JSON.stringify(mutated) !== JSON.stringify(object));
          typedRejection(() => open(verifier, mutated, openOpts));
        }),
        { numRuns },
      );
    });
  });
}

describe('signing input (PAE) is unambiguous', () => {
  // A reference decoder written from the SPEC: if it recovers (header, payload) from every signing
  // input, no two distinct pairs can share one.
  function decodePae(input: Buffer): { header: Buffer; payload: Buffer } {
    const prefix = Buffer.from('sealq/v1 ', 'latin1');
    assert.ok(input.subarray(0, prefix.length).equals(prefix), 'starts with "sealq/v1 "');
    let o = prefix.length;
    const num = (): number => {
      const sp = input.indexOf(0x20, o);
      const digits = input.subarray(o, sp).toString('latin1');
      assert.match(digits, /^(0|[1-9]\d*)$/, 'length is ASCII decimal without leading zeros');
      o = sp + 1;
      return Number(digits);
    };
    const hl = num();
    const header = input.subarray(o, o + hl);
    o += hl;
    assert.equal(input[o], 0x20, 'a space follows the header');
    o += 1;
    const pl = num();
    const payload = input.subarray(o, o + pl);
    assert.equal(o + pl, input.length, 'the payload ends the input');
    return { header, payload };
  }

  // Small alphabets of the PAE's own separator and digits make near-collisions likely.
  const tricky = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a.map((x) => [0x20, 0x31, 0x32, 0x30, 0x73, x][x % 6]!)));
  const part = fc.oneof(tricky, fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)));

  test('decoding a signing input gives back exactly its header and payload', () => {
    fc.assert(
      fc.property(part, part, (h, p) => {
        const d = decodePae(signingInput(h, p));
        assert.ok(d.header.equals(h) && d.payload.equals(p));
      }),
      { numRuns: 2000 },
    );
  });

  test('distinct (header, payload) pairs never share a signing input', () => {
    fc.assert(
      fc.property(part, part, part, part, (h1, p1, h2, p2) => {
        const same = h1.equals(h2) && p1.equals(p2);
        assert.equal(signingInput(h1, p1).equals(signingInput(h2, p2)), same);
      }),
      { numRuns: 2000 },
    );
  });

  test('moving the boundary between header and payload changes the signing input', () => {
    fc.assert(
      fc.property(part, fc.nat(), fc.nat(), (joined, a, b) => {
        const i = a % (joined.length + 1);
        const j = b % (joined.length + 1);
        fc.pre(i !== j);
        const x = signingInput(joined.subarray(0, i), joined.subarray(i));
        const y = signingInput(joined.subarray(0, j), joined.subarray(j));
        assert.ok(!x.equals(y));
      }),
      { numRuns: 2000 },
    );
  });
});
