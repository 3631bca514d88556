import type { ReplayKey, ReplayStore } from '../../replay/store.js';

/**
 * A view of a replay store in which every key's ctx is prefixed with a scope, so two consumer
 * groups reading the same stream each process every message once, independently. The mapping
 * (`<len(scope)>:<scope>|<ctx>`) is injective: no (scope, ctx) pair can pose as another.
 */
export function scopeReplayStore(store: ReplayStore, scope: string): ReplayStore {
  const head = `${scope.length}:${scope}|`;
  const k = (key: ReplayKey): ReplayKey => ({ ctx: head + key.ctx, id: key.id });
  return {
    claim: (key, leaseMs, retainMs) => store.claim(k(key), leaseMs, retainMs),
    complete: (key, token, retainMs) => store.complete(k(key), token, retainMs),
    release: (key, token) => store.release(k(key), token),
    extend: (key, token, leaseMs) => store.extend(k(key), token, leaseMs),
  };
}
