/**
 * The producer half of bench/nats.bench.ts, in a process of its own (as producers are): connects,
 * says `ready`, and on `go` publishes `count` messages of the payload size it was given to
 * JetStream, plain (js.publish) or sealed (publishSealed), `window` awaiting their PubAck at a
 * time; says `done` once all are acknowledged. Not a bench file itself (no `.bench.ts`).
 * argv: servers subject mode(plain|sealed) count window payloadBytes; the keyring JWKS in SEALQ_KEYRING.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { keyringFromEnv } from 'sealq';
import { publishSealed } from 'sealq/nats';

const [servers, subject, mode, countArg, windowArg, bytesArg] = process.argv.slice(2) as [string, string, string, string, string, string];
const count = Number(countArg);
const window = Number(windowArg);
const payload = Buffer.alloc(Number(bytesArg), 'x');
const keyring = mode === 'sealed' ? keyringFromEnv() : undefined;
const nc = await connect({ servers });
const js = jetstream(nc);

const one = mode === 'sealed' ? (): Promise<unknown> => publishSealed(js, keyring!, subject, payload, { typ: 'order' }) : (): Promise<unknown> => js.publish(subject, payload);

process.send!('ready');
process.once('message', async () => {
  for (let sent = 0; sent < count; sent += window) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = sent; i < Math.min(count, sent + window); i++) batch.push(one());
    await Promise.all(batch);
  }
  await nc.close();
  process.send!('done', () => process.exit(0));
});
