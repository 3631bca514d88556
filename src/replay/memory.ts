import { randomId } from '../envelope/id.js';
import { InvalidArgumentError, ReplayStoreUnavailableError } from '../errors.js';
import { positiveMs } from './positive-ms.js';
import type { ClaimOutcome, ReplayKey, ReplayStore, StoreIsolationReport } from './store.js';

interface Entry {
  completed: boolean;
  token: string;
  leaseUntil: number;
  expiresAt: number;
}

export interface MemoryReplayStoreOptions {
  /** Upper bound on remembered ids (default 100,000). When full of unexpired ids, claims fail closed. */
  maxEntries?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * The embedded replay store for one process. Bounded in entries; an entry lives as long as its
 * message is valid. When every slot holds an id still within its validity window it refuses new
 * claims (ERR_REPLAY_STORE_UNAVAILABLE) rather than forget one and allow a replay.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(options: MemoryReplayStoreOptions = {}) {
    this.#max = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(this.#max) || this.#max < 1) throw new InvalidArgumentError('maxEntries must be a positive integer');
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  #k(key: ReplayKey): string {
    return `${key.ctx.length}:${key.ctx}:${key.id}`;
  }

  #live(k: string, now: number): Entry | undefined {
    const e = this.#entries.get(k);
    if (e !== undefined && e.expiresAt <= now) {
      this.#entries.delete(k);
      return undefined;
    }
    return e;
  }

  #makeRoom(now: number): void {
    if (this.#entries.size < this.#max) return;
    // Sweeping is O(n); do it at most once a second when full.
    if (now - this.#lastSweep >= 1000) {
      this.#lastSweep = now;
      for (const [k, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(k);
    }
    if (this.#entries.size >= this.#max) {
      throw new ReplayStoreUnavailableError(`the in-memory replay store is full (${this.#max} ids still within their validity window): raise maxEntries, shorten message validity, or use the Redis store`);
    }
  }

  async claim(key: ReplayKey, leaseMs: number, retainMs: number): Promise<ClaimOutcome> {
    leaseMs = positiveMs(leaseMs, 'leaseMs');
    retainMs = positiveMs(retainMs, 'retainMs');
    const now = this.#now();
    const k = this.#k(key);
    const e = this.#live(k, now);
    if (e?.completed) return { status: 'completed' };
    if (e !== undefined && e.leaseUntil > now) return { status: 'in-flight' };
    if (e === undefined) this.#makeRoom(now);
    const token = randomId();
    this.#entries.set(k, { completed: false, token, leaseUntil: now + leaseMs, expiresAt: now + Math.max(retainMs, leaseMs) });
    return { status: 'claimed', token };
  }

  async complete(key: ReplayKey, token: string, retainMs: number): Promise<boolean> {
    retainMs = positiveMs(retainMs, 'retainMs');
    const now = this.#now();
    const k = this.#k(key);
    const e = this.#live(k, now);
    const held = e !== undefined && !e.completed && e.token === token;
    if (e === undefined) this.#makeRoom(now);
    this.#entries.set(k, { completed: true, token, leaseUntil: 0, expiresAt: Math.max(now + retainMs, e?.expiresAt ?? 0) });
    return held;
  }

  async release(key: ReplayKey, token: string): Promise<boolean> {
    const k = this.#k(key);
    const e = this.#live(k, this.#now());
    if (e === undefined || e.completed || e.token !== token) return false;
    this.#entries.delete(k);
    return true;
  }

  async extend(key: ReplayKey, token: string, leaseMs: number): Promise<boolean> {
    leaseMs = positiveMs(leaseMs, 'leaseMs');
    const now = this.#now();
    const e = this.#live(this.#k(key), now);
    if (e === undefined || e.completed || e.token !== token) return false;
    e.leaseUntil = now + leaseMs;
    e.expiresAt = Math.max(e.expiresAt, e.leaseUntil);
    return true;
  }

  /** Isolated by construction: only this process can change it. */
  async checkIsolation(): Promise<StoreIsolationReport> {
    return { isolated: true, by: 'in-process', problems: [] };
  }

  clear(): void {
    this.#entries.clear();
  }
}
