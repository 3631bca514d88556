/**
 * Consumer: the persistent session `billing` subscribes to `shop/orders/+`, verifies each message
 * against the topic it was published to, runs the handler once per message, and publishes
 * anything forged, tampered with, moved, replayed, unsigned or of another type, with the reason,
 * as a retained message under `sealq/dead-letter/<topic>/<id>`.
 *   SEALQ_KEYRING="$CONSUMER_KEYRING" node --import tsx examples/mqtt/consumer.ts
 * Keyring: the public keyring JSON in SEALQ_KEYRING (see README.md). Replay store: in memory, or
 * Redis when REDIS_URL is set (needed for a shared subscription of several consumers, and to
 * remember across restarts). Ctrl-C stops.
 */
import { connect } from 'mqtt';
import { MemoryReplayStore, keyringFromEnv } from 'sealq';
import type { ReplayStore } from 'sealq';
import { SealedMqttSubscriber } from 'sealq/mqtt';

const keyring = keyringFromEnv({ allowPrivate: false }); // a verifier holds public keys only
const redisUrl = process.env.REDIS_URL;
let replay: ReplayStore & { close?: () => Promise<void> } = new MemoryReplayStore();
if (redisUrl !== undefined) {
  const { RedisReplayStore } = await import('sealq/redis');
  replay = new RedisReplayStore({ redis: redisUrl });
}

// A persistent session keeps what arrives while the consumer is down. manualConnect: start()
// connects once the subscriber is in place, so nothing the session held is acknowledged unhandled.
const client = connect(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883', {
  protocolVersion: 5,
  clientId: 'billing',
  clean: false,
  properties: { sessionExpiryInterval: 24 * 3600 },
  manualConnect: true,
});

const subscriber = new SealedMqttSubscriber(client, {
  keyring,
  replay,
  topics: 'shop/orders/+',
  typ: 'order.created',
  handler: async (msg) => {
    const order = JSON.parse(msg.payload.toString('utf8')) as { orderId: string; amount: number };
    console.log(`billing ${order.orderId} (${order.amount}) from ${msg.topic}${msg.dup ? ' (redelivered)' : ''}`);
  },
  onDeadLetter: (d) => console.warn(`dead-lettered to sealq/dead-letter/${d.topic}/${d.id}: ${d.code}: ${d.reason}`),
  onError: (e) => console.warn(`${e.message} (will be retried)`),
});

await subscriber.start();
console.log('subscribed to shop/orders/+; Ctrl-C to stop');
process.once('SIGINT', async () => {
  await subscriber.stop(); // finishes the message being handled
  await client.endAsync();
  await replay.close?.();
  console.log('stopped', subscriber.stats);
});
