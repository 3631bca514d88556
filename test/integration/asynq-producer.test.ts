/**
 * sealq/asynq's producer on a Redis of its own (a redis-server child process): the enqueue script
 * is re-sent when the server's script cache was flushed (restart, failover), and every enqueue
 * lands as exactly one task.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { AsynqClient } from '../../src/adapters/asynq/index.js';
import { Keyring } from '../../src/index.js';
import { startRedisServer } from '../helpers/redis.js';

test('a flushed script cache (NOSCRIPT) is answered by sending the script again', async (t) => {
  const server = await startRedisServer(t);
  const redis = new Redis(server.url);
  t.after(() => redis.disconnect());
  const client = new AsynqClient(redis, { keyring: Keyring.generate('HS256', { kid: 'k' }) });
  await client.enqueue('t', 'one', { queue: 'q', taskId: '1' });
  await redis.script('FLUSH');
  await client.enqueue('t', 'two', { queue: 'q', taskId: '2' });
  await client.enqueue('t', 'later', { queue: 'q', taskId: '3', processIn: '1h' });
  assert.deepEqual(await redis.lrange('asynq:{q}:pending', '0', '-1'), ['2', '1']);
  assert.deepEqual(await redis.zrange('asynq:{q}:scheduled', '0', '-1'), ['3']);
  assert.deepEqual(await redis.smembers('asynq:queues'), ['q']);
  assert.deepEqual(await redis.hmget('asynq:{q}:t:3', 'state', 'pending_since'), ['scheduled', null]);
});
