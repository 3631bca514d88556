import { readFileSync } from 'node:fs';
import { EXIT_OK, EXIT_USAGE, UsageError } from './command.js';
import type { Command, Io } from './command.js';
import { COMMANDS } from './commands/index.js';
import { report } from './report.js';

function version(): string {
  try {
    // dist/cli/run.js -> package.json, two levels up (also src/cli when run from source)
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'sealq: signed, replay-proof queue messages',
    '',
    'Usage: sealq <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'sealq <command> --help' for a command's options.",
    'Keyrings come from --keyring FILE or the SEALQ_KEYRING environment variable (the JSON itself).',
    'Durations: 250ms, 30s, 5m, 2h, 7d.',
    'Errors print CODE: message on stderr (ERR_USAGE for a wrong command line).',
    'Exit status: 0 ok, 1 message rejected, 2 usage or configuration error.',
    '',
  ].join('\n');
}

const wantsHelp = (args: readonly string[]): boolean => {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

/** Dispatches `sealq <command> ...` and resolves to the exit code; never throws. */
export async function runCli(argv: readonly string[], io: Io, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(mainHelp(commands));
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h') {
    io.stdout.write(mainHelp(commands));
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(mainHelp(commands));
      return EXIT_OK;
    }
    const c = commands.find((x) => x.name === topic);
    if (c === undefined) return unknown(topic, io, commands);
    return showHelp(c, rest.slice(1), io);
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) return unknown(name, io, commands);
  if (wantsHelp(rest)) return showHelp(command, rest.filter((a) => a !== '--help' && a !== '-h'), io);
  try {
    return await command.run(rest, io);
  } catch (e) {
    return report(e, io, command.name);
  }
}

function showHelp(command: Command, args: readonly string[], io: Io): number {
  const text = command.helpFor?.(args) ?? command.help;
  io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return EXIT_OK;
}

function unknown(name: string, io: Io, commands: readonly Command[]): number {
  const shown = JSON.stringify(name.slice(0, 40));
  return report(new UsageError(`unknown command ${shown}; commands: ${commands.map((c) => c.name).join(', ')}`), io, undefined);
}
