/**
 * openAsync: the signature work of EdDSA, ES256 and PS256 on libuv's thread pool, 64 messages in
 * flight, next to synchronous open one message after the other on the main thread. Wall clock:
 * the point is several cores working at once, which CPU time would not show as a gain.
 */
import { Keyring, open, openAsync, seal } from 'sealq';
import type { Alg } from 'sealq';
import type { Harness } from './harness.js';

const IN_FLIGHT = 64;
const payload = Buffer.alloc(1024, 'x');
const opts = { ctx: 'orders', typ: 'order.created' };

async function one(h: Harness, alg: Alg, target?: number): Promise<void> {
  const kr = Keyring.generate(alg);
  const envs = Array.from({ length: IN_FLIGHT }, () => seal(kr, payload, opts));
  if (!(await openAsync(kr, envs[0]!, opts)).payload.equals(payload)) throw new Error('openAsync sanity check failed');
  const c = await h.compare(`${alg} open: ${IN_FLIGHT} messages`, [
    { name: `sealq open, one after the other`, fn: () => { for (const e of envs) open(kr, e, opts); }, ops: IN_FLIGHT },
    { name: `sealq openAsync, ${IN_FLIGHT} in flight`, fn: () => Promise.all(envs.map((e) => openAsync(kr, e, opts))), ops: IN_FLIGHT },
  ], { clock: 'wall' });
  h.ratio(`${alg} openAsync (${IN_FLIGHT} in flight) / open (one after the other)`, c.ratio(`sealq openAsync, ${IN_FLIGHT} in flight`, 'sealq open, one after the other'), target === undefined ? {} : { atLeast: target });
}

export async function run(h: Harness): Promise<void> {
  h.note(`1 KiB payload; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; the physical limit is the number of cores.`);
  h.section('Asynchronous open on the thread pool', 'HMAC is not measured: openAsync keeps it on the main thread, where it is cheaper than a thread-pool hop.');
  await one(h, 'EdDSA', 1.6);
  await one(h, 'ES256', 1.6);
  await one(h, 'PS256');
}
