import { isSealqErrorCode } from '../../errors.js';
import type { SealqErrorCode } from '../../errors.js';

/**
 * What every adapter's dead letters have in common: the code, the reason and the time, under the
 * same names (`sealq-code`, `sealq-reason`, `sealq-at`), so one tool reads them from any broker.
 * Every adapter takes them from here.
 */
export const DEAD_LETTER_CODE = 'sealq-code';
export const DEAD_LETTER_REASON = 'sealq-reason';
export const DEAD_LETTER_AT = 'sealq-at';

/** Dead-letter code of a message whose handler failed and the retry policy gave up (not a verdict on the message). */
export const HANDLER_FAILED = 'ERR_HANDLER_FAILED';

/** Every code a dead letter can carry: a sealq rejection (or other sealq error), or HANDLER_FAILED. */
export type DeadLetterCode = SealqErrorCode | typeof HANDLER_FAILED;

export function isDeadLetterCode(code: unknown): code is DeadLetterCode {
  return code === HANDLER_FAILED || isSealqErrorCode(code);
}

/**
 * Reason of a dead letter whose handler succeeded but whose completion the replay store did not
 * record. `notDone` says, in the broker's words, what was not done with it (`redelivered`, `requeued`).
 */
export function completionNotRecordedReason(e: unknown, isCompletionError: boolean, notDone = 'redelivered'): string {
  const m = e instanceof Error ? e.message : String(e);
  return isCompletionError
    ? m
    : `the handler succeeded but the replay store could not record it (${m}); not ${notDone}, so that it cannot run twice: check whether its work was done`;
}

/** Reason of a dead letter whose handler failed and whose retryPolicy gave up. */
export function handlerFailedReason(failures: number, error: Error): string {
  return `handler failed ${failures} time(s); retryPolicy gave up: ${error.message}`;
}
