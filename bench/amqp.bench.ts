/**
 * RabbitMQ (sealq/amqp) end to end, and the headers carrier alone.
 * - End to end: messages/s through a real RabbitMQ queue, plain amqplib (publish on a confirm
 *   channel, consume and ack) against sealed (sendSealed; SealedAmqpConsumer with the Redis replay
 *   store: verify, claim, handler, complete, ack). HS256, 1 KiB bodies, the producer in a process
 *   of its own (bench/amqp-producer.ts), prefetch 100 on the consumer. Timed from the producer's
 *   first publish to the last ack; the handler does nothing, which makes the overhead look as
 *   large as it can. Rounds interleaved after an untimed warm-up of each.
 * - The headers carrier: sealDetached + open of 1 KiB against raw HMAC-SHA256 sign + verify.
 * Needs RabbitMQ on 127.0.0.1:5672 (AMQP_URL to override) and Redis (REDIS_URL); skipped when
 * either is unreachable. The micro-benchmark needs neither.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect } from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { Keyring, open, sealDetached } from 'sealq';
import { SealedAmqpConsumer } from 'sealq/amqp';
import { RedisReplayStore } from 'sealq/redis';
import type { Harness } from './harness.js';
import { startProducer } from './producer-process.js';
import type { ProducerProcess } from './producer-process.js';
import { deleteByPrefix, needRedis, REDIS_URL } from './redis-util.js';

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const PAYLOAD_BYTES = 1024;
const PREFETCH = 100;
const WINDOW = 500;

async function amqpReachable(): Promise<ChannelModel | undefined> {
  try {
    return await connect(AMQP_URL, { timeout: 1000 });
  } catch {
    return undefined;
  }
}

/** The producer in a process of its own; `go()` starts it, resolving when all are acknowledged. */
function producer(queue: string, mode: 'plain' | 'sealed', count: number, keyring: Keyring): Promise<ProducerProcess> {
  return startProducer('./amqp-producer.ts', [AMQP_URL, queue, mode, String(count), String(WINDOW), String(PAYLOAD_BYTES)], keyring);
}

export async function run(h: Harness): Promise<void> {
  const kr = Keyring.generate('HS256');
  const payload = randomBytes(PAYLOAD_BYTES);

  h.section('Headers carrier (AMQP, NATS, MQTT 5)', `sealDetached + open of a ${PAYLOAD_BYTES}-byte payload (HS256), against raw HMAC-SHA256 over the payload, then verified with timingSafeEqual. No payload is base64url-encoded in this carrier.`);
  const secret = randomBytes(32);
  const micro = await h.compare(
    'seal + open, 1 KiB',
    [
      {
        name: 'raw HMAC sign + verify',
        fn: () => {
          const tag = createHmac('sha256', secret).update(payload).digest();
          return timingSafeEqual(tag, createHmac('sha256', secret).update(payload).digest());
        },
      },
      { name: 'sealDetached + open', fn: () => open(kr, sealDetached(kr, payload, { ctx: 'amqp:/orders' }), { ctx: 'amqp:/orders' }) },
    ],
    { clock: 'cpu' },
  );
  h.ratio('headers carrier seal+open / raw HMAC', micro.ratio('sealDetached + open', 'raw HMAC sign + verify'), { atLeast: 0.6 });

  h.section('RabbitMQ end to end', `Messages of ${PAYLOAD_BYTES} bytes from a producer process (confirm channel, ${WINDOW} unconfirmed at a time) through one queue to one consumer (prefetch ${PREFETCH}, ack each); sealed: sendSealed and SealedAmqpConsumer with the Redis replay store.`);
  const conn = await amqpReachable();
  if (conn === undefined) {
    h.skip(`RabbitMQ is not reachable at ${AMQP_URL.replace(/\/\/[^@/]*@/, '//')}`);
    return;
  }
  conn.on('error', () => undefined);
  if (!(await needRedis(h))) {
    await conn.close();
    return;
  }
  const admin = await conn.createChannel();
  const server = conn.connection.serverProperties;
  const total = h.quick ? 5_000 : 20_000;
  h.note(`RabbitMQ ${server.version}; ${total.toLocaleString('en-US')} messages per run`);
  const prefix = `sealq-bench:amqp:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const replay = new RedisReplayStore({ redis: REDIS_URL, prefix });

  const runOnce = async (mode: 'plain' | 'sealed'): Promise<{ ops: number; ms: number }> => {
    const queue = `sealq-bench-amqp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await admin.assertQueue(queue, { durable: false });
    let done = 0;
    let finish!: () => void;
    const all = new Promise<void>((resolve) => (finish = resolve));
    const count = (): void => {
      if (++done === total) finish();
    };
    let stop: () => Promise<void>;
    if (mode === 'plain') {
      const ch = await conn.createChannel();
      await ch.prefetch(PREFETCH);
      await ch.consume(queue, (m) => {
        if (m === null) return;
        ch.ack(m);
        count();
      });
      stop = () => ch.close();
    } else {
      const errors: Error[] = [];
      const c = new SealedAmqpConsumer(conn, { keyring: kr, queue, replay, prefetch: PREFETCH, typ: 'order', handler: count, onError: (e) => void errors.push(e) });
      await c.start();
      stop = async () => {
        await c.stop();
        if (c.stats.deadLettered + c.stats.retried > 0) throw new Error(`sanity check failed: ${c.stats.deadLettered} dead-lettered, ${c.stats.retried} retried (${errors[0]?.message})`);
      };
    }
    const p = await producer(queue, mode, total, kr);
    const t0 = performance.now();
    await Promise.all([p.go(), all]);
    const ms = performance.now() - t0;
    await stop();
    await admin.deleteQueue(queue);
    await admin.deleteQueue(`${queue}.dead`);
    await deleteByPrefix(REDIS_URL, prefix);
    return { ops: total, ms };
  };

  try {
    await runOnce('plain'); // warm-up: broker, connections, JIT
    await runOnce('sealed');
    const e2e = await h.compareRuns('publish + consume, 1 KiB', [
      { name: 'plain amqplib', run: () => runOnce('plain') },
      { name: 'sealq/amqp (HS256, Redis replay store)', run: () => runOnce('sealed') },
    ]);
    h.ratio('sealed publish+consume / plain amqplib', e2e.ratio('sealq/amqp (HS256, Redis replay store)', 'plain amqplib'), { atLeast: 0.85 });
  } finally {
    await replay.close();
    await conn.close().catch(() => undefined);
  }
}
