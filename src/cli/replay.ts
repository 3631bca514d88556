import { MemoryReplayStore } from '../replay/memory.js';
import type { ReplayStore } from '../replay/store.js';
import { UsageError } from './command.js';

export interface ResolvedReplayStore {
  readonly store: ReplayStore;
  close(): Promise<void>;
}

type Resolver = (url: string) => Promise<ResolvedReplayStore>;

/**
 * `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (or `rediss://` for TLS): the shared Redis store, so
 * separate `sealq open` runs agree. Loaded on demand, so the CLI works without ioredis installed.
 */
const redis: Resolver = async (url) => {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError('--replay is not a valid redis:// URL; use redis://HOST:PORT[/DB]');
  }
  if (u.hostname === '' || !/^(\/\d*)?$/.test(u.pathname)) throw new UsageError('--replay must look like redis://HOST:PORT[/DB]');
  let mod: typeof import('../replay/redis.js');
  try {
    mod = await import('../replay/redis.js');
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new UsageError('--replay redis:// needs the ioredis package: npm install ioredis');
    }
    throw e;
  }
  const store = new mod.RedisReplayStore({ redis: url });
  return { store, close: () => store.close() };
};

/**
 * `--replay URL` schemes. `memory` lives only as long as the process (so across separate `sealq
 * open` runs it remembers nothing); it is here for symmetry with the library and for tests.
 */
const RESOLVERS: Record<string, Resolver> = {
  memory: async () => ({ store: new MemoryReplayStore(), close: async () => undefined }),
  redis,
  rediss: redis,
};

function scheme(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*)(?::|$)/i.exec(url);
  return m === null ? '' : m[1]!.toLowerCase();
}

/** Opens the replay store named by `--replay`; an unknown scheme is a usage error. */
export async function resolveReplayStore(url: string): Promise<ResolvedReplayStore> {
  const s = scheme(url);
  const resolve = RESOLVERS[s];
  if (resolve === undefined) {
    // Only the scheme is echoed: a URL may carry a password.
    const shown = s === '' ? 'the --replay value' : `replay store scheme "${s}:"`;
    throw new UsageError(`${shown} is not supported; supported: ${Object.keys(RESOLVERS).map((k) => `${k}`).join(', ')}`);
  }
  return resolve(url);
}
