/**
 * The replay store (DESIGN "Replay and retries"). It keys on (ctx, id) and moves an id through
 * claimed (leased) -> completed. A repeat of a completed id is a replay; a repeat of a claimed id
 * whose lease is still running is in flight elsewhere; a released or lease-expired claim may be
 * claimed again, so retries keep working.
 */
export interface ReplayKey {
  readonly ctx: string;
  readonly id: string;
}

export type ClaimOutcome =
  | { readonly status: 'claimed'; readonly token: string }
  | { readonly status: 'completed' }
  | { readonly status: 'in-flight' };

export interface ReplayStore {
  /**
   * Atomically claims `key` for `leaseMs` unless it is completed or leased by someone else.
   * `retainMs` is how long the id must be remembered (the message's remaining validity plus
   * clock skew); a store never forgets a completed id sooner.
   */
  claim(key: ReplayKey, leaseMs: number, retainMs: number): Promise<ClaimOutcome>;
  /** Marks the id completed for `retainMs`. Returns false if the lease had been lost (it is marked anyway). */
  complete(key: ReplayKey, token: string, retainMs: number): Promise<boolean>;
  /** Gives up a claim after a failure, so a retry may claim it. No-op (false) if the lease was lost. */
  release(key: ReplayKey, token: string): Promise<boolean>;
  /** Extends a running lease (long jobs). False if the lease was lost. */
  extend(key: ReplayKey, token: string, leaseMs: number): Promise<boolean>;
  /**
   * Shows whether the queue's credentials (`queue`: the connection queue writers use) can change
   * this store's records. Optional: the adapters run it at start-up when a store has it.
   */
  checkIsolation?(queue: unknown): Promise<StoreIsolationReport>;
}

/**
 * What a store's isolation check found. A replay store that whoever writes to the queue can also
 * write to protects nothing: they delete a completed record and add the message again.
 */
export interface StoreIsolationReport {
  /** True only when the check showed that the queue's credentials cannot change the store's records. */
  readonly isolated: boolean;
  /**
   * How it is isolated: `acl` (the queue's Redis user may not write the store's keys),
   * `separate-server` (the queue's connection does not reach the store's data), `in-process`
   * (an in-memory store). Absent when not isolated.
   */
  readonly by?: 'acl' | 'separate-server' | 'in-process';
  /** The queue connection's Redis user, when the check could learn it. */
  readonly queueUser?: string;
  /** What the queue's credentials may do to the store, or why the check could not tell; empty when isolated. */
  readonly problems: readonly string[];
}
