/**
 * Encrypted keyring backups: round trip for every algorithm, wrong passphrase, and a tampered
 * byte in every part of the file, each a clear typed error.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BackupMalformedError,
  BackupPassphraseError,
  BackupTamperedError,
  DEFAULT_BACKUP_KDF,
  Keyring,
  addKey,
  exportEncryptedKeyring,
  importEncryptedKeyring,
  promoteKey,
  readBackupInfo,
  retireKey,
} from '../src/index.js';

const PASS = 'correct horse battery staple';
// Tests use the smallest accepted scrypt cost (2^14) to stay quick; one test runs the default.
const FAST = { kdf: { N: 2 ** 14 } };
const T0 = 1_800_000_000_000;

function richKeyring(): Keyring {
  let k = addKey(new Keyring([]), 'EdDSA', { kid: 'ed-1', primary: true, policy: { ctx: ['billing.*'], typ: ['*'] }, now: T0 });
  k = addKey(k, 'HS256', { kid: 'hs-1', now: T0 });
  k = addKey(k, 'ES256', { kid: 'es-1', now: T0 });
  k = addKey(k, 'PS256', { kid: 'ps-1', now: T0 });
  k = addKey(k, 'HS512', { kid: 'hs-512', now: T0 });
  k = promoteKey(k, 'es-1', { now: T0 + 3_600_000 });
  k = retireKey(k, 'hs-1', { now: T0 + 7_200_000 });
  return k;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped ${String(e)}`;
  }
  return 'ok';
}

describe('round trip', () => {
  test('every algorithm, with status, validity, policy and lifecycle stamps', async () => {
    const ring = richKeyring();
    const text = await exportEncryptedKeyring(ring, PASS, FAST);
    const back = await importEncryptedKeyring(text, PASS);
    assert.deepEqual(back.toPrivateJwks(), ring.toPrivateJwks());
    assert.equal(back.primary!.kid, 'es-1');
  });

  test('the file names its format, KDF parameters, salt, nonce and key ids in the clear, never key material', async () => {
    const ring = richKeyring();
    const text = await exportEncryptedKeyring(ring, PASS, { ...FAST, now: T0 });
    const doc = JSON.parse(text);
    assert.equal(doc.format, 'sealq-keyring-backup');
    assert.equal(doc.version, 1);
    assert.equal(doc.created_at, new Date(T0).toISOString());
    assert.deepEqual(doc.kids, ['ed-1', 'hs-1', 'es-1', 'ps-1', 'hs-512']);
    assert.deepEqual({ name: doc.kdf.name, N: doc.kdf.N, r: doc.kdf.r, p: doc.kdf.p }, { name: 'scrypt', N: 2 ** 14, r: 8, p: 1 });
    assert.equal(Buffer.from(doc.kdf.salt, 'base64url').length, 16);
    assert.equal(doc.cipher.name, 'A256GCM');
    assert.equal(Buffer.from(doc.cipher.nonce, 'base64url').length, 12);
    for (const jwk of ring.toPrivateJwks().keys) {
      for (const m of ['k', 'd', 'p', 'q']) if (typeof jwk[m] === 'string') assert.ok(!text.includes(jwk[m] as string), `${jwk.kid}.${m} must not appear`);
    }
    assert.deepEqual(readBackupInfo(text), { version: 1, createdAt: new Date(T0).toISOString(), kids: doc.kids, kdf: { N: 2 ** 14, r: 8, p: 1 } });
  });

  test('two exports of the same keyring differ (fresh salt and nonce)', async () => {
    const ring = richKeyring();
    const a = JSON.parse(await exportEncryptedKeyring(ring, PASS, FAST));
    const b = JSON.parse(await exportEncryptedKeyring(ring, PASS, FAST));
    assert.notEqual(a.kdf.salt, b.kdf.salt);
    assert.notEqual(a.cipher.nonce, b.cipher.nonce);
    assert.notEqual(a.ciphertext, b.ciphertext);
  });

  test('the default cost is scrypt N=2^17, r=8, p=1 (128 MiB, above node\'s default maxmem) and works', async () => {
    assert.deepEqual(DEFAULT_BACKUP_KDF, { N: 131072, r: 8, p: 1 });
    const ring = Keyring.generate('EdDSA', { kid: 'only' });
    const text = await exportEncryptedKeyring(ring, PASS);
    assert.equal(JSON.parse(text).kdf.N, 131072);
    assert.deepEqual((await importEncryptedKeyring(text, PASS)).toPrivateJwks(), ring.toPrivateJwks());
  });

  test('passphrases are compared after Unicode NFC normalisation; bytes work too', async () => {
    const ring = Keyring.generate('HS256', { kid: 'h' });
    const text = await exportEncryptedKeyring(ring, 'caf\u00e9 au lait, bitte!', FAST);
    assert.equal((await importEncryptedKeyring(text, 'cafe\u0301 au lait, bitte!')).primary!.kid, 'h');
    const bytes = await exportEncryptedKeyring(ring, Buffer.from('0123456789abcdef'), FAST);
    assert.equal((await importEncryptedKeyring(bytes, '0123456789abcdef')).primary!.kid, 'h');
  });
});

describe('refusals', () => {
  test('wrong passphrase: ERR_BACKUP_PASSPHRASE with a message that says so', async () => {
    const text = await exportEncryptedKeyring(richKeyring(), PASS, FAST);
    await assert.rejects(importEncryptedKeyring(text, 'correct horse battery stapl'), (e: unknown) => {
      assert.ok(e instanceof BackupPassphraseError);
      assert.equal(e.code, 'ERR_BACKUP_PASSPHRASE');
      assert.match(e.message, /wrong passphrase/);
      return true;
    });
  });

  test('a short passphrase is refused on export', async () => {
    assert.equal(await codeOf(exportEncryptedKeyring(richKeyring(), 'short', FAST)), 'ERR_INVALID_ARGUMENT');
    assert.equal(await codeOf(exportEncryptedKeyring(richKeyring(), '', FAST)), 'ERR_INVALID_ARGUMENT');
  });

  test('weak or absurd KDF parameters are refused (export and import), before any derivation', async () => {
    assert.equal(await codeOf(exportEncryptedKeyring(richKeyring(), PASS, { kdf: { N: 1024 } })), 'ERR_INVALID_ARGUMENT');
    const doc = JSON.parse(await exportEncryptedKeyring(richKeyring(), PASS, FAST));
    for (const [field, value] of [['N', 2 ** 30], ['N', 3], ['N', '16384'], ['r', 0], ['r', 1000], ['p', 99]] as const) {
      const bad = { ...doc, kdf: { ...doc.kdf, [field]: value } };
      assert.equal(await codeOf(importEncryptedKeyring(JSON.stringify(bad), PASS)), 'ERR_BACKUP_MALFORMED', `${field}=${value}`);
    }
  });

  test('a hostile file asking for a costly scrypt is refused before scrypt runs (N, r, p and N*r*p bounded)', async () => {
    const doc = JSON.parse(await exportEncryptedKeyring(richKeyring(), PASS, FAST));
    const hostile: Array<[string, { N: number; r: number; p: number }]> = [
      ['1 GiB of memory', { N: 2 ** 20, r: 8, p: 1 }],
      ['16 times the default work', { N: 2 ** 17, r: 8, p: 16 }],
      ['512 MiB, N*r*p = 2^22', { N: 2 ** 18, r: 16, p: 1 }],
      ['N above 2^18', { N: 2 ** 19, r: 1, p: 1 }],
      ['r above 16', { N: 2 ** 14, r: 17, p: 1 }],
      ['p above 4', { N: 2 ** 14, r: 1, p: 5 }],
      ['N*r*p = 2^22 with small N', { N: 2 ** 16, r: 16, p: 4 }],
    ];
    for (const [what, kdf] of hostile) {
      const text = JSON.stringify({ ...doc, kdf: { ...doc.kdf, ...kdf } });
      assert.throws(() => readBackupInfo(text), BackupMalformedError, what);
      // The passphrase is right: only the parameters can make this fail, and they must fail first.
      await assert.rejects(importEncryptedKeyring(text, PASS), (e: unknown) => {
        assert.ok(e instanceof BackupMalformedError, `${what}: ${String(e)}`);
        assert.match(e.message, /scrypt/);
        return true;
      });
    }
    // The default and a little above it are within the bounds.
    for (const kdf of [DEFAULT_BACKUP_KDF, { N: 2 ** 18, r: 8, p: 1 }, { N: 2 ** 17, r: 8, p: 2 }, { N: 2 ** 14, r: 16, p: 4 }]) {
      assert.deepEqual(readBackupInfo(JSON.stringify({ ...doc, kdf: { ...doc.kdf, ...kdf } })).kdf, { ...kdf });
    }
    assert.equal(await codeOf(exportEncryptedKeyring(richKeyring(), PASS, { kdf: { N: 2 ** 20 } })), 'ERR_INVALID_ARGUMENT');
  });

  test('an empty keyring is not backed up: its backup could never be imported', async () => {
    assert.equal(await codeOf(exportEncryptedKeyring(new Keyring([]), PASS, FAST)), 'ERR_INVALID_ARGUMENT');
  });

  test('not a backup, or a future version: ERR_BACKUP_MALFORMED', async () => {
    const doc = JSON.parse(await exportEncryptedKeyring(richKeyring(), PASS, FAST));
    for (const text of ['', 'hello', '[]', '{}', JSON.stringify(richKeyring().toPrivateJwks()), JSON.stringify({ ...doc, format: 'x' })]) {
      assert.equal(await codeOf(importEncryptedKeyring(text, PASS)), 'ERR_BACKUP_MALFORMED', text.slice(0, 30));
    }
    await assert.rejects(importEncryptedKeyring(JSON.stringify({ ...doc, version: 2 }), PASS), (e: unknown) => e instanceof BackupMalformedError && /version 2 is not supported/.test(e.message));
  });
});

describe('tampering: a byte flipped in each part', () => {
  const flipB64 = (v: string, at: 'first' | 'middle' | 'last'): string => {
    const b = Buffer.from(v, 'base64url');
    const i = at === 'first' ? 0 : at === 'last' ? b.length - 1 : b.length >> 1;
    b[i]! ^= 0x01;
    return b.toString('base64url');
  };

  test('binary parts: nonce, ciphertext and tag -> ERR_BACKUP_TAMPERED; salt and check -> ERR_BACKUP_PASSPHRASE', async () => {
    const doc = JSON.parse(await exportEncryptedKeyring(richKeyring(), PASS, FAST));
    const variants: Array<[string, (d: typeof doc, at: 'first' | 'middle' | 'last') => unknown, string]> = [
      ['cipher.nonce', (d, at) => ({ ...d, cipher: { ...d.cipher, nonce: flipB64(d.cipher.nonce, at) } }), 'ERR_BACKUP_TAMPERED'],
      ['ciphertext', (d, at) => ({ ...d, ciphertext: flipB64(d.ciphertext, at) }), 'ERR_BACKUP_TAMPERED'],
      ['tag', (d, at) => ({ ...d, tag: flipB64(d.tag, at) }), 'ERR_BACKUP_TAMPERED'],
      // A different salt or check derives or expects another key: indistinguishable from a wrong passphrase, and reported so.
      ['kdf.salt', (d, at) => ({ ...d, kdf: { ...d.kdf, salt: flipB64(d.kdf.salt, at) } }), 'ERR_BACKUP_PASSPHRASE'],
      ['check', (d, at) => ({ ...d, check: flipB64(d.check, at) }), 'ERR_BACKUP_PASSPHRASE'],
    ];
    for (const [name, mutate, expected] of variants) {
      for (const at of ['first', 'middle', 'last'] as const) {
        assert.equal(await codeOf(importEncryptedKeyring(JSON.stringify(mutate(doc, at)), PASS)), expected, `${name} (${at} byte)`);
      }
    }
  });

  test('clear parts are authenticated: key ids, created_at, KDF cost -> typed errors', async () => {
    const doc = JSON.parse(await exportEncryptedKeyring(richKeyring(), PASS, FAST));
    const cases: Array<[string, unknown, string]> = [
      ['kids: one renamed', { ...doc, kids: ['ed-2', ...doc.kids.slice(1)] }, 'ERR_BACKUP_TAMPERED'],
      ['kids: one dropped', { ...doc, kids: doc.kids.slice(1) }, 'ERR_BACKUP_TAMPERED'],
      ['kids: reordered', { ...doc, kids: [...doc.kids].reverse() }, 'ERR_BACKUP_TAMPERED'],
      ['created_at', { ...doc, created_at: '2020-01-01T00:00:00.000Z' }, 'ERR_BACKUP_TAMPERED'],
      ['kdf.N', { ...doc, kdf: { ...doc.kdf, N: 2 ** 15 } }, 'ERR_BACKUP_PASSPHRASE'],
      ['kdf.r', { ...doc, kdf: { ...doc.kdf, r: 9 } }, 'ERR_BACKUP_PASSPHRASE'],
      ['cipher.name', { ...doc, cipher: { ...doc.cipher, name: 'A128GCM' } }, 'ERR_BACKUP_MALFORMED'],
      ['tag truncated', { ...doc, tag: Buffer.from(doc.tag, 'base64url').subarray(0, 12).toString('base64url') }, 'ERR_BACKUP_MALFORMED'],
      ['ciphertext truncated', { ...doc, ciphertext: doc.ciphertext.slice(0, 40) }, 'ERR_BACKUP_TAMPERED'],
      ['non-canonical base64', { ...doc, tag: `${doc.tag.slice(0, -1)}${doc.tag.at(-1) === 'A' ? 'B' : 'A'}` }, 'ERR_BACKUP_'],
    ];
    for (const [name, bad, expected] of cases) {
      const got = await codeOf(importEncryptedKeyring(JSON.stringify(bad), PASS));
      assert.ok(got.startsWith(expected), `${name}: expected ${expected}, got ${got}`);
    }
  });

  test('any single flipped bit anywhere in the file gives a typed backup error, never a keyring', async () => {
    const text = await exportEncryptedKeyring(Keyring.generate('EdDSA', { kid: 'k' }), PASS, FAST);
    const bytes = Buffer.from(text, 'utf8');
    // Every 11th byte keeps the test quick (each import runs scrypt) while touching every member.
    const codes = new Set<string>();
    for (let i = 0; i < bytes.length; i += 11) {
      const b = Buffer.from(bytes);
      b[i]! ^= 0x01;
      const got = await codeOf(importEncryptedKeyring(b, PASS));
      assert.match(got, /^ERR_BACKUP_(PASSPHRASE|TAMPERED|MALFORMED)$/, `byte ${i} (${JSON.stringify(text[i])}): ${got}`);
      codes.add(got);
    }
    assert.deepEqual([...codes].sort(), ['ERR_BACKUP_MALFORMED', 'ERR_BACKUP_PASSPHRASE', 'ERR_BACKUP_TAMPERED']);
  });

  test('error classes are SealqErrors with stable codes and no stack noise in messages', () => {
    for (const [E, c] of [[BackupPassphraseError, 'ERR_BACKUP_PASSPHRASE'], [BackupTamperedError, 'ERR_BACKUP_TAMPERED'], [BackupMalformedError, 'ERR_BACKUP_MALFORMED']] as const) {
      const e = new E('x');
      assert.equal(e.code, c);
      assert.equal(e.rejection, false);
    }
  });
});
