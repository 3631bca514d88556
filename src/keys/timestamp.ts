/**
 * Key timestamps (not_before, not_after and the rotation stamps): exactly RFC 3339 `date-time`,
 * checked field by field, never handed to Date.parse, which reads many other forms, and reads a
 * time without a zone as local time (two machines would disagree about a key's window).
 *
 *   YYYY-MM-DD "T" hh:mm:ss [ "." 1*9DIGIT ] ( "Z" / ("+" / "-") hh:mm )    T and Z in either case
 *
 * Year 0000-9999, month 01-12, a day that exists in that month (Gregorian leap years), hour 00-23,
 * minute 00-59, second 00-59 (no leap second), offset hour 00-23 and minute 00-59. Fraction digits
 * beyond milliseconds are dropped, not rounded.
 */
const GRAMMAR = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The instant (ms since the epoch) a key timestamp names, or undefined when it is not one. */
export function parseKeyTimestamp(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = GRAMMAR.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12) return undefined;
  if (d! < 1 || d! > (mo === 2 && isLeap(y!) ? 29 : DAYS[mo! - 1]!)) return undefined;
  if (h! > 23 || mi! > 59 || s! > 59) return undefined;
  let offset = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offset = (m[8] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const t = new Date(0);
  t.setUTCFullYear(y!, mo! - 1, d!);
  t.setUTCHours(h!, mi!, s!, ms);
  return t.getTime() - offset;
}
