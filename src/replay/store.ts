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
}
