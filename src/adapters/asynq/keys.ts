import { createHash } from 'node:crypto';

/**
 * Asynq v0.26's Redis key names (internal/base). Every key of a queue carries the queue name as
 * its hash tag, so one queue's keys share a Redis Cluster slot and one script may touch them all.
 */

/** The set of every queue name Asynq knows (what its CLI, dashboard and inspector list). */
export const ALL_QUEUES_KEY = 'asynq:queues';

export const queuePrefix = (queue: string): string => `asynq:{${queue}}:`;
export const taskKey = (queue: string, id: string): string => `${queuePrefix(queue)}t:${id}`;
export const pendingKey = (queue: string): string => `${queuePrefix(queue)}pending`;
export const scheduledKey = (queue: string): string => `${queuePrefix(queue)}scheduled`;

/**
 * The uniqueness lock of a task: queue, type and the MD5 of the payload (not the headers, so
 * two seals of one payload are duplicates, as Asynq's Unique option means). A task created with
 * no payload at all (Go's nil) has an empty checksum, unlike an empty payload.
 */
export function uniqueKey(queue: string, type: string, payload: Uint8Array | undefined): string {
  const sum = payload === undefined ? '' : createHash('md5').update(payload).digest('hex');
  return `${queuePrefix(queue)}unique:${type}:${sum}`;
}
