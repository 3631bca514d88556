/**
 * Project Wycheproof vectors (test/fixtures/wycheproof, Apache 2.0, see LICENSE there) run through
 * the algorithm table the envelope itself verifies with: ALG_SPECS[alg].verify(keyObject, msg, sig).
 * Keys are imported with node:crypto from the vector's own key (raw HMAC key, SPKI DER), and, where
 * the group carries a JWK, also through sealq's importJwk so the keyring import path is covered too.
 *
 * How results are judged:
 * - `valid`: must verify (true). A throw is a failure.
 * - `invalid`: must not verify. A throw counts as a rejection, because open() turns any exception
 *   inside verification into ERR_SIGNATURE_INVALID (fail closed); throws are counted and shown.
 * - `acceptable`: none of the five files has any today. If a future copy has some, they must not
 *   throw (a crash is a failure); which way each one went is recorded in the test's diagnostics,
 *   neither outcome fails the test.
 * - HMAC groups with a truncated tag (tagSize smaller than the hash output): sealq never accepts a
 *   truncated tag, so our verify must REJECT every vector there, `valid` ones included. Separately,
 *   for `valid` vectors the full MAC's prefix must equal the tag (the primitive still agrees with
 *   Wycheproof), and for `invalid` ones it must differ.
 * - HMAC groups with short (128-bit) or long (520-bit) keys: verified like any other. The keyring
 *   refuses HMAC secrets shorter than the hash output (see keys.test.ts); that is policy, not the
 *   primitive, which must still agree with every vector.
 * - RSA-PSS: our PS256 verify uses SHA-256, MGF1-SHA-256 and a salt of exactly 32 bytes; the test
 *   first checks that the file's groups have exactly those parameters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHmac, createPublicKey, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ALG_SPECS } from '../src/crypto/algorithms.js';
import type { Alg } from '../src/crypto/algorithms.js';
import { importJwk } from '../src/index.js';

type Result = 'valid' | 'invalid' | 'acceptable';

interface Vector {
  tcId: number;
  comment: string;
  msg: string;
  sig?: string;
  tag?: string;
  key?: string;
  result: Result;
}

interface Group {
  keySize?: number;
  tagSize?: number;
  sha?: string;
  mgf?: string;
  mgfSha?: string;
  sLen?: number;
  publicKeyDer?: string;
  publicKeyJwk?: Record<string, unknown>;
  tests: Vector[];
}

interface VectorFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: Group[];
}

function load(name: string): VectorFile {
  return JSON.parse(readFileSync(new URL(`./fixtures/wycheproof/${name}`, import.meta.url), 'utf8')) as VectorFile;
}

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Tallies one file's verdicts and collects disagreements by tcId. */
class Tally {
  readonly failures: string[] = [];
  readonly counts = { valid: 0, invalid: 0, acceptable: 0, invalidThrew: 0, acceptableAccepted: 0, acceptableRejected: 0 };
  readonly acceptable: string[] = [];

  /** verdict: true = accepted, false = rejected, Error = the verifier threw. */
  record(v: Vector, verdict: boolean | Error, where = ''): void {
    this.counts[v.result]++;
    const id = `tcId ${v.tcId}${where}`;
    if (v.result === 'valid') {
      if (verdict !== true) this.failures.push(`${id} (valid, ${verdict === false ? 'rejected' : `threw ${verdict.message}`}): ${v.comment}`);
    } else if (v.result === 'invalid') {
      if (verdict === true) this.failures.push(`${id} (invalid, ACCEPTED): ${v.comment}`);
      if (verdict instanceof Error) this.counts.invalidThrew++;
    } else {
      if (verdict instanceof Error) this.failures.push(`${id} (acceptable, threw ${verdict.message}): ${v.comment}`);
      else {
        this.counts[verdict ? 'acceptableAccepted' : 'acceptableRejected']++;
        this.acceptable.push(`${id} ${verdict ? 'accepted' : 'rejected'}`);
      }
    }
  }

  check(t: { diagnostic(msg: string): void }, label: string, expectedTotal: number): void {
    const c = this.counts;
    t.diagnostic(`${label}: ${c.valid} valid, ${c.invalid} invalid (${c.invalidThrew} by a throw), ${c.acceptable} acceptable`);
    if (this.acceptable.length > 0) t.diagnostic(`acceptable: ${this.acceptable.join(', ')}`);
    assert.equal(c.valid + c.invalid + c.acceptable, expectedTotal, 'every vector of the file was run');
    assert.deepEqual(this.failures, [], `${this.failures.length} vector(s) disagree with Wycheproof`);
  }
}

function attempt(fn: () => boolean): boolean | Error {
  try {
    return fn();
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

// ---- HMAC ---------------------------------------------------------------------------------------

for (const [file, alg, hash, fullBits] of [
  ['hmac_sha256_test.json', 'HS256', 'sha256', 256],
  ['hmac_sha512_test.json', 'HS512', 'sha512', 512],
] as const) {
  test(`Wycheproof ${file} through ALG_SPECS.${alg}.verify`, async (t) => {
    const data = load(file);
    const spec = ALG_SPECS[alg];
    let total = 0;
    for (const g of data.testGroups) {
      const truncated = g.tagSize! < fullBits;
      await t.test(`keySize ${g.keySize}, tagSize ${g.tagSize}${truncated ? ' (truncated: all rejected)' : ''}`, () => {
        const tally = new Tally();
        const prefixDisagrees: number[] = [];
        for (const v of g.tests) {
          total++;
          const key = createSecretKey(hex(v.key!));
          const msg = hex(v.msg);
          const tag = hex(v.tag!);
          const verdict = attempt(() => spec.verify(key, msg, tag));
          if (!truncated) {
            tally.record(v, verdict);
            continue;
          }
          // sealq never accepts a truncated tag: every vector must be rejected, "valid" ones included.
          tally.record({ ...v, result: 'invalid' }, verdict);
          // ...while the primitive still agrees: the full MAC's prefix is the tag exactly when valid.
          const prefix = createHmac(hash, key).update(msg).digest().subarray(0, g.tagSize! / 8);
          if (prefix.equals(tag) !== (v.result === 'valid')) prefixDisagrees.push(v.tcId);
        }
        assert.deepEqual(tally.failures, [], `${tally.failures.length} vector(s) disagree`);
        assert.deepEqual(prefixDisagrees, [], 'full MAC prefix agrees with Wycheproof on truncated-tag vectors');
      });
    }
    assert.equal(total, data.numberOfTests, 'every vector of the file was run');
  });
}

// ---- Signatures ---------------------------------------------------------------------------------

/**
 * Runs every vector with the group's SPKI key through ALG_SPECS[alg].verify and, when the group
 * has a JWK, again with the key sealq's importJwk builds from it (SealKey.verify, the very call
 * open() makes). A key node:crypto refuses to import rejects all of its group's vectors.
 */
function runSignatureFile(t: { diagnostic(msg: string): void }, file: string, alg: Alg, checkGroup?: (g: Group) => void): void {
  const data = load(file);
  const spec = ALG_SPECS[alg];
  const direct = new Tally();
  const viaJwk = new Tally();
  let jwkVectors = 0;
  for (const [i, g] of data.testGroups.entries()) {
    checkGroup?.(g);
    let key: KeyObject | undefined;
    try {
      key = createPublicKey({ key: hex(g.publicKeyDer!), format: 'der', type: 'spki' });
    } catch {
      key = undefined;
    }
    for (const v of g.tests) {
      direct.record(v, key === undefined ? false : attempt(() => spec.verify(key, hex(v.msg), hex(v.sig!))), ` (group ${i})`);
    }
    if (g.publicKeyJwk === undefined) continue;
    let sealKey: ReturnType<typeof importJwk> | undefined;
    try {
      sealKey = importJwk({ ...g.publicKeyJwk, kid: `wycheproof-${i}`, alg });
    } catch {
      sealKey = undefined;
    }
    for (const v of g.tests) {
      jwkVectors++;
      viaJwk.record(v, sealKey === undefined ? false : attempt(() => sealKey.verify(hex(v.msg), hex(v.sig!))), ` (group ${i}, via importJwk)`);
    }
  }
  direct.check(t, `${data.algorithm}, SPKI key`, data.numberOfTests);
  viaJwk.check(t, `${data.algorithm}, JWK through importJwk`, jwkVectors);
}

test('Wycheproof ed25519_test.json through ALG_SPECS.EdDSA.verify', (t) => {
  runSignatureFile(t, 'ed25519_test.json', 'EdDSA');
});

test('Wycheproof ecdsa_secp256r1_sha256_p1363_test.json through ALG_SPECS.ES256.verify', (t) => {
  runSignatureFile(t, 'ecdsa_secp256r1_sha256_p1363_test.json', 'ES256', (g) => {
    assert.equal(g.sha, 'SHA-256', 'ES256 verifies with SHA-256');
  });
});

test('Wycheproof rsa_pss_2048_sha256_mgf1_32_test.json through ALG_SPECS.PS256.verify', (t) => {
  runSignatureFile(t, 'rsa_pss_2048_sha256_mgf1_32_test.json', 'PS256', (g) => {
    // PS256 verifies with exactly these parameters (src/crypto/algorithms.ts: saltLength 32, strict).
    assert.deepEqual({ sha: g.sha, mgf: g.mgf, mgfSha: g.mgfSha, sLen: g.sLen, keySize: g.keySize }, { sha: 'SHA-256', mgf: 'MGF1', mgfSha: 'SHA-256', sLen: 32, keySize: 2048 });
  });
});
