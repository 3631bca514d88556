import { MalformedError, UnsupportedVersionError } from '../errors.js';
import { separatorsOutsideStrings } from '../json-members.js';
import { MAX_HEADER_BYTES, MAX_SIG_BYTES, MAX_SIGNATURES, maxCompactLength } from './limits.js';

/**
 * The carriers (SPEC §5). Each carries the same bytes: the payload and, per signature, the exact
 * header bytes and the signature. Decoding checks sizes and encodings before any crypto.
 */
export interface RawSignature {
  readonly header: Buffer;
  readonly sig: Buffer;
}
export interface RawEnvelope {
  readonly payload: Buffer;
  readonly signatures: readonly RawSignature[];
}

/** JSON-safe carrier, for queues that store JSON (BullMQ job data). */
export interface SealedObject {
  /** Envelope format version. */
  sealq: 1;
  /** Payload as text, when it is valid UTF-8 (readable in queue dashboards)... */
  payload?: string;
  /** ...or as base64url bytes when it is not. Exactly one of the two. */
  payload64?: string;
  /** One entry per signature: the signed header as its exact JSON text, and the signature. */
  signatures: Array<{ header: string; sig: string }>;
}

export const COMPACT_PREFIX = 'sealq1.';

function malformed(what: string): never {
  throw new MalformedError(`malformed envelope: ${what}`);
}

// Value of each base64url character (-1: not in the alphabet).
const B64 = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) B64[c.charCodeAt(0)] = i;

/** True when s is ASCII without + and /, so that none of the decoder's leniencies below can apply. */
function asciiBase64url(s: string): boolean {
  return Buffer.byteLength(s, 'utf8') === s.length && !s.includes('+') && !s.includes('/');
}

/**
 * Strict base64url: the alphabet only, no padding, canonical trailing bits; otherwise two strings
 * could carry the same bytes. Node's decoder skips characters outside the alphabet (the decoded
 * length then falls short, caught here) but also takes + and / and the low byte of non-ASCII
 * characters: callers rule those out first with asciiBase64url(). Cheaper than re-encoding.
 */
function b64(s: string, what: string, max: number): Buffer {
  if (s.length === 0) malformed(`${what} is empty`);
  if (s.length > Math.ceil((max * 4) / 3)) malformed(`${what} is larger than ${max} bytes`);
  const r = s.length & 3;
  if (r === 1) malformed(`${what} is not canonical base64url`);
  // Decoding into a buffer of the size the length implies skips Buffer.from's sizing pass; a
  // character the decoder skipped shows as a short write (the unfilled rest is never exposed).
  const n = (s.length >> 2) * 3 + (r === 0 ? 0 : r - 1);
  const buf = Buffer.allocUnsafe(n);
  if (buf.write(s, 0, n, 'base64url') !== n) malformed(`${what} is not canonical base64url`);
  if (r !== 0 && ((B64[s.charCodeAt(s.length - 1)] ?? -1) & (r === 2 ? 15 : 3)) !== 0) malformed(`${what} is not canonical base64url`);
  return buf;
}

// ---- compact: sealq1.<header>.<payload>.<sig>[.<header>.<sig>]... -------------------------------

function b64url(b: Uint8Array): string {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length)).toString('base64url');
}

export function encodeCompact(env: RawEnvelope): string {
  const [first, ...more] = env.signatures;
  let s = COMPACT_PREFIX + b64url(first!.header) + '.' + b64url(env.payload) + '.' + b64url(first!.sig);
  for (const m of more) s += '.' + b64url(m.header) + '.' + b64url(m.sig);
  return s;
}

export function decodeCompact(s: string, maxPayloadBytes: number): RawEnvelope {
  if (s.length > maxCompactLength(maxPayloadBytes)) {
    malformed(`${s.length} characters is larger than any envelope with a payload of at most ${maxPayloadBytes} bytes`);
  }
  if (!s.startsWith(COMPACT_PREFIX)) {
    const v = /^sealq(\d{1,6})\./.exec(s);
    if (v !== null) throw new UnsupportedVersionError(`envelope version sealq${v[1]} is not supported: this verifier reads sealq1; upgrade sealq`);
    malformed('it does not start with "sealq1." (was the message sealed at all?)');
  }
  if (!asciiBase64url(s)) malformed('it holds characters other than base64url and "."');
  // One part more than allowed, so that too many parts is seen rather than silently cut.
  const parts = s.slice(COMPACT_PREFIX.length).split('.', 2 * MAX_SIGNATURES + 2);
  if (parts.length < 3 || parts.length % 2 === 0 || parts.length > 2 * MAX_SIGNATURES + 1) {
    malformed(`expected header.payload.signature and at most ${MAX_SIGNATURES} signatures, got ${parts.length} parts`);
  }
  const payload = parts[1] === '' ? Buffer.alloc(0) : b64(parts[1]!, 'payload', maxPayloadBytes);
  const signatures: RawSignature[] = [{ header: b64(parts[0]!, 'header', MAX_HEADER_BYTES), sig: b64(parts[2]!, 'signature', MAX_SIG_BYTES) }];
  for (let i = 3; i < parts.length; i += 2) {
    signatures.push({ header: b64(parts[i]!, 'header', MAX_HEADER_BYTES), sig: b64(parts[i + 1]!, 'signature', MAX_SIG_BYTES) });
  }
  return { payload, signatures };
}

// ---- JSON-safe object -----------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeObject(env: RawEnvelope): SealedObject {
  let text: string | undefined;
  try {
    text = utf8.decode(env.payload);
  } catch {
    text = undefined;
  }
  const o: SealedObject = { sealq: 1, signatures: [] };
  if (text !== undefined) o.payload = text;
  else o.payload64 = env.payload.toString('base64url');
  for (const s of env.signatures) {
    let header: string;
    try {
      header = utf8.decode(s.header);
    } catch {
      malformed('a header is not UTF-8');
    }
    o.signatures.push({ header, sig: s.sig.toString('base64url') });
  }
  return o;
}

export function isSealedObject(v: unknown): v is SealedObject {
  return typeof v === 'object' && v !== null && 'sealq' in v;
}

export function decodeObject(o: unknown, maxPayloadBytes: number): RawEnvelope {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) malformed('expected a compact string or a sealed object');
  const v = o as Record<string, unknown>;
  if (v.sealq !== 1) {
    if (typeof v.sealq === 'number') throw new UnsupportedVersionError(`envelope version ${v.sealq} is not supported: this verifier reads version 1; upgrade sealq`);
    malformed('the object has no "sealq": 1 member (was the message sealed at all?)');
  }
  for (const k in v) if (k !== 'sealq' && k !== 'payload' && k !== 'payload64' && k !== 'signatures') malformed(`unknown member ${JSON.stringify(k.slice(0, 40))}`);
  let payload: Buffer;
  if (typeof v.payload === 'string' && v.payload64 === undefined) {
    // UTF-16 length bounds UTF-8 length from below, so check before encoding
    if (v.payload.length > maxPayloadBytes) malformed(`payload is larger than ${maxPayloadBytes} bytes`);
    if (!v.payload.isWellFormed()) malformed('payload text is not well-formed Unicode');
    payload = Buffer.from(v.payload, 'utf8');
    if (payload.length > maxPayloadBytes) malformed(`payload is larger than ${maxPayloadBytes} bytes`);
  } else if (typeof v.payload64 === 'string' && v.payload === undefined) {
    if (!asciiBase64url(v.payload64)) malformed('payload64 is not base64url');
    payload = v.payload64 === '' ? Buffer.alloc(0) : b64(v.payload64, 'payload64', maxPayloadBytes);
  } else {
    malformed('exactly one of "payload" (text) and "payload64" (base64url) must be a string');
  }
  const sigs = v.signatures;
  if (!Array.isArray(sigs) || sigs.length === 0 || sigs.length > MAX_SIGNATURES) malformed(`"signatures" must be a list of 1 to ${MAX_SIGNATURES} entries`);
  const signatures: RawSignature[] = [];
  for (const s of sigs as unknown[]) {
    const e = s as Record<string, unknown> | null;
    if (typeof e?.header !== 'string' || typeof e.sig !== 'string') malformed('each signature needs "header" (text) and "sig" (base64url)');
    for (const k in e) if (k !== 'header' && k !== 'sig') malformed(`unknown member ${JSON.stringify(k.slice(0, 40))} in a signature`);
    if (e.header.length > MAX_HEADER_BYTES || !e.header.isWellFormed()) malformed(`header must be well-formed text of at most ${MAX_HEADER_BYTES} bytes`);
    const header = Buffer.from(e.header, 'utf8');
    // The same byte bound as the compact carrier, so both carriers give the same verdict.
    if (header.length > MAX_HEADER_BYTES) malformed(`header must be at most ${MAX_HEADER_BYTES} bytes`);
    if (!asciiBase64url(e.sig)) malformed('sig is not base64url');
    signatures.push({ header, sig: b64(e.sig, 'signature', MAX_SIG_BYTES) });
  }
  return { payload, signatures };
}

// ---- headers: the payload as the message body, the rest in one string header -----------------------

/**
 * The headers carrier (SPEC §5.6), for brokers with message headers (AMQP, NATS, MQTT 5, Asynq):
 * the body stays the user's bytes and the `sealq` header holds the compact envelope with its
 * payload part left empty (detached, as JWS detaches content).
 */
export interface DetachedEnvelope {
  /** Value of the `sealq` message header: `sealq1.<header>..<sig>[.<header>.<sig>]...`. */
  readonly seal: string;
  /** The message body: exactly the payload bytes. */
  readonly payload: Uint8Array;
}

/** Name of the one message header that carries the seal. */
export const SEAL_HEADER = 'sealq';

export function isDetachedEnvelope(v: unknown): v is DetachedEnvelope {
  return typeof v === 'object' && v !== null && !('sealq' in v) && 'seal' in v;
}

export function encodeDetached(env: RawEnvelope): DetachedEnvelope {
  return { seal: encodeCompact({ payload: Buffer.alloc(0), signatures: env.signatures }), payload: env.payload };
}

export function decodeDetached(d: DetachedEnvelope, maxPayloadBytes: number): RawEnvelope {
  const { seal, payload } = d as { seal: unknown; payload: unknown };
  if (seal === undefined || seal === null || seal === '') malformed(`no "${SEAL_HEADER}" header: the message was not sealed (published without sealq?)`);
  if (typeof seal !== 'string') malformed(`the "${SEAL_HEADER}" header must be a string`);
  if (!(payload instanceof Uint8Array)) malformed('the body must be bytes');
  if (payload.length > maxPayloadBytes) malformed(`payload is larger than ${maxPayloadBytes} bytes`);
  // The header value holds no payload, so it is bounded as an envelope with an empty one.
  if (seal.length > maxCompactLength(0)) malformed(`the "${SEAL_HEADER}" header is ${seal.length} characters, larger than any seal`);
  if (seal.startsWith(COMPACT_PREFIX) && (seal.slice(COMPACT_PREFIX.length).split('.', 2)[1] ?? '') !== '') {
    malformed(`the "${SEAL_HEADER}" header must have an empty payload part (the payload is the body)`);
  }
  const raw = decodeCompact(seal, 0);
  return { payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), signatures: raw.signatures };
}

// ---- the object carrier as JSON text ---------------------------------------------------------------

/**
 * Parses the object carrier from JSON text, for callers that hold the text rather than a parsed
 * value. Duplicate member names are refused (SPEC §5.3): parsers disagree on which one counts.
 */
export function parseObjectText(text: string | Uint8Array, maxPayloadBytes: number): SealedObject {
  // payload64 is the widest payload form; JSON escapes can make text at most 6x longer per char.
  const bound = 64 + 6 * Math.ceil((maxPayloadBytes * 4) / 3) + MAX_SIGNATURES * (64 + 6 * MAX_HEADER_BYTES + Math.ceil((4 * MAX_SIG_BYTES) / 3));
  if (text.length > bound) malformed(`${text.length} characters is larger than any object envelope with a payload of at most ${maxPayloadBytes} bytes`);
  let s: string;
  let v: unknown;
  try {
    s = typeof text === 'string' ? text : utf8.decode(text);
    v = JSON.parse(s);
  } catch {
    malformed('not UTF-8 JSON text');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) malformed('expected a JSON object');
  let kept = Object.keys(v).length;
  const sigs = (v as { signatures?: unknown }).signatures;
  if (Array.isArray(sigs)) for (const e of sigs) if (typeof e === 'object' && e !== null && !Array.isArray(e)) kept += Object.keys(e).length;
  if (separatorsOutsideStrings(s) !== kept) malformed('duplicate member names, or an unexpected nested object');
  return v as SealedObject;
}
