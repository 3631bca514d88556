/**
 * Intruder: someone with publish rights on the server and no key. Copies one sealed order as it
 * is published, then plays the attacks; watch the consumer dead-letter each with its code.
 *   node --import tsx examples/nats/intruder.ts     (then run the producer)
 */
import { connect, headers } from '@nats-io/transport-node';
import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Keyring, sealDetached } from 'sealq';
import { natsContext } from 'sealq/nats';

const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
const js = jetstream(nc);
console.log('waiting for a sealed order to copy: run the producer');
const copy = await new Promise<Msg>((resolve) => {
  const sub = nc.subscribe('shop.orders.created', { max: 1, callback: (_e, m) => resolve(m) });
  void sub;
});
/** The copied headers, without Nats-Msg-Id unless asked: with it, JetStream itself drops a copy. */
const copied = (keepMsgId = false): MsgHdrs => {
  const h = headers();
  for (const [k, vs] of copy.headers ?? []) if (keepMsgId || k !== 'Nats-Msg-Id') for (const v of vs) h.append(k, v);
  return h;
};

const tampered = Buffer.from(new TextDecoder().decode(copy.data).replace(/"amount":\d+/, '"amount":1'));
await js.publish('shop.orders.created', tampered, { headers: copied() }); // ERR_SIGNATURE_INVALID
await js.publish('shop.orders.created', '{"orderId":"ord-666","amount":1}'); // unsigned: ERR_MALFORMED
const forged = sealDetached(Keyring.generate('HS256'), '{"orderId":"ord-667","amount":1}', { ctx: natsContext('shop.orders.created'), typ: 'order.created' });
const fh = headers();
fh.set('sealq', forged.seal);
await js.publish('shop.orders.created', forged.payload, { headers: fh }); // ERR_KEY_UNKNOWN
await js.publish('shop.orders.refunded', copy.data, { headers: copied() }); // moved to another subject: ERR_CONTEXT_MISMATCH
const again = await js.publish('shop.orders.created', copy.data, { headers: copied(true) });
console.log(`the same message with its Nats-Msg-Id: ${again.duplicate ? 'dropped by JetStream as a duplicate' : 'stored'}`);
await js.publish('shop.orders.created', copy.data, { headers: copied() }); // without it: ERR_REPLAYED (once the original was processed)
console.log('5 attacks stored; the consumer dead-letters each to SEALQ_DEAD');
await nc.close();
