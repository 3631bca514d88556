/**
 * openAsync: the signature work of EdDSA, ES256 and PS256 on libuv's thread pool, 64 messages in
 * flight, next to synchronous open one message after the other on the main thread. Wall clock:
 * the point is several cores working at once, which CPU time would not show as a gain.
 *
 * A busy shared machine moves wall-clock ratios both ways (a process with five runnable threads
 * also gets a larger share of a contended machine than one with one), so each algorithm also gets
 * CPU time per message by thread (Linux: /proc/self/task/<tid>/schedstat): what the main thread
 * spends per message, and what all threads spend. From those, the most openAsync can gain on this
 * machine's cores when nothing else runs: all / max(main, all / cores), a figure load cannot move.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Keyring, open, openAsync, seal } from 'sealq';
import type { Alg } from 'sealq';
import type { Harness } from './harness.js';

const IN_FLIGHT = 64;
const payload = Buffer.alloc(1024, 'x');
const opts = { ctx: 'orders', typ: 'order.created' };

/** CPU time (ns) of the main thread and of all threads of this process, or undefined off Linux. */
function threadCpu(): { main: number; all: number } | undefined {
  try {
    const ns = (tid: string): number => Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return { main: ns(String(process.pid)), all: readdirSync('/proc/self/task').reduce((s, t) => s + ns(t), 0) };
  } catch {
    return undefined;
  }
}

interface ByThread {
  syncMain: number;
  syncAll: number;
  asyncMain: number;
  asyncAll: number;
}

/** µs per message by thread, sync one after the other and async IN_FLIGHT at a time, over `rounds` x IN_FLIGHT messages. */
async function byThread(kr: Keyring, envs: string[], rounds: number): Promise<ByThread | undefined> {
  const a = threadCpu();
  if (a === undefined) return undefined;
  for (let r = 0; r < rounds; r++) for (const e of envs) open(kr, e, opts);
  const b = threadCpu()!;
  for (let r = 0; r < rounds; r++) await Promise.all(envs.map((e) => openAsync(kr, e, opts)));
  const c = threadCpu()!;
  const per = (ns: number): number => ns / 1000 / (rounds * envs.length);
  return { syncMain: per(b.main - a.main), syncAll: per(b.all - a.all), asyncMain: per(c.main - b.main), asyncAll: per(c.all - b.all) };
}

async function one(h: Harness, alg: Alg, rows: string[][], target?: number): Promise<void> {
  const kr = Keyring.generate(alg);
  const envs = Array.from({ length: IN_FLIGHT }, () => seal(kr, payload, opts));
  if (!(await openAsync(kr, envs[0]!, opts)).payload.equals(payload)) throw new Error('openAsync sanity check failed');
  const c = await h.compare(`${alg} open: ${IN_FLIGHT} messages`, [
    { name: `sealq open, one after the other`, fn: () => { for (const e of envs) open(kr, e, opts); }, ops: IN_FLIGHT },
    { name: `sealq openAsync, ${IN_FLIGHT} in flight`, fn: () => Promise.all(envs.map((e) => openAsync(kr, e, opts))), ops: IN_FLIGHT },
  ], { clock: 'wall' });
  h.ratio(`${alg} openAsync (${IN_FLIGHT} in flight) / open (one after the other)`, c.ratio(`sealq openAsync, ${IN_FLIGHT} in flight`, 'sealq open, one after the other'), target === undefined ? {} : { atLeast: target });
  const t = await byThread(kr, envs, h.quick ? 20 : 80);
  if (t === undefined) return;
  const cores = availableParallelism();
  const bound = t.syncAll / Math.max(t.asyncMain, t.asyncAll / cores);
  rows.push([alg, `${t.syncMain.toFixed(1)} µs`, `${t.asyncMain.toFixed(1)} µs`, `${t.syncAll.toFixed(1)} µs`, `${t.asyncAll.toFixed(1)} µs`, `${(Math.floor(bound * 100) / 100).toFixed(2)}x`]);
  h.ratio(`${alg} openAsync / open, most it can gain on ${cores} cores (from CPU time by thread)`, bound, { about: Math.min(cores, 2) });
}

export async function run(h: Harness): Promise<void> {
  h.note(`1 KiB payload; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${availableParallelism()} cores; the physical limit is the number of cores.`);
  h.section('Asynchronous open on the thread pool', 'HMAC is not measured: openAsync keeps it on the main thread, where it is cheaper than a thread-pool hop.');
  const rows: string[][] = [];
  await one(h, 'EdDSA', rows, 1.6);
  await one(h, 'ES256', rows, 1.6);
  await one(h, 'PS256', rows);
  if (rows.length > 0) {
    h.section('CPU time per message, by thread', 'open one after the other, then openAsync 64 in flight, same messages. Main thread: what blocks the event loop. All threads: main thread, thread pool, GC. The last column: all (open) / max(main (openAsync), all (openAsync) / cores).');
    h.table(['alg', 'open: main thread', 'openAsync: main thread', 'open: all threads', 'openAsync: all threads', 'most openAsync can gain'], rows, [1, 2, 3, 4, 5]);
  }
}
