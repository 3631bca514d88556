import type { ClaimedMessage } from '../../claim.js';
import { renewalInterval } from './consumer-durations.js';
import { errorOf } from './error-of.js';

/** Renews a claim's replay lease once; a lease found lost, or a store that failed, is reported, not thrown. */
export function renewLease(claimed: ClaimedMessage, leaseMs: number, report: (e: Error) => void): void {
  claimed.extend(leaseMs).then(
    (held) => {
      if (!held) report(new Error(`lost the replay lease of message ${claimed.header.id} while its handler ran: raise lease`));
    },
    (e: unknown) => report(errorOf(e)),
  );
}

/** Renews a claim's replay lease while its handler runs; returns what stops renewing. */
export function keepLeaseAlive(claimed: ClaimedMessage, leaseMs: number, report: (e: Error) => void): () => void {
  const timer = setInterval(() => renewLease(claimed, leaseMs, report), renewalInterval(leaseMs));
  return () => clearInterval(timer);
}
