/**
 * MQTT (sealq/mqtt) end to end: messages/s through Mosquitto at QoS 1, plain (mqtt.js:
 * publishAsync, and a subscriber whose PUBACK mqtt.js sends as each message is handled) against
 * sealed (publishSealed; SealedMqttSubscriber with the Redis replay store: verify, claim, handler,
 * complete, PUBACK, 100 handlers at once). HS256, 1 KiB bodies, MQTT 5, the producer in a process of
 * its own (bench/mqtt-producer.ts), kept at most AHEAD messages beyond what the subscriber has
 * handled (Mosquitto drops QoS 1 messages past a subscriber's queue limit). Timed from the
 * producer's first publish to the last message handled; the handler does nothing, which makes the
 * overhead look as large as it can. Rounds interleaved after an untimed warm-up of each.
 * Needs Mosquitto on 127.0.0.1:1883 (MQTT_URL to override) and Redis (REDIS_URL); skipped when
 * either is unreachable.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectAsync } from 'mqtt';
import type { MqttClient } from 'mqtt';
import { Keyring } from 'sealq';
import { SealedMqttSubscriber } from 'sealq/mqtt';
import { RedisReplayStore } from 'sealq/redis';
import type { Harness } from './harness.js';
import { startProducer } from './producer-process.js';
import type { ProducerProcess } from './producer-process.js';
import { deleteByPrefix, needRedis, REDIS_URL } from './redis-util.js';

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const PAYLOAD_BYTES = 1024;
const CONCURRENCY = 100;
const WINDOW = 200;
const AHEAD = 800;

async function mqttClient(): Promise<MqttClient | undefined> {
  try {
    return await connectAsync(MQTT_URL, { protocolVersion: 5, clean: true, connectTimeout: 1000, reconnectPeriod: 0 });
  } catch {
    return undefined;
  }
}

/** The producer in a process of its own; `go()` starts it, resolving when all are acknowledged. */
function producer(topic: string, mode: 'plain' | 'sealed', count: number, keyring: Keyring): Promise<ProducerProcess> {
  return startProducer('./mqtt-producer.ts', [MQTT_URL, topic, mode, String(count), String(WINDOW), String(AHEAD), String(PAYLOAD_BYTES)], keyring);
}

export async function run(h: Harness): Promise<void> {
  const kr = Keyring.generate('HS256');
  h.section('MQTT end to end', `Messages of ${PAYLOAD_BYTES} bytes at QoS 1 from a producer process (${WINDOW} awaiting their PUBACK at a time, at most ${AHEAD} ahead of the subscriber) through Mosquitto to one subscriber, MQTT 5; sealed: publishSealed (seal in a user property) and SealedMqttSubscriber (concurrency ${CONCURRENCY}) with the Redis replay store; plain: mqtt.js, acknowledged as each message is handled.`);
  const probe = await mqttClient();
  if (probe === undefined) {
    h.skip(`Mosquitto is not reachable at ${MQTT_URL.replace(/\/\/[^@/]*@/, '//')}`);
    return;
  }
  await probe.endAsync();
  if (!(await needRedis(h))) return;
  const total = h.quick ? 5_000 : 20_000;
  h.note(`${total.toLocaleString('en-US')} messages per run`);
  const prefix = `sealq-bench:mqtt:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const replay = new RedisReplayStore({ redis: REDIS_URL, prefix });

  const runOnce = async (mode: 'plain' | 'sealed'): Promise<{ ops: number; ms: number }> => {
    const topic = `sealq-bench/${process.pid}/${randomBytes(4).toString('hex')}`;
    const client = (await mqttClient())!;
    let done = 0;
    let finish!: () => void;
    const all = new Promise<void>((resolve) => (finish = resolve));
    let report: (n: number) => void = () => undefined;
    const count = (): void => {
      if (++done % 100 === 0) report(done);
      if (done === total) finish();
    };
    let check: () => void = () => undefined;
    if (mode === 'plain') {
      client.on('message', count);
      await client.subscribeAsync(topic, { qos: 1 });
    } else {
      const errors: Error[] = [];
      const s = new SealedMqttSubscriber(client, { keyring: kr, topics: topic, replay, concurrency: CONCURRENCY, typ: 'order', deadLetter: { topic: (t) => `sealq-bench-dead/${t}` }, handler: count, onError: (e) => void errors.push(e) });
      await s.start();
      check = () => {
        if (s.stats.deadLettered + s.stats.retried > 0) throw new Error(`sanity check failed: ${s.stats.deadLettered} dead-lettered, ${s.stats.retried} retried (${errors[0]?.message})`);
      };
    }
    const p = await producer(topic, mode, total, kr);
    // The producer exits once its last message is acknowledged, which may be before the last is handled.
    p.child.on('error', () => undefined);
    report = (n) => void (p.child.connected && p.child.send({ handled: n }, () => undefined));
    const t0 = performance.now();
    await Promise.all([p.go(), all]);
    const ms = performance.now() - t0;
    check();
    await client.endAsync();
    await deleteByPrefix(REDIS_URL, prefix);
    return { ops: total, ms };
  };

  try {
    await runOnce('plain'); // warm-up: broker, connections, JIT
    await runOnce('sealed');
    const e2e = await h.compareRuns('publish + consume, 1 KiB, QoS 1', [
      { name: 'plain mqtt.js', run: () => runOnce('plain') },
      { name: 'sealq/mqtt (HS256, Redis replay store)', run: () => runOnce('sealed') },
    ]);
    h.ratio('sealed publish+consume / plain mqtt.js', e2e.ratio('sealq/mqtt (HS256, Redis replay store)', 'plain mqtt.js'), { atLeast: 0.85 });
  } finally {
    await replay.close();
  }
}
