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

function compile(patterns: readonly string[]): NameMatcher {
  const exact = new Set<string>();
  const wild: RegExp[] = [];
  for (const p of patterns) {
    if (!p.includes('*')) exact.add(p);
    else wild.push(new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's'));
  }
  // A message without a type matches only a `*` pattern: a typed policy is not bypassed by omitting typ.
  return (name) => name !== undefined && (exact.has(name) || wild.some((r) => r.test(name)));
}

export function compilePolicy(policy: KeyPolicy | undefined, kid: string): { ctx: NameMatcher; typ: NameMatcher } {
  if (policy === undefined) return { ctx: allowAll, typ: allowAll };
  const list = (v: unknown, field: string): NameMatcher => {
    if (v === undefined) return allowAll;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s.length > 0)) {
      throw new InvalidKeyError(`key "${kid}": policy.${field} must be a list of non-empty names or * patterns`);
    }
    return v.includes('*') ? allowAll : compile(v);
  };
  return { ctx: list(policy.ctx, 'ctx'), typ: list(policy.typ, 'typ') };
}
