/**
 * Consumer: the durable consumer `billing` on stream SHOP (subjects `shop.orders.>`) verifies
 * each message against the subject it was published to, runs the handler once per message, and
 * moves anything forged, tampered with, moved, replayed, unsigned or of another type to the
 * SEALQ_DEAD stream (subject `sealq.dead.SHOP.billing`) with the reason.
 *   SEALQ_KEYRING="$CONSUMER_KEYRING" node --import tsx examples/nats/consumer.ts
 * Keyring: the public keyring JSON in SEALQ_KEYRING (see README.md). Replay store: in memory, or
 * Redis when REDIS_URL is set (needed as soon as two processes share the consumer). Ctrl-C stops.
 */
import { connect } from '@nats-io/transport-node';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { MemoryReplayStore, keyringFromEnv } from 'sealq';
import type { ReplayStore } from 'sealq';
import { SealedNatsConsumer } from 'sealq/nats';

const keyring = keyringFromEnv({ allowPrivate: false }); // a verifier holds public keys only
const redisUrl = process.env.REDIS_URL;
let replay: ReplayStore & { close?: () => Promise<void> } = new MemoryReplayStore();
if (redisUrl !== undefined) {
  const { RedisReplayStore } = await import('sealq/redis');
  replay = new RedisReplayStore({ redis: redisUrl });
}

const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'SHOP', subjects: ['shop.>'] }).catch(() => undefined); // exists already
await jsm.consumers.add('SHOP', { durable_name: 'billing', ack_policy: AckPolicy.Explicit, filter_subject: 'shop.orders.>', ack_wait: 30_000_000_000 });

const consumer = new SealedNatsConsumer(nc, {
  keyring,
  replay,
  stream: 'SHOP',
  consumer: 'billing',
  typ: 'order.created',
  concurrency: 20,
  handler: async (msg) => {
    const order = JSON.parse(msg.payload.toString('utf8')) as { orderId: string; amount: number };
    console.log(`billing ${order.orderId} (${order.amount}) from ${msg.subject}${msg.redelivered ? ' (redelivered)' : ''}`);
  },
  onDeadLetter: (d) => console.warn(`dead-lettered to ${consumer.deadLetterSubject}: ${d.code}: ${d.reason}`),
  onError: (e) => console.warn(`${e.message} (will be retried)`),
});

await consumer.start();
console.log('consuming SHOP/billing; Ctrl-C to stop');
process.once('SIGINT', async () => {
  await consumer.stop(); // finishes the handlers already running
  await replay.close?.();
  await nc.close();
  console.log('stopped', consumer.stats);
});
