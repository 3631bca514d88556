import { openChannel } from './audit.js';
import { formatMs, parseDuration } from './duration.js';
import { decodeCompact, decodeDetached, decodeObject, isDetachedEnvelope } from './envelope/carriers.js';
import type { DetachedEnvelope, RawEnvelope, SealedObject } from './envelope/carriers.js';
import { parseHeader } from './envelope/header.js';
import type { Header } from './envelope/header.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, maxCompactLength } from './envelope/limits.js';
import { signingInput } from './envelope/pae.js';
import {
  AlgMismatchError,
  ContextMismatchError,
  ExpiredError,
  InvalidArgumentError,
  KeyInactiveError,
  KeyNotPermittedError,
  KeyUnknownError,
  MalformedError,
  NotYetValidError,
  RejectionError,
  SignatureInvalidError,
  TypeMismatchError,
  ValidityTooLongError,
} from './errors.js';
import { current } from './keys/keyring.js';
import type { Keyring, KeyringSource } from './keys/keyring.js';
import type { SealKey } from './keys/key.js';
import { checkMode, modeFor, reportable } from './report-mode.js';
import type { ModeOption } from './report-mode.js';

export interface OpenOptions {
  /** The context this consumer serves (queue name); a message sealed for another one is rejected. Required. */
  ctx: string | readonly string[];
  /** Accepted message types; absent: any type. */
  typ?: string | readonly string[];
  /** For messages without a signed `exp`: how long after `iat` they stay valid. Default 24h. */
  maxAge?: number | string;
  /** Tolerated clock difference between producer and consumer. Default 60s. */
  clockSkew?: number | string;
  /**
   * Longest signed validity window accepted: a message whose exp - iat exceeds it is rejected
   * (ERR_VALIDITY_TOO_LONG), so no producer can make the replay store keep an id for years.
   * Default 30 days (Asynq's default retries span about three weeks).
   */
  maxValidity?: number | string;
  /** Current time in ms (default: now). */
  now?: number;
  /** Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * 'enforce' (the default) rejects; 'report' lets a message that fails verification through,
   * marked with `wouldReject`, counted and audited with its code (a report-only rollout). Rules
   * may set it per ctx (the one this consumer serves) and per typ; see ModeRules.
   */
  mode?: ModeOption;
}

export interface OpenedMessage {
  /** Exactly the bytes that were sealed. */
  readonly payload: Buffer;
  /** The verified header. */
  readonly header: Header;
  /** End of the message's validity window (ms since the epoch), clock skew included. */
  readonly validUntil: number;
  /**
   * Report mode only: the message failed verification with this error and was let through.
   * Nothing about it is verified: `header` is as the message claimed it (every field empty, iat
   * 0, if it carried none), `payload` the bytes as they came, `validUntil` 0.
   */
  readonly wouldReject?: RejectionError;
}

export type Envelope = string | Uint8Array | SealedObject | DetachedEnvelope;

export const DEFAULT_MAX_AGE_MS = 24 * 3_600_000;
export const DEFAULT_CLOCK_SKEW_MS = 60_000;
export const DEFAULT_MAX_VALIDITY_MS = 30 * 86_400_000;

const matches = (want: string | readonly string[], got: string | undefined): boolean =>
  got !== undefined && (typeof want === 'string' ? want === got : want.includes(got));

const list = (v: string | readonly string[]): string => (typeof v === 'string' ? `"${v}"` : v.map((x) => `"${x}"`).join(' or '));

const nameOrNames = (v: unknown): boolean =>
  (typeof v === 'string' && v.length > 0) || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'));

function checkOptions(o: OpenOptions): void {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('open needs options with at least { ctx }: the context (queue name) this consumer serves');
  const ok = nameOrNames;
  if (!ok(o.ctx)) throw new InvalidArgumentError('open needs ctx: the context (queue name) this consumer serves, or a list of them');
  if (o.typ !== undefined && !ok(o.typ)) throw new InvalidArgumentError('typ must be a message type or a list of them');
  // A NaN or an object here would silently switch a check off (NaN compares false with everything).
  if (o.now !== undefined && !(typeof o.now === 'number' && Number.isSafeInteger(o.now) && o.now >= 0)) {
    throw new InvalidArgumentError(`now must be a whole number of ms since the epoch (Date.now()), got ${describe(o.now)}`);
  }
  if (o.maxPayloadBytes !== undefined && !(typeof o.maxPayloadBytes === 'number' && Number.isSafeInteger(o.maxPayloadBytes) && o.maxPayloadBytes > 0)) {
    throw new InvalidArgumentError(`maxPayloadBytes must be a positive whole number of bytes, got ${describe(o.maxPayloadBytes)}`);
  }
  if (o.maxAge !== undefined) parseDuration(o.maxAge, 'maxAge');
  if (o.clockSkew !== undefined) parseDuration(o.clockSkew, 'clockSkew');
  if (o.maxValidity !== undefined && parseDuration(o.maxValidity, 'maxValidity') === 0) throw new InvalidArgumentError('maxValidity must be longer than 0');
  if (o.mode !== undefined) checkMode(o.mode);
}

function describe(v: unknown): string {
  if (v instanceof Date) return 'a Date (pass date.getTime())';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : String(v);
}

/** @internal Decodes any carrier, bounded before any crypto. */
export function decode(envelope: Envelope, maxPayloadBytes: number): RawEnvelope {
  if (typeof envelope === 'string') return decodeCompact(envelope, maxPayloadBytes);
  if (envelope instanceof Uint8Array) {
    // Compact envelopes are ASCII; latin1 keeps every byte visible to the strict decoder.
    if (envelope.length > maxCompactLength(maxPayloadBytes)) {
      throw new MalformedError(`malformed envelope: ${envelope.length} bytes is larger than any envelope with a payload of at most ${maxPayloadBytes} bytes`);
    }
    return decodeCompact(Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString('latin1'), maxPayloadBytes);
  }
  if (isDetachedEnvelope(envelope)) return decodeDetached(envelope, maxPayloadBytes);
  return decodeObject(envelope, maxPayloadBytes);
}

/** The checks of SPEC §9 step 2.3 that come before the signature: algorithm, status, validity window. */
function beforeSignature(key: SealKey, header: Header): void {
  // The algorithm comes from our key; the message's claim must merely agree (no algorithm confusion).
  if (header.alg !== key.alg) {
    throw new AlgMismatchError(`message claims alg ${header.alg} but key "${key.kid}" is ${key.alg}: rejected (possible algorithm-confusion attempt)`);
  }
  if (key.status === 'disabled' || key.status === 'revoked') {
    throw new KeyInactiveError(`key "${key.kid}" is ${key.status}: messages signed by it are no longer accepted`);
  }
  if ((key.notBefore !== undefined && header.iat < key.notBefore) || (key.notAfter !== undefined && header.iat > key.notAfter)) {
    throw new KeyInactiveError(`key "${key.kid}" was not valid at the message's issue time ${new Date(header.iat).toISOString()}: check the key's not_before/not_after`);
  }
}

function badSignature(key: SealKey): SignatureInvalidError {
  return new SignatureInvalidError(`signature does not verify with key "${key.kid}": the message was altered or not signed by that key`);
}

/** SPEC §9 step 2.3.5: only an authentic header's policy is checked. */
function afterSignature(key: SealKey, header: Header): void {
  if (!key.allowsCtx(header.ctx) || !key.allowsTyp(header.typ)) {
    throw new KeyNotPermittedError(`key "${key.kid}" is not permitted to sign ctx "${header.ctx}"${header.typ === undefined ? '' : ` / typ "${header.typ}"`}: check the key's policy`);
  }
}

/** Checks one signature against the verifier's own key for its kid. */
function verifyWith(key: SealKey, header: Header, input: Buffer, sig: Buffer): void {
  beforeSignature(key, header);
  if (!key.verify(input, sig)) throw badSignature(key);
  afterSignature(key, header);
}

/** Members every header of one envelope must share (SPEC §8): only kid and alg may differ. */
const SHARED = ['id', 'iat', 'nbf', 'exp', 'ctx', 'typ', 'ct'] as const;

function parseAll(raw: RawEnvelope): { headers: Array<Header | undefined>; malformed?: RejectionError } {
  const headers: Array<Header | undefined> = [];
  let malformed: RejectionError | undefined;
  let first: Header | undefined;
  for (const s of raw.signatures) {
    let header: Header;
    try {
      header = parseHeader(s.header);
    } catch (e) {
      // Another signature may still verify (one made with an algorithm this version does not know).
      malformed ??= e as RejectionError;
      headers.push(undefined);
      continue;
    }
    // Two verifiers with different keyrings would otherwise accept different headers of one
    // message, and compute different replay keys for it.
    if (first === undefined) first = header;
    else for (const k of SHARED) if (first[k] !== header[k]) throw new MalformedError(`malformed envelope: its headers disagree on "${k}"; every signature of one message must carry the same id, times, ctx, typ and ct`);
    headers.push(header);
  }
  return malformed === undefined ? { headers } : { headers, malformed };
}

function noneVerified(firstError: RejectionError | undefined, malformed: RejectionError | undefined, unknown: string[]): never {
  if (firstError !== undefined) throw firstError;
  if (malformed !== undefined) throw malformed;
  throw new KeyUnknownError(`no key in this keyring has kid ${unknown.map((k) => JSON.stringify(k)).join(', ')}: the message was forged, or the consumer's keyring is missing a new key (publish keys to consumers before promoting them)`);
}

function verify(keyring: Keyring, raw: RawEnvelope, seen: { header?: Header }): Header {
  let firstError: RejectionError | undefined;
  const unknown: string[] = [];
  const { headers, malformed } = parseAll(raw);
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i];
    if (header === undefined) continue;
    seen.header ??= header;
    const key = keyring.get(header.kid);
    if (key === undefined) {
      unknown.push(header.kid);
      continue;
    }
    const s = raw.signatures[i]!;
    try {
      verifyWith(key, header, signingInput(s.header, raw.payload, true), s.sig);
      return header;
    } catch (e) {
      // With several signatures (rotation), any one that fully verifies is enough.
      firstError ??= e as RejectionError;
    }
  }
  return noneVerified(firstError, malformed, unknown);
}

/** verify, with each signature operation of an asymmetric key on the thread pool; same order, same verdicts. */
async function verifyAsync(keyring: Keyring, raw: RawEnvelope, seen: { header?: Header }): Promise<Header> {
  let firstError: RejectionError | undefined;
  const unknown: string[] = [];
  const { headers, malformed } = parseAll(raw);
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i];
    if (header === undefined) continue;
    seen.header ??= header;
    const key = keyring.get(header.kid);
    if (key === undefined) {
      unknown.push(header.kid);
      continue;
    }
    const s = raw.signatures[i]!;
    try {
      beforeSignature(key, header);
      // A fresh buffer: the shared scratch one would be overwritten while the pool works.
      const ok = key.spec.symmetric ? key.verify(signingInput(s.header, raw.payload, true), s.sig) : await key.verifyAsync(signingInput(s.header, raw.payload), s.sig);
      if (!ok) throw badSignature(key);
      afterSignature(key, header);
      return header;
    } catch (e) {
      firstError ??= e as RejectionError;
    }
  }
  return noneVerified(firstError, malformed, unknown);
}

function checkClaims(header: Header, o: OpenOptions): number {
  if (!matches(o.ctx, header.ctx)) {
    throw new ContextMismatchError(`message was sealed for ctx "${header.ctx}", this consumer expects ${list(o.ctx)}: it was moved or sent to the wrong queue`);
  }
  if (o.typ !== undefined && !matches(o.typ, header.typ)) {
    throw new TypeMismatchError(`message type is ${header.typ === undefined ? 'absent' : `"${header.typ}"`}, this consumer expects ${list(o.typ)}`);
  }
  if (header.exp !== undefined) {
    const max = o.maxValidity === undefined ? DEFAULT_MAX_VALIDITY_MS : parseDuration(o.maxValidity, 'maxValidity');
    if (header.exp - header.iat > max) {
      throw new ValidityTooLongError(`message is valid for ${formatMs(header.exp - header.iat)} after issue, longer than this consumer allows (maxValidity ${formatMs(max)}): the producer must use a shorter expiry, or raise maxValidity`);
    }
  }
  const now = o.now ?? Date.now();
  const skew = o.clockSkew === undefined ? DEFAULT_CLOCK_SKEW_MS : parseDuration(o.clockSkew, 'clockSkew');
  if (header.iat > now + skew) {
    throw new NotYetValidError(`message was issued ${header.iat - now} ms in the future: check the producer's and consumer's clocks`);
  }
  if (header.nbf !== undefined && header.nbf > now + skew) {
    throw new NotYetValidError(`message is not valid before ${new Date(header.nbf).toISOString()}`);
  }
  const end = header.exp ?? header.iat + (o.maxAge === undefined ? DEFAULT_MAX_AGE_MS : parseDuration(o.maxAge, 'maxAge'));
  if (now >= end + skew) {
    throw new ExpiredError(`message expired at ${new Date(end).toISOString()}${header.exp === undefined ? ' (issued-at plus maxAge)' : ''}`);
  }
  return end + skew;
}

/** The context the consumer serves: its own, or, given several, the claimed one when it is among them. */
function servedCtx(want: string | readonly string[], header: Header | undefined): string {
  if (typeof want === 'string') return want;
  return header !== undefined && want.includes(header.ctx) ? header.ctx : want[0]!;
}

function publish(header: Header | undefined, code: string | undefined, o: OpenOptions, t0: number, report: boolean): void {
  // On rejection the header fields are as claimed (unverified), which is what an operator needs to trace it.
  const consumerCtx = servedCtx(o.ctx, header);
  const seconds = t0 === 0 ? undefined : (performance.now() - t0) / 1000;
  if (code === undefined) {
    openChannel.publish({ op: 'open', outcome: 'ok', kid: header!.kid, ctx: header!.ctx, typ: header!.typ, id: header!.id, alg: header!.alg, consumerCtx, seconds });
    return;
  }
  const h = header === undefined ? {} : { kid: header.kid, ctx: header.ctx, typ: header.typ, id: header.id, alg: header.alg };
  openChannel.publish(report ? { op: 'open', outcome: 'rejected', code, ...h, consumerCtx, seconds, mode: 'report' } : { op: 'open', outcome: 'rejected', code, ...h, consumerCtx, seconds });
}

/** @internal The header of a message let through in report mode that carried none readable: every field empty. */
export const UNREAD_HEADER: Header = Object.freeze({ kid: '', alg: '' as Header['alg'], id: '', iat: 0, ctx: '' });

function asBytes(envelope: unknown): Buffer | undefined {
  if (typeof envelope === 'string') return Buffer.from(envelope, 'utf8');
  if (envelope instanceof Uint8Array) return Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (isDetachedEnvelope(envelope)) return envelope.payload instanceof Uint8Array ? asBytes(envelope.payload) : undefined;
  if (typeof envelope !== 'object' || envelope === null) return undefined;
  try {
    // An object that is no sealed object (plain job data): its JSON text, as a JSON queue stores it.
    return Buffer.from(JSON.stringify(envelope), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Verifies an envelope (compact string, its bytes, or the sealed object) and returns the payload
 * exactly as sealed, or throws a RejectionError saying why. Synchronous: no promise per message.
 * Fails closed: any unexpected exception inside verification becomes a rejection.
 */
export function open(keyring: Keyring | KeyringSource, envelope: Envelope, options: OpenOptions): OpenedMessage {
  checkOptions(options);
  const t0 = openChannel.hasSubscribers ? performance.now() : 0;
  const seen: { header?: Header; raw?: RawEnvelope } = { header: undefined, raw: undefined };
  try {
    const raw = (seen.raw = decode(envelope, options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES));
    const header = verify(current(keyring), raw, seen);
    return accepted(raw, header, options, t0);
  } catch (e) {
    return rejected(e, seen, options, envelope, t0);
  }
}

function accepted(raw: RawEnvelope, header: Header, options: OpenOptions, t0: number): OpenedMessage {
  const validUntil = checkClaims(header, options);
  if (openChannel.hasSubscribers) publish(header, undefined, options, t0, false);
  return { payload: raw.payload, header, validUntil };
}

/**
 * Fail closed: any unexpected exception inside verification becomes a rejection, thrown; in
 * report mode a verdict on the message is returned instead, marked wouldReject.
 */
function rejected(e: unknown, seen: { header?: Header; raw?: RawEnvelope }, options: OpenOptions, envelope: Envelope, t0: number): OpenedMessage {
  const err = e instanceof RejectionError || e instanceof InvalidArgumentError ? e
    : new SignatureInvalidError('message could not be verified (unexpected verifier error); rejected', { cause: e });
  const payload = options.mode !== undefined && reportable(err) && modeFor(options.mode, servedCtx(options.ctx, seen.header), typeof options.typ === 'string' ? options.typ : seen.header?.typ) === 'report'
    ? (seen.raw?.payload ?? asBytes(envelope))
    : undefined;
  if (openChannel.hasSubscribers) publish(seen.header, err.code, options, t0, payload !== undefined);
  if (payload === undefined) throw err;
  return { payload, header: seen.header ?? UNREAD_HEADER, validUntil: 0, wouldReject: err as RejectionError };
}

/**
 * open() with the signature operation of EdDSA, ES256 and PS256 keys on libuv's thread pool, so
 * a consumer verifies several messages at once instead of stalling its event loop. Every other
 * check runs on the caller's thread in the same order as open(), so nothing reaches the pool
 * that open() would reject first, and every verdict is the same. HMAC stays synchronous (the hop
 * costs more than the MAC). Raise UV_THREADPOOL_SIZE above its default of 4 on larger machines.
 */
export async function openAsync(keyring: Keyring | KeyringSource, envelope: Envelope, options: OpenOptions): Promise<OpenedMessage> {
  checkOptions(options);
  const t0 = openChannel.hasSubscribers ? performance.now() : 0;
  const seen: { header?: Header; raw?: RawEnvelope } = { header: undefined, raw: undefined };
  try {
    const raw = (seen.raw = decode(envelope, options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES));
    const header = await verifyAsync(current(keyring), raw, seen);
    return accepted(raw, header, options, t0);
  } catch (e) {
    return rejected(e, seen, options, envelope, t0);
  }
}
