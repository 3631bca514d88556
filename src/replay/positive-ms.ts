import { InvalidArgumentError } from '../errors.js';

/**
 * A store's lease or retention argument: a finite number of milliseconds above 0. Anything else
 * (0, negative, NaN, Infinity, a string) is a caller's bug that would let a claim lapse at once
 * or never: refused with ERR_INVALID_ARGUMENT. Fractions round up.
 */
export function positiveMs(v: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive number of milliseconds, got ${String(v).slice(0, 40)}`);
  return Math.ceil(v);
}
