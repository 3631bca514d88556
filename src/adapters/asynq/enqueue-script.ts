import { createHash } from 'node:crypto';

/**
 * The atomic step of Asynq v0.26's client (internal/rdb: Enqueue, EnqueueUnique, Schedule,
 * ScheduleUnique), as one script with the same effects on Redis:
 *
 * - unique: take the lock first, `SET <unique key> <task id> NX EX <ttl>`; if it is held, -1.
 *   (As in asynq, a task-id conflict found after that leaves the lock taken until its TTL.)
 * - the task id is taken (its hash exists): 0.
 * - otherwise the task hash gets `msg` (the TaskMessage), `state`, and for a pending task
 *   `pending_since` (Unix ns), for a unique one `unique_key`; the id goes to the front of the
 *   pending list (LPUSH: workers pop from the tail) or into the scheduled set, scored by its
 *   process-at Unix second. 1.
 *
 * KEYS: 1 task hash, 2 pending list or scheduled set, 3 unique key (unique tasks only)
 * ARGV: 1 TaskMessage, 2 task id, 3 "pending" or "scheduled",
 *       4 pending: now in Unix ns; scheduled: process-at in Unix s, 5 lock TTL in s (unique only)
 */
export const ENQUEUE_SCRIPT = `
local unique = KEYS[3]
if unique then
  if not redis.call('SET', unique, ARGV[2], 'NX', 'EX', ARGV[5]) then return -1 end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {'msg', ARGV[1], 'state', ARGV[3]}
if ARGV[3] == 'pending' then
  fields[#fields + 1] = 'pending_since'
  fields[#fields + 1] = ARGV[4]
end
if unique then
  fields[#fields + 1] = 'unique_key'
  fields[#fields + 1] = unique
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[3] == 'pending' then
  redis.call('LPUSH', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
end
return 1
`;

export const ENQUEUE_SCRIPT_SHA = createHash('sha1').update(ENQUEUE_SCRIPT).digest('hex');
