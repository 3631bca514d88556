/**
 * Producer: seals every job it adds to the BullMQ queue `emails` (the queue name and the job
 * name are signed with the data), including a delayed one and a job scheduler.
 *   node --import tsx examples/bullmq/producer.ts
 * Keyring: the private keyring file named by KEYRING_FILE (see README.md).
 */
import { Queue } from 'bullmq';
import { readKeyringFileSync } from 'sealq';
import { sealedQueue } from 'sealq/bullmq';

interface Email {
  to: string;
  template: string;
}

const keyring = readKeyringFileSync(process.env.KEYRING_FILE ?? '.keys/producer-keyring.json');
// The queue's Redis user: it may write BullMQ's keys, never the replay store's (see README.md).
const connection = { host: process.env.REDIS_HOST ?? '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379), username: process.env.REDIS_USER, password: process.env.REDIS_PASSWORD };

// Your Queue, as before; only what it adds is now sealed.
const emails = sealedQueue<Email>(new Queue('emails', { connection }), {
  keyring,
  grace: '24h', // a job must be processed (retries included) within 24h of being due
});

// Retries need attempts: a processor error, or the replay store being unreachable, is retried.
const retry = { attempts: 5, backoff: { type: 'exponential', delay: 1000 } };

const job = await emails.add('welcome', { to: 'ada@example.com', template: 'welcome' }, retry);
console.log(`added job ${job.id}: welcome`);

await emails.addBulk([
  { name: 'receipt', data: { to: 'grace@example.com', template: 'receipt' }, opts: retry },
  { name: 'receipt', data: { to: 'linus@example.com', template: 'receipt' }, opts: retry },
]);
console.log('added 2 receipts');

// Delayed: the seal is valid from now + 10 s (not earlier, even if promoted) until 24h after that.
await emails.add('reminder', { to: 'ada@example.com', template: 'reminder' }, { ...retry, delay: 10_000 });
console.log('added a reminder, due in 10 s');

// A scheduler: one seal for every run; each run (its own job id) is allowed once.
await emails.upsertJobScheduler('weekly-digest', { every: 7 * 24 * 3_600_000 }, { name: 'digest', data: { to: 'team@example.com', template: 'digest' }, opts: retry });
console.log('upserted the weekly-digest scheduler (re-upsert it on every deploy: its seal lasts 90 days)');

await emails.close();
