/**
 * Worker: verifies every job of the queue `emails` before the processor sees it, runs each
 * message once across all workers (Redis replay store), and fails anything forged, tampered
 * with, replayed, moved from another queue or renamed, with the reason in failedReason.
 *   node --import tsx examples/bullmq/worker.ts
 * Keyring: the public keyring file named by KEYRING_FILE (see README.md). Ctrl-C stops.
 */
import { Worker } from 'bullmq';
import { readKeyringFileSync } from 'sealq';
import { failedCode, sealedProcessor } from 'sealq/bullmq';
import { RedisReplayStore } from 'sealq/redis';

interface Email {
  to: string;
  template: string;
}

// A verifier holds public keys only; refuse a file with private material.
const keyring = readKeyringFileSync(process.env.KEYRING_FILE ?? '.keys/consumer-keyring.json', { allowPrivate: false });
const host = process.env.REDIS_HOST ?? '127.0.0.1';
const port = Number(process.env.REDIS_PORT ?? 6379);
// Producers and workers connect as the queue's Redis user (REDIS_USER / REDIS_PASSWORD)...
const connection = { host, port, username: process.env.REDIS_USER, password: process.env.REDIS_PASSWORD };
// ...and the replay store, shared by every worker, as a user of its own that they do not have (or
// to a Redis of its own): whoever can write to the queue must not be able to erase what it
// remembers. Before its first job the worker checks that; with REPLAY_REDIS_URL unset the store
// shares the queue's credentials, which it warns about (and refuses with NODE_ENV=production).
const replay = new RedisReplayStore({ redis: process.env.REPLAY_REDIS_URL ?? `redis://${host}:${port}` });

const worker = new Worker(
  'emails',
  sealedProcessor<Email, string>(async (job) => {
    // job.data is the verified data; job.seal.header is what was signed (kid, id, iat, exp...).
    console.log(`${job.name} to ${job.data.to} (job ${job.id}, message ${job.seal.header.id}, key ${job.seal.header.kid})`);
    return `sent ${job.data.template}`;
  }, { keyring, replay }),
  { connection, concurrency: 20 },
);

worker.on('failed', (job, err) => {
  const code = job === undefined ? undefined : failedCode(job);
  console.warn(`job ${job?.id} ${job?.name} failed${code === undefined ? '' : ` (${code})`}: ${err.message}`);
});
worker.on('error', (err) => console.warn(`worker: ${err.message}`));
console.log('worker on queue emails; Ctrl-C to stop');

process.once('SIGINT', async () => {
  await worker.close(); // lets running jobs finish
  await replay.close();
  console.log('stopped');
});
