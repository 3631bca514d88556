import { createHash, createHmac, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { PKCS11 } from 'pkcs11js';
import { ALG_SPECS } from '../crypto/algorithms.js';
import { InvalidArgumentError, SealqError } from '../errors.js';
import { INSPECT } from '../redact.js';
import { SealKey } from './key.js';
import type { ExternalSigner, KeyInfo, KeyStatus } from './key.js';
import type { KeyPolicy } from './policy.js';

/**
 * A signing key held on a PKCS#11 token (HSM, smart card, SoftHSM). The private half never
 * enters this process: signing is a C_Sign call on the token. Needs the optional peer
 * dependency `pkcs11js` (a native addon), loaded only when this module is used.
 */

/** A PKCS#11 failure (module, token, login, key lookup, signing). `ckr` is the token's return code. */
export class Pkcs11Error extends SealqError {
  override readonly code = 'ERR_PKCS11';
  /** The PKCS#11 return value name, such as CKR_PIN_INCORRECT, when the token reported one. */
  readonly ckr: string | undefined;

  constructor(message: string, options?: { cause?: unknown; ckr?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.ckr = options?.ckr;
  }
}

export type Pkcs11Alg = 'ES256' | 'EdDSA';

/** Where the token is and how to log in. */
export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 module (shared library), such as the one the softhsm2 package installs. */
  module: string;
  /** Slot id (as `softhsm2-util --show-slots` or `pkcs11-tool -L` print it). */
  slot?: number;
  /** Token label. Give slot or tokenLabel; with neither, the only token present is used. */
  tokenLabel?: string;
  /** User PIN. Default: the environment variable named by `pinEnv`. Never logged or put in errors. */
  pin?: string;
  /** Environment variable holding the PIN when `pin` is not given. Default `SEALQ_PKCS11_PIN`. */
  pinEnv?: string;
}

/** Which key on the token: by label, by id, or both (both must match). */
export interface Pkcs11KeySelector {
  /** CKA_LABEL of the private (and public) key object. */
  keyLabel?: string;
  /** CKA_ID, as hex or bytes. */
  keyId?: string | Uint8Array;
}

export interface OpenPkcs11KeyOptions extends Pkcs11TokenOptions, Pkcs11KeySelector {
  /** The key id messages will carry in their header. */
  kid: string;
  alg: Pkcs11Alg;
  /** Default `primary`: an HSM key is normally there to sign. */
  status?: KeyStatus;
  notBefore?: number;
  notAfter?: number;
  policy?: KeyPolicy;
  /**
   * The public key, for tokens that keep no public key object (only a certificate). Default: read
   * from the token's public key object of the same label/id.
   */
  publicKey?: KeyObject;
  /**
   * `sync` (default): sign() returns the signature, so seal() works; the call blocks the event loop
   * for the token's signing time. `async`: the token call runs on libuv's thread pool and sign()
   * returns a promise, so use sealAsync(); better for slow network HSMs.
   */
  mode?: 'sync' | 'async';
}

/** An open key on a token. Call close() when done; the SealKey stops signing then. */
export interface Pkcs11Key {
  /** Put this in a Keyring; it signs on the token and verifies with the token's public key. */
  readonly key: SealKey;
  /** The public half, for the verifiers' keyring (also `Keyring.toPublicJwks`). */
  readonly publicKey: KeyObject;
  readonly token: { readonly label: string; readonly slot: number; readonly serialNumber: string };
  /** Ends this key's session and, when no other key uses the module, finalizes and unloads it. */
  close(): Promise<void>;
}

export interface GeneratePkcs11KeyOptions extends Pkcs11TokenOptions {
  alg: Pkcs11Alg;
  /** CKA_LABEL for both halves; must not be in use on the token yet. */
  keyLabel: string;
  /** CKA_ID for both halves (hex or bytes). Default: 16 random bytes. */
  keyId?: string | Uint8Array;
}

export interface GeneratedPkcs11Key {
  readonly keyLabel: string;
  /** CKA_ID in hex. */
  readonly keyId: string;
  readonly publicKey: KeyObject;
}

// PKCS#11 v2.40 / v3.0 constants (numeric: the binding does not export the EdDSA ones).
const CKO_PUBLIC_KEY = 2;
const CKO_PRIVATE_KEY = 3;
const CKK_EC = 0x3;
const CKK_EC_EDWARDS = 0x40;
const CKA_CLASS = 0x0;
const CKA_TOKEN = 0x1;
const CKA_PRIVATE = 0x2;
const CKA_LABEL = 0x3;
const CKA_KEY_TYPE = 0x100;
const CKA_ID = 0x102;
const CKA_SENSITIVE = 0x103;
const CKA_SIGN = 0x108;
const CKA_VERIFY = 0x10a;
const CKA_EXTRACTABLE = 0x162;
const CKA_EC_PARAMS = 0x180;
const CKA_EC_POINT = 0x181;
const CKA_ALWAYS_AUTHENTICATE = 0x202;
const CKM_EC_KEY_PAIR_GEN = 0x1040;
const CKM_ECDSA = 0x1041;
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const CKF_RW_SESSION = 0x2;
const CKF_SERIAL_SESSION = 0x4;
const CKF_OS_LOCKING_OK = 0x2;
const CKU_USER = 1;

// DER of the curve identifiers in CKA_EC_PARAMS.
const P256_OID = Buffer.from('06082a8648ce3d030107', 'hex');
const ED25519_OID = Buffer.from('06032b6570', 'hex');
const ED25519_NAME = Buffer.from('130c656477617264733235353139', 'hex'); // PrintableString "edwards25519"

const ALG_PARAMS: Record<Pkcs11Alg, { keyType: number; gen: number; sign: number; params: Buffer; accept: Buffer[]; curve: string }> = {
  ES256: { keyType: CKK_EC, gen: CKM_EC_KEY_PAIR_GEN, sign: CKM_ECDSA, params: P256_OID, accept: [P256_OID], curve: 'P-256' },
  EdDSA: { keyType: CKK_EC_EDWARDS, gen: CKM_EC_EDWARDS_KEY_PAIR_GEN, sign: CKM_EDDSA, params: ED25519_OID, accept: [ED25519_OID, ED25519_NAME], curve: 'Ed25519' },
};

/** Session-level failures after which one reconnect (new session, login) is worth trying. */
const SESSION_LOST = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_DEVICE_ERROR',
]);

type Handle = Buffer;
type Binding = { PKCS11: new () => PKCS11 };

const ckrOf = (e: unknown): string | undefined => {
  const m = typeof (e as Error | null)?.message === 'string' ? /^(CKR_[A-Z0-9_]+)/.exec((e as Error).message) : null;
  return m?.[1];
};

/** Wraps a binding error; the binding's messages carry the CKR name, never arguments (so no PIN). */
function fail(what: string, e: unknown, hint = ''): Pkcs11Error {
  if (e instanceof Pkcs11Error) return e;
  const ckr = ckrOf(e);
  const detail = ckr ?? ((e as Error | null)?.message || String(e));
  return new Pkcs11Error(`${what}: ${detail}${hint}`, ckr === undefined ? { cause: e } : { cause: e, ckr });
}

let binding: Promise<Binding> | undefined;

function loadBinding(): Promise<Binding> {
  binding ??= import('pkcs11js').then(
    (m) => ((m as unknown as { default?: Binding }).default ?? (m as unknown as Binding)),
    (e: unknown) => {
      binding = undefined;
      const missing = (e as { code?: string } | null)?.code === 'ERR_MODULE_NOT_FOUND';
      throw new Pkcs11Error(missing
        ? 'the PKCS#11 signer needs the optional package pkcs11js: npm install pkcs11js (it builds a native addon with node-gyp; allow its install script)'
        : `the pkcs11js package could not be loaded (is its native addon built? run npm rebuild pkcs11js): ${(e as Error).message}`, { cause: e });
    },
  );
  return binding;
}

/** One loaded module per path, shared by every key on it: C_Initialize is once per process. */
interface Loaded {
  readonly p11: PKCS11;
  /** False when someone else in this process had already initialized it: then we never finalize. */
  readonly owned: boolean;
  users: number;
  /**
   * Per slot, a keyed hash of the PIN we logged in with. Login is per process and token, so a
   * later C_Login answers CKR_USER_ALREADY_LOGGED_IN without checking the PIN: this check makes a
   * wrong PIN fail the same way whatever else this process has open.
   */
  readonly logins: Map<number, Buffer>;
  readonly salt: Buffer;
}
const loaded = new Map<string, Loaded>();

/** Two spellings of one library (a symlink) are one module: it must be initialized only once. */
function moduleKey(modulePath: string): string {
  try {
    return realpathSync(modulePath);
  } catch {
    return modulePath; // a bare name the dynamic loader resolves
  }
}

async function acquire(modulePath: string): Promise<Loaded> {
  if (typeof modulePath !== 'string' || modulePath === '') throw new InvalidArgumentError('module must be the path of the PKCS#11 library (the token vendor\'s .so / .dll / .dylib)');
  const { PKCS11: Ctor } = await loadBinding();
  let m = loaded.get(moduleKey(modulePath));
  if (m === undefined) {
    const p11 = new Ctor();
    try {
      p11.load(modulePath);
    } catch (e) {
      throw fail(`cannot load the PKCS#11 module ${JSON.stringify(modulePath)}`, e, '; check the path and that the library matches this platform');
    }
    let owned = true;
    try {
      p11.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    } catch (e) {
      if (ckrOf(e) === 'CKR_CRYPTOKI_ALREADY_INITIALIZED') owned = false;
      else {
        try { p11.close(); } catch { /* already failing */ }
        throw fail(`cannot initialize the PKCS#11 module ${JSON.stringify(modulePath)}`, e, '; check its configuration (for SoftHSM: SOFTHSM2_CONF and its tokendir)');
      }
    }
    m = { p11, owned, users: 0, logins: new Map(), salt: randomBytes(32) };
    loaded.set(moduleKey(modulePath), m);
  }
  m.users++;
  return m;
}

function release(modulePath: string, m: Loaded): void {
  if (--m.users > 0) return;
  loaded.delete(moduleKey(modulePath));
  try {
    if (m.owned) m.p11.C_Finalize();
    m.p11.close();
  } catch {
    // Nothing useful to do: the process is letting go of the module anyway.
  }
}

const slotNumber = (h: Handle): number => (h.length >= 8 ? Number(h.readBigUInt64LE(0)) : h.readUInt32LE(0));

interface Token { slot: Handle; label: string; slotId: number; serialNumber: string }

function findToken(p11: PKCS11, o: Pkcs11TokenOptions): Token {
  let slots: Handle[];
  try {
    slots = p11.C_GetSlotList(true);
  } catch (e) {
    throw fail('cannot list PKCS#11 slots', e);
  }
  const tokens: Token[] = [];
  for (const slot of slots) {
    try {
      const ti = p11.C_GetTokenInfo(slot);
      tokens.push({ slot, label: ti.label.trimEnd(), slotId: slotNumber(slot), serialNumber: ti.serialNumber.trimEnd() });
    } catch {
      // a slot whose token went away between the two calls: not a candidate
    }
  }
  const want = [o.slot !== undefined ? `slot ${o.slot}` : '', o.tokenLabel !== undefined ? `label "${o.tokenLabel}"` : ''].filter(Boolean).join(' and ');
  const hits = tokens.filter((t) => (o.slot === undefined || t.slotId === o.slot) && (o.tokenLabel === undefined || t.label === o.tokenLabel));
  const seen = tokens.length === 0 ? 'no initialized token is present' : `tokens present: ${tokens.map((t) => `"${t.label}" (slot ${t.slotId})`).join(', ')}`;
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) throw new Pkcs11Error(`no PKCS#11 token ${want ? `with ${want}` : 'found'}; ${seen}`);
  throw new Pkcs11Error(`${hits.length} PKCS#11 tokens match${want ? ` ${want}` : ''}; ${seen}: give slot or a unique tokenLabel`);
}

function readPin(o: Pkcs11TokenOptions): string {
  if (o.pin !== undefined) {
    if (typeof o.pin !== 'string' || o.pin === '') throw new InvalidArgumentError('pin must be a non-empty string');
    return o.pin;
  }
  const env = o.pinEnv ?? 'SEALQ_PKCS11_PIN';
  const pin = process.env[env];
  if (pin === undefined || pin === '') throw new InvalidArgumentError(`no PKCS#11 user PIN: set the environment variable ${env} or pass pin`);
  return pin;
}

function openSession(m: Loaded, token: Token, pin: string, rw: boolean): Handle {
  const { p11 } = m;
  const pinTag = createHmac('sha256', m.salt).update(pin).digest();
  let session: Handle;
  try {
    session = p11.C_OpenSession(token.slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0));
  } catch (e) {
    throw fail(`cannot open a session on PKCS#11 token "${token.label}"`, e);
  }
  try {
    p11.C_Login(session, CKU_USER, pin);
    m.logins.set(token.slotId, pinTag);
  } catch (e) {
    const ckr = ckrOf(e);
    // Login state is per application and token: another key of ours may already have logged in.
    const earlier = m.logins.get(token.slotId);
    if (ckr === 'CKR_USER_ALREADY_LOGGED_IN' && (earlier === undefined || timingSafeEqual(earlier, pinTag))) return session;
    try { p11.C_CloseSession(session); } catch { /* already failing */ }
    if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') {
      throw new Pkcs11Error(`login to PKCS#11 token "${token.label}" failed: CKR_PIN_INCORRECT (wrong PIN: not the one this process logged in to the token with)`, { ckr: 'CKR_PIN_INCORRECT' });
    }
    const hint = ckr === 'CKR_PIN_INCORRECT' ? ' (wrong PIN)' : ckr === 'CKR_PIN_LOCKED' ? ' (the PIN is locked: the security officer must unblock it)' : '';
    throw fail(`login to PKCS#11 token "${token.label}" failed`, e, hint);
  }
  return session;
}

function idBytes(id: string | Uint8Array, field: string): Buffer {
  if (id instanceof Uint8Array) {
    if (id.length === 0) throw new InvalidArgumentError(`${field} must not be empty`);
    return Buffer.from(id);
  }
  if (typeof id !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(id)) throw new InvalidArgumentError(`${field} must be bytes or a non-empty even-length hex string`);
  return Buffer.from(id, 'hex');
}

function describe(s: Pkcs11KeySelector): string {
  const parts: string[] = [];
  if (s.keyLabel !== undefined) parts.push(`label "${s.keyLabel}"`);
  if (s.keyId !== undefined) parts.push(`id ${idBytes(s.keyId, 'keyId').toString('hex')}`);
  return parts.join(' and ');
}

function findObjects(p11: PKCS11, session: Handle, template: Array<{ type: number; value: number | boolean | string | Buffer }>): Handle[] {
  p11.C_FindObjectsInit(session, template);
  try {
    return p11.C_FindObjects(session, 16);
  } finally {
    p11.C_FindObjectsFinal(session);
  }
}

function selectorTemplate(cls: number, keyType: number, s: Pkcs11KeySelector): Array<{ type: number; value: number | string | Buffer }> {
  const t: Array<{ type: number; value: number | string | Buffer }> = [
    { type: CKA_CLASS, value: cls },
    { type: CKA_KEY_TYPE, value: keyType },
  ];
  if (s.keyLabel !== undefined) t.push({ type: CKA_LABEL, value: s.keyLabel });
  if (s.keyId !== undefined) t.push({ type: CKA_ID, value: idBytes(s.keyId, 'keyId') });
  return t;
}

function findOne(p11: PKCS11, session: Handle, token: Token, alg: Pkcs11Alg, cls: number, s: Pkcs11KeySelector): Handle | undefined {
  const kind = cls === CKO_PRIVATE_KEY ? 'private' : 'public';
  let hits: Handle[];
  try {
    hits = findObjects(p11, session, selectorTemplate(cls, ALG_PARAMS[alg].keyType, s));
  } catch (e) {
    throw fail(`cannot search PKCS#11 token "${token.label}" for the ${kind} key`, e);
  }
  if (hits.length > 1) throw new Pkcs11Error(`${hits.length} ${ALG_PARAMS[alg].curve} ${kind} keys on token "${token.label}" match ${describe(s)}: give keyId (or keyLabel and keyId) to pick one`);
  return hits[0];
}

/** Decodes CKA_EC_POINT (a DER OCTET STRING per the standard; some tokens give the raw point). */
function unwrapPoint(v: Buffer, rawLength: number): Buffer | undefined {
  if (v.length === rawLength + 2 && v[0] === 0x04 && v[1] === rawLength) return v.subarray(2);
  if (v.length === rawLength) return v;
  return undefined;
}

function publicKeyFromToken(p11: PKCS11, session: Handle, obj: Handle, alg: Pkcs11Alg, where: string): KeyObject {
  let params: Buffer | undefined;
  let point: Buffer | undefined;
  try {
    for (const a of p11.C_GetAttributeValue(session, obj, [{ type: CKA_EC_PARAMS }, { type: CKA_EC_POINT }])) {
      if (a.type === CKA_EC_PARAMS) params = a.value;
      if (a.type === CKA_EC_POINT) point = a.value;
    }
  } catch (e) {
    throw fail(`cannot read the public key ${where}`, e);
  }
  const spec = ALG_PARAMS[alg];
  if (params === undefined || !spec.accept.some((p) => p.equals(params!))) {
    throw new Pkcs11Error(`the key ${where} is not on curve ${spec.curve}, which ${alg} needs`);
  }
  const raw = point === undefined ? undefined : unwrapPoint(point, alg === 'ES256' ? 65 : 32);
  if (raw === undefined || (alg === 'ES256' && raw[0] !== 0x04)) {
    throw new Pkcs11Error(`the public key ${where} has a CKA_EC_POINT sealq cannot read (expected an uncompressed ${spec.curve} point)`);
  }
  const jwk = alg === 'ES256'
    ? { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') }
    : { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') };
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (e) {
    throw new Pkcs11Error(`the public key ${where} is not a valid ${spec.curve} point`, { cause: e });
  }
}

function checkPublicKey(k: KeyObject, alg: Pkcs11Alg): void {
  const ok = alg === 'ES256'
    ? k.type === 'public' && k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1'
    : k.type === 'public' && k.asymmetricKeyType === 'ed25519';
  if (!ok) throw new InvalidArgumentError(`publicKey must be a ${ALG_PARAMS[alg].curve} public KeyObject for ${alg}`);
}

function checkSelector(s: Pkcs11KeySelector): void {
  if (s.keyLabel === undefined && s.keyId === undefined) throw new InvalidArgumentError('say which key on the token: give keyLabel, keyId, or both');
  if (s.keyLabel !== undefined && (typeof s.keyLabel !== 'string' || s.keyLabel === '')) throw new InvalidArgumentError('keyLabel must be a non-empty string');
  if (s.keyId !== undefined) idBytes(s.keyId, 'keyId');
}

function checkAlg(alg: unknown): asserts alg is Pkcs11Alg {
  if (alg !== 'ES256' && alg !== 'EdDSA') throw new InvalidArgumentError(`a PKCS#11 key signs with ES256 or EdDSA, not ${JSON.stringify(alg)}`);
}

/**
 * Opens a signing key on a PKCS#11 token. Finds the private key object (by label and/or id), reads
 * the public key from the matching public key object, and checks with one test signature that the
 * two are a pair before returning. The PIN stays in this closure (for a re-login when the token
 * drops the session) and is never logged or put in an error.
 */
export async function openPkcs11Key(options: OpenPkcs11KeyOptions): Promise<Pkcs11Key> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('openPkcs11Key needs options: { module, tokenLabel or slot, keyLabel or keyId, kid, alg }');
  const { alg, kid } = options;
  checkAlg(alg);
  if (typeof kid !== 'string' || kid === '') throw new InvalidArgumentError('kid must be a non-empty string: the key id messages will carry');
  const selector: Pkcs11KeySelector = {};
  if (options.keyLabel !== undefined) selector.keyLabel = options.keyLabel;
  if (options.keyId !== undefined) selector.keyId = options.keyId;
  checkSelector(selector);
  const mode = options.mode ?? 'sync';
  if (mode !== 'sync' && mode !== 'async') throw new InvalidArgumentError('mode must be "sync" or "async"');
  if (options.publicKey !== undefined) checkPublicKey(options.publicKey, alg);
  const pin = readPin(options);

  const mod = await acquire(options.module);
  const { p11 } = mod;
  let session: Handle | undefined;
  let closed = false;
  try {
    const token = findToken(p11, options);
    const where = `with ${describe(selector)} on token "${token.label}"`;
    session = openSession(mod, token, pin, false);
    let priv = findOne(p11, session, token, alg, CKO_PRIVATE_KEY, selector);
    if (priv === undefined) throw new Pkcs11Error(`no ${ALG_PARAMS[alg].curve} private key ${where} (for ${alg}); create one with generatePkcs11Key or the token's tools`);
    try {
      const [always] = p11.C_GetAttributeValue(session, priv, [{ type: CKA_ALWAYS_AUTHENTICATE }]);
      if (always !== undefined && always.value.length > 0 && always.value[0] !== 0) {
        throw new Pkcs11Error(`the private key ${where} needs the PIN again for every signature (CKA_ALWAYS_AUTHENTICATE); sealq cannot sign with such a key unattended`);
      }
    } catch (e) {
      if (e instanceof Pkcs11Error) throw e;
      // Tokens that do not know the attribute do not require it.
    }
    let publicKey = options.publicKey;
    if (publicKey === undefined) {
      const pub = findOne(p11, session, token, alg, CKO_PUBLIC_KEY, selector);
      if (pub === undefined) throw new Pkcs11Error(`no public key object ${where}: the token keeps only the private half; pass publicKey (for example from the key's certificate)`);
      publicKey = publicKeyFromToken(p11, session, pub, alg, where);
    }

    const mech = { mechanism: ALG_PARAMS[alg].sign };
    // ES256: the token signs a SHA-256 digest with CKM_ECDSA and returns r||s (IEEE P1363), the
    // wire form. EdDSA: CKM_EDDSA (pure Ed25519) over the data itself.
    const input = (data: Uint8Array): Buffer => (alg === 'ES256' ? createHash('sha256').update(data).digest() : Buffer.from(data));
    const checked = (sig: Buffer): Buffer => {
      if (sig.length !== 64) throw new Pkcs11Error(`token "${token.label}" returned a ${sig.length}-byte ${alg} signature; PKCS#11 defines 64 bytes (r||s) for ${ALG_PARAMS[alg].curve}`);
      return sig;
    };
    const reconnect = (): void => {
      try { p11.C_CloseSession(session!); } catch { /* already gone */ }
      session = undefined;
      session = openSession(mod, token, pin, false);
      priv = findOne(p11, session, token, alg, CKO_PRIVATE_KEY, selector);
      if (priv === undefined) throw new Pkcs11Error(`the private key ${where} is gone from the token`);
    };
    const ensureOpen = (): void => {
      if (closed) throw new Pkcs11Error(`PKCS#11 key "${kid}" is closed: open it again to sign`);
    };
    const signSync = (data: Uint8Array): Buffer => {
      ensureOpen();
      const once = (): Buffer => {
        if (session === undefined) reconnect();
        p11.C_SignInit(session!, mech, priv!);
        return p11.C_Sign(session!, input(data), Buffer.alloc(128));
      };
      try {
        return checked(once());
      } catch (e) {
        if (e instanceof Pkcs11Error || !SESSION_LOST.has(ckrOf(e) ?? '')) throw fail(`PKCS#11 signing with "${kid}" failed`, e);
        try {
          reconnect();
          return checked(once());
        } catch (e2) {
          throw fail(`PKCS#11 signing with "${kid}" failed, also after a new session`, e2);
        }
      }
    };
    // A session runs one operation at a time: async signatures queue behind each other.
    let tail: Promise<unknown> = Promise.resolve();
    const signAsync = (data: Uint8Array): Promise<Buffer> => {
      const run = async (): Promise<Buffer> => {
        ensureOpen();
        const once = async (): Promise<Buffer> => {
          if (session === undefined) reconnect();
          p11.C_SignInit(session!, mech, priv!);
          return p11.C_SignAsync(session!, input(data), Buffer.alloc(128));
        };
        try {
          return checked(await once());
        } catch (e) {
          if (e instanceof Pkcs11Error || !SESSION_LOST.has(ckrOf(e) ?? '')) throw fail(`PKCS#11 signing with "${kid}" failed`, e);
          try {
            reconnect();
            return checked(await once());
          } catch (e2) {
            throw fail(`PKCS#11 signing with "${kid}" failed, also after a new session`, e2);
          }
        }
      };
      const p = tail.then(run);
      tail = p.catch(() => undefined);
      return p;
    };
    const signer: ExternalSigner = { sign: mode === 'sync' ? signSync : signAsync };

    // One test signature: proves the private and public objects are a pair and the mechanism works.
    const probe = Buffer.concat([Buffer.from('sealq pkcs11 self-check\0'), randomBytes(32)]);
    const probeSig = mode === 'sync' ? signSync(probe) : await signAsync(probe);
    if (!ALG_SPECS[alg].verify(publicKey, probe, probeSig)) {
      throw new Pkcs11Error(`a test signature by the private key ${where} does not verify with its public key: the objects with this label/id are not a key pair (give keyId), or publicKey is not this key's`);
    }

    const info: { -readonly [K in keyof KeyInfo]: KeyInfo[K] } = { kid, alg, status: options.status ?? 'primary' };
    if (options.notBefore !== undefined) info.notBefore = options.notBefore;
    if (options.notAfter !== undefined) info.notAfter = options.notAfter;
    if (options.policy !== undefined) info.policy = options.policy;
    const key = SealKey.external(info, publicKey, signer);
    const tokenFacts = Object.freeze({ label: token.label, slot: token.slotId, serialNumber: token.serialNumber });
    const handle: Pkcs11Key = {
      key,
      publicKey,
      token: tokenFacts,
      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        await tail;
        // Closing the application's last session on a token logs it out there (PKCS#11 §5.6);
        // an explicit C_Logout would also log out other keys this process holds on the token.
        try { if (session !== undefined) p11.C_CloseSession(session); } catch { /* already gone */ }
        session = undefined;
        release(options.module, mod);
      },
    };
    Object.defineProperty(handle, INSPECT, {
      value: () => `Pkcs11Key { kid: ${JSON.stringify(kid)}, alg: '${alg}', token: ${JSON.stringify(token.label)}, slot: ${token.slotId}${closed ? ', closed' : ''} }`,
    });
    return handle;
  } catch (e) {
    closed = true;
    try { if (session !== undefined) p11.C_CloseSession(session); } catch { /* already failing */ }
    release(options.module, mod);
    throw e;
  }
}

/**
 * Generates a key pair on the token (for tests and set-up; production keys are usually made with
 * the HSM's own tooling under its key ceremony). The private half is sensitive and not extractable.
 */
export async function generatePkcs11Key(options: GeneratePkcs11KeyOptions): Promise<GeneratedPkcs11Key> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('generatePkcs11Key needs options: { module, tokenLabel or slot, keyLabel, alg }');
  const { alg, keyLabel } = options;
  checkAlg(alg);
  if (typeof keyLabel !== 'string' || keyLabel === '') throw new InvalidArgumentError('keyLabel must be a non-empty string');
  const id = options.keyId === undefined ? randomBytes(16) : idBytes(options.keyId, 'keyId');
  const pin = readPin(options);
  const spec = ALG_PARAMS[alg];

  const mod = await acquire(options.module);
  const { p11 } = mod;
  let session: Handle | undefined;
  try {
    const token = findToken(p11, options);
    session = openSession(mod, token, pin, true);
    for (const cls of [CKO_PRIVATE_KEY, CKO_PUBLIC_KEY]) {
      let taken: Handle[];
      try {
        taken = findObjects(p11, session, [{ type: CKA_CLASS, value: cls }, { type: CKA_LABEL, value: keyLabel }]);
      } catch (e) {
        throw fail(`cannot search PKCS#11 token "${token.label}"`, e);
      }
      if (taken.length > 0) throw new Pkcs11Error(`token "${token.label}" already has a key labelled "${keyLabel}": pick another label, or open the existing key`);
    }
    const common = [
      { type: CKA_TOKEN, value: true },
      { type: CKA_KEY_TYPE, value: spec.keyType },
      { type: CKA_LABEL, value: keyLabel },
      { type: CKA_ID, value: id },
    ];
    let pair: { publicKey: Handle; privateKey: Handle };
    try {
      pair = p11.C_GenerateKeyPair(
        session,
        { mechanism: spec.gen },
        [...common, { type: CKA_CLASS, value: CKO_PUBLIC_KEY }, { type: CKA_VERIFY, value: true }, { type: CKA_EC_PARAMS, value: spec.params }],
        [...common, { type: CKA_CLASS, value: CKO_PRIVATE_KEY }, { type: CKA_PRIVATE, value: true }, { type: CKA_SENSITIVE, value: true }, { type: CKA_EXTRACTABLE, value: false }, { type: CKA_SIGN, value: true }],
      );
    } catch (e) {
      const ckr = ckrOf(e);
      const hint = ckr === 'CKR_MECHANISM_INVALID' ? ` (this token cannot generate ${spec.curve} keys)` : '';
      throw fail(`generating a ${spec.curve} key pair on token "${token.label}" failed`, e, hint);
    }
    const publicKey = publicKeyFromToken(p11, session, pair.publicKey, alg, `labelled "${keyLabel}" on token "${token.label}"`);
    return { keyLabel, keyId: id.toString('hex'), publicKey };
  } finally {
    try { if (session !== undefined) p11.C_CloseSession(session); } catch { /* already gone */ }
    release(options.module, mod);
  }
}

/** True when the token in reach supports a mechanism: for ES256 CKM_ECDSA, for EdDSA CKM_EDDSA. */
export async function pkcs11Supports(options: Omit<Pkcs11TokenOptions, 'pin' | 'pinEnv'>, alg: Pkcs11Alg): Promise<boolean> {
  checkAlg(alg);
  const mod = await acquire(options.module);
  try {
    const token = findToken(mod.p11, options);
    return mod.p11.C_GetMechanismList(token.slot).includes(ALG_PARAMS[alg].sign);
  } catch (e) {
    throw fail('cannot list the token\'s mechanisms', e);
  } finally {
    release(options.module, mod);
  }
}
