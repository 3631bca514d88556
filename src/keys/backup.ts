import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError, InvalidKeyringError, SealqError } from '../errors.js';
import { Keyring } from './keyring.js';

/**
 * Encrypted keyring backups: the private JWKS sealed under a passphrase.
 *
 * File format (JSON, version 1):
 *   {
 *     "format": "sealq-keyring-backup", "version": 1,
 *     "created_at": RFC 3339, "kids": [key ids, in keyring order],
 *     "kdf": { "name": "scrypt", "N": 131072, "r": 8, "p": 1, "salt": base64url(16 bytes) },
 *     "cipher": { "name": "A256GCM", "nonce": base64url(12 bytes) },
 *     "check": base64url(16 bytes),
 *     "ciphertext": base64url, "tag": base64url(16 bytes)
 *   }
 * scrypt(NFC UTF-8 passphrase, salt, 64 bytes): the first 32 bytes are the AES-256-GCM key, the
 * last 32 an HMAC-SHA256 key whose tag over a fixed label and the salt is `check`, so a wrong
 * passphrase is told apart from a damaged file. Every member but ciphertext and tag is
 * authenticated as GCM additional data (re-serialised in the fixed order above), so the key ids
 * and parameters in the clear cannot be altered unnoticed.
 */

/** The passphrase does not open this backup. */
export class BackupPassphraseError extends SealqError {
  override readonly code = 'ERR_BACKUP_PASSPHRASE';
}
/** Not a sealq keyring backup, or one this version cannot read. */
export class BackupMalformedError extends SealqError {
  override readonly code = 'ERR_BACKUP_MALFORMED';
}
/** The passphrase is right but the file was altered or damaged: nothing in it can be trusted. */
export class BackupTamperedError extends SealqError {
  override readonly code = 'ERR_BACKUP_TAMPERED';
}

export const BACKUP_FORMAT = 'sealq-keyring-backup';
export const BACKUP_VERSION = 1;

/** scrypt cost: N=2^17, r=8, p=1 (128 MiB, about half a second), as recommended for file encryption. */
export const DEFAULT_BACKUP_KDF = { N: 2 ** 17, r: 8, p: 1 } as const;
/** Passphrases shorter than this are refused when exporting. */
export const MIN_PASSPHRASE_LENGTH = 12;

// Bounds on what a backup file may ask for, checked before scrypt runs: a hostile file must not
// make an import allocate gigabytes or burn a minute of CPU before the passphrase is even checked.
// A little above the default (N=2^17, r=8, p=1: N*r*p = 2^20, 128 MiB): N*r*p at most 2^21, which
// caps memory (128*N*r bytes) at 256 MiB and the work at about twice the default.
const MIN_N = 2 ** 14;
const MAX_N = 2 ** 18;
const MAX_R = 16;
const MAX_P = 4;
const MAX_NRP = 2 ** 21;
const CHECK_LABEL = 'sealq keyring backup v1 passphrase check';

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export interface ExportBackupOptions {
  /** scrypt cost; default DEFAULT_BACKUP_KDF. Lower N only for tests (minimum 2^14). */
  kdf?: Partial<ScryptParams>;
  /** Time written as created_at (ms), for tests. */
  now?: number;
}

export interface BackupInfo {
  readonly version: number;
  readonly createdAt: string;
  readonly kids: readonly string[];
  readonly kdf: ScryptParams;
}

interface Parsed extends BackupInfo {
  readonly salt: Buffer;
  readonly nonce: Buffer;
  readonly check: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

function checkParams(p: ScryptParams, make: (m: string) => SealqError): void {
  if (!Number.isSafeInteger(p.N) || p.N < MIN_N || p.N > MAX_N || (p.N & (p.N - 1)) !== 0) throw make(`scrypt N must be a power of two from 2^14 to 2^18, got ${String(p.N).slice(0, 20)}`);
  if (!Number.isSafeInteger(p.r) || p.r < 1 || p.r > MAX_R) throw make(`scrypt r must be 1 to ${MAX_R}, got ${String(p.r).slice(0, 20)}`);
  if (!Number.isSafeInteger(p.p) || p.p < 1 || p.p > MAX_P) throw make(`scrypt p must be 1 to ${MAX_P}, got ${String(p.p).slice(0, 20)}`);
  if (p.N * p.r * p.p > MAX_NRP) {
    throw make(`scrypt N*r*p is ${p.N * p.r * p.p}, more than 2^21 (the default is 2^20): it would cost ${(128 * p.N * p.r) / 2 ** 20} MiB and ${(p.N * p.r * p.p) / 2 ** 20}x the default work before the passphrase can be checked`);
  }
}

function passphraseBytes(passphrase: string | Uint8Array): Buffer {
  if (typeof passphrase === 'string') return Buffer.from(passphrase.normalize('NFC'), 'utf8');
  if (passphrase instanceof Uint8Array) return Buffer.from(passphrase);
  throw new InvalidArgumentError('the passphrase must be a string or bytes');
}

function derive(passphrase: Buffer, salt: Buffer, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // node's default maxmem (32 MiB) is below N=2^17, r=8 (128 MiB): allow what the parameters need.
    scrypt(passphrase, salt, 64, { N: p.N, r: p.r, p: p.p, maxmem: 128 * p.N * p.r + 128 * p.r * p.p + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const checkTag = (key: Buffer, salt: Buffer): Buffer => createHmac('sha256', key.subarray(32)).update(CHECK_LABEL).update(salt).digest().subarray(0, 16);

/** The authenticated header, serialised in one fixed order from validated values. */
function aad(h: { createdAt: string; kids: readonly string[]; kdf: ScryptParams; salt: Buffer; nonce: Buffer; check: Buffer }): Buffer {
  return Buffer.from(JSON.stringify({
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    created_at: h.createdAt,
    kids: h.kids,
    kdf: { name: 'scrypt', N: h.kdf.N, r: h.kdf.r, p: h.kdf.p, salt: h.salt.toString('base64url') },
    cipher: { name: 'A256GCM', nonce: h.nonce.toString('base64url') },
    check: h.check.toString('base64url'),
  }), 'utf8');
}

/** Seals a keyring (its private JWKS) under a passphrase; returns the backup file's text. */
export async function exportEncryptedKeyring(keyring: Keyring, passphrase: string | Uint8Array, options: ExportBackupOptions = {}): Promise<string> {
  if (!(keyring instanceof Keyring)) throw new InvalidArgumentError('exportEncryptedKeyring needs a Keyring');
  if (keyring.size === 0) throw new InvalidArgumentError('the keyring is empty: a backup of it could never be imported (a keyring needs at least one key)');
  const pass = passphraseBytes(passphrase);
  if ((typeof passphrase === 'string' ? [...passphrase].length : pass.length) < MIN_PASSPHRASE_LENGTH) {
    throw new InvalidArgumentError(`the passphrase is too short: use at least ${MIN_PASSPHRASE_LENGTH} characters (a few random words)`);
  }
  const kdf: ScryptParams = { ...DEFAULT_BACKUP_KDF, ...options.kdf };
  checkParams(kdf, (m) => new InvalidArgumentError(m));
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = await derive(pass, salt, kdf);
  pass.fill(0);
  const header = {
    createdAt: new Date(options.now ?? Date.now()).toISOString(),
    kids: keyring.keys().map((k) => k.kid),
    kdf,
    salt,
    nonce,
    check: checkTag(key, salt),
  };
  const plain = Buffer.from(JSON.stringify(keyring.toPrivateJwks()), 'utf8');
  const cipher = createCipheriv('aes-256-gcm', key.subarray(0, 32), nonce);
  cipher.setAAD(aad(header));
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const tag = cipher.getAuthTag();
  plain.fill(0);
  key.fill(0);
  const file = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    created_at: header.createdAt,
    kids: header.kids,
    kdf: { name: 'scrypt', N: kdf.N, r: kdf.r, p: kdf.p, salt: salt.toString('base64url') },
    cipher: { name: 'A256GCM', nonce: nonce.toString('base64url') },
    check: header.check.toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
    tag: tag.toString('base64url'),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function parseBackup(text: string | Uint8Array): Parsed {
  const bad = (what: string): never => {
    throw new BackupMalformedError(`not a valid sealq keyring backup: ${what}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    bad('it is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad('expected a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== BACKUP_FORMAT) bad(`"format" must be "${BACKUP_FORMAT}"`);
  if (d.version !== BACKUP_VERSION) {
    throw new BackupMalformedError(`keyring backup version ${JSON.stringify(d.version)} is not supported by this sealq (it reads version ${BACKUP_VERSION}); use a newer sealq`);
  }
  const b64 = (v: unknown, field: string, len?: number): Buffer => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9_-]*$/.test(v)) return bad(`${field} must be base64url`);
    const b = Buffer.from(v, 'base64url');
    // Only the canonical encoding: a changed character must never decode to the same bytes.
    if (b.toString('base64url') !== v) return bad(`${field} is not canonical base64url`);
    if (len !== undefined && b.length !== len) return bad(`${field} must be ${len} bytes`);
    return b;
  };
  const kdf = d.kdf as Record<string, unknown> | null;
  if (typeof kdf !== 'object' || kdf === null || kdf.name !== 'scrypt') bad('kdf.name must be "scrypt"');
  const params: ScryptParams = { N: kdf!.N as number, r: kdf!.r as number, p: kdf!.p as number };
  checkParams(params, (m) => new BackupMalformedError(`not a valid sealq keyring backup: ${m}`));
  const cipher = d.cipher as Record<string, unknown> | null;
  if (typeof cipher !== 'object' || cipher === null || cipher.name !== 'A256GCM') bad('cipher.name must be "A256GCM"');
  if (typeof d.created_at !== 'string' || !Number.isFinite(Date.parse(d.created_at))) bad('created_at must be a timestamp');
  if (!Array.isArray(d.kids) || !d.kids.every((k) => typeof k === 'string')) bad('kids must be a list of key ids');
  return {
    version: BACKUP_VERSION,
    createdAt: d.created_at as string,
    kids: d.kids as string[],
    kdf: params,
    salt: b64(kdf!.salt, 'kdf.salt', 16),
    nonce: b64(cipher!.nonce, 'cipher.nonce', 12),
    check: b64(d.check, 'check', 16),
    ciphertext: b64(d.ciphertext, 'ciphertext'),
    tag: b64(d.tag, 'tag', 16),
  };
}

/** What a backup says about itself, without the passphrase (unverified until imported). */
export function readBackupInfo(text: string | Uint8Array): BackupInfo {
  const p = parseBackup(text);
  return { version: p.version, createdAt: p.createdAt, kids: p.kids, kdf: p.kdf };
}

/**
 * Opens a backup written by exportEncryptedKeyring. A wrong passphrase is ERR_BACKUP_PASSPHRASE,
 * an altered or damaged file ERR_BACKUP_TAMPERED, something that is not a backup
 * ERR_BACKUP_MALFORMED.
 */
export async function importEncryptedKeyring(text: string | Uint8Array, passphrase: string | Uint8Array): Promise<Keyring> {
  const p = parseBackup(text);
  const pass = passphraseBytes(passphrase);
  const key = await derive(pass, p.salt, p.kdf);
  pass.fill(0);
  try {
    if (!timingSafeEqual(checkTag(key, p.salt), p.check)) {
      throw new BackupPassphraseError('wrong passphrase for this keyring backup (or its kdf/check members were altered): check SEALQ_PASSPHRASE or the passphrase file');
    }
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.subarray(0, 32), p.nonce, { authTagLength: 16 });
      decipher.setAAD(aad(p));
      decipher.setAuthTag(p.tag);
      plain = Buffer.concat([decipher.update(p.ciphertext), decipher.final()]);
    } catch {
      throw new BackupTamperedError('the keyring backup was altered or damaged (authentication failed): restore it from another copy; nothing was imported');
    }
    try {
      const keyring = Keyring.fromJwks(plain);
      const kids = keyring.keys().map((k) => k.kid);
      if (kids.length !== p.kids.length || kids.some((k, i) => k !== p.kids[i])) {
        throw new BackupTamperedError('the key ids listed in the backup do not match the keys inside it; nothing was imported');
      }
      return keyring;
    } catch (e) {
      if (e instanceof InvalidKeyringError) throw new BackupMalformedError(`the backup decrypted but does not hold a valid keyring: ${e.message}`);
      throw e;
    } finally {
      plain.fill(0);
    }
  } finally {
    key.fill(0);
  }
}
