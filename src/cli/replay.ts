import { MemoryReplayStore } from '../replay/memory.js';
import type { ReplayStore } from '../replay/store.js';
import { UsageError } from './command.js';

export interface ResolvedReplayStore {
  readonly store: ReplayStore;
  close(): Promise<void>;
}

type Resolver = (url: string) => Promise<ResolvedReplayStore>;

/**
 * `--replay URL` schemes. `memory` lives only as long as the process (so across separate `sealq
 * open` runs it remembers nothing); it is here for symmetry with the library and for tests.
 */
const RESOLVERS: Record<string, Resolver> = {
  memory: async () => ({ store: new MemoryReplayStore(), close: async () => undefined }),
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
