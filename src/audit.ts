import { channel } from 'node:diagnostics_channel';

/**
 * Audit events (never payload or key material) on node:diagnostics_channel. Publishing costs
 * nothing while nobody subscribes. Subscribe with
 *   diagnostics_channel.subscribe('sealq:open', (event) => ...)
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
}

export const sealChannel = channel('sealq:seal');
export const openChannel = channel('sealq:open');
