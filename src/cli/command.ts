import type { Readable, Writable } from 'node:stream';

/** What a command may touch: injected so tests can run commands in-process. */
export interface Io {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
}

/** One `sealq <name>` command. `run` resolves to the exit code: 0 ok, 1 rejected, 2 usage error. */
export interface Command {
  readonly name: string;
  /** One line, for `sealq --help`. */
  readonly summary: string;
  /** Full help text for `sealq <name> --help`. */
  readonly help: string;
  /** Help for `sealq <name> ARGS --help` when the arguments name a subcommand with help of its own. */
  helpFor?(args: readonly string[]): string | undefined;
  run(args: string[], io: Io): Promise<number>;
}

/** The code the CLI prints for a mistake in how a command was called (the library's codes name the rest). */
export const USAGE_CODE = 'ERR_USAGE';

/** A mistake in how the command was called (missing option, unknown flag, unreadable file): `ERR_USAGE: ...`, exit 2. */
export class UsageError extends Error {
  readonly code = USAGE_CODE;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;
