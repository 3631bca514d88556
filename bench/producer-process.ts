/**
 * A benchmark's producer in a process of its own, as in a deployment: forked with the keyring in
 * SEALQ_KEYRING, it connects, says 'ready', publishes on 'go' and says 'done'.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Keyring } from 'sealq';

export interface ProducerProcess {
  readonly child: ChildProcess;
  /** Starts publishing; resolves when the producer has published (and had confirmed) everything. */
  go(): Promise<void>;
}

/** Forks `script` (a path relative to bench/) with `args`; resolves once it is connected. */
export async function startProducer(script: string, args: readonly string[], keyring: Keyring): Promise<ProducerProcess> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [...args], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SEALQ_KEYRING: JSON.stringify(keyring.toPrivateJwks()) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const failed = new Promise<never>((_, reject) => child.once('exit', (code) => code !== 0 && reject(new Error(`the producer exited with code ${code}`))));
  const said = (what: string): Promise<void> => Promise.race([new Promise<void>((resolve) => child.on('message', (m) => m === what && resolve())), failed]);
  await said('ready');
  return {
    child,
    go: () => {
      child.send('go');
      return said('done');
    },
  };
}
