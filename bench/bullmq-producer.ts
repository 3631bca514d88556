/**
 * The producer half of bench/bullmq.bench.ts (and of bench/bullmq-instructions.ts), in a process
 * of its own, as producers are, and long-lived, as they are: one process serves every round.
 * Says `ready`; on `{ queue }` opens that queue (plain, or sealed with sealedQueue and the keyring
 * it was given) and answers `{ opened }`; on `{ run: n }` enqueues the next n jobs of 1 KiB with
 * addBulk in batches and answers `{ done: n, cpuMs }` (its CPU time for them); on `exit` exits.
 * Not a bench file itself (no `.bench.ts`): the runner skips it.
 * argv: mode(plain|sealed) jobs batch; the Redis URL in SEALQ_BENCH_REDIS_URL (it may hold a
 * password), the keyring JWKS in SEALQ_KEYRING.
 */
import { Queue } from 'bullmq';
import { keyringFromEnv } from 'sealq';
import { sealedQueue } from 'sealq/bullmq';
import { connectionOf, jobData } from './bullmq-shared.js';

const [mode, jobsArg, batchArg] = process.argv.slice(2) as [string, string, string];
const batch = Number(batchArg);
const connection = connectionOf(process.env.SEALQ_BENCH_REDIS_URL!);
const keyring = mode === 'sealed' ? keyringFromEnv() : undefined;
// Built once, before any run: the job data is the user's, not the producer's work.
const data = Array.from({ length: Number(jobsArg) }, (_, i) => ({ name: 'order', data: jobData(i) }));
let raw: Queue | undefined;
let queue: Pick<Queue, 'addBulk'> | undefined;
let next = 0;

process.on('message', async (m: unknown) => {
  if (m === 'exit') {
    await raw?.close();
    process.exit(0);
  }
  const msg = m as { queue?: string; run?: number };
  if (typeof msg.queue === 'string') {
    await raw?.close();
    raw = new Queue(msg.queue, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: false } });
    queue = keyring === undefined ? raw : sealedQueue(raw, { keyring });
    await raw.waitUntilReady();
    next = 0;
    process.send!({ opened: msg.queue });
    return;
  }
  if (typeof msg.run !== 'number' || queue === undefined) return;
  const c0 = process.cpuUsage();
  const end = Math.min(data.length, next + msg.run);
  for (; next < end; next += batch) await queue.addBulk(data.slice(next, Math.min(end, next + batch)));
  next = end;
  const c = process.cpuUsage(c0);
  process.send!({ done: msg.run, cpuMs: (c.user + c.system) / 1000 });
});
process.send!('ready');
