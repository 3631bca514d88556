/**
 * Producer: seals each order for the stream `orders` and appends it with XADD.
 *   node --import tsx examples/redis-streams/producer.ts
 * Keyring: the private keyring file named by KEYRING_FILE (see README.md).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Keyring } from 'sealq';
import { xaddSealed } from 'sealq/redis-streams';

const keyring = Keyring.fromJwks(readFileSync(process.env.KEYRING_FILE ?? '.keys/producer-keyring.json', 'utf8'), { allowPrivate: true });
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

for (let i = 1; i <= 3; i++) {
  const order = JSON.stringify({ orderId: `ord-${i}`, amount: 100 * i, currency: 'EUR' });
  const entryId = await xaddSealed(redis, keyring, 'orders', order, {
    typ: 'order.created', // signed, checked by the consumer
    ct: 'application/json',
    expiresIn: '1h', // the consumer rejects it after that (and the replay store forgets it then)
    fields: { source: 'checkout' }, // NOT signed: for dashboards and routing only
    maxLen: 100_000,
  });
  console.log(`added ${entryId}: ${order}`);
}
redis.disconnect();
