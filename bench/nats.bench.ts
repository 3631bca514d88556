/**
 * NATS JetStream (sealq/nats) end to end: messages/s through a real stream, plain
 * (@nats-io/jetstream: js.publish, then a durable pull consumer acking each message) against
 * sealed (publishSealed; SealedNatsConsumer with the Redis replay store: verify, claim, handler,
 * complete, ack). HS256, 1 KiB bodies, the producer in a process of its own
 * (bench/nats-producer.ts), 100 messages pulled ahead on the consumer. Timed from the producer's
 * first publish to the last ack; the handler does nothing, which makes the overhead look as large
 * as it can. Rounds interleaved after an untimed warm-up of each.
 * Needs NATS with JetStream on 127.0.0.1:4222 (NATS_URL to override) and Redis (REDIS_URL);
 * skipped when either is unreachable.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Keyring } from 'sealq';
import { SealedNatsConsumer } from 'sealq/nats';
import { RedisReplayStore } from 'sealq/redis';
import type { Harness } from './harness.js';
import { startProducer } from './producer-process.js';
import type { ProducerProcess } from './producer-process.js';
import { deleteByPrefix, needRedis, REDIS_URL } from './redis-util.js';

const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';
const PAYLOAD_BYTES = 1024;
const PULL = 100;
const WINDOW = 500;

async function natsReachable(): Promise<NatsConnection | undefined> {
  try {
    return await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
  } catch {
    return undefined;
  }
}

/** The producer in a process of its own; `go()` starts it, resolving when all are acknowledged. */
function producer(subject: string, mode: 'plain' | 'sealed', count: number, keyring: Keyring): Promise<ProducerProcess> {
  return startProducer('./nats-producer.ts', [NATS_URL, subject, mode, String(count), String(WINDOW), String(PAYLOAD_BYTES)], keyring);
}

export async function run(h: Harness): Promise<void> {
  const kr = Keyring.generate('HS256');
  h.section('NATS JetStream end to end', `Messages of ${PAYLOAD_BYTES} bytes from a producer process (${WINDOW} awaiting their PubAck at a time) through one stream to one durable pull consumer (${PULL} pulled ahead, ack each); sealed: publishSealed (seal header and Nats-Msg-Id) and SealedNatsConsumer with the Redis replay store; plain: js.publish without a message id.`);
  const nc = await natsReachable();
  if (nc === undefined) {
    h.skip(`NATS is not reachable at ${NATS_URL}`);
    return;
  }
  if (!(await needRedis(h))) {
    await nc.close();
    return;
  }
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const total = h.quick ? 5_000 : 20_000;
  h.note(`nats-server ${nc.info?.version}; ${total.toLocaleString('en-US')} messages per run`);
  const prefix = `sealq-bench:nats:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const replay = new RedisReplayStore({ redis: REDIS_URL, prefix });

  const runOnce = async (mode: 'plain' | 'sealed'): Promise<{ ops: number; ms: number }> => {
    const stream = `sealq-bench-nats-${process.pid}-${randomBytes(4).toString('hex')}`;
    const subject = `bench.${stream}.orders`;
    await jsm.streams.add({ name: stream, subjects: [`bench.${stream}.>`] });
    await jsm.streams.add({ name: `${stream}-dead`, subjects: [`dead.${stream}`] });
    await jsm.consumers.add(stream, { durable_name: 'c', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    let done = 0;
    let finish!: () => void;
    const all = new Promise<void>((resolve) => (finish = resolve));
    const count = (): void => {
      if (++done === total) finish();
    };
    let stop: () => Promise<void>;
    if (mode === 'plain') {
      const messages = await (await js.consumers.get(stream, 'c')).consume({ max_messages: PULL });
      void (async () => {
        for await (const m of messages) {
          m.ack();
          count();
        }
      })();
      stop = () => messages.close().then(() => undefined);
    } else {
      const errors: Error[] = [];
      const c = new SealedNatsConsumer(nc, { keyring: kr, stream, consumer: 'c', replay, concurrency: PULL, typ: 'order', deadLetter: { subject: `dead.${stream}` }, handler: count, onError: (e) => void errors.push(e) });
      await c.start();
      stop = async () => {
        await c.stop();
        if (c.stats.deadLettered + c.stats.retried > 0) throw new Error(`sanity check failed: ${c.stats.deadLettered} dead-lettered, ${c.stats.retried} retried (${errors[0]?.message})`);
      };
    }
    const p = await producer(subject, mode, total, kr);
    const t0 = performance.now();
    await Promise.all([p.go(), all]);
    const ms = performance.now() - t0;
    await stop();
    await jsm.streams.delete(stream);
    await jsm.streams.delete(`${stream}-dead`);
    await deleteByPrefix(REDIS_URL, prefix);
    return { ops: total, ms };
  };

  try {
    await runOnce('plain'); // warm-up: server, connections, JIT
    await runOnce('sealed');
    const e2e = await h.compareRuns('publish + consume, 1 KiB', [
      { name: 'plain @nats-io/jetstream', run: () => runOnce('plain') },
      { name: 'sealq/nats (HS256, Redis replay store)', run: () => runOnce('sealed') },
    ]);
    h.ratio('sealed publish+consume / plain NATS JetStream', e2e.ratio('sealq/nats (HS256, Redis replay store)', 'plain @nats-io/jetstream'), { atLeast: 0.85 });
  } finally {
    await replay.close();
    await nc.close();
  }
}
