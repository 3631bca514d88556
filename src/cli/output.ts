import type { Writable } from 'node:stream';

/** Writes and resolves once the data is handed to the OS (so a pipe error surfaces here). */
export function writeAll(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/** True when colours make sense: a terminal, and the user did not ask for none (NO_COLOR). */
export function useColor(stream: Writable, env: NodeJS.ProcessEnv): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb';
}
