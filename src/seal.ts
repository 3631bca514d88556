import { sealChannel } from './audit.js';
import { formatMs, parseDuration } from './duration.js';
import { encodeCompact, encodeDetached, encodeObject } from './envelope/carriers.js';
import type { DetachedEnvelope, RawEnvelope, SealedObject } from './envelope/carriers.js';
import { checkHeader, serializeHeader } from './envelope/header.js';
import type { Header } from './envelope/header.js';
import { randomId } from './envelope/id.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './envelope/limits.js';
import { signingInput } from './envelope/pae.js';
import { InvalidArgumentError, KeyNotPermittedError } from './errors.js';
import { DEFAULT_MAX_VALIDITY_MS } from './open.js';
import { current } from './keys/keyring.js';
import type { Keyring, KeyringSource } from './keys/keyring.js';

export interface SealOptions {
  /** Context: the destination (queue name, subject, topic). Required: a message opens only there. */
  ctx: string;
  /** Message type (job name, task type). */
  typ?: string;
  /** Content type of the payload, such as application/json. */
  ct?: string;
  /** Message id; defaults to 128 random bits. Reusing an id makes the replay store treat it as the same message. */
  id?: string;
  /** Not valid before this time (ms since the epoch or a Date), for delayed jobs. */
  notBefore?: number | Date;
  /** Not valid from this time on (ms since the epoch or a Date). */
  expiresAt?: number | Date;
  /** Valid for this long after issue (`30s`, `5m`, `2h`, `7d`, or ms); alternative to expiresAt. */
  expiresIn?: number | string;
  /** Issue time in ms (default: now). For tests and replays of recorded vectors. */
  now?: number;
  /**
   * Longest validity window this producer will sign (exp - iat). Default 30 days, the consumers'
   * default too: a longer one would be rejected there (ERR_VALIDITY_TOO_LONG).
   */
  maxValidity?: number | string;
  /** Default 1 MiB. */
  maxPayloadBytes?: number;
}

function instant(v: unknown, what: string): number {
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 0) {
    throw new InvalidArgumentError(`${what} must be a Date or a whole number of ms since the epoch, got ${v instanceof Date ? 'an invalid Date' : typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : String(v)}`);
  }
  return t;
}

function payloadBytes(payload: string | Uint8Array, max: number): Buffer {
  let b: Buffer;
  if (typeof payload === 'string') {
    // A lone surrogate would silently become U+FFFD: refuse rather than change what the user sent.
    if (!payload.isWellFormed()) throw new InvalidArgumentError('payload string is not well-formed Unicode (lone surrogate); pass bytes instead');
    b = Buffer.from(payload, 'utf8');
  } else if (payload instanceof Uint8Array) {
    b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  } else {
    throw new InvalidArgumentError('payload must be a string or a Uint8Array (serialise objects first, e.g. JSON.stringify)');
  }
  if (b.length > max) throw new InvalidArgumentError(`payload is ${b.length} bytes, larger than maxPayloadBytes (${max}); raise the limit on both sides or send a reference`);
  return b;
}

interface Sealing {
  payload: Buffer;
  header: Header;
  hb: Buffer;
  sig: Uint8Array | Promise<Uint8Array>;
}

/** @internal Issue time, not-before and expiry from seal options, with every sanity rule on them. */
export function times(options: SealOptions): { iat: number; nbf: number | undefined; exp: number | undefined } {
  const iat = options.now === undefined ? Date.now() : instant(options.now, 'now');
  let exp = options.expiresAt === undefined ? undefined : instant(options.expiresAt, 'expiresAt');
  if (options.expiresIn !== undefined) {
    if (exp !== undefined) throw new InvalidArgumentError('give expiresAt or expiresIn, not both');
    const d = parseDuration(options.expiresIn, 'expiresIn');
    if (d === 0) throw new InvalidArgumentError('expiresIn must be longer than 0: the message would be expired when sealed');
    exp = iat + d;
  }
  const nbf = options.notBefore === undefined ? undefined : instant(options.notBefore, 'notBefore');
  if (exp !== undefined) {
    if (exp <= iat) throw new InvalidArgumentError(`expiresAt ${new Date(exp).toISOString()} is not after the issue time: the message would be expired when sealed`);
    if (nbf !== undefined && exp <= nbf) throw new InvalidArgumentError('expiresAt must be after notBefore');
    const max = options.maxValidity === undefined ? DEFAULT_MAX_VALIDITY_MS : parseDuration(options.maxValidity, 'maxValidity');
    if (exp - iat > max) {
      throw new InvalidArgumentError(`the message would be valid for ${formatMs(exp - iat)}, longer than maxValidity (${formatMs(max)}); consumers reject it (ERR_VALIDITY_TOO_LONG) unless they raise their maxValidity too`);
    }
  }
  return { iat, nbf, exp };
}

function start(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions, pooled = false): Sealing {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('seal needs options with at least { ctx }');
  const key = current(keyring).signer();
  const body = payloadBytes(payload, options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES);
  const { iat, nbf, exp } = times(options);
  const h: Record<string, unknown> = { kid: key.kid, alg: key.alg, id: options.id ?? randomId(), iat, ctx: options.ctx };
  if (nbf !== undefined) h.nbf = nbf;
  if (exp !== undefined) h.exp = exp;
  if (options.typ !== undefined) h.typ = options.typ;
  if (options.ct !== undefined) h.ct = options.ct;
  let header: Header;
  try {
    header = checkHeader(h);
  } catch (e) {
    throw new InvalidArgumentError(`invalid seal options: ${(e as Error).message.replace('malformed header: ', '')}`);
  }
  // Refuse to produce a message every verifier would reject for the key's policy.
  if (!key.allowsCtx(header.ctx) || !key.allowsTyp(header.typ)) {
    throw new KeyNotPermittedError(`key "${key.kid}" may not sign ctx "${header.ctx}"${header.typ === undefined ? '' : ` / typ "${header.typ}"`}: its policy does not allow it`);
  }
  const hb = Buffer.from(serializeHeader(header), 'utf8');
  // The shared scratch input only for a signature made before this returns.
  const sig = pooled ? key.signAsync(signingInput(hb, body)) : key.sign(signingInput(hb, body, !key.external));
  if (sealChannel.hasSubscribers) sealChannel.publish({ op: 'seal', outcome: 'ok', kid: key.kid, ctx: header.ctx, typ: header.typ, id: header.id, alg: key.alg });
  return { payload: body, header, hb, sig };
}

function done(s: { payload: Buffer; hb: Buffer; sig: Uint8Array }): RawEnvelope {
  return { payload: s.payload, signatures: [{ header: s.hb, sig: Buffer.from(s.sig.buffer, s.sig.byteOffset, s.sig.byteLength) }] };
}

function syncSig(s: Sealing): Sealing & { sig: Uint8Array } {
  if (s.sig instanceof Promise) {
    s.sig.catch(() => undefined);
    throw new InvalidArgumentError('the primary key signs asynchronously (a KMS): use sealAsync / sealObjectAsync');
  }
  return s as Sealing & { sig: Uint8Array };
}

/** @internal Seals to the carrier-neutral raw envelope. */
export function sealRaw(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): { raw: RawEnvelope; header: Header } {
  const s = syncSig(start(keyring, payload, options));
  return { raw: done(s), header: s.header };
}

/** @internal Async variant for external signers. */
export async function sealRawAsync(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): Promise<{ raw: RawEnvelope; header: Header }> {
  const s = start(keyring, payload, options, true);
  const sig = await s.sig;
  return { raw: done({ ...s, sig }), header: s.header };
}

/**
 * Seals a payload for one context: returns the compact envelope (a string, safe for any text
 * transport). The payload is signed as exact bytes; strings are UTF-8.
 */
export function seal(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): string {
  return encodeCompact(sealRaw(keyring, payload, options).raw);
}

/** Like seal, but returns the JSON-safe object carrier (for queues that store JSON, like BullMQ). */
export function sealObject(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): SealedObject {
  return encodeObject(sealRaw(keyring, payload, options).raw);
}

/**
 * seal() for keyrings whose primary signs asynchronously (KMS, PKCS#11); with an EdDSA, ES256 or
 * PS256 key in memory it signs on libuv's thread pool, so several seals run at once.
 */
export async function sealAsync(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): Promise<string> {
  return encodeCompact((await sealRawAsync(keyring, payload, options)).raw);
}

/** sealObject() for keyrings whose primary signs asynchronously (KMS); works with any keyring. */
export async function sealObjectAsync(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): Promise<SealedObject> {
  return encodeObject((await sealRawAsync(keyring, payload, options)).raw);
}


/**
 * Seals for a broker with message headers (SPEC §5.6): publish `payload` as the body, unchanged,
 * and `seal` as the value of the `sealq` header (SEAL_HEADER).
 */
export function sealDetached(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): DetachedEnvelope {
  return encodeDetached(sealRaw(keyring, payload, options).raw);
}

/** sealDetached() for keyrings whose primary signs asynchronously (KMS); works with any keyring. */
export async function sealDetachedAsync(keyring: Keyring | KeyringSource, payload: string | Uint8Array, options: SealOptions): Promise<DetachedEnvelope> {
  return encodeDetached((await sealRawAsync(keyring, payload, options)).raw);
}
