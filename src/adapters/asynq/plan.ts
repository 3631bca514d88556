import { randomUUID } from 'node:crypto';
import { formatMs, parseDuration } from '../../duration.js';
import { SEAL_HEADER } from '../../envelope/carriers.js';
import { InvalidArgumentError } from '../../errors.js';
import { DEFAULT_MAX_VALIDITY_MS } from '../../open.js';
import type { SealOptions } from '../../seal.js';
import { uniqueKey } from './keys.js';
import { encodeTaskMessage } from './task-message.js';

/** Asynq's queue when none is given. */
export const DEFAULT_QUEUE = 'default';
/** Asynq's retry count when none is given. */
export const DEFAULT_MAX_RETRY = 25;
/** Asynq's timeout when neither a timeout nor a deadline is given: 30 minutes. */
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;

/** Added to a task's retry window when its expiry is computed: time for a backlog or stopped workers to catch up. */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;

type Time = number | Date;
type Duration = number | string;

export interface AsynqEnqueueOptions extends Pick<SealOptions, 'ct' | 'maxValidity' | 'maxPayloadBytes'> {
  /** Queue (asynq.Queue), also the seal's context. Default `default`. */
  queue?: string;
  /** Task id (asynq.TaskID). Default a random UUID, as asynq's. */
  taskId?: string;
  /** Retries before the task is archived (asynq.MaxRetry). Default 25; negative means 0. */
  maxRetry?: number;
  /** How long one run may take (asynq.Timeout), whole seconds. 0: none. With neither timeout nor deadline: 30m. */
  timeout?: Duration;
  /** Time by which a run must finish (asynq.Deadline), whole seconds. */
  deadline?: Time;
  /**
   * Lock TTL of a unique task (asynq.Unique), at least 1s: while the lock is held, a task of the
   * same queue, type and payload is refused with ERR_DUPLICATE_TASK. Seals differ from one
   * enqueue to the next, and do not count.
   */
  unique?: Duration;
  /** When to process the task (asynq.ProcessAt). Later than now: a scheduled task. */
  processAt?: Time;
  /** Process the task this long from now (asynq.ProcessIn). Not with processAt. */
  processIn?: Duration;
  /** Keep the task as completed for this long after it succeeds (asynq.Retention), whole seconds. */
  retention?: Duration;
  /**
   * More task headers, NOT signed: anyone who can write to Redis can change them (tracing ids,
   * say). What must be trusted belongs in the payload. `sealq` is reserved.
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * How long after it is due (now, or processAt / processIn) the task may still run: the seal's
   * expiry. Default: the task's retry window (retryWindow: Asynq's default backoff over maxRetry
   * retries of up to `timeout` each) plus `grace`, or the deadline if that is sooner, capped at
   * maxValidity after now. The same rule as the Go producer's (asynqseal.Sealer).
   */
  expiresIn?: Duration;
  /** Added to the retry window for the default expiry. Default 24h. */
  grace?: Duration;
  /** The clock, in ms since the epoch (default Date.now()): the seal's issue time and asynq's "now". */
  now?: number;
}

/** @internal An enqueue, checked and resolved as asynq.Client resolves its options. */
export interface TaskPlan {
  type: string;
  queue: string;
  id: string;
  /** The payload bytes; undefined is Go's nil payload (no checksum in the unique key). */
  payload: Uint8Array | undefined;
  /** Unsigned extra headers. */
  headers: Record<string, string>;
  retry: number;
  /** Seconds. */
  timeout: number;
  /** Unix seconds, 0: none. */
  deadline: number;
  /** Seconds. */
  retention: number;
  now: number;
  /** Ms since the epoch; later than now: scheduled. */
  processAt: number;
  scheduled: boolean;
  /** The uniqueness lock and its TTL in seconds, for unique tasks. */
  lock?: { key: string; ttl: number };
  /** The seal's validity: not before (scheduled tasks) and expiry, ms since the epoch. */
  notBefore?: number;
  expiresAt: number;
}

function notBlank(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new InvalidArgumentError(`${what} must be a non-empty string`);
  return v;
}

function timeMs(v: Time, what: string): number {
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t <= 0) throw new InvalidArgumentError(`${what} must be a time after 1970 (whole ms since the epoch or a Date)`);
  return t;
}

const seconds = (ms: number): number => Math.trunc(ms / 1000);
const unixSeconds = (ms: number): number => Math.floor(ms / 1000);

function payloadBytes(payload: unknown): Uint8Array | undefined {
  if (payload === undefined || payload === null) return undefined;
  if (typeof payload === 'string') {
    if (!payload.isWellFormed()) throw new InvalidArgumentError('payload string is not well-formed Unicode (lone surrogate); pass bytes instead');
    return Buffer.from(payload, 'utf8');
  }
  if (payload instanceof Uint8Array) return payload;
  throw new InvalidArgumentError('payload must be a string, a Uint8Array or undefined (serialise objects first, e.g. JSON.stringify)');
}

function extraHeaders(h: unknown): Record<string, string> {
  if (h === undefined) return {};
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new InvalidArgumentError('headers must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === SEAL_HEADER) throw new InvalidArgumentError(`header "${SEAL_HEADER}" is reserved for the seal`);
    if (typeof v !== 'string') throw new InvalidArgumentError(`header "${k}" must be a string`);
    out[k] = v;
  }
  return out;
}

/**
 * How long Asynq may keep retrying a task that fails every attempt, in ms: its default retry
 * delay (n^4 + 15 + rand(30) * (n + 1) seconds after the n-th failure, at its largest) over
 * maxRetry retries, plus maxRetry + 1 attempts of up to `timeoutMs` each. About 21 days with
 * Asynq's defaults (25 retries, 30m). The same sum as the Go producer's asynqseal.RetryWindow.
 */
export function retryWindow(maxRetry: number, timeoutMs: number): number {
  const retries = Math.max(0, maxRetry);
  let s = 0;
  for (let n = 0; n < retries && s < MAX_WINDOW_S; n++) s += n * n * n * n + 15 + 29 * (n + 1);
  s += (retries + 1) * (Math.trunc(timeoutMs / 1000) + (timeoutMs % 1000) / 1000);
  return Math.ceil(Math.min(s, MAX_WINDOW_S)) * 1000;
}
const MAX_WINDOW_S = 100 * 365 * 24 * 3600;

/** The seal's expiry: due + expiresIn, or by default due + retry window + grace (or the deadline, if sooner), at most maxValidity after now. */
function expiry(o: AsynqEnqueueOptions, now: number, due: number, retry: number, timeoutMs: number, deadlineMs: number | undefined): number {
  if (o.expiresIn !== undefined) {
    const d = parseDuration(o.expiresIn, 'expiresIn');
    if (d === 0) throw new InvalidArgumentError('expiresIn must be longer than 0 (leave it out for the default)');
    return due + d;
  }
  const maxValidity = o.maxValidity === undefined ? DEFAULT_MAX_VALIDITY_MS : parseDuration(o.maxValidity, 'maxValidity');
  let exp = due + retryWindow(retry, timeoutMs) + (o.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(o.grace, 'grace'));
  // asynq does not let an attempt run past the deadline.
  if (deadlineMs !== undefined && deadlineMs < exp && deadlineMs > due) exp = deadlineMs;
  const limit = now + maxValidity;
  if (exp > limit) {
    if (limit <= due) throw new InvalidArgumentError(`the task is due ${formatMs(due - now)} from now, beyond maxValidity (${formatMs(maxValidity)}): raise maxValidity here and in every worker, or schedule it later`);
    exp = limit;
  }
  return exp;
}

/** @internal Checks and resolves enqueue options with asynq.Client's defaults and rules. */
export function planTask(type: string, payload: unknown, options: AsynqEnqueueOptions): TaskPlan {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('enqueue options must be an object');
  notBlank(type, 'task type');
  const queue = options.queue === undefined ? DEFAULT_QUEUE : notBlank(options.queue, 'queue');
  const id = options.taskId === undefined ? randomUUID() : notBlank(options.taskId, 'taskId');
  let retry = DEFAULT_MAX_RETRY;
  if (options.maxRetry !== undefined) {
    if (!Number.isSafeInteger(options.maxRetry) || options.maxRetry > 2 ** 31 - 1) throw new InvalidArgumentError('maxRetry must be a whole number up to 2147483647');
    retry = Math.max(0, options.maxRetry);
  }
  const timeoutMs = options.timeout === undefined ? 0 : parseDuration(options.timeout, 'timeout');
  const deadlineMs = options.deadline === undefined ? undefined : timeMs(options.deadline, 'deadline');
  const uniqueMs = options.unique === undefined ? undefined : parseDuration(options.unique, 'unique');
  if (uniqueMs !== undefined && uniqueMs < 1000) throw new InvalidArgumentError('unique lock TTL must be at least 1s');
  const retentionMs = options.retention === undefined ? 0 : parseDuration(options.retention, 'retention');
  if (options.processAt !== undefined && options.processIn !== undefined) throw new InvalidArgumentError('give processAt or processIn, not both');
  if (options.now !== undefined && (typeof options.now !== 'number' || !Number.isSafeInteger(options.now) || options.now <= 0)) throw new InvalidArgumentError('now must be whole ms since the epoch');
  const now = options.now ?? Date.now();
  const processAt = options.processAt !== undefined ? timeMs(options.processAt, 'processAt') : now + (options.processIn === undefined ? 0 : parseDuration(options.processIn, 'processIn'));
  const body = payloadBytes(payload);
  const scheduled = processAt > now;
  const due = scheduled ? processAt : now;
  const plan: TaskPlan = {
    type,
    queue,
    id,
    payload: body,
    headers: extraHeaders(options.headers),
    retry,
    // asynq's rule: the 30m default only when neither a timeout nor a deadline is given.
    timeout: deadlineMs === undefined && timeoutMs === 0 ? seconds(DEFAULT_TIMEOUT_MS) : seconds(timeoutMs),
    deadline: deadlineMs === undefined ? 0 : unixSeconds(deadlineMs),
    retention: seconds(retentionMs),
    now,
    processAt,
    scheduled,
    expiresAt: expiry(options, now, due, retry, timeoutMs === 0 && deadlineMs === undefined ? DEFAULT_TIMEOUT_MS : timeoutMs, deadlineMs),
  };
  // Someone who can write to Redis could move a scheduled task to pending early: it does not
  // open before it is due (ERR_NOT_YET_VALID, retried by the worker).
  if (scheduled) plan.notBefore = processAt;
  if (uniqueMs !== undefined) {
    // A scheduled task's lock lasts from now until its TTL after it is due, as asynq's.
    plan.lock = { key: uniqueKey(queue, type, body), ttl: seconds(scheduled ? processAt + uniqueMs - now : uniqueMs) };
  }
  return plan;
}

/** @internal The seal of a planned task: context the queue, type the task type, and its validity. */
export function sealOptionsOf(plan: TaskPlan, options: AsynqEnqueueOptions): SealOptions {
  const o: SealOptions = { ctx: plan.queue, typ: plan.type, now: plan.now, expiresAt: plan.expiresAt };
  if (plan.notBefore !== undefined) o.notBefore = plan.notBefore;
  if (options.ct !== undefined) o.ct = options.ct;
  if (options.maxValidity !== undefined) o.maxValidity = options.maxValidity;
  if (options.maxPayloadBytes !== undefined) o.maxPayloadBytes = options.maxPayloadBytes;
  return o;
}

/** @internal The TaskMessage bytes of a plan, its headers being the extra ones plus `sealq`. */
export function planMessage(plan: TaskPlan, seal: string | undefined): Buffer {
  return encodeTaskMessage({
    type: plan.type,
    payload: plan.payload ?? new Uint8Array(0),
    headers: seal === undefined ? plan.headers : { ...plan.headers, [SEAL_HEADER]: seal },
    id: plan.id,
    queue: plan.queue,
    retry: plan.retry,
    retried: 0,
    errorMsg: '',
    lastFailedAt: 0,
    timeout: plan.timeout,
    deadline: plan.deadline,
    uniqueKey: plan.lock?.key ?? '',
    groupKey: '',
    retention: plan.retention,
    completedAt: 0,
  });
}
