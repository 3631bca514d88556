import { claimChannel, publishClaim } from './audit.js';
import { parseDuration } from './duration.js';
import { CompletionNotRecordedError, InFlightError, InvalidArgumentError, ReplayedError, ReplayStoreUnavailableError, SealqError } from './errors.js';
import { DEFAULT_CLOCK_SKEW_MS, openAsync } from './open.js';
import type { Envelope, OpenedMessage, OpenOptions } from './open.js';
import type { ReplayKey, ReplayStore } from './replay/store.js';
import type { Keyring, KeyringSource } from './keys/keyring.js';
import { modeFor } from './report-mode.js';

export interface ClaimOptions extends OpenOptions {
  /** Where completed message ids are remembered. */
  replay: ReplayStore;
  /** How long a claim holds before another consumer may take the message over. Default 30s. */
  lease?: number | string;
}

export interface ClaimedMessage extends OpenedMessage {
  /**
   * Processing succeeded: the message can never be processed again. If the store fails, retries
   * until the lease ends (so nobody else can take the message meanwhile), then throws
   * CompletionNotRecordedError (ERR_COMPLETION_NOT_RECORDED, not retryable: the work was done, and
   * a retry would do it again).
   */
  complete(): Promise<void>;
  /** Processing failed: let a retry (redelivery) claim the message again. */
  release(): Promise<void>;
  /** Keep the lease for a long-running job. */
  extend(lease?: number | string): Promise<boolean>;
}

export const DEFAULT_LEASE_MS = 30_000;

/**
 * A lease option: a duration (`30s` or milliseconds) longer than 0. A lease of 0 (or NaN,
 * Infinity, a negative number) would let another consumer claim the message while it runs.
 */
export function parseLease(value: number | string, what = 'lease'): number {
  const ms = parseDuration(value, what);
  if (ms <= 0) throw new InvalidArgumentError(`${what} must be longer than 0: another consumer could otherwise claim the message while it runs`);
  return ms;
}

async function guard<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (e instanceof ReplayStoreUnavailableError) throw e;
    throw new ReplayStoreUnavailableError(`replay store failed to ${what}: ${e instanceof SealqError ? e.message : (e as Error)?.message ?? String(e)}; the message was not processed and can be retried`, { cause: e });
  }
}

/**
 * The work is done, so marking it completed must not give up early: a failed mark followed by a
 * redelivery would run the message twice. Retries with backoff while our lease still keeps
 * everyone else off the message (a store restarting, a failover); past the lease, reports it.
 */
async function completeWithin(leaseEnd: () => number, mark: () => Promise<boolean>): Promise<void> {
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    try {
      await mark();
      return;
    } catch (e) {
      if (Date.now() + wait >= leaseEnd()) {
        const why = String((e as Error)?.message ?? e).slice(0, 300);
        throw new CompletionNotRecordedError(`the message was processed, but the replay store could not record its completion before its lease ended (${why}); do not retry it automatically, a redelivery could process it again: check whether its work was done`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Publishes a store failure on 'sealq:claim' (nothing is allocated when nobody listens). */
async function observed<T>(op: 'complete' | 'release' | 'extend', key: ReplayKey, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (claimChannel.hasSubscribers) publishClaim(op, 'error', key.ctx, key.id);
    throw e;
  }
}

const settled = async (): Promise<void> => undefined;

/** Report mode: a message let through holds no claim (its id is unverified, or already completed). */
function unclaimed(msg: OpenedMessage): ClaimedMessage {
  return { ...msg, complete: settled, release: settled, extend: async () => true };
}

/**
 * Opens an envelope and claims it in the replay store. Rejects a completed message as
 * ERR_REPLAYED and one leased by another consumer as ERR_IN_FLIGHT (retryable). A store that
 * cannot answer is ERR_REPLAY_STORE_UNAVAILABLE (retryable): never passed through, except in
 * report mode, where it and a replay are let through (marked wouldReject, holding no claim:
 * complete, release and extend do nothing).
 */
export async function openAndClaim(keyring: Keyring | KeyringSource, envelope: Envelope, options: ClaimOptions): Promise<ClaimedMessage> {
  const leaseMs = options.lease === undefined ? DEFAULT_LEASE_MS : parseLease(options.lease);
  // Asymmetric signatures are checked on the thread pool, so a consumer with many messages in
  // flight verifies them on every core; HMAC stays on this thread (same verdicts as open).
  const msg = await openAsync(keyring, envelope, options);
  if (msg.wouldReject !== undefined) return unclaimed(msg);
  const store = options.replay;
  const key: ReplayKey = { ctx: msg.header.ctx, id: msg.header.id };
  // validUntil already has one skew for this consumer's clock; one more covers a consumer whose
  // clock runs behind ours and would still accept the message after the store forgot it.
  const skew = options.clockSkew === undefined ? DEFAULT_CLOCK_SKEW_MS : parseDuration(options.clockSkew, 'clockSkew');
  const retain = (): number => Math.max(1000, msg.validUntil + skew - (options.now ?? Date.now()));
  // Report mode is decided by the ctx this consumer serves (the verified one matched it) and the type.
  const report = (): boolean => options.mode !== undefined && modeFor(options.mode, key.ctx, typeof options.typ === 'string' ? options.typ : msg.header.typ) === 'report';
  let outcome;
  try {
    outcome = await guard('claim the message', () => store.claim(key, leaseMs, retain()));
  } catch (e) {
    const letThrough = report();
    if (claimChannel.hasSubscribers) publishClaim('claim', 'error', key.ctx, key.id, letThrough ? 'report' : undefined);
    if (letThrough) return unclaimed({ ...msg, wouldReject: e as ReplayStoreUnavailableError });
    throw e;
  }
  if (outcome.status === 'completed') {
    const letThrough = report();
    if (claimChannel.hasSubscribers) publishClaim('claim', 'replayed', key.ctx, key.id, letThrough ? 'report' : undefined);
    const e = new ReplayedError(`message ${msg.header.id} on ctx "${key.ctx}" was already processed: replay rejected`);
    if (letThrough) return unclaimed({ ...msg, wouldReject: e });
    throw e;
  }
  if (outcome.status === 'in-flight') {
    if (claimChannel.hasSubscribers) publishClaim('claim', 'in-flight', key.ctx, key.id);
    throw new InFlightError(`message ${msg.header.id} on ctx "${key.ctx}" is being processed by another consumer: retry later`);
  }
  if (claimChannel.hasSubscribers) publishClaim('claim', 'claimed', key.ctx, key.id);
  const { token } = outcome;
  let leaseEnd = Date.now() + leaseMs;
  return {
    ...msg,
    complete: () => completeWithin(() => leaseEnd, () => observed('complete', key, () => store.complete(key, token, retain()))),
    release: async () => void (await guard('release the message', () => observed('release', key, () => store.release(key, token)))),
    extend: async (lease = leaseMs) => {
      const ms = parseLease(lease);
      const ok = await guard('extend the lease', () => observed('extend', key, () => store.extend(key, token, ms)));
      if (ok) leaseEnd = Date.now() + ms;
      return ok;
    },
  };
}

/**
 * Opens, claims, runs `handler`, then completes (on success) or releases (on failure, rethrowing
 * the handler's error so the queue's own retry applies). A message is processed at most once per
 * completed run, and a failed run can be retried. A run whose completion could not be recorded
 * throws CompletionNotRecordedError: the handler did run; do not retry it.
 */
export async function openOnce<T>(
  keyring: Keyring | KeyringSource,
  envelope: Envelope,
  options: ClaimOptions,
  handler: (msg: OpenedMessage) => T | Promise<T>,
): Promise<T> {
  const msg = await openAndClaim(keyring, envelope, options);
  let result: T;
  try {
    result = await handler(msg.wouldReject === undefined ? { payload: msg.payload, header: msg.header, validUntil: msg.validUntil } : { payload: msg.payload, header: msg.header, validUntil: msg.validUntil, wouldReject: msg.wouldReject });
  } catch (e) {
    await msg.release().catch(() => undefined); // the lease expires anyway; the handler's error matters more
    throw e;
  }
  await msg.complete();
  return result;
}
