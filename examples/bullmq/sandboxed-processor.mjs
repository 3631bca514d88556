// A sandboxed processor file: BullMQ runs it in a child process.
//   new Worker('emails', fileURLToPath(new URL('./sandboxed-processor.mjs', import.meta.url)), { connection });
// The keyring and the replay store are created here, in the child.
import { readKeyringFileSync } from 'sealq';
import { sealedSandbox } from 'sealq/bullmq';
import { RedisReplayStore } from 'sealq/redis';

const keyring = readKeyringFileSync(process.env.KEYRING_FILE ?? '.keys/consumer-keyring.json', { allowPrivate: false });
const replay = new RedisReplayStore({ redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });

export default sealedSandbox(async (job) => {
  console.log(`[pid ${process.pid}] ${job.name} to ${job.data.to}`);
  return `sent ${job.data.template}`;
}, { keyring, replay });
