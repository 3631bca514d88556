/**
 * Redis for integration tests: removing a test's keys from the shared server, and a redis-server
 * of the test's own, on a free port, for tests that pause, kill or reconfigure it.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** A local TCP port nothing listens on right now: for a server of our own, or for "Redis is down". */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Deletes every key matching the SCAN pattern (never KEYS: the server is shared). */
export async function deleteMatching(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export interface OwnRedisServer {
  readonly port: number;
  readonly url: string;
  /** The redis-server process: a test may SIGSTOP / SIGCONT it. */
  readonly proc: ChildProcess;
  /** Kills it (SIGKILL, resuming it first if paused) and waits until it is gone. */
  stop(): Promise<void>;
}

export interface OwnRedisOptions {
  /** Default: a free port. */
  port?: number;
  /** More redis-server options, after the defaults (no persistence), which they may override. */
  args?: string[];
}

/**
 * A redis-server child process on 127.0.0.1, never the shared server. Resolves once it answers
 * PING; stopped after the test.
 */
export async function startRedisServer(t: TestContext, options: OwnRedisOptions = {}): Promise<OwnRedisServer> {
  const port = options.port ?? (await freePort());
  const url = `redis://127.0.0.1:${port}`;
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...(options.args ?? [])], { stdio: 'ignore' });
  let spawnError: Error | undefined;
  proc.on('error', (e) => (spawnError = e));
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await gone;
  };
  t.after(stop);
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  for (let i = 0; ; i++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { port, url, proc, stop };
    } catch (e) {
      probe.disconnect();
      const why = spawnError?.message ?? (proc.exitCode !== null ? `it exited with status ${proc.exitCode}` : i >= 100 ? (e as Error).message : undefined);
      if (why !== undefined) throw new Error(`redis-server on port ${port} did not start: ${why}`);
      await sleep(50);
    }
  }
}
