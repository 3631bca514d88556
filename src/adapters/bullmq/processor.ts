import { DelayedError, UnrecoverableError } from 'bullmq';
import type { ConnectionOptions, Job, SandboxedJob } from 'bullmq';
import { claimChannel, publishClaim } from '../../audit.js';
import { DEFAULT_CLOCK_SKEW_MS, decode, open, openAsync } from '../../open.js';
import type { Envelope, OpenedMessage, OpenOptions } from '../../open.js';
import { parseDuration } from '../../duration.js';
import { parseLease } from '../../claim.js';
import { parseHeader } from '../../envelope/header.js';
import type { Header } from '../../envelope/header.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../envelope/limits.js';
import {
  CompletionNotRecordedError,
  InFlightError,
  InvalidArgumentError,
  MalformedError,
  NotYetValidError,
  ReplayedError,
  ReplayStoreUnavailableError,
  SealqError,
  isSealqErrorCode,
} from '../../errors.js';
import type { RejectionError, SealqErrorCode } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { consoleLogger } from '../../keys/sources.js';
import type { SourceLogger } from '../../keys/sources.js';
import { enforceStoreIsolation } from '../../replay/isolation-policy.js';
import type { ReplayKey, ReplayStore } from '../../replay/store.js';
import { checkMode, modeFor } from '../../report-mode.js';
import type { ModeOption } from '../../report-mode.js';
import { AdapterVerdicts } from '../verdicts.js';
import { JOB_CONTENT_TYPE, PER_RUN_ID_PREFIX } from './seal-job.js';

/** The least a job must offer: BullMQ's Job and the sandbox's SandboxedJob both do. */
export interface JobLike {
  readonly id?: string | undefined;
  readonly name: string;
  readonly queueName: string;
  readonly data: unknown;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
  updateData(data: any): Promise<void>;
}

/** What was verified about the job the processor is running. */
export interface JobSeal {
  /** The verified header: kid, id, iat, nbf, exp, ctx (= queue name), typ (= job name). */
  readonly header: Header;
  /** End of the job's validity (ms since the epoch), clock skew included. */
  readonly validUntil: number;
  /** Exactly the bytes that were sealed (the JSON text of the job data). */
  readonly payload: Buffer;
  /** The key this run is claimed under in the replay store (report mode, let through: not claimed, id empty). */
  readonly replayKey: ReplayKey;
  /**
   * Report mode only: the job failed verification with this error and runs anyway. Nothing about
   * it is verified then: `header` is as claimed, `data` as it came.
   */
  readonly wouldReject?: RejectionError;
}

/**
 * The job your processor receives: the BullMQ job (or sandboxed job) with `data` replaced by the
 * verified, parsed payload and `seal` added. `updateData` is withheld: plain data would break the
 * seal; use `resealJob`.
 */
export type SealedJob<T = unknown, J = Job> = Omit<J, 'data' | 'updateData'> & { data: T; readonly seal: JobSeal };

export type SealedProcessorFn<T, R, J> = (job: SealedJob<T, J>, token?: string, signal?: AbortSignal) => R | Promise<R>;

/** How a run's replay key is made. */
export type ReplayKeyMode = 'auto' | 'envelope' | 'job-id' | ((job: JobLike, header: Header) => string);

export interface SealedProcessorOptions {
  /** Keys to verify with (the consumer's own keyring; it picks the key by kid). */
  keyring: Keyring | KeyringSource;
  /**
   * Where runs are claimed and completed: RedisReplayStore for several workers, MemoryReplayStore
   * for one process. It must live where queue writers cannot write: before its first job the
   * processor checks that the queue's connection cannot change its records (see docs/redis.md,
   * "Isolating the replay store").
   */
  replay: ReplayStore;
  /**
   * The connection queue writers use, for that check: the Worker's `connection` (or the
   * producers', if they connect with other credentials), or a redis:// URL. Default: the
   * connection of the Worker running the job; a sandboxed processor has none, so give it there.
   */
  queueConnection?: ConnectionOptions | string;
  /**
   * Run even though the replay store's isolation check fails (it then only warns). Without it,
   * such a store is refused in production (NODE_ENV=production): jobs are not run but moved back
   * to the delayed set, and the check is repeated every 30s.
   */
  unsafeSharedReplayStore?: boolean;
  /**
   * Where warnings and errors of the isolation check go (default: console), and one line per
   * rejected or report-mode job, rate-limited (pino-style `warn(fields, message)`; none without a logger).
   */
  logger?: SourceLogger;
  /**
   * 'enforce' (default) fails a job that does not verify; 'report' runs it anyway (job.seal.wouldReject
   * set) and counts, logs and audits the code it would have got. Rules may set it per queue (ctx)
   * and job name (typ): `{ default: 'enforce', ctx: { emails: 'report' } }`.
   */
  mode?: ModeOption;
  /** For envelopes without a signed expiry: how long after issue they stay valid. Default 24h. */
  maxAge?: number | string;
  /** Longest signed validity (exp - iat) accepted; longer is ERR_VALIDITY_TOO_LONG. Default 30d. */
  maxValidity?: number | string;
  /** Tolerated clock difference between producers and workers. Default 60s. */
  clockSkew?: number | string;
  /** Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * How long a claim holds if this worker dies mid-job; renewed every third of it while the
   * processor runs. Keep it at least the Worker's lockDuration (BullMQ default 30s). Default 40s.
   */
  lease?: number | string;
  /**
   * A job whose message another worker is processing right now (a duplicate) is moved back to
   * the delayed set for this long (with jitter) instead of failing; it then completes as a replay
   * or, if the other run failed, runs. `false`: throw a retryable error instead (needs attempts).
   * Default 5s.
   */
  inFlightDelay?: number | string | false;
  /**
   * A correctly sealed job that is not valid yet (promoted early, or producer clock ahead):
   * 'delay' (default) moves it back to the delayed set until its not-before; 'reject' fails it.
   */
  notYetValid?: 'delay' | 'reject';
  /**
   * 'auto' (default): the envelope id, so each sealed job runs once and a copy is a replay; for
   * seals made by a job scheduler or `repeat` (sealedQueue marks them in the signed id), the
   * envelope id plus the job id, so each scheduled run is allowed once.
   * 'envelope': always the envelope id. 'job-id': always envelope id plus job id.
   * Or a function returning the id part of the key.
   */
  replayKey?: ReplayKeyMode;
  /** How long a per-run key (envelope id + job id) is remembered, at most. Default 24h. */
  perRunRetain?: number | string;
  /**
   * After the processor succeeded, how long to keep trying to record the completion while the
   * replay store is unreachable. If it still fails the job is failed (not retried: it ran).
   * Default: the lease.
   */
  completeRetryFor?: number | string;
}

export const DEFAULT_JOB_LEASE_MS = 40_000;
export const DEFAULT_IN_FLIGHT_DELAY_MS = 5_000;
export const DEFAULT_PER_RUN_RETAIN_MS = 24 * 3_600_000;

interface Settings {
  keyring: Keyring | KeyringSource;
  replay: ReplayStore;
  open: Omit<OpenOptions, 'ctx' | 'typ'>;
  openFor(ctx: string, typ: string): OpenOptions;
  skew: number;
  maxPayloadBytes: number;
  lease: number;
  inFlightDelay: number | false;
  notYetValid: 'delay' | 'reject';
  replayKey: ReplayKeyMode;
  perRunRetain: number;
  completeRetryFor: number;
  isolation: IsolationGate;
  mode: ModeOption | undefined;
  verdicts(queue: string): AdapterVerdicts;
}

/** The open options for one job; a worker serves one queue and few job names, so the last ones are kept. */
function openOptionsFor(base: Omit<OpenOptions, 'ctx' | 'typ'>): (ctx: string, typ: string) => OpenOptions {
  let last: OpenOptions = { ...base, ctx: '', typ: '' };
  return (ctx, typ) => (last.ctx === ctx && last.typ === typ ? last : (last = { ...base, ctx, typ }));
}

function settings(o: SealedProcessorOptions): Settings {
  if (typeof o !== 'object' || o === null || o.keyring === undefined) throw new InvalidArgumentError('a sealed processor needs { keyring, replay }: the keys to verify with and a replay store');
  const r = o.replay as Partial<ReplayStore> | undefined;
  if (typeof r?.claim !== 'function' || typeof r.complete !== 'function' || typeof r.release !== 'function' || typeof r.extend !== 'function') {
    throw new InvalidArgumentError('a sealed processor needs a replay store (RedisReplayStore, or MemoryReplayStore for a single process): without one a completed job could run again');
  }
  const dur = (v: number | string | undefined, what: string, dflt: number): number => (v === undefined ? dflt : parseDuration(v, what));
  const openOpts: Omit<OpenOptions, 'ctx' | 'typ'> = {};
  if (o.maxAge !== undefined) openOpts.maxAge = parseDuration(o.maxAge, 'maxAge');
  if (o.maxValidity !== undefined) openOpts.maxValidity = parseDuration(o.maxValidity, 'maxValidity');
  if (o.mode !== undefined) checkMode(o.mode);
  if (o.mode !== undefined) openOpts.mode = o.mode;
  const skew = dur(o.clockSkew, 'clockSkew', DEFAULT_CLOCK_SKEW_MS);
  openOpts.clockSkew = skew;
  const maxPayloadBytes = o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  openOpts.maxPayloadBytes = maxPayloadBytes;
  const lease = o.lease === undefined ? DEFAULT_JOB_LEASE_MS : parseLease(o.lease);
  if (lease < 1000) throw new InvalidArgumentError('lease must be at least 1s');
  const mode = o.replayKey ?? 'auto';
  if (typeof mode !== 'function' && mode !== 'auto' && mode !== 'envelope' && mode !== 'job-id') {
    throw new InvalidArgumentError(`replayKey must be 'auto', 'envelope', 'job-id' or a function`);
  }
  const nyv = o.notYetValid ?? 'delay';
  if (nyv !== 'delay' && nyv !== 'reject') throw new InvalidArgumentError(`notYetValid must be 'delay' or 'reject'`);
  return {
    keyring: o.keyring,
    replay: o.replay,
    open: openOpts,
    openFor: openOptionsFor(openOpts),
    skew,
    maxPayloadBytes,
    lease,
    inFlightDelay: o.inFlightDelay === false ? false : dur(o.inFlightDelay, 'inFlightDelay', DEFAULT_IN_FLIGHT_DELAY_MS),
    notYetValid: nyv,
    replayKey: mode,
    perRunRetain: dur(o.perRunRetain, 'perRunRetain', DEFAULT_PER_RUN_RETAIN_MS),
    completeRetryFor: dur(o.completeRetryFor, 'completeRetryFor', lease),
    isolation: new IsolationGate(o),
    mode: o.mode,
    verdicts: verdictsPerQueue(o.logger),
  };
}

/** One verdict reporter per queue (a processor serves one queue, or a few). */
function verdictsPerQueue(logger: SourceLogger | undefined): (queue: string) => AdapterVerdicts {
  const byQueue = new Map<string, AdapterVerdicts>();
  return (queue) => {
    let v = byQueue.get(queue);
    if (v === undefined) byQueue.set(queue, (v = new AdapterVerdicts({ adapter: 'bullmq', consumerCtx: queue, keptIn: 'failed', logger })));
    return v;
  };
}

// ---- the replay store's isolation, checked before the first job ------------------------------------

/** How long a refused store stays refused before the check runs again (an operator may fix the ACLs meanwhile). */
export const ISOLATION_RECHECK_MS = 30_000;

/** The connection of the Worker running a job (BullMQ's Job keeps its Worker as `queue`); none in a sandbox. */
function workerConnectionOf(job: JobLike): unknown {
  return (job as { queue?: { opts?: { connection?: unknown } } }).queue?.opts?.connection;
}

/**
 * Runs enforceStoreIsolation once, before the first job; jobs wait for it. In production an
 * unsafe store is refused (logged as an error) and checked again after ISOLATION_RECHECK_MS.
 */
class IsolationGate {
  /** True once the check let the processor run: the hot path tests only this. */
  passed = false;
  #check: Promise<void> | undefined;
  #refusedAt = 0;
  readonly #o: SealedProcessorOptions;

  constructor(o: SealedProcessorOptions) {
    this.#o = o;
  }

  wait(job: JobLike): Promise<void> {
    if (this.#check === undefined || (this.#refusedAt !== 0 && Date.now() - this.#refusedAt >= ISOLATION_RECHECK_MS)) {
      this.#refusedAt = 0;
      const o = this.#o;
      const queue = o.queueConnection ?? workerConnectionOf(job);
      this.#check = enforceStoreIsolation(o.replay, { queue, unsafeSharedReplayStore: o.unsafeSharedReplayStore, logger: o.logger, who: `sealed processor on queue "${job.queueName}"` }).then(
        () => void (this.passed = true),
        (e: unknown) => {
          this.#refusedAt = Date.now();
          (o.logger ?? consoleLogger).error((e as Error).message);
          throw e;
        },
      );
    }
    return this.#check;
  }
}

/** Before the first job: a refused store moves the job back to the delayed set (not run, no attempt used). */
async function passIsolation(s: Settings, job: JobLike, token: string | undefined): Promise<void> {
  try {
    await s.isolation.wait(job);
  } catch (e) {
    if (!(e instanceof SealqError)) throw e;
    if (token !== undefined) {
      await job.moveToDelayed(Date.now() + Math.round(ISOLATION_RECHECK_MS * (0.8 + 0.4 * Math.random())), token);
      throw new DelayedError();
    }
    throw forBullmq(e, false);
  }
}

// ---- errors as BullMQ sees them -------------------------------------------------------------------

/** An error BullMQ records with the sealq code first in failedReason (`ERR_REPLAYED: ...`). */
function forBullmq(err: SealqError, final = !err.retryable): Error {
  const text = `${err.code}: ${err.message}`;
  // Rejections are final: UnrecoverableError puts the job in the failed set without retries.
  // Retryable ones (in flight elsewhere, store unreachable) are ordinary errors: BullMQ retries.
  const e = final ? new UnrecoverableError(text) : new Error(text);
  Object.defineProperty(e, 'code', { value: err.code, enumerable: true });
  Object.defineProperty(e, 'cause', { value: err, enumerable: false, configurable: true, writable: true });
  return e;
}

/**
 * The sealq code at the start of a failed job's failedReason, if sealq failed it; undefined for
 * anything else, also for a processor's own error whose message happens to start like one.
 */
export function failedCode(job: { failedReason?: string | undefined }): SealqErrorCode | undefined {
  const code = /^(ERR_[A-Z_]+): /.exec(job.failedReason ?? '')?.[1];
  return isSealqErrorCode(code) ? code : undefined;
}

// ---- the sealed view of a job -------------------------------------------------------------------

interface ViewState {
  readonly target: JobLike;
  data: unknown;
  readonly seal: JobSeal;
}
/** Only this module holds the symbol, so nobody else can read or fake a view's state. */
const STATE = Symbol('sealq.bullmq.view');

async function refuseUpdateData(): Promise<never> {
  throw new InvalidArgumentError('job.updateData would store unsealed data and the next attempt would be rejected: use resealJob(job, data, { keyring }) from sealq/bullmq');
}

/** A view's state and its proxy handler in one object (one allocation per job; the traps are shared). */
class View implements ViewState, ProxyHandler<JobLike> {
  constructor(
    readonly target: JobLike,
    public data: unknown,
    readonly seal: JobSeal,
  ) {}

  get(target: JobLike, prop: PropertyKey, receiver: unknown): unknown {
    if (prop === 'data') return this.data;
    if (prop === 'seal') return this.seal;
    if (prop === 'updateData') return refuseUpdateData;
    if (prop === STATE) return this;
    return Reflect.get(target, prop, receiver);
  }

  set(target: JobLike, prop: PropertyKey, value: unknown): boolean {
    if (prop === 'data') {
      this.data = value;
      return true;
    }
    return Reflect.set(target, prop, value);
  }

  has(target: JobLike, prop: PropertyKey): boolean {
    return prop === 'seal' || Reflect.has(target, prop);
  }
}

function sealedView<J extends JobLike>(job: J, data: unknown, seal: JobSeal): SealedJob<unknown, J> {
  // A proxy, not a copy: every other member (id, opts, attemptsMade, log, updateProgress,
  // moveToDelayed...) is the job's own, live.
  return new Proxy(job, new View(job, data, seal)) as unknown as SealedJob<unknown, J>;
}

/** @internal The job behind a sealed view and what was verified, for resealJob. */
export function viewState(job: object): ViewState | undefined {
  const st = (job as { [STATE]?: ViewState })[STATE];
  return st !== undefined && st.seal !== undefined ? st : undefined;
}

// ---- processing -------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * When a message rejected as not yet valid becomes valid: the earliest not-before / issue time
 * among its headers at which the envelope opens (verified by opening it as of that time), or
 * undefined if it would not open then either.
 */
function validFrom(s: Settings, data: unknown, ctx: string, typ: string): number | undefined {
  let times: number[];
  try {
    const raw = decode(data as Envelope, s.maxPayloadBytes);
    times = raw.signatures.map((sig) => {
      const h = parseHeader(sig.header);
      return Math.max(h.iat, h.nbf ?? 0);
    });
  } catch {
    return undefined;
  }
  const now = Date.now();
  for (const t of times.filter((x) => x > now).sort((a, b) => a - b)) {
    try {
      open(s.keyring, data as Envelope, { ...s.open, ctx, typ, now: t });
      return t;
    } catch {
      // this signature is not the one that verifies; try the next
    }
  }
  return undefined;
}

function parseData(msg: OpenedMessage, carried: unknown): unknown {
  if (msg.header.ct !== JOB_CONTENT_TYPE) return msg.payload;
  // The object carrier's payload text is what the verified bytes were decoded from (they are its
  // UTF-8), so parsing it is parsing them, without decoding the bytes back to text.
  const text = typeof (carried as { payload?: unknown })?.payload === 'string' ? (carried as { payload: string }).payload : msg.payload.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedError(`job ${msg.header.id} is correctly sealed but its payload is not valid JSON although its content type says so: the producer sealed broken data`);
  }
}

function replayKeyOf(s: Settings, job: JobLike, header: Header): { key: ReplayKey; perRun: boolean } {
  const mode = s.replayKey;
  if (typeof mode === 'function') {
    const id = mode(job, header);
    if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('the replayKey function must return a non-empty string');
    return { key: { ctx: header.ctx, id }, perRun: id !== header.id };
  }
  const perRun = mode === 'job-id' || (mode === 'auto' && header.id.startsWith(PER_RUN_ID_PREFIX));
  if (!perRun) return { key: { ctx: header.ctx, id: header.id }, perRun };
  if (typeof job.id !== 'string' || job.id.length === 0) {
    throw new MalformedError(`job ${header.id} is sealed for per-run replay keys but has no job id`);
  }
  return { key: { ctx: header.ctx, id: `${header.id}/${job.id}` }, perRun };
}

function unavailable(e: unknown, what: string): ReplayStoreUnavailableError {
  if (e instanceof ReplayStoreUnavailableError) return e;
  return new ReplayStoreUnavailableError(`replay store failed to ${what}: ${(e as Error)?.message ?? String(e)}; the job was not processed and can be retried`, { cause: e });
}

/** After a failed first attempt to record a completion: keeps trying for completeRetryFor. */
async function completeWithRetry(s: Settings, key: ReplayKey, token: string, retain: () => number): Promise<void> {
  const deadline = Date.now() + s.completeRetryFor;
  let wait = 50;
  for (;;) {
    await sleep(wait);
    wait = Math.min(2 * wait, 2000);
    try {
      await s.replay.complete(key, token, retain());
      return;
    } catch (e) {
      if (Date.now() + wait > deadline) {
        // The job ran. Retrying it could run it twice, so it is failed for an operator to decide.
        const why = String((e as Error)?.message ?? e).slice(0, 300);
        throw forBullmq(new CompletionNotRecordedError(`the job ran, but its completion could not be recorded in the replay store (${why}); it is not retried automatically, so that it cannot run twice: check whether its work was done before retrying it`, { cause: e }), true);
      }
    }
  }
}

function makeProcessor<T, R, J extends JobLike>(fn: SealedProcessorFn<T, R, J>, options: SealedProcessorOptions): (job: J, token?: string, signal?: AbortSignal) => Promise<R> {
  if (typeof fn !== 'function') throw new InvalidArgumentError('a sealed processor wraps your processor function');
  const s = settings(options);
  const renewer = new Renewer(s);
  const run = async function sealedJobProcessor(job: J, token?: string, signal?: AbortSignal): Promise<R> {
    if (!s.isolation.passed) await passIsolation(s, job, token);
    const ctx = job.queueName;
    const typ = job.name;
    const carried = job.data; // read once: what is verified is what is parsed
    let msg: OpenedMessage;
    let data: unknown;
    let key!: ReplayKey; // not set for a job let through in report mode, which returns first
    let perRun!: boolean;
    try {
      // Asymmetric signatures on the thread pool: with concurrency > 1 the jobs verify on every core.
      msg = await openAsync(s.keyring, carried as Envelope, s.openFor(ctx, typ));
      if (msg.wouldReject === undefined) {
        data = parseData(msg, carried);
        ({ key, perRun } = replayKeyOf(s, job, msg.header));
      } else if (msg.wouldReject instanceof NotYetValidError && s.notYetValid === 'delay' && token !== undefined) {
        throw msg.wouldReject; // report mode: a job early for its not-before still waits for it
      }
    } catch (e) {
      if (e instanceof NotYetValidError && s.notYetValid === 'delay' && token !== undefined) {
        const at = validFrom(s, carried, ctx, typ);
        if (at !== undefined) {
          await job.moveToDelayed(at, token);
          throw new DelayedError();
        }
      }
      // Only a report-mode job that turned out not valid yet and cannot wait gets past here.
      if (msg! === undefined || msg.wouldReject === undefined) {
        if (e instanceof SealqError && !e.retryable) s.verdicts(ctx).deadLettered(e.code, carried as Envelope);
        throw e instanceof SealqError ? forBullmq(e) : e;
      }
    }
    if (msg.wouldReject !== undefined) return runReported(s, fn, job, msg, carried, msg.wouldReject, token, signal);

    const retain = (): number => {
      const r = Math.max(1000, msg.validUntil - Date.now());
      return perRun ? Math.min(r, Math.max(1000, s.perRunRetain)) : r;
    };
    let outcome;
    try {
      outcome = await s.replay.claim(key, s.lease, retain());
    } catch (e) {
      const down = unavailable(e, 'claim the job');
      const report = modeFor(s.mode, ctx, typ) === 'report';
      if (claimChannel.hasSubscribers) publishClaim('claim', 'error', key.ctx, key.id, report ? 'report' : undefined);
      if (report) return runReported(s, fn, job, msg, data, down, token, signal);
      throw forBullmq(down);
    }
    if (claimChannel.hasSubscribers) publishClaim('claim', outcome.status === 'completed' ? 'replayed' : outcome.status, key.ctx, key.id, outcome.status === 'completed' && modeFor(s.mode, ctx, typ) === 'report' ? 'report' : undefined);
    if (outcome.status === 'completed') {
      const replayed = new ReplayedError(`job ${job.id ?? '?'} carries message ${msg.header.id}, which was already processed on queue "${ctx}": replay rejected`);
      if (modeFor(s.mode, ctx, typ) === 'report') return runReported(s, fn, job, msg, data, replayed, token, signal);
      s.verdicts(ctx).deadLettered(replayed.code, carried as Envelope);
      throw forBullmq(replayed);
    }
    if (outcome.status === 'in-flight') {
      const busy = new InFlightError(`job ${job.id ?? '?'} carries message ${msg.header.id}, which another worker is processing right now: it will be retried`);
      if (s.inFlightDelay !== false && token !== undefined) {
        const jitter = 0.8 + 0.4 * Math.random();
        try {
          await job.moveToDelayed(Date.now() + Math.round(s.inFlightDelay * jitter), token);
        } catch {
          throw forBullmq(busy);
        }
        throw new DelayedError();
      }
      throw forBullmq(busy);
    }

    const held: Held = { key, token: outcome.token, renewedAt: Date.now() };
    renewer.add(held);
    try {
      let result: R;
      try {
        const seal: JobSeal = { header: msg.header, validUntil: msg.validUntil, payload: msg.payload, replayKey: key };
        result = await fn(sealedView(job, data, seal) as SealedJob<T, J>, token, signal);
      } catch (e) {
        // Let BullMQ's retry (or a later redelivery) claim it again; the lease lapses anyway if this fails.
        await s.replay.release(key, held.token).catch(() => undefined);
        throw e;
      }
      try {
        await s.replay.complete(key, held.token, retain());
      } catch {
        if (claimChannel.hasSubscribers) publishClaim('complete', 'error', key.ctx, key.id);
        await completeWithRetry(s, key, held.token, retain).catch((e: unknown) => {
          s.verdicts(ctx).deadLettered('ERR_COMPLETION_NOT_RECORDED', carried as Envelope);
          throw e;
        });
      }
      return result;
    } finally {
      renewer.delete(held);
    }
  };
  // BullMQ creates an AbortController per job only for processors that take three parameters:
  // pass the signal through when yours wants it, and spare the cost when it does not.
  return fn.length >= 3 ? run : (job: J, token?: string) => run(job, token);
}

/**
 * Report mode: a job that would be rejected runs anyway, unclaimed (its id is unverified, or it
 * completed before), with job.seal.wouldReject set; logged with the code it would have got.
 */
async function runReported<T, R, J extends JobLike>(s: Settings, fn: SealedProcessorFn<T, R, J>, job: J, msg: OpenedMessage, parsed: unknown, wouldReject: RejectionError, token?: string, signal?: AbortSignal): Promise<R> {
  s.verdicts(job.queueName).letThrough({ ...msg, wouldReject });
  let data = parsed;
  if (msg.wouldReject !== undefined) {
    // Not a sealed job at all (plain data pushed into the queue): the data as it came. Otherwise
    // the claimed payload, parsed as the content type it claims when that works.
    const sealed = typeof parsed === 'object' && parsed !== null && (parsed as { sealq?: unknown }).sealq !== undefined;
    data = !sealed ? parsed : msg.header.ct === JOB_CONTENT_TYPE ? tryJson(msg.payload) : msg.payload;
  }
  const seal: JobSeal = { header: msg.header, validUntil: msg.validUntil, payload: msg.payload, replayKey: { ctx: job.queueName, id: '' }, wouldReject };
  return fn(sealedView(job, data, seal) as SealedJob<T, J>, token, signal);
}

function tryJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return b;
  }
}

interface Held {
  readonly key: ReplayKey;
  readonly token: string;
  renewedAt: number;
}

/**
 * Renews the leases of the jobs a processor is running, all on one timer: each lease is
 * extended once it is a quarter of the lease old, so it never gets near running out while the
 * process lives; if the process dies the renewals stop and the lease lapses.
 */
class Renewer {
  readonly #active = new Set<Held>();
  readonly #every: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly s: Settings) {
    this.#every = Math.max(250, Math.floor(s.lease / 4));
  }

  add(h: Held): void {
    this.#active.add(h);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#every);
      this.#timer.unref?.();
    }
  }

  delete(h: Held): void {
    // The timer stops on its next tick if nothing is held by then: a worker whose jobs come and
    // go does not create a timer per job.
    this.#active.delete(h);
  }

  #tick(): void {
    if (this.#active.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = Date.now();
    for (const h of this.#active) {
      if (now - h.renewedAt < this.#every) continue;
      h.renewedAt = now;
      this.s.replay.extend(h.key, h.token, this.s.lease).then(
        (ok) => void (ok || this.#active.delete(h)), // lease lost: nothing left to renew
        () => undefined, // store unreachable for now: the next tick tries again
      );
    }
  }
}

/**
 * Wraps your processor for a BullMQ Worker: each job is opened (queue name as context, job name
 * as type), claimed in the replay store, handed to your processor with its verified data, and
 * completed on success or released on failure (your error is rethrown, so attempts and backoff
 * work as usual). A rejected job fails with UnrecoverableError, its code first in failedReason.
 *
 *     new Worker('emails', sealedProcessor<Email>(async (job) => send(job.data), { keyring, replay }), { connection });
 */
export function sealedProcessor<T = unknown, R = unknown>(
  processor: SealedProcessorFn<T, R, Job>,
  options: SealedProcessorOptions,
): (job: Job, token?: string, signal?: AbortSignal) => Promise<R> {
  return makeProcessor<T, R, Job>(processor, options);
}

/**
 * The same for a sandboxed processor file (run by BullMQ in a child process): make it the file's
 * default export. The keyring and replay store are created in that file, in the child.
 *
 *     export default sealedSandbox(async (job) => ..., { keyring: Keyring.fromJwks(process.env.KEYS), replay });
 */
export function sealedSandbox<T = unknown, R = unknown>(
  processor: SealedProcessorFn<T, R, SandboxedJob>,
  options: SealedProcessorOptions,
): (job: SandboxedJob, token?: string, signal?: AbortSignal) => Promise<R> {
  return makeProcessor<T, R, SandboxedJob>(processor, options);
}
