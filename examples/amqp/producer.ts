/**
 * Producer: seals each order for exchange `shop`, routing key `order.created`, and publishes it
 * on a confirm channel (each call resolves once RabbitMQ has the message).
 *   SEALQ_KEYRING="$PRODUCER_KEYRING" node --import tsx examples/amqp/producer.ts
 * Keyring: the private keyring JSON in SEALQ_KEYRING (see README.md). AMQP_URL overrides the broker.
 */
import { connect } from 'amqplib';
import { keyringFromEnv } from 'sealq';
import { publishSealed } from 'sealq/amqp';

const keyring = keyringFromEnv();
const conn = await connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const channel = await conn.createConfirmChannel();
await channel.assertExchange('shop', 'topic', { durable: true });

for (let i = 1; i <= 3; i++) {
  const order = JSON.stringify({ orderId: `ord-${i}`, amount: 100 * i, currency: 'EUR' });
  // ctx is the address: amqp:shop/order.created. typ travels signed, and as the `type` property.
  const { id } = await publishSealed(channel, keyring, 'shop', 'order.created', order, {
    typ: 'order.created',
    ct: 'application/json',
    expiresIn: '1h', // rejected after that (and the replay store forgets it then)
    properties: { persistent: true, headers: { source: 'checkout' } }, // headers are NOT signed
  });
  console.log(`published ${id}: ${order}`);
}
await conn.close();
