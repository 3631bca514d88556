/**
 * sealq/asynq: sealed tasks for Asynq v0.26 (Go workers) enqueued from Node. Writes Asynq's own
 * Redis layout; ioredis is an optional peer dependency of sealq, needed only here.
 */
export { AsynqClient } from './client.js';
export type { AsynqClientOptions, EnqueuedTask } from './client.js';
export { DEFAULT_QUEUE, DEFAULT_MAX_RETRY, DEFAULT_TIMEOUT_MS, DEFAULT_GRACE_MS, retryWindow } from './plan.js';
export type { AsynqEnqueueOptions } from './plan.js';
export { encodeTaskMessage } from './task-message.js';
export type { TaskMessage } from './task-message.js';
export { uniqueKey, taskKey, pendingKey, scheduledKey, ALL_QUEUES_KEY } from './keys.js';
