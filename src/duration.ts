import { InvalidArgumentError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `30s`, `5m`, `2h`, `7d`, or a number of milliseconds -> milliseconds. */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new InvalidArgumentError(`${what} must be a whole, non-negative number of milliseconds, got ${String(value)}`);
  }
  const m = /^(\d{1,12})(ms|s|m|h|d)$/.exec(typeof value === 'string' ? value.trim() : '');
  if (m === null) {
    throw new InvalidArgumentError(`${what} "${String(value).slice(0, 40)}" is not a duration: use a number and a unit, like 30s, 5m, 2h or 7d`);
  }
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** Milliseconds in the largest unit that divides them exactly: 3600000 -> "1h", 90000 -> "90s". */
export function formatMs(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
