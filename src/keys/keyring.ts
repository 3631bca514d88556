import { separatorsOutsideStrings } from '../json-members.js';
import type { Alg } from '../crypto/algorithms.js';
import { InvalidKeyringError, NoSigningKeyError, SealqError } from '../errors.js';
import { INSPECT } from '../redact.js';
import { generateKey } from './generate.js';
import type { GenerateKeyOptions } from './generate.js';
import { exportPrivateJwk, exportPublicJwk, importJwk } from './jwk.js';
import type { Jwks } from './jwk.js';
import type { KeyInfo } from './key.js';
import { SealKey } from './key.js';

const KID = /^[\x21-\x7e]{1,128}$/;

/**
 * Anything that holds the keyring currently in force, such as a keyring reloaded from a file
 * when it changes. seal/open accept one wherever they accept a Keyring and read it per message,
 * so a rotation takes effect without a restart.
 */
export interface KeyringSource {
  readonly keyring: Keyring;
}

/** @internal */
export function current(k: Keyring | KeyringSource): Keyring {
  return k instanceof Keyring ? k : k.keyring;
}
const MAX_KEYS = 1000;

/**
 * @internal True when text that should be keyring JSON looks like a file path instead (absolute,
 * ./ or ../ or ~/, a drive letter, or a .json / .jwks name), to say so in the error.
 */
export function looksLikePath(text: string): boolean {
  const t = text.trim();
  if (t === '' || t.length > 4096 || /[{}\n\r]/.test(t)) return false;
  return /^(?:\/|\.{1,2}[\\/]|~[\\/]|[A-Za-z]:[\\/])/.test(t) || /\.(?:json|jwks)$/i.test(t);
}

/**
 * A set of keys, JWKS-shaped on disk: at most one primary key (which signs) and any number of
 * verify-only keys. Immutable: every change returns a new Keyring, so a running consumer can swap
 * keyrings atomically. toJSON and inspect show key ids and statuses, never material.
 */
export class Keyring {
  readonly #byKid: ReadonlyMap<string, SealKey>;
  readonly #primary: SealKey | undefined;

  constructor(keys: Iterable<SealKey>) {
    const byKid = new Map<string, SealKey>();
    let primary: SealKey | undefined;
    for (const key of keys) {
      if (!(key instanceof SealKey)) throw new InvalidKeyringError('a keyring holds SealKey objects: use generateKey or importJwk');
      if (!KID.test(key.kid)) throw new InvalidKeyringError(`kid ${JSON.stringify(key.kid.slice(0, 40))} must be 1 to 128 printable ASCII characters without spaces`);
      if (byKid.has(key.kid)) throw new InvalidKeyringError(`kid "${key.kid}" appears twice; every key needs its own kid`);
      if (key.status === 'primary') {
        if (primary !== undefined) throw new InvalidKeyringError(`keys "${primary.kid}" and "${key.kid}" are both primary; a keyring has exactly one primary key`);
        primary = key;
      }
      byKid.set(key.kid, key);
    }
    if (byKid.size > MAX_KEYS) throw new InvalidKeyringError(`a keyring holds at most ${MAX_KEYS} keys`);
    this.#byKid = byKid;
    this.#primary = primary;
  }

  /** A new keyring holding one freshly generated primary key. */
  static generate(alg: Alg, options: GenerateKeyOptions = {}): Keyring {
    return new Keyring([generateKey(alg, { ...options, status: 'primary' })]);
  }

  /** From a JWKS (object or JSON text), as written by toPrivateJwks / toPublicJwks or `sealq keygen`. */
  static fromJwks(jwks: unknown, options: { allowPrivate?: boolean } = {}): Keyring {
    let doc = jwks;
    if (doc === undefined || doc === null) {
      // Most often Keyring.fromJwks(process.env.SEALQ_KEYRING) with the variable unset.
      throw new InvalidKeyringError(`the keyring given was ${String(doc)}: if it comes from an environment variable, that variable is not set; put the keyring JSON (a JWKS like {"keys":[...]}, as written by sealq keygen) in SEALQ_KEYRING, or read a keyring file with readKeyringFileSync`);
    }
    if (typeof doc === 'string' || doc instanceof Uint8Array) {
      const text = typeof doc === 'string' ? doc : Buffer.from(doc).toString('utf8');
      try {
        doc = JSON.parse(text);
      } catch {
        if (text.trim() === '') throw new InvalidKeyringError('the keyring text is empty: expected keyring JSON, a JWKS like {"keys":[...]}');
        if (looksLikePath(text)) {
          throw new InvalidKeyringError('the keyring text looks like a file path, not keyring JSON: read a keyring file with readKeyringFileSync(path); SEALQ_KEYRING holds the JSON itself, so name a file in another variable (e.g. KEYRING_FILE)');
        }
        throw new InvalidKeyringError('the keyring is not valid JSON: expected a JWKS like {"keys":[...]}');
      }
      // JSON.parse keeps the last of a repeated name; another implementation may keep the first
      // and so read another key, status or policy from the same file (SPEC §7.1).
      if (separatorsOutsideStrings(text) !== memberCount(doc)) throw new InvalidKeyringError('the keyring JSON repeats a member name in some object: each name may occur once per object');
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new InvalidKeyringError('a keyring must be a JWKS: a JSON object with a "keys" array');
    // Before importing anything: a document of a million keys is refused without a million imports.
    if (keys.length > MAX_KEYS) throw new InvalidKeyringError(`a keyring holds at most ${MAX_KEYS} keys; this one has ${keys.length}`);
    // Refused when loaded, not at the first message: an empty keyring can neither seal nor open anything.
    if (keys.length === 0) throw new InvalidKeyringError('a keyring needs at least one key, and this one holds no keys: create one with sealq keygen, or sealq key add --create');
    try {
      return new Keyring(keys.map((k: unknown) => importJwk(k, options)));
    } catch (e) {
      if (e instanceof SealqError) throw new InvalidKeyringError(`invalid keyring: ${e.message}`);
      throw e;
    }
  }

  /** The key that signs, if this keyring can sign. */
  get primary(): SealKey | undefined {
    return this.#primary;
  }

  /** @internal The primary signing key, or a clear error. */
  signer(): SealKey {
    const p = this.#primary;
    if (p === undefined || !p.canSign) {
      throw new NoSigningKeyError(p === undefined
        ? 'this keyring has no primary key: mark one key with status "primary" (sealq key promote KID)'
        : `the primary key "${p.kid}" has no private material here (a public keyring verifies only); load the private keyring to seal`);
    }
    return p;
  }

  get(kid: string): SealKey | undefined {
    return this.#byKid.get(kid);
  }

  get size(): number {
    return this.#byKid.size;
  }

  keys(): SealKey[] {
    return [...this.#byKid.values()];
  }

  /** A new keyring with `key` added, or replacing the key of the same kid. */
  with(key: SealKey): Keyring {
    const m = new Map(this.#byKid);
    m.set(key.kid, key);
    return new Keyring(m.values());
  }

  /** A new keyring without `kid`. */
  without(kid: string): Keyring {
    return new Keyring(this.keys().filter((k) => k.kid !== kid));
  }

  /** Private JWKS: handle as a secret (file mode 0600, a secret manager). */
  toPrivateJwks(): Jwks {
    return { keys: this.keys().map(exportPrivateJwk) };
  }

  /** Public JWKS for verifiers: asymmetric keys only; throws if any key is a shared secret. */
  toPublicJwks(): Jwks {
    return { keys: this.keys().map(exportPublicJwk) };
  }

  /** A verify-only copy: private halves dropped (HMAC keys stay, they are one secret). */
  toPublic(): Keyring {
    return new Keyring(this.keys().map((k) => k.toPublic()));
  }

  /** Public facts only: safe to log. */
  toJSON(): { keys: Array<KeyInfo & { canSign: boolean }> } {
    return { keys: this.keys().map((k) => k.toJSON()) };
  }

  /** Key ids, algorithms and statuses, never material: `Keyring { a (EdDSA, primary), b (HS256, active) }`. */
  toString(): string {
    return this.size === 0 ? 'Keyring { no keys }' : `Keyring { ${this.keys().map((k) => `${k.kid} (${k.alg}, ${k.status})`).join(', ')} }`;
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/** Members of every object in a parsed JSON value, nested ones included. */
function memberCount(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + memberCount(x), 0);
  if (typeof v !== 'object' || v === null) return 0;
  let n = 0;
  for (const x of Object.values(v)) n += 1 + memberCount(x);
  return n;
}
