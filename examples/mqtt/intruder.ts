/**
 * Intruder: someone with publish rights on the broker and no key. Copies one sealed order as it is
 * published, then plays the attacks; watch the consumer dead-letter each with its code.
 *   node --import tsx examples/mqtt/intruder.ts     (then run the producer)
 */
import { connectAsync } from 'mqtt';
import type { IPublishPacket } from 'mqtt';
import { Keyring, sealDetached } from 'sealq';
import { mqttContext } from 'sealq/mqtt';

const client = await connectAsync(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883', { protocolVersion: 5 });
const copied = new Promise<IPublishPacket>((resolve) => client.once('message', (_t, _p, packet) => resolve(packet)));
await client.subscribeAsync('shop/orders/created', { qos: 1 });
console.log('waiting for a sealed order to copy: run the producer');
const copy = await copied;
await client.unsubscribeAsync('shop/orders/created');
const userProperties = copy.properties?.userProperties ?? {};
const send = (topic: string, body: Buffer | string, props?: Record<string, string | string[]>): Promise<unknown> =>
  client.publishAsync(topic, Buffer.from(body), { qos: 1, ...(props === undefined ? {} : { properties: { userProperties: props } }) });

await send('shop/orders/created', copy.payload.toString().replace(/"amount":\d+/, '"amount":1'), userProperties); // ERR_SIGNATURE_INVALID
await send('shop/orders/created', '{"orderId":"ord-666","amount":1}'); // unsigned: ERR_MALFORMED
const forged = sealDetached(Keyring.generate('HS256'), '{"orderId":"ord-667","amount":1}', { ctx: mqttContext('shop/orders/created'), typ: 'order.created' });
await send('shop/orders/created', Buffer.from(forged.payload), { sealq: forged.seal }); // ERR_KEY_UNKNOWN
await send('shop/orders/refunded', copy.payload, userProperties); // moved to another topic: ERR_CONTEXT_MISMATCH
await send('shop/orders/created', copy.payload, userProperties); // the same bytes again: ERR_REPLAYED (once the original was processed)
console.log('5 attacks published; the consumer dead-letters each under sealq/dead-letter/');
await client.endAsync();
