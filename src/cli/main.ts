#!/usr/bin/env node
// The `sealq` executable: wires the process to the dispatcher and sets the exit status.
import { runCli } from './run.js';

// A reader that goes away (`sealq open ... | head -c 10`) must not crash us with an unhandled
// EPIPE; the write that failed reports it where it matters.
process.stdout.on('error', () => undefined);

process.exitCode = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
