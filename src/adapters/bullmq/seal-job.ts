import { parseDuration } from '../../duration.js';
import { randomId } from '../../envelope/id.js';
import type { SealedObject } from '../../envelope/carriers.js';
import { InvalidArgumentError } from '../../errors.js';
import { DEFAULT_MAX_VALIDITY_MS } from '../../open.js';
import { current } from '../../keys/keyring.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { sealObject, sealObjectAsync } from '../../seal.js';
import type { SealOptions } from '../../seal.js';

/** What a sealed job carries as its `data`: the JSON-safe envelope, exactly as signed. */
export type SealedJobData = SealedObject;

/** Content type of every payload the adapter seals: the job data, JSON-serialised once. */
export const JOB_CONTENT_TYPE = 'application/json';

/**
 * Envelope ids of seals made for job schedulers and repeatable jobs start with this. The id is
 * signed, so a worker can tell a scheduler's seal (allowed once per generated job id) from an
 * ordinary job's (allowed once), and nobody can turn one into the other.
 */
export const PER_RUN_ID_PREFIX = 'perrun.';

/** Default validity after a job becomes due (after its delay): retries with backoff and backlog. */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;
/**
 * Default validity of a scheduler's seal when its repeat options have no endDate: the longest a
 * consumer accepts by default (maxValidity, 30 days).
 */
export const DEFAULT_SCHEDULER_VALIDITY_MS = 30 * 24 * 3_600_000;

/** Producer settings shared by sealJobData, sealedQueue and the flow helpers. */
export interface JobSealSettings {
  /**
   * How long a job stays valid once it is due (now, or now + delay): it must be processed,
   * retries and backoff included, within this time or it is rejected as ERR_EXPIRED.
   * Default 24h.
   */
  grace?: number | string;
  /**
   * Validity of a job scheduler's (or repeatable job's) seal when the repeat options have no
   * endDate. Every run of the scheduler reuses the one seal, so re-upsert the scheduler (on every
   * deploy, say) before this runs out. Default 30d, and at most maxValidity.
   */
  schedulerValidity?: number | string;
  /**
   * Longest validity a seal may have (exp - iat); consumers reject longer ones
   * (ERR_VALIDITY_TOO_LONG, their own maxValidity, default 30d). A scheduler's seal that would
   * outlast it (a distant endDate) is cut to it; a delayed job whose due time plus grace lies
   * beyond it is refused: raise maxValidity here and on the workers. Default 30d.
   */
  maxValidity?: number | string;
}

export interface SealJobDataOptions extends JobSealSettings {
  /** The job's delay in ms (opts.delay): the seal is valid from now + delay. */
  delay?: number;
  /**
   * Seal for a job scheduler / repeatable job: valid for `schedulerValidity` (or until
   * `endDate` + grace), no not-before, and marked so that workers allow it once per job id.
   */
  perRun?: boolean;
  /** For perRun: the scheduler's end date; the seal expires at endDate + grace. */
  endDate?: number | Date | string;
  /** Explicit end of validity (ms or Date), instead of the computed one. */
  expiresAt?: number | Date;
  /** Envelope id (default random; the replay key). */
  id?: string;
  /** Issue time in ms (default now). */
  now?: number;
  /** Default 1 MiB. */
  maxPayloadBytes?: number;
}

const time = (v: number | Date | string, what: string): number => {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : v;
  if (!Number.isSafeInteger(t) || t < 0) throw new InvalidArgumentError(`${what} must be a date or ms since the epoch`);
  return t;
};

/** The job data as the one JSON text that is signed. BullMQ stores `{}` for absent data; so do we. */
export function jobPayload(data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data === undefined ? {} : data);
  } catch (e) {
    throw new InvalidArgumentError(`job data cannot be serialised to JSON: ${(e as Error).message}`);
  }
  if (text === undefined) throw new InvalidArgumentError('job data must be JSON-serialisable (a function or symbol is not)');
  return text;
}

/** @internal The core seal options for one job. */
export function jobSealOptions(queueName: string, jobName: string, o: SealJobDataOptions = {}): SealOptions {
  if (typeof queueName !== 'string' || queueName.length === 0) throw new InvalidArgumentError('a sealed job needs its queue name (the context it opens in)');
  if (typeof jobName !== 'string' || jobName.length === 0) throw new InvalidArgumentError('a sealed job needs a job name (its signed type)');
  const now = o.now ?? Date.now();
  const grace = o.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(o.grace, 'grace');
  const opts: SealOptions = { ctx: queueName, typ: jobName, ct: JOB_CONTENT_TYPE, now };
  if (o.maxValidity !== undefined) opts.maxValidity = o.maxValidity;
  if (o.maxPayloadBytes !== undefined) opts.maxPayloadBytes = o.maxPayloadBytes;
  if (o.perRun === true) {
    // One seal serves every run, for as long as the scheduler lives; no not-before, since runs
    // come at times BullMQ computes, not the producer.
    opts.id = o.id ?? PER_RUN_ID_PREFIX + randomId();
    if (!opts.id.startsWith(PER_RUN_ID_PREFIX)) throw new InvalidArgumentError(`a per-run seal's id must start with "${PER_RUN_ID_PREFIX}"`);
    // A distant endDate is cut to what consumers accept: re-upserting re-seals anyway.
    const longest = o.maxValidity === undefined ? DEFAULT_MAX_VALIDITY_MS : parseDuration(o.maxValidity, 'maxValidity');
    opts.expiresAt = o.expiresAt ?? (o.endDate !== undefined ? Math.min(time(o.endDate, 'endDate') + grace, now + longest)
      : now + (o.schedulerValidity === undefined ? Math.min(DEFAULT_SCHEDULER_VALIDITY_MS, longest) : parseDuration(o.schedulerValidity, 'schedulerValidity')));
    return opts;
  }
  if (o.id !== undefined) {
    if (o.id.startsWith(PER_RUN_ID_PREFIX)) throw new InvalidArgumentError(`ids starting with "${PER_RUN_ID_PREFIX}" are reserved for per-run (scheduler) seals`);
    opts.id = o.id;
  }
  const delay = o.delay ?? 0;
  if (typeof delay !== 'number' || !Number.isFinite(delay)) throw new InvalidArgumentError('delay must be a number of ms');
  const due = now + Math.max(0, Math.ceil(delay));
  // The consumer tolerates clock skew, so not-before is the due time itself, not earlier.
  if (due > now) opts.notBefore = due;
  opts.expiresAt = o.expiresAt ?? due + grace;
  return opts;
}

/**
 * Seals one job's data for `queueName` / `jobName`: returns the job data to hand to BullMQ.
 * `data` is JSON-serialised once, here, and that text is what is signed and carried.
 */
export function sealJobData(keyring: Keyring | KeyringSource, queueName: string, jobName: string, data: unknown, options: SealJobDataOptions = {}): SealedJobData {
  return sealObject(keyring, jobPayload(data), jobSealOptions(queueName, jobName, options));
}

/** sealJobData for keyrings whose primary key signs asynchronously (a KMS); works with any keyring. */
export function sealJobDataAsync(keyring: Keyring | KeyringSource, queueName: string, jobName: string, data: unknown, options: SealJobDataOptions = {}): Promise<SealedJobData> {
  return sealObjectAsync(keyring, jobPayload(data), jobSealOptions(queueName, jobName, options));
}

/**
 * @internal HMAC seals synchronously (no promise per job: the MAC costs less than a thread-pool
 * hop); an asymmetric key signs on the thread pool, so an addBulk signs on every core and the
 * event loop does not stall; a KMS signs where it is.
 */
export function sealJobDataAuto(keyring: Keyring | KeyringSource, queueName: string, jobName: string, data: unknown, options: SealJobDataOptions = {}): SealedJobData | Promise<SealedJobData> {
  const primary = current(keyring).primary;
  return primary !== undefined && (primary.external || !primary.spec.symmetric)
    ? sealJobDataAsync(keyring, queueName, jobName, data, options)
    : sealJobData(keyring, queueName, jobName, data, options);
}
