import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { inspect } from 'node:util';
import assert from 'node:assert/strict';
import {
  InvalidArgumentError,
  Keyring,
  SignatureInvalidError,
  exportPublicJwk,
  generateKey,
  open,
  seal,
  sealAsync,
} from '../../src/index.js';
import { Pkcs11Error, generatePkcs11Key, openPkcs11Key, pkcs11Supports } from '../../src/keys/pkcs11.js';
import type { Pkcs11Alg, Pkcs11Key } from '../../src/keys/pkcs11.js';

/**
 * Signs on a real SoftHSM2 token (created fresh in a temp directory) and verifies with an ordinary
 * public keyring. Skipped with a message when SoftHSM2 or the pkcs11js binding is missing, except
 * in CI (CI=true), where that fails: scripts/ci-setup.sh installs softhsm2, npm ci builds pkcs11js.
 */

const MODULE_PATHS = [
  process.env.SOFTHSM2_MODULE,
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
].filter((p): p is string => p !== undefined && p !== '');

const TOKEN = 'sealq-test';
const PIN = '31415926';
const SO_PIN = '27182818';
const WRONG_PIN = '86420975';
const CTX = 'billing.jobs';

function findProblem(): string | undefined {
  if (spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).status !== 0) {
    return 'softhsm2-util is not installed (Debian: apt-get install softhsm2; scripts/ci-setup.sh does it)';
  }
  if (!MODULE_PATHS.some((p) => existsSync(p))) return `the SoftHSM2 module is not at any of ${MODULE_PATHS.join(', ')} (set SOFTHSM2_MODULE)`;
  try {
    createRequire(import.meta.url)('pkcs11js');
  } catch (e) {
    return `the pkcs11js binding is not installed or not built (npm ci builds it): ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}
const problem = findProblem();
const module = MODULE_PATHS.find((p) => existsSync(p)) ?? '';

function need(t: TestContext): boolean {
  if (problem === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`${problem} (CI=true: the PKCS#11 tests must not be skipped)`);
  t.skip(problem);
  return false;
}

/** Everything a test could print about an error, to check that no PIN is in any of it. */
const everything = (e: unknown): string => [String(e), (e as Error).message, (e as Error).stack, inspect(e, { depth: 10 }), JSON.stringify(e)].join('\n');

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

function tamperPayload(envelope: string): string {
  const parts = envelope.split('.');
  parts[2] = Buffer.from('{"amount":1000000}').toString('base64url');
  return parts.join('.');
}

function tamperSignature(envelope: string): string {
  const parts = envelope.split('.');
  const sig = Buffer.from(parts[3]!, 'base64url');
  sig[10]! ^= 0x01;
  parts[3] = sig.toString('base64url');
  return parts.join('.');
}

describe('PKCS#11 signer on SoftHSM2', () => {
  let dir: string | undefined;
  const opened: Pkcs11Key[] = [];
  const token = { module, tokenLabel: TOKEN, pin: PIN };

  before(() => {
    if (problem !== undefined) return;
    dir = mkdtempSync(join(tmpdir(), 'sealq-softhsm-'));
    mkdirTokens(dir);
    // SoftHSM reads its configuration at C_Initialize: set before the first token call.
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN, '--pin', PIN, '--so-pin', SO_PIN], { encoding: 'utf8' });
    assert.equal(r.status, 0, `softhsm2-util --init-token failed: ${r.stderr}`);
  });

  after(async () => {
    for (const k of opened) await k.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const openKey = async (o: Parameters<typeof openPkcs11Key>[0]): Promise<Pkcs11Key> => {
    const k = await openPkcs11Key(o);
    opened.push(k);
    return k;
  };

  async function roundTrip(t: TestContext, alg: Pkcs11Alg): Promise<void> {
    if (!need(t)) return;
    if (alg === 'EdDSA' && !(await pkcs11Supports({ module, tokenLabel: TOKEN }, 'EdDSA'))) {
      t.skip('this SoftHSM build lacks CKM_EDDSA (Ed25519 needs SoftHSM 2.6+ built with EdDSA support)');
      return;
    }
    const label = `sealq-${alg.toLowerCase()}`;
    const made = await generatePkcs11Key({ ...token, keyLabel: label, alg });
    assert.match(made.keyId, /^[0-9a-f]{32}$/);
    const hsm = await openKey({ ...token, keyLabel: label, kid: `hsm-${alg.toLowerCase()}`, alg });
    assert.equal(hsm.key.external, true);
    assert.equal(hsm.key.canSign, true);
    assert.equal(hsm.key.status, 'primary');
    assert.equal(hsm.token.label, TOKEN);
    assert.deepEqual(hsm.publicKey.export({ format: 'jwk' }), made.publicKey.export({ format: 'jwk' }));

    // Producer: the HSM key signs; an older software key stays verify-only during a rotation.
    const old = generateKey('ES256', { kid: 'software-old', status: 'active' });
    const producer = new Keyring([hsm.key, old]);
    // Consumer: an ordinary public keyring, as distributed to verifiers.
    const jwks = producer.toPublicJwks();
    assert.ok(jwks.keys.every((k) => !('d' in k)), 'the public JWKS has no private member');
    const consumer = Keyring.fromJwks(JSON.stringify(jwks));

    const payload = JSON.stringify({ invoice: 'inv-42', amount: 1999 });
    const envelope = seal(producer, payload, { ctx: CTX, typ: 'charge', expiresIn: '5m' });
    const m = open(consumer, envelope, { ctx: CTX });
    assert.equal(m.payload.toString('utf8'), payload);
    assert.equal(m.header.kid, hsm.key.kid);
    assert.equal(m.header.alg, alg);
    assert.equal(Buffer.from(envelope.split('.')[3]!, 'base64url').length, 64, 'the wire signature is 64 bytes');

    // Signatures are fresh per call (ECDSA is randomized; Ed25519 differs per message) and each verifies.
    for (let i = 0; i < 20; i++) open(consumer, seal(producer, `job ${i}`, { ctx: CTX }), { ctx: CTX });

    assert.throws(() => open(consumer, tamperPayload(envelope), { ctx: CTX }), SignatureInvalidError);
    assert.throws(() => open(consumer, tamperSignature(envelope), { ctx: CTX }), SignatureInvalidError);
  }

  test('ES256: seals with a P-256 key on the token, verifies with the public keyring, rejects tampering', async (t) => {
    await roundTrip(t, 'ES256');
  });

  test('EdDSA: seals with an Ed25519 key on the token, verifies with the public keyring, rejects tampering', async (t) => {
    await roundTrip(t, 'EdDSA');
  });

  test('a wrong PIN is a typed error that never shows the PIN, whether or not the process is logged in', async (t) => {
    if (!need(t)) return;
    await generatePkcs11Key({ ...token, keyLabel: 'sealq-pin', alg: 'ES256' });
    const check = (e: unknown): void => {
      assert.ok(e instanceof Pkcs11Error, `expected Pkcs11Error, got ${inspect(e)}`);
      assert.equal(e.code, 'ERR_PKCS11');
      assert.equal(e.ckr, 'CKR_PIN_INCORRECT');
      assert.match(e.message, /wrong PIN/);
      assert.ok(!everything(e).includes(WRONG_PIN), 'the wrong PIN is not in the error');
      assert.ok(!everything(e).includes(PIN), 'the right PIN is not in the error');
    };
    // No session open: the token itself checks the PIN.
    for (const k of opened.splice(0)) await k.close();
    check(await rejects(openPkcs11Key({ ...token, pin: WRONG_PIN, keyLabel: 'sealq-pin', kid: 'pin', alg: 'ES256' })));
    // Logged in already (login is per process and token): the token would not look at the PIN, sealq does.
    const good = await openKey({ ...token, keyLabel: 'sealq-pin', kid: 'pin', alg: 'ES256' });
    check(await rejects(openPkcs11Key({ ...token, pin: WRONG_PIN, keyLabel: 'sealq-pin', kid: 'pin2', alg: 'ES256' })));
    const ring = new Keyring([good.key]);
    open(ring.toPublic(), seal(ring, 'still signing', { ctx: CTX }), { ctx: CTX });
  });

  test('the PIN comes from SEALQ_PKCS11_PIN by default and is not visible on the key', async (t) => {
    if (!need(t)) return;
    await generatePkcs11Key({ ...token, keyLabel: 'sealq-env', alg: 'ES256' });
    const { pin: _pin, ...noPin } = token;
    const saved = process.env.SEALQ_PKCS11_PIN;
    try {
      delete process.env.SEALQ_PKCS11_PIN;
      const missing = await rejects(openPkcs11Key({ ...noPin, keyLabel: 'sealq-env', kid: 'env', alg: 'ES256' }));
      assert.ok(missing instanceof InvalidArgumentError);
      assert.match(missing.message, /SEALQ_PKCS11_PIN/);

      process.env.SEALQ_PKCS11_PIN = PIN;
      const k = await openKey({ ...noPin, keyLabel: 'sealq-env', kid: 'env', alg: 'ES256' });
      const ring = new Keyring([k.key]);
      for (const shown of [inspect(k, { depth: 10 }), inspect(k.key), inspect(ring), JSON.stringify(ring), JSON.stringify(k.key)]) {
        assert.ok(!shown.includes(PIN), `the PIN is not in ${shown}`);
      }
      open(ring.toPublic(), seal(ring, 'x', { ctx: CTX }), { ctx: CTX });
    } finally {
      if (saved === undefined) delete process.env.SEALQ_PKCS11_PIN;
      else process.env.SEALQ_PKCS11_PIN = saved;
    }
  });

  test('opens by slot id and key id, not only by labels', async (t) => {
    if (!need(t)) return;
    const made = await generatePkcs11Key({ ...token, keyLabel: 'sealq-by-id', alg: 'ES256' });
    const first = await openKey({ ...token, keyLabel: 'sealq-by-id', kid: 'by-label', alg: 'ES256' });
    const k = await openKey({ module, slot: first.token.slot, pin: PIN, keyId: made.keyId, kid: 'by-id', alg: 'ES256' });
    const ring = new Keyring([k.key]);
    open(Keyring.fromJwks({ keys: [exportPublicJwk(k.key)] }), seal(ring, 'x', { ctx: CTX }), { ctx: CTX });
  });

  test('async mode signs on the thread pool: sealAsync works, concurrent signatures queue on the session', async (t) => {
    if (!need(t)) return;
    await generatePkcs11Key({ ...token, keyLabel: 'sealq-async', alg: 'ES256' });
    const k = await openKey({ ...token, keyLabel: 'sealq-async', kid: 'async', alg: 'ES256', mode: 'async' });
    const ring = new Keyring([k.key]);
    const pub = ring.toPublic();
    assert.throws(() => seal(ring, 'x', { ctx: CTX }), InvalidArgumentError, 'seal() says to use sealAsync');
    const envelopes = await Promise.all(Array.from({ length: 25 }, (_, i) => sealAsync(ring, `job ${i}`, { ctx: CTX })));
    envelopes.forEach((env, i) => assert.equal(open(pub, env, { ctx: CTX }).payload.toString(), `job ${i}`));
  });

  test('a lost session is reopened once and signing goes on', async (t) => {
    if (!need(t)) return;
    await generatePkcs11Key({ ...token, keyLabel: 'sealq-reconnect', alg: 'ES256' });
    const k = await openKey({ ...token, keyLabel: 'sealq-reconnect', kid: 'reconnect', alg: 'ES256' });
    const ring = new Keyring([k.key]);
    open(ring.toPublic(), seal(ring, 'before', { ctx: CTX }), { ctx: CTX });

    // Another user of the same module in this process closes every session on the token,
    // as a token reset or an HSM failover would.
    const { PKCS11 } = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
    const other = new PKCS11();
    other.load(module);
    try {
      other.C_Initialize();
    } catch (e) {
      assert.match((e as Error).message, /CKR_CRYPTOKI_ALREADY_INITIALIZED/);
    }
    const slot = other.C_GetSlotList(true).find((s) => other.C_GetTokenInfo(s).label.trimEnd() === TOKEN)!;
    other.C_CloseAllSessions(slot);
    other.close();

    open(ring.toPublic(), seal(ring, 'after', { ctx: CTX }), { ctx: CTX });
  });

  test('two keys share the module; closing one leaves the other signing; a closed key refuses', async (t) => {
    if (!need(t)) return;
    await generatePkcs11Key({ ...token, keyLabel: 'sealq-a', alg: 'ES256' });
    await generatePkcs11Key({ ...token, keyLabel: 'sealq-b', alg: 'ES256' });
    const a = await openKey({ ...token, keyLabel: 'sealq-a', kid: 'a', alg: 'ES256' });
    const b = await openKey({ ...token, keyLabel: 'sealq-b', kid: 'b', alg: 'ES256' });
    await a.close();
    await a.close(); // idempotent
    const ringB = new Keyring([b.key]);
    open(ringB.toPublic(), seal(ringB, 'x', { ctx: CTX }), { ctx: CTX });
    assert.throws(() => seal(new Keyring([a.key]), 'x', { ctx: CTX }), (e: unknown) => e instanceof Pkcs11Error && /closed/.test(e.message));
  });

  test('clear errors for a missing key, a missing token, a taken label and a wrong curve', async (t) => {
    if (!need(t)) return;
    const noKey = await rejects(openPkcs11Key({ ...token, keyLabel: 'no-such-key', kid: 'x', alg: 'ES256' }));
    assert.ok(noKey instanceof Pkcs11Error);
    assert.match(noKey.message, /no P-256 private key with label "no-such-key" on token "sealq-test"/);

    const noToken = await rejects(openPkcs11Key({ ...token, tokenLabel: 'no-such-token', keyLabel: 'k', kid: 'x', alg: 'ES256' }));
    assert.ok(noToken instanceof Pkcs11Error);
    assert.match(noToken.message, /no PKCS#11 token with label "no-such-token".*"sealq-test"/);

    await generatePkcs11Key({ ...token, keyLabel: 'sealq-taken', alg: 'ES256' });
    const taken = await rejects(generatePkcs11Key({ ...token, keyLabel: 'sealq-taken', alg: 'ES256' }));
    assert.ok(taken instanceof Pkcs11Error);
    assert.match(taken.message, /already has a key labelled "sealq-taken"/);

    // A P-256 key asked for as EdDSA: looked up as an Ed25519 key, so not found.
    const curve = await rejects(openPkcs11Key({ ...token, keyLabel: 'sealq-taken', kid: 'x', alg: 'EdDSA' }));
    assert.ok(curve instanceof Pkcs11Error);
    assert.match(curve.message, /no Ed25519 private key/);

    const badModule = await rejects(openPkcs11Key({ ...token, module: join(dir!, 'missing.so'), keyLabel: 'k', kid: 'x', alg: 'ES256' }));
    assert.ok(badModule instanceof Pkcs11Error);
    assert.match(badModule.message, /cannot load the PKCS#11 module/);

    await assert.rejects(openPkcs11Key({ ...token, kid: 'x', alg: 'ES256' }), InvalidArgumentError);
    await assert.rejects(openPkcs11Key({ ...token, keyLabel: 'k', kid: 'x', alg: 'PS256' as Pkcs11Alg }), InvalidArgumentError);
  });
});

function mkdirTokens(dir: string): void {
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
}
