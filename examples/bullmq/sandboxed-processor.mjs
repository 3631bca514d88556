// A sandboxed processor file: BullMQ runs it in a child process.
//   new Worker('emails', fileURLToPath(new URL('./sandboxed-processor.mjs', import.meta.url)), { connection });
// The keyring and the replay store are created here, in the child. A sandboxed job does not know
// its Worker's connection, so the replay store's isolation check is given it (queueConnection).
import { readKeyringFileSync } from 'sealq';
import { sealedSandbox } from 'sealq/bullmq';
import { RedisReplayStore } from 'sealq/redis';

const keyring = readKeyringFileSync(process.env.KEYRING_FILE ?? '.keys/consumer-keyring.json', { allowPrivate: false });
const queueConnection = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'; // the queue's Redis user
const replay = new RedisReplayStore({ redis: process.env.REPLAY_REDIS_URL ?? queueConnection }); // the store's own user

export default sealedSandbox(async (job) => {
  console.log(`[pid ${process.pid}] ${job.name} to ${job.data.to}`);
  return `sent ${job.data.template}`;
}, { keyring, replay, queueConnection });
