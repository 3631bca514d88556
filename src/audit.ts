import { channel } from 'node:diagnostics_channel';
import type { VerifyMode } from './report-mode.js';

/**
 * Audit events (never payload or key material) on node:diagnostics_channel. Publishing costs
 * nothing while nobody subscribes. Subscribe with
 *   diagnostics_channel.subscribe('sealq:open', (event) => ...)
 * Metrics, rejection logs and tracing are all fed from these channels, so every adapter reports
 * through the same path.
 */
export interface AuditEvent {
  readonly op: 'seal' | 'open';
  readonly outcome: 'ok' | 'rejected';
  /** On a rejection these are as the message claimed them: unverified. */
  readonly kid?: string;
  readonly ctx?: string;
  readonly typ?: string;
  readonly id?: string;
  /** Rejection code when outcome is 'rejected'. */
  readonly code?: string;
  /** The key's algorithm (seal), or the message's (open: as claimed on a rejection). */
  readonly alg?: string;
  /** open: the context the consumer serves (its own, never the message's claim), when it serves one. */
  readonly consumerCtx?: string;
  /** open: seconds from the call to the verdict. */
  readonly seconds?: number;
  /** 'report' on a rejection that was not enforced: the message was let through (report-only mode). */
  readonly mode?: VerifyMode;
}

/** A replay-store step: claim outcomes, and errors of any step. */
export interface ClaimEvent {
  readonly op: 'claim' | 'complete' | 'release' | 'extend';
  /** claim: claimed, replayed (completed before) or in-flight (leased elsewhere); any step: error (the store failed). */
  readonly outcome: 'claimed' | 'replayed' | 'in-flight' | 'error';
  /** The verified ctx and id the message is claimed under. */
  readonly ctx: string;
  readonly id?: string;
  /** 'report' when a replay or a store error was let through (report-only mode). */
  readonly mode?: VerifyMode;
}

/** A message an adapter put aside (dead-letter queue or stream, failed set) instead of processing it. */
export interface DeadLetterEvent {
  /** bullmq, redis-streams, amqp, nats, mqtt, ... */
  readonly adapter: string;
  /** The rejection code, ERR_COMPLETION_NOT_RECORDED or ERR_HANDLER_FAILED. */
  readonly code: string;
  /** Where it was kept: the dead-letter stream, queue or subject, or `failed` (BullMQ's failed set). */
  readonly destination: string;
  /** The context the consumer serves (its queue, stream or subject). */
  readonly consumerCtx: string;
  /** As the message claimed them (unverified), when it carried a readable header. */
  readonly kid?: string;
  readonly ctx?: string;
  readonly typ?: string;
  readonly id?: string;
}

export const sealChannel = channel('sealq:seal');
export const openChannel = channel('sealq:open');
export const claimChannel = channel('sealq:claim');
export const deadLetterChannel = channel('sealq:dead-letter');

/** Publishes a claim step's outcome; call only after checking claimChannel.hasSubscribers (no allocation otherwise). */
export function publishClaim(op: ClaimEvent['op'], outcome: ClaimEvent['outcome'], ctx: string, id: string, mode?: VerifyMode): void {
  claimChannel.publish(mode === undefined ? { op, outcome, ctx, id } : { op, outcome, ctx, id, mode });
}
