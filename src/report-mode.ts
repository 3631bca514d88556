import { InvalidArgumentError, RejectionError } from './errors.js';

/**
 * Report-only rollout. In `enforce` mode (the default) a message that fails verification is
 * rejected. In `report` mode it is processed anyway, and counted, logged and audited with the code
 * it would have got, so a team can switch sealq on without stopping production and enforce once
 * the would-reject counts are zero. The mode can differ per ctx and per typ (queue by queue).
 */
export type VerifyMode = 'enforce' | 'report';

/** Modes for the types of one context. */
export interface ContextModes {
  /** For the context's types not listed in `typ`. */
  readonly default?: VerifyMode;
  readonly typ?: Readonly<Record<string, VerifyMode>>;
}

/**
 * Modes by context and type. The most specific entry wins: `ctx[c].typ[t]`, then `ctx[c]`
 * (a mode, or its `default`), then `typ[t]`, then `default`, then `enforce`.
 *
 *     { default: 'report', ctx: { payments: 'enforce', emails: { default: 'report', typ: { reset: 'enforce' } } } }
 */
export interface ModeRules {
  readonly default?: VerifyMode;
  readonly ctx?: Readonly<Record<string, VerifyMode | ContextModes>>;
  readonly typ?: Readonly<Record<string, VerifyMode>>;
}

/** A mode for everything, or rules by context and type. */
export type ModeOption = VerifyMode | ModeRules;

const isMode = (v: unknown): v is VerifyMode => v === 'enforce' || v === 'report';
const checked = new WeakSet<object>();

function plainObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function checkModes(v: unknown, what: string): void {
  const o = plainObject(v, what);
  for (const k of Object.keys(o)) if (!isMode(o[k])) throw new InvalidArgumentError(`${what}.${k} must be 'enforce' or 'report'`);
}

/** Throws ERR_INVALID_ARGUMENT unless `m` is a mode or mode rules (each rules object is checked once). */
export function checkMode(m: unknown, what = 'mode'): asserts m is ModeOption {
  if (isMode(m)) return;
  if (typeof m === 'object' && m !== null && checked.has(m)) return;
  const o = plainObject(m, `${what} ('enforce', 'report' or rules { default, ctx, typ })`);
  for (const k of Object.keys(o)) {
    if (k === 'default') {
      if (!isMode(o.default)) throw new InvalidArgumentError(`${what}.default must be 'enforce' or 'report'`);
    } else if (k === 'typ') {
      checkModes(o.typ, `${what}.typ`);
    } else if (k === 'ctx') {
      const c = plainObject(o.ctx, `${what}.ctx`);
      for (const name of Object.keys(c)) {
        const e = c[name];
        if (isMode(e)) continue;
        const r = plainObject(e, `${what}.ctx.${name} ('enforce', 'report' or { default, typ })`);
        for (const rk of Object.keys(r)) {
          if (rk === 'default') {
            if (!isMode(r.default)) throw new InvalidArgumentError(`${what}.ctx.${name}.default must be 'enforce' or 'report'`);
          } else if (rk === 'typ') checkModes(r.typ, `${what}.ctx.${name}.typ`);
          else throw new InvalidArgumentError(`${what}.ctx.${name} has an unknown member "${rk.slice(0, 40)}"; it takes default and typ`);
        }
      }
    } else {
      throw new InvalidArgumentError(`${what} has an unknown member "${k.slice(0, 40)}"; it takes default, ctx and typ`);
    }
  }
  checked.add(o);
}

// Own members only: a ctx named "constructor" or "__proto__" must not find Object.prototype's.
const own = <T>(o: Readonly<Record<string, T>> | undefined, k: string | undefined): T | undefined =>
  o !== undefined && k !== undefined && Object.hasOwn(o, k) ? o[k] : undefined;

/**
 * The mode for a message on `ctx` with type `typ`. `ctx` must be the context the consumer
 * serves (its queue), never the one a message claims: otherwise a forger would pick a context
 * in report mode. `typ` is the type the consumer dispatches on.
 */
export function modeFor(mode: ModeOption | undefined, ctx: string | undefined, typ: string | undefined): VerifyMode {
  if (mode === undefined) return 'enforce';
  if (typeof mode === 'string') return mode;
  const c = own(mode.ctx, ctx);
  if (typeof c === 'string') return c;
  return own(c?.typ, typ) ?? c?.default ?? own(mode.typ, typ) ?? mode.default ?? 'enforce';
}

/** True when some context or type may be in report mode (so a consumer knows whether it must prepare for it). */
export function mayReport(mode: ModeOption | undefined): boolean {
  if (mode === undefined) return false;
  if (typeof mode === 'string') return mode === 'report';
  const all = [mode.default, ...Object.values(mode.typ ?? {})];
  for (const c of Object.values(mode.ctx ?? {})) {
    if (typeof c === 'string') all.push(c);
    else all.push(c.default, ...Object.values(c.typ ?? {}));
  }
  return all.includes('report');
}

/**
 * Whether report mode may let a message with this error through. Every verdict on the message
 * may, and so may an unreachable replay store (the rollout must never stop production); a
 * message in flight elsewhere may not (another consumer is processing it right now).
 */
export function reportable(e: unknown): e is RejectionError {
  return e instanceof RejectionError && e.code !== 'ERR_IN_FLIGHT';
}
