/**
 * Producer: seals each order for the topic `shop/orders/created` and publishes it at QoS 1 (each
 * call resolves once the broker has acknowledged it).
 *   SEALQ_KEYRING="$PRODUCER_KEYRING" node --import tsx examples/mqtt/producer.ts
 * Keyring: the private keyring JSON in SEALQ_KEYRING (see README.md). MQTT_URL overrides the broker.
 * MQTT 3.1.1 brokers: connect with protocolVersion 4 and pass carrier: 'compact' (the consumer too).
 */
import { connectAsync } from 'mqtt';
import { keyringFromEnv } from 'sealq';
import { publishSealed } from 'sealq/mqtt';

const keyring = keyringFromEnv();
const client = await connectAsync(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883', { protocolVersion: 5 });

for (let i = 1; i <= 3; i++) {
  const order = JSON.stringify({ orderId: `ord-${i}`, amount: 100 * i, currency: 'EUR' });
  // ctx is the topic: mqtt:shop/orders/created. The seal travels in the `sealq` user property.
  const { id } = await publishSealed(client, keyring, 'shop/orders/created', order, {
    typ: 'order.created',
    ct: 'application/json', // also sent as the contentType property
    expiresIn: '1h', // rejected after that (and the replay store forgets it then)
    properties: { userProperties: { source: 'checkout' } }, // NOT signed
  });
  console.log(`published ${id}: ${order}`);
}
await client.endAsync();
