import { parseArgs } from 'node:util';
import { parseDuration } from '../duration.js';
import { InvalidArgumentError } from '../errors.js';
import { UsageError } from './command.js';

export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly multiple?: boolean }>>;

type One<F> = F extends { type: 'boolean' } ? boolean : string;
/** The parsed values: every flag may be absent; `multiple` ones are arrays. */
export type FlagValues<O extends FlagSpec> = { [K in keyof O]?: O[K] extends { multiple: true } ? Array<One<O[K]>> : One<O[K]> };

/** Strict flag parsing: an unknown flag, a missing value or a stray argument is a UsageError (exit 2). */
export function parseFlags<const O extends FlagSpec>(args: string[], options: O): FlagValues<O> {
  return strict(args, options, false).values;
}

/** parseFlags for commands with subcommands or operands: the flags, and the other arguments in order. */
export function parseFlagsAndPositionals<const O extends FlagSpec>(args: string[], options: O): { values: FlagValues<O>; positionals: string[] } {
  return strict(args, options, true);
}

/**
 * parseArgs takes `--max-age -5s` for a flag without a value followed by an option `-5`, and says
 * so in its own terms ("argument is ambiguous"). Say what is wrong in the user's terms instead.
 */
function checkValues(args: readonly string[], options: FlagSpec): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return;
    if (!a.startsWith('--') || a.includes('=')) continue;
    const name = a.slice(2);
    if (options[name]?.type !== 'string') continue;
    const next = args[i + 1];
    if (next === undefined) throw new UsageError(`${a} needs a value`);
    if (next.startsWith('-') && next !== '-') {
      if (/^-\d/.test(next)) throw new UsageError(`${a} ${next}: the value cannot be negative (did you mean ${a} ${next.slice(1)}?)`);
      throw new UsageError(`${a} needs a value, but ${JSON.stringify(next.slice(0, 40))} follows it (if that is the value, write ${a}=${next.slice(0, 40)})`);
    }
  }
}

function strict<O extends FlagSpec>(args: string[], options: O, allowPositionals: boolean): { values: FlagValues<O>; positionals: string[] } {
  checkValues(args, options);
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals });
    return { values: values as FlagValues<O>, positionals };
  } catch (e) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes; their messages name the flag.
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError(shorten((e as Error).message));
    throw e;
  }
}

// parseArgs appends a long hint about '--' to unknown options; the command's --help is the better hint.
function shorten(message: string): string {
  return message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '');
}

export function required(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag}: ${what}`);
  return value;
}

/** A duration flag (`30s`, `5m`, `2h`, `7d`) in ms; a bad value is a usage error naming the flag. */
export function durationFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (/^-\d/.test(value)) throw new UsageError(`--${flag} ${value}: a duration cannot be negative (did you mean --${flag} ${value.slice(1)}?)`);
  try {
    return parseDuration(value, `--${flag}`);
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new UsageError(e.message);
    throw e;
  }
}

/** The largest --max-payload: one envelope is read into memory, and its text must fit in one string. */
export const MAX_PAYLOAD_LIMIT = 256 * 1024 * 1024;
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kib: 1024, mib: 1024 * 1024 };

/**
 * A size flag in bytes: `1048576`, `512KiB`, `4MiB`, at least 1 byte and at most 256 MiB. KB and MB
 * are refused: whether they mean 1000 or 1024 is a guess, and a limit must mean one thing on both sides.
 */
export function sizeFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m === null ? undefined : SIZE_UNITS[m[2]!.toLowerCase()];
  if (m === null || unit === undefined) {
    throw new UsageError(`--${flag} ${JSON.stringify(value.slice(0, 40))} is not a size: use bytes, KiB or MiB, like 1048576, 512KiB or 4MiB`);
  }
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX_PAYLOAD_LIMIT) {
    throw new UsageError(`--${flag} ${value}: give at least 1 byte and at most ${MAX_PAYLOAD_LIMIT / 1024 / 1024}MiB`);
  }
  return bytes;
}

/**
 * The subcommand of `sealq COMMAND SUB ...` (its first operand), for a command whose `flags` table
 * lists the flags each subcommand takes, in the order help shows them. A missing or unknown
 * subcommand, or a given flag the subcommand does not take, is a usage error, never ignored.
 */
export function subcommand<S extends string>(command: string, sub: string | undefined, given: object, flags: Readonly<Record<S, readonly string[]>>): S {
  const subs = Object.keys(flags) as S[];
  if (sub === undefined) throw new UsageError(`missing subcommand: one of ${subs.join(', ')}`);
  if (!subs.includes(sub as S)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub.slice(0, 40))}: use one of ${subs.join(', ')}`);
  const s = sub as S;
  for (const flag of Object.keys(given)) {
    if (!flags[s].includes(flag)) throw new UsageError(`--${flag} does not apply to "sealq ${command} ${s}"`);
  }
  return s;
}
