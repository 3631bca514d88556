import type { BulkJobOptions, Job, JobSchedulerTemplateOptions, JobsOptions, Queue, RepeatOptions } from 'bullmq';
import { InvalidArgumentError } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { sealJobDataAuto } from './seal-job.js';
import { wrapWith } from './wrap.js';
import type { JobSealSettings, SealedJobData } from './seal-job.js';

export interface SealedQueueOptions extends JobSealSettings {
  /** Keys to seal with: the primary key signs. */
  keyring: Keyring | KeyringSource;
}

/**
 * A BullMQ Queue whose add, addBulk and upsertJobScheduler take your plain data and store it
 * sealed (queue name as context, job name as type). Every other member is the Queue's own.
 */
export type SealedQueue<T = unknown, R = any, N extends string = string> = Omit<Queue<SealedJobData, R, N>, 'add' | 'addBulk' | 'upsertJobScheduler'> & {
  add(name: N, data: T, opts?: JobsOptions): Promise<Job<SealedJobData, R, N>>;
  addBulk(jobs: Array<{ name: N; data: T; opts?: BulkJobOptions }>): Promise<Array<Job<SealedJobData, R, N>>>;
  upsertJobScheduler(
    jobSchedulerId: N,
    repeatOpts: Omit<RepeatOptions, 'key'>,
    jobTemplate?: { name?: N; data?: T; opts?: JobSchedulerTemplateOptions },
  ): Promise<Job<SealedJobData, R, N>>;
  /** The wrapped Queue, unsealed: what it adds is rejected by sealed workers. */
  readonly unsealed: Queue<SealedJobData, R, N>;
};

/** The add() options sealing depends on. `repeat` is BullMQ 5's (BullMQ 6 has upsertJobScheduler only), so it is read by name. */
interface AddOptions {
  repeat?: Pick<RepeatOptions, 'endDate'>;
  delay?: number;
}

/** @internal Settings from the keyring-bearing options, without the keyring. */
export function settingsOf(o: JobSealSettings): JobSealSettings {
  const s: JobSealSettings = {};
  if (o.grace !== undefined) s.grace = o.grace;
  if (o.schedulerValidity !== undefined) s.schedulerValidity = o.schedulerValidity;
  return s;
}

/**
 * Wraps a BullMQ Queue so that everything it adds is sealed:
 *
 *     const queue = sealedQueue<Email>(new Queue('emails', { connection }), { keyring });
 *     await queue.add('welcome', { to: 'a@example.com' }, { delay: 60_000 });
 *
 * Delayed jobs are valid from the moment they are due until `grace` (default 24h) later; job
 * schedulers and `repeat` jobs get one long-lived seal that workers allow once per job id.
 */
export function sealedQueue<T = unknown, R = any, N extends string = string>(queue: Queue<any, R, N>, options: SealedQueueOptions): SealedQueue<T, R, N> {
  if (typeof queue?.add !== 'function' || typeof queue.name !== 'string') throw new InvalidArgumentError('sealedQueue needs a BullMQ Queue');
  if (options?.keyring === undefined) throw new InvalidArgumentError('sealedQueue needs { keyring }: the keys to seal jobs with');
  const { keyring } = options;
  const settings = settingsOf(options);
  const q = queue as Queue<SealedJobData, R, N>;

  // The queue's default job options apply when a job's own options leave a field out, as in
  // Queue.add ({ ...defaults, ...opts }: a field present in opts wins, even if undefined).
  const option = <K extends keyof AddOptions>(opts: JobsOptions | undefined, k: K): AddOptions[K] =>
    typeof opts === 'object' && opts !== null && k in opts ? (opts as AddOptions)[k] : (q.defaultJobOptions as AddOptions | undefined)?.[k];

  // BullMQ 6 dropped repeatable jobs (removeRepeatable went with them) and add() ignores
  // `repeat`: such a job runs once, so it gets an ordinary seal, not a long-lived per-run one.
  const repeatable = typeof (q as unknown as { removeRepeatable?: unknown }).removeRepeatable === 'function';

  const seal = (name: N, data: T, opts: JobsOptions | undefined): SealedJobData | Promise<SealedJobData> => {
    const repeat = repeatable ? option(opts, 'repeat') : undefined;
    if (repeat !== undefined) {
      return sealJobDataAuto(keyring, q.name, name, data, { ...settings, perRun: true, ...(repeat.endDate === undefined ? {} : { endDate: repeat.endDate }) });
    }
    const delay = option(opts, 'delay');
    return sealJobDataAuto(keyring, q.name, name, data, delay === undefined ? settings : { ...settings, delay });
  };

  const add = async (name: N, data: T, opts?: JobsOptions): Promise<Job<SealedJobData, R, N>> => q.add(name, await seal(name, data, opts), opts);

  const addBulk = async (jobs: Array<{ name: N; data: T; opts?: BulkJobOptions }>): Promise<Array<Job<SealedJobData, R, N>>> => {
    if (!Array.isArray(jobs)) throw new InvalidArgumentError('addBulk takes an array of { name, data, opts }');
    const datas = jobs.map((j) => seal(j.name, j.data, j.opts));
    const sealed = datas.some((d) => d instanceof Promise) ? await Promise.all(datas) : (datas as SealedJobData[]);
    return q.addBulk(jobs.map((j, i) => ({ ...j, data: sealed[i]! })));
  };

  const upsertJobScheduler = async (
    jobSchedulerId: N,
    repeatOpts: Omit<RepeatOptions, 'key'>,
    jobTemplate?: { name?: N; data?: T; opts?: JobSchedulerTemplateOptions },
  ): Promise<Job<SealedJobData, R, N>> => {
    // BullMQ names a scheduler's jobs after the scheduler unless the template names them.
    const name = jobTemplate?.name ?? jobSchedulerId;
    const data = await sealJobDataAuto(keyring, q.name, name, jobTemplate?.data, {
      ...settings,
      perRun: true,
      ...(repeatOpts?.endDate === undefined ? {} : { endDate: repeatOpts.endDate }),
    });
    return q.upsertJobScheduler(jobSchedulerId, repeatOpts, { ...jobTemplate, name, data });
  };

  return wrapWith(q, { add, addBulk, upsertJobScheduler, unsealed: q }) as unknown as SealedQueue<T, R, N>;
}
