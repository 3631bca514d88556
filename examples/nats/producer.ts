/**
 * Producer: seals each order for the subject `shop.orders.created` and publishes it to JetStream
 * (each call resolves with the stream's acknowledgement). The stream SHOP is created if missing.
 *   SEALQ_KEYRING="$PRODUCER_KEYRING" node --import tsx examples/nats/producer.ts
 * Keyring: the private keyring JSON in SEALQ_KEYRING (see README.md). NATS_URL overrides the server.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { keyringFromEnv } from 'sealq';
import { publishSealed } from 'sealq/nats';

const keyring = keyringFromEnv();
const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: 'SHOP', subjects: ['shop.>'] }).catch(() => undefined); // exists already
const js = jetstream(nc);

for (let i = 1; i <= 3; i++) {
  const order = JSON.stringify({ orderId: `ord-${i}`, amount: 100 * i, currency: 'EUR' });
  // ctx is the subject: nats:shop.orders.created. The id is also the Nats-Msg-Id.
  const sent = await publishSealed(js, keyring, 'shop.orders.created', order, {
    typ: 'order.created',
    ct: 'application/json',
    expiresIn: '1h', // rejected after that (and the replay store forgets it then)
  });
  console.log(`published ${sent.id} as ${sent.stream} #${sent.seq}: ${order}`);
}
await nc.close();
