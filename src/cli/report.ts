import { isSealqError } from '../errors.js';
import { EXIT_REJECTED, EXIT_USAGE, UsageError } from './command.js';
import type { Io } from './command.js';

/** sysexits' EX_SOFTWARE: a bug in sealq, not in the input or the invocation. */
export const EXIT_INTERNAL = 70;

/**
 * `open --replay`: the payload went to stdout, but the replay store could not record it as
 * completed. Neither a rejection (1) nor a usage error (2): a script must not retry it blindly.
 */
export const EXIT_NOT_RECORDED = 3;

/** How every failure is shown, usage errors included: `CODE: message` on stderr, never a stack trace. */
export function printError(io: Io, code: string, message: string): void {
  io.stderr.write(`${code}: ${message}\n`);
}

/** A warning: the command goes on. `sealq <command>: warning: message` on stderr. */
export function printWarning(io: Io, command: string, message: string): void {
  io.stderr.write(`sealq ${command}: warning: ${message}\n`);
}

/**
 * Turns a failure into its message and exit code, in one style, so that a script can read the
 * code before the first colon whatever went wrong:
 * - a rejection (the message on stdin was refused): `CODE: message`, exit 1;
 * - ERR_COMPLETION_NOT_RECORDED (the payload was output, its completion not recorded): exit 3;
 * - any other sealq error (invalid keyring, bad option value, no signing key): `CODE: message`, exit 2;
 * - a UsageError: `ERR_USAGE: message` and a pointer to --help, exit 2;
 * - anything else is a bug: a one-line message (no stack, which could hold data), exit 70.
 *   SEALQ_DEBUG=1 prints the stack for whoever is debugging sealq itself.
 */
export function report(err: unknown, io: Io, command: string | undefined): number {
  const help = command === undefined ? 'sealq --help' : `sealq ${command} --help`;
  if (err instanceof UsageError) {
    printError(io, err.code, `${err.message}\nRun '${help}' for usage.`);
    return EXIT_USAGE;
  }
  if (isSealqError(err)) {
    printError(io, err.code, err.message);
    if (err.code === 'ERR_COMPLETION_NOT_RECORDED') return EXIT_NOT_RECORDED;
    return err.rejection ? EXIT_REJECTED : EXIT_USAGE;
  }
  const e = err as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown } | null;
  if (e?.code === 'EPIPE') {
    io.stderr.write('sealq: output closed before everything was written\n');
    return EXIT_REJECTED;
  }
  const what = [typeof e?.name === 'string' ? e.name : 'Error', typeof e?.code === 'string' ? e.code : undefined].filter(Boolean).join(' ');
  const msg = typeof e?.message === 'string' ? e.message.slice(0, 300) : String(err).slice(0, 300);
  io.stderr.write(`sealq: internal error (${what}): ${msg}\nThis is a bug in sealq; please report it${io.env.SEALQ_DEBUG ? '' : ' (SEALQ_DEBUG=1 shows details)'}.\n`);
  if (io.env.SEALQ_DEBUG && typeof e?.stack === 'string') io.stderr.write(`${e.stack}\n`);
  return EXIT_INTERNAL;
}
