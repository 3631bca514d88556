import { InvalidArgumentError } from '../../errors.js';
import { errorOf } from './error-of.js';

const DOING = { requeue: 'requeueing', retry: 'retrying' } as const;

export function checkRetryPolicy(policy: unknown): void {
  if (policy !== undefined && typeof policy !== 'function') throw new InvalidArgumentError('retryPolicy must be a function');
}

/**
 * What to do after a handler failure, as the retryPolicy says; without one, or when it throws
 * (reported), `fallback`: a policy's bug must not drop or dead-letter the message.
 */
export function decideRetry<F, R extends keyof typeof DOING>(o: { readonly retryPolicy?: (failure: F) => R | 'dead-letter' }, failure: F, fallback: R, report: (e: Error) => void): R | 'dead-letter' {
  try {
    return o.retryPolicy?.(failure) ?? fallback; // called on the options, as a method
  } catch (e) {
    report(new Error(`retryPolicy threw (${errorOf(e).message}); ${DOING[fallback]}`));
    return fallback;
  }
}
