/**
 * The producer half of bench/amqp.bench.ts, in a process of its own (as producers are): connects,
 * says `ready`, and on `go` publishes `count` messages of the payload it was given, plain or
 * sealed, on a confirm channel, `window` unconfirmed at a time; says `done` once all are confirmed.
 * Not a bench file itself (no `.bench.ts`): the runner skips it.
 * argv: url queue mode(plain|sealed) count window payloadBytes; the keyring JWKS in SEALQ_KEYRING.
 */
import { connect } from 'amqplib';
import { keyringFromEnv } from 'sealq';
import { sendSealed } from 'sealq/amqp';

const [url, queue, mode, countArg, windowArg, bytesArg] = process.argv.slice(2) as [string, string, string, string, string, string];
const count = Number(countArg);
const window = Number(windowArg);
const payload = Buffer.alloc(Number(bytesArg), 'x');
const keyring = mode === 'sealed' ? keyringFromEnv() : undefined;
const conn = await connect(url);
const ch = await conn.createConfirmChannel();

const plain = (): Promise<void> =>
  new Promise((resolve, reject) => ch.sendToQueue(queue, payload, { persistent: false }, (e) => (e ? reject(e) : resolve())));
const sealed = (): Promise<unknown> => sendSealed(ch, keyring!, queue, payload, { typ: 'order', properties: { persistent: false } });
const one = mode === 'sealed' ? sealed : plain;

process.send!('ready');
process.once('message', async () => {
  for (let sent = 0; sent < count; sent += window) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = sent; i < Math.min(count, sent + window); i++) batch.push(one());
    await Promise.all(batch);
  }
  await conn.close();
  process.send!('done', () => process.exit(0));
});
