/**
 * Intruder: someone with publish rights on the broker and no key. Copies one sealed message from
 * the exchange `shop`, then plays the attacks; watch the consumer dead-letter each with its code.
 *   node --import tsx examples/amqp/intruder.ts     (then run the producer)
 */
import { connect } from 'amqplib';
import { Keyring, sealDetached } from 'sealq';
import { amqpContext } from 'sealq/amqp';

const conn = await connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const ch = await conn.createConfirmChannel();
await ch.assertExchange('shop', 'topic', { durable: true });
const { queue: tap } = await ch.assertQueue('', { exclusive: true });
await ch.bindQueue(tap, 'shop', 'order.created');
console.log('waiting for a sealed order to copy: run the producer');
const copy = await new Promise<import('amqplib').ConsumeMessage>((resolve) => void ch.consume(tap, (m) => m && resolve(m), { noAck: true }));
const headers = { ...copy.properties.headers };
const send = (body: Buffer | string, options: import('amqplib').Options.Publish): Promise<void> =>
  new Promise((resolve, reject) => ch.publish('shop', 'order.created', Buffer.from(body), { type: 'order.created', ...options }, (e) => (e ? reject(e) : resolve())));

const tamperedBody = Buffer.from(copy.content.toString().replace(/"amount":\d+/, '"amount":1'));
await send(tamperedBody, { headers }); // ERR_SIGNATURE_INVALID
await send('{"orderId":"ord-666","amount":1}', {}); // unsigned: ERR_MALFORMED
const forged = sealDetached(Keyring.generate('HS256'), '{"orderId":"ord-667","amount":1}', { ctx: amqpContext('shop', 'order.created'), typ: 'order.created' });
await send(Buffer.from(forged.payload), { headers: { sealq: forged.seal } }); // ERR_KEY_UNKNOWN
await send(copy.content, { headers, type: 'order.refunded' }); // type property changed: ERR_TYPE_MISMATCH
await send(copy.content, { headers }); // the same bytes again: ERR_REPLAYED (once the original was processed)
console.log('5 attacks published; the consumer dead-letters each to billing.dead');
await conn.close();
