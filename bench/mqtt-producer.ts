/**
 * The producer half of bench/mqtt.bench.ts, in a process of its own (as producers are): connects,
 * says `ready`, and on `go` publishes `count` messages of the payload size it was given at QoS 1,
 * plain (publishAsync) or sealed (publishSealed), `window` awaiting their PUBACK at a time and at
 * most `ahead` beyond what the consumer reported handled (IPC `{ handled }`): Mosquitto drops QoS 1
 * messages past a subscriber's queue limit, so the producer must not outrun the consumer. Says
 * `done` once all are acknowledged. Not a bench file itself (no `.bench.ts`).
 * argv: url topic mode(plain|sealed) count window ahead payloadBytes; the keyring JWKS in SEALQ_KEYRING.
 */
import { connectAsync } from 'mqtt';
import { keyringFromEnv } from 'sealq';
import { publishSealed } from 'sealq/mqtt';

const [url, topic, mode, countArg, windowArg, aheadArg, bytesArg] = process.argv.slice(2) as [string, string, string, string, string, string, string];
const count = Number(countArg);
const window = Number(windowArg);
const ahead = Number(aheadArg);
const payload = Buffer.alloc(Number(bytesArg), 'x');
const keyring = mode === 'sealed' ? keyringFromEnv() : undefined;
const client = await connectAsync(url, { protocolVersion: 5, clean: true });

const one = mode === 'sealed' ? (): Promise<unknown> => publishSealed(client, keyring!, topic, payload, { typ: 'order' }) : (): Promise<unknown> => client.publishAsync(topic, payload, { qos: 1 });

let handled = 0;
let wake: (() => void) | undefined;
process.on('message', (m) => {
  if (typeof m === 'object' && m !== null && 'handled' in m) {
    handled = (m as { handled: number }).handled;
    wake?.();
  }
});
process.send!('ready');
process.once('message', async () => {
  for (let sent = 0; sent < count; ) {
    while (sent - handled >= ahead) await new Promise<void>((r) => (wake = r));
    const batch: Array<Promise<unknown>> = [];
    const end = Math.min(count, sent + window);
    for (; sent < end; sent++) batch.push(one());
    await Promise.all(batch);
  }
  await client.endAsync();
  process.send!('done', () => process.exit(0));
});
