import type { Cluster, Redis } from 'ioredis';
import { encodeDetached } from '../../envelope/carriers.js';
import { DuplicateTaskError, InvalidArgumentError, TaskIdConflictError } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { sealRawAsync } from '../../seal.js';
import { ENQUEUE_SCRIPT, ENQUEUE_SCRIPT_SHA } from './enqueue-script.js';
import { ALL_QUEUES_KEY, pendingKey, scheduledKey, taskKey } from './keys.js';
import { planMessage, planTask, sealOptionsOf } from './plan.js';
import type { AsynqEnqueueOptions, TaskPlan } from './plan.js';

/** What was enqueued. */
export interface EnqueuedTask {
  /** Asynq's task id. */
  readonly id: string;
  readonly queue: string;
  readonly type: string;
  readonly state: 'pending' | 'scheduled';
  /** When the task becomes processable (now for a pending task). */
  readonly nextProcessAt: Date;
  /** The seal's message id: what the worker's replay store records. */
  readonly sealId: string;
  /** The value of the task's `sealq` header. */
  readonly seal: string;
}

export interface AsynqClientOptions {
  /** Keys to seal with: the primary key signs. */
  keyring: Keyring | KeyringSource;
}

type RedisClient = Redis | Cluster;

function isRedisClient(v: unknown): v is RedisClient {
  return typeof v === 'object' && v !== null && typeof (v as Redis).evalsha === 'function' && typeof (v as Redis).sadd === 'function';
}

const isNoScript = (e: unknown): boolean => /NOSCRIPT/.test(String((e as Error)?.message ?? e));

/**
 * Enqueues sealed tasks for Asynq v0.26 workers (Go) from Node, writing Asynq's own Redis layout
 * with the same atomic steps as asynq.Client:
 *
 *     const client = new AsynqClient(redis, { keyring });
 *     await client.enqueue('email:welcome', JSON.stringify({ to }), { queue: 'critical', processIn: '5m' });
 *
 * The payload stays the task's payload, exactly; the seal (context: the queue, type: the task
 * type) rides in the task header `sealq`, which the Go middleware opens before the handler runs.
 * The ioredis client stays yours; it must not have a keyPrefix (asynq's keys have none).
 */
export class AsynqClient {
  readonly #redis: RedisClient;
  readonly #keyring: Keyring | KeyringSource;
  /** Queues already added to `asynq:queues` by this client (asynq's client remembers them too). */
  readonly #published = new Set<string>();

  constructor(redis: RedisClient, options: AsynqClientOptions) {
    if (!isRedisClient(redis)) throw new InvalidArgumentError('AsynqClient needs an ioredis client (Redis or Cluster)');
    if (options?.keyring === undefined) throw new InvalidArgumentError('AsynqClient needs { keyring }: the keys to seal tasks with');
    const prefix = (redis as Redis).options?.keyPrefix ?? (redis as Cluster).options?.redisOptions?.keyPrefix;
    if (prefix !== undefined && prefix !== '') throw new InvalidArgumentError('the ioredis client has a keyPrefix: asynq workers read unprefixed keys, use a client without one');
    this.#redis = redis;
    this.#keyring = options.keyring;
  }

  /**
   * Seals `payload` for (queue, type) and enqueues it: pending now, or scheduled when processAt /
   * processIn is in the future. An undefined payload is Go's nil payload (it has its own unique
   * key); a string is its UTF-8 bytes.
   *
   * Throws ERR_DUPLICATE_TASK when a unique task's lock is held, ERR_TASK_ID_CONFLICT when the
   * task id exists, ERR_INVALID_ARGUMENT for options asynq would refuse.
   */
  async enqueue(type: string, payload: string | Uint8Array | undefined, options: AsynqEnqueueOptions = {}): Promise<EnqueuedTask> {
    const plan = planTask(type, payload, options);
    const { raw, header } = await sealRawAsync(this.#keyring, plan.payload ?? Buffer.alloc(0), sealOptionsOf(plan, options));
    // The headers carrier (SPEC §5.6): the payload is the task's payload, the seal one header.
    const { seal } = encodeDetached(raw);
    await this.#write(plan, planMessage(plan, seal));
    return { id: plan.id, queue: plan.queue, type: plan.type, state: plan.scheduled ? 'scheduled' : 'pending', nextProcessAt: new Date(plan.scheduled ? plan.processAt : plan.now), sealId: header.id, seal };
  }

  /** asynq's client: the queue into `asynq:queues` (once per client), then the one atomic script. */
  async #write(plan: TaskPlan, msg: Buffer): Promise<void> {
    const { queue, id, scheduled, lock } = plan;
    if (!this.#published.has(queue)) {
      await this.#redis.sadd(ALL_QUEUES_KEY, queue);
      this.#published.add(queue);
    }
    const keys = [taskKey(queue, id), scheduled ? scheduledKey(queue) : pendingKey(queue)];
    const args: Array<string | Buffer> = [msg, id, scheduled ? 'scheduled' : 'pending', scheduled ? String(Math.floor(plan.processAt / 1000)) : (BigInt(plan.now) * 1_000_000n).toString()];
    if (lock !== undefined) {
      keys.push(lock.key);
      args.push(String(lock.ttl));
    }
    let r: unknown;
    try {
      r = await this.#redis.evalsha(ENQUEUE_SCRIPT_SHA, keys.length, ...keys, ...args);
    } catch (e) {
      if (!isNoScript(e)) throw e;
      r = await this.#redis.eval(ENQUEUE_SCRIPT, keys.length, ...keys, ...args);
    }
    if (r === -1) throw new DuplicateTaskError(`a task of type "${plan.type}" with this payload is already in queue "${queue}" (unique lock held): asynq refuses duplicates until the lock expires or the task completes`);
    if (r === 0) throw new TaskIdConflictError(`task id "${id}" already exists in queue "${queue}": use another taskId`);
  }
}
