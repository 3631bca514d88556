/**
 * Consumer: the queue `billing`, bound to exchange `shop` for `order.*`, verifies each message,
 * runs the handler once per message, and moves anything forged, tampered with, replayed, unsigned
 * or of another type to `billing.dead` with the reason.
 *   SEALQ_KEYRING="$CONSUMER_KEYRING" node --import tsx examples/amqp/consumer.ts
 * Keyring: the public keyring JSON in SEALQ_KEYRING (see README.md). Replay store: in memory, or
 * Redis when REDIS_URL is set (needed as soon as two consumers share the queue). Ctrl-C stops.
 */
import { connect } from 'amqplib';
import { MemoryReplayStore, keyringFromEnv } from 'sealq';
import type { ReplayStore } from 'sealq';
import { SealedAmqpConsumer } from 'sealq/amqp';

const keyring = keyringFromEnv({ allowPrivate: false }); // a verifier holds public keys only
const redisUrl = process.env.REDIS_URL;
let replay: ReplayStore & { close?: () => Promise<void> } = new MemoryReplayStore();
if (redisUrl !== undefined) {
  const { RedisReplayStore } = await import('sealq/redis');
  replay = new RedisReplayStore({ redis: redisUrl });
}

const conn = await connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const setup = await conn.createChannel();
await setup.assertExchange('shop', 'topic', { durable: true });
await setup.assertQueue('billing', { durable: true });
await setup.bindQueue('billing', 'shop', 'order.*');
await setup.close();

const consumer = new SealedAmqpConsumer(conn, {
  keyring,
  replay,
  queue: 'billing',
  addresses: [{ exchange: 'shop', routingKey: 'order.*' }], // what producers address: the signed ctx
  typ: 'order.created',
  prefetch: 20, // also how many handlers run at once
  handler: async (msg) => {
    const order = JSON.parse(msg.payload.toString('utf8')) as { orderId: string; amount: number };
    console.log(`billing ${order.orderId} (${order.amount})${msg.redelivered ? ' (redelivered)' : ''}`);
  },
  onDeadLetter: (d) => console.warn(`dead-lettered to billing.dead: ${d.code}: ${d.reason}`),
  onError: (e) => console.warn(`${e.message} (will be retried)`),
});

await consumer.start();
console.log('consuming billing; Ctrl-C to stop');
process.once('SIGINT', async () => {
  await consumer.stop(); // finishes the handlers already running
  await replay.close?.();
  await conn.close();
  console.log('stopped', consumer.stats);
});
