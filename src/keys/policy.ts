import { InvalidKeyError } from '../errors.js';

/**
 * Which contexts and message types a key may sign. Each list holds exact names or `*` patterns
 * (`billing.*`, `*`); an absent list allows everything. Checked on open against the signed header.
 */
export interface KeyPolicy {
  readonly ctx?: readonly string[];
  readonly typ?: readonly string[];
}

export type NameMatcher = (name: string | undefined) => boolean;

const allowAll: NameMatcher = () => true;

/**
 * True when `name` matches `pattern`, where `*` matches any sequence of UTF-16 code units
 * (including none) and every other code unit matches itself. Greedy leftmost matching of the
 * pieces between the stars is exact for this pattern language and never backtracks: one pass over
 * the name per piece boundary, so an attacker-chosen ctx of any length costs linear time (a
 * regular expression built from the pattern can take exponential time).
 */
export function matchPattern(pattern: string, name: string): boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return pattern === name;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  // The middle pieces must appear in order between the prefix and the suffix, without overlapping them.
  let at = first.length;
  const end = name.length - last.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    if (piece === '') continue;
    const found = name.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

function compile(patterns: readonly string[]): NameMatcher {
  const exact = new Set<string>();
  const wild: string[] = [];
  for (const p of patterns) {
    if (!p.includes('*')) exact.add(p);
    else wild.push(p);
  }
  // A message without a type matches only a `*` pattern: a typed policy is not bypassed by omitting typ.
  return (name) => name !== undefined && (exact.has(name) || wild.some((p) => matchPattern(p, name)));
}

const POLICY_MEMBERS = new Set(['ctx', 'typ']);

/**
 * Checks a policy and returns it as a frozen copy with its matchers. Refused (ERR_INVALID_KEY): a
 * member other than ctx and typ (a misspelt `ctxs` would otherwise be ignored and let the key sign
 * anything), an empty list (it would deny everything without saying so), and anything but
 * non-empty strings in a list. `{}` is the same as no policy.
 */
export function compilePolicy(policy: KeyPolicy | undefined, kid: string): { policy: KeyPolicy | undefined; ctx: NameMatcher; typ: NameMatcher } {
  if (policy === undefined) return { policy: undefined, ctx: allowAll, typ: allowAll };
  const bad = (what: string): never => {
    throw new InvalidKeyError(`key "${kid}": ${what}`);
  };
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) bad('policy must be an object like {"ctx":["billing.*"],"typ":["*"]}');
  for (const member of Object.keys(policy)) {
    if (!POLICY_MEMBERS.has(member)) {
      bad(`policy has an unknown member ${JSON.stringify(member.slice(0, 40))}: only "ctx" and "typ" are allowed (a misspelt member would be ignored and let the key sign anything)`);
    }
  }
  const copy: { ctx?: readonly string[]; typ?: readonly string[] } = {};
  const list = (v: unknown, field: 'ctx' | 'typ'): NameMatcher => {
    if (v === undefined) return allowAll;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s.length > 0)) {
      bad(`policy.${field} must be a list of non-empty names or * patterns`);
    }
    const names = v as string[];
    if (names.length === 0) bad(`policy.${field} is an empty list, which would refuse every message: list the allowed names, or leave ${field} out to allow any`);
    copy[field] = Object.freeze([...names]);
    return names.includes('*') ? allowAll : compile(names);
  };
  const ctx = list(policy.ctx, 'ctx');
  const typ = list(policy.typ, 'typ');
  return { policy: Object.freeze(copy), ctx, typ };
}
