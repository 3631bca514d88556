import { DEFAULT_LEASE_MS } from '../../claim.js';
import { parseDuration } from '../../duration.js';
import { InvalidArgumentError } from '../../errors.js';

/** Default of the retryDelay option: the wait after a handler failure. */
export const DEFAULT_RETRY_DELAY_MS = 1000;
/** Default of the busyDelay option: the wait after a message in flight elsewhere or a store that did not answer. */
export const DEFAULT_BUSY_DELAY_MS = 250;
/** Most a consumer waits between tries of a dead letter. */
const MAX_BACKOFF_MS = 30_000;

/** A duration option in ms, or its default when unset. */
export const durationOption = (v: number | string | undefined, dflt: number, what: string): number => (v === undefined ? dflt : parseDuration(v, what));

/** The lease, retryDelay and busyDelay options of a broker consumer, in ms, their defaults filled in. */
export function consumerDurations(o: { lease?: number | string; retryDelay?: number | string; busyDelay?: number | string }): { lease: number; retryDelay: number; busyDelay: number } {
  const lease = durationOption(o.lease, DEFAULT_LEASE_MS, 'lease');
  if (lease <= 0) throw new InvalidArgumentError('lease must be longer than 0');
  return { lease, retryDelay: durationOption(o.retryDelay, DEFAULT_RETRY_DELAY_MS, 'retryDelay'), busyDelay: durationOption(o.busyDelay, DEFAULT_BUSY_DELAY_MS, 'busyDelay') };
}

/** A delay spread by ±20%, so that consumers turned away by the same busy message do not all come back at once. */
export const jittered = (t: number): number => t * (0.8 + 0.4 * Math.random());

/** The wait before the next try of a dead letter: twice the last, at most 30s. */
export const backoff = (wait: number): number => Math.min(wait * 2, MAX_BACKOFF_MS);

/** How often to renew something that lapses after `t` ms (a lease, an ack deadline): three times within it, at most every 50 ms. */
export const renewalInterval = (t: number): number => Math.max(50, Math.floor(t / 3));
