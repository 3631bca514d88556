import { isAlg } from '../crypto/algorithms.js';
import type { Alg } from '../crypto/algorithms.js';
import { MalformedError } from '../errors.js';
import { MAX_HEADER_BYTES, MAX_ID_LENGTH, MAX_NAME_LENGTH } from './limits.js';

/**
 * The signed header (SPEC §3). It travels as the exact JSON bytes that were signed; the verifier
 * parses those bytes and never re-serialises them.
 */
export interface Header {
  /** Key id of the signing key. */
  readonly kid: string;
  /** Algorithm; must equal the algorithm of the verifier's key with this kid. */
  readonly alg: Alg;
  /** Message id: 128 random bits unless the producer chose one; the replay key with ctx. */
  readonly id: string;
  /** Issued at, ms since the epoch. */
  readonly iat: number;
  /** Not before, ms since the epoch. */
  readonly nbf?: number;
  /** Expires at, ms since the epoch (first instant at which the message is no longer valid). */
  readonly exp?: number;
  /** Context: the destination, such as the queue name. */
  readonly ctx: string;
  /** Message type, such as the job name. */
  readonly typ?: string;
  /** Content type of the payload, such as application/json. */
  readonly ct?: string;
}

const PRINTABLE = /^[\x21-\x7e]+$/;

function bad(what: string): never {
  throw new MalformedError(`malformed header: ${what}`);
}

function name(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) bad(`"${field}" must be a string of 1 to ${max} characters`);
  // A lone surrogate has no UTF-8 form: other languages would read it as U+FFFD (SPEC §3.2).
  if (!v.isWellFormed()) bad(`"${field}" holds a lone surrogate (not well-formed Unicode)`);
  return v;
}

function time(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`"${field}" must be a non-negative integer (ms since the epoch)`);
  return v;
}

/** Checks every field of a header object; used by seal (on options) and open (on parsed bytes). */
export function checkHeader(h: Record<string, unknown>): Header {
  for (const k in h) {
    switch (k) {
      case 'kid': case 'alg': case 'id': case 'iat': case 'nbf': case 'exp': case 'ctx': case 'typ': case 'ct':
        continue;
      default:
        bad(`unknown field ${JSON.stringify(k.slice(0, 40))}; version 1 allows kid, alg, id, iat, nbf, exp, ctx, typ, ct`);
    }
  }
  name(h.kid, 'kid', MAX_ID_LENGTH);
  if (!isAlg(h.alg)) bad(`"alg" ${JSON.stringify(String(h.alg).slice(0, 20))} is not a supported algorithm`);
  if (!PRINTABLE.test(name(h.id, 'id', MAX_ID_LENGTH))) bad('"id" must be printable ASCII without spaces');
  time(h.iat, 'iat');
  if (h.nbf !== undefined) time(h.nbf, 'nbf');
  if (h.exp !== undefined) time(h.exp, 'exp');
  if (h.nbf !== undefined && h.exp !== undefined && (h.exp as number) <= (h.nbf as number)) bad('"exp" must be after "nbf"');
  name(h.ctx, 'ctx', MAX_NAME_LENGTH);
  if (h.typ !== undefined) name(h.typ, 'typ', MAX_NAME_LENGTH);
  if (h.ct !== undefined) name(h.ct, 'ct', MAX_NAME_LENGTH);
  return h as unknown as Header;
}

/** Header JSON in the canonical member order (SPEC §3.1); the exact bytes are then signed. */
export function serializeHeader(h: Header): string {
  // The bytes of JSON.stringify on the object in this order, without building the object (hot path).
  let s = '{"kid":' + JSON.stringify(h.kid) + ',"alg":"' + h.alg + '","id":' + JSON.stringify(h.id) + ',"iat":' + h.iat;
  if (h.nbf !== undefined) s += ',"nbf":' + h.nbf;
  if (h.exp !== undefined) s += ',"exp":' + h.exp;
  s += ',"ctx":' + JSON.stringify(h.ctx);
  if (h.typ !== undefined) s += ',"typ":' + JSON.stringify(h.typ);
  if (h.ct !== undefined) s += ',"ct":' + JSON.stringify(h.ct);
  return s + '}';
}

/** Parses and checks the carried header bytes. */
export function parseHeader(bytes: Uint8Array): Header {
  if (bytes.length > MAX_HEADER_BYTES) bad(`larger than ${MAX_HEADER_BYTES} bytes`);
  let h: unknown;
  let text: string;
  try {
    text = decoder.decode(bytes);
    h = JSON.parse(text);
  } catch {
    bad('not UTF-8 JSON');
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) bad('not a JSON object');
  const scan = scanHeader(bytes);
  // Number forms: only plain integers (SPEC §3.2). Outside strings, these bytes occur only in
  // signs, fractions and exponents, or in true/false, which no member allows either.
  if (scan.nonInteger) bad('a value is neither a string nor a plain non-negative integer (no sign, fraction or exponent)');
  if (scan.members !== Object.keys(h).length) bad('duplicate member names, or a nested value');
  return checkHeader(h as Record<string, unknown>);
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * One pass over valid JSON text, outside strings: name separators (`:`), which for a flat object
 * is its number of members as written (more than JSON.parse kept means a duplicate name, whose
 * meaning other parsers disagree on, SPEC §15.7, or a nested value), and any of `-+.eE`.
 */
function scanHeader(json: Uint8Array): { members: number; nonInteger: boolean } {
  let members = 0;
  let nonInteger = false;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) members++;
    else if (c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45) nonInteger = true;
  }
  return { members, nonInteger };
}
