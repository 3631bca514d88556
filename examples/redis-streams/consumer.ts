/**
 * Consumer: reads `orders` in the consumer group `billing`, verifies every entry, runs the handler
 * once per message, and moves anything forged, tampered with, replayed or unsigned to
 * `orders:dead` with the reason.
 *   node --import tsx examples/redis-streams/consumer.ts
 * Keyring: the public keyring file named by KEYRING_FILE (see README.md). Ctrl-C stops gracefully.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Keyring } from 'sealq';
import { RedisReplayStore } from 'sealq/redis';
import { SealedStreamConsumer } from 'sealq/redis-streams';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'; // the stream's Redis user
const keyring = Keyring.fromJwks(readFileSync(process.env.KEYRING_FILE ?? '.keys/consumer-keyring.json', 'utf8'));
const redis = new Redis(url);
// Shared by every consumer of every group: remembers which messages were processed. It connects as
// a Redis user of its own that stream writers do not have (or to a Redis of its own); start()
// checks that. With REPLAY_REDIS_URL unset it shares the stream's credentials: a warning, and a
// refusal with NODE_ENV=production.
const replay = new RedisReplayStore({ redis: process.env.REPLAY_REDIS_URL ?? url });

const consumer = new SealedStreamConsumer({
  redis,
  keyring,
  replay,
  stream: 'orders',
  group: 'billing',
  typ: 'order.created',
  concurrency: 20,
  minIdle: '30s', // a failed or abandoned entry is retried after this
  handler: async (msg) => {
    const order = JSON.parse(msg.payload.toString('utf8')) as { orderId: string; amount: number };
    console.log(`billing ${order.orderId} (${order.amount}) from entry ${msg.entryId}${msg.redelivered ? ' (retry)' : ''}`);
  },
  onDeadLetter: (d) => console.warn(`dead-lettered entry ${d.entryId}: ${d.code}: ${d.reason}`),
  onError: (e, entryId) => console.warn(`entry ${entryId ?? '-'}: ${e.message} (will be retried)`),
});

await consumer.start();
console.log(`consumer ${consumer.consumer} reading orders in group billing; Ctrl-C to stop`);
process.once('SIGINT', async () => {
  await consumer.stop(); // finishes the handlers already running
  await replay.close();
  redis.disconnect();
  console.log('stopped', consumer.stats);
});
