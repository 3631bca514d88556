/**
 * What bench/bullmq.bench.ts and its producer process (bench/bullmq-producer.ts) share: the
 * connection options and the job data. Not a bench file itself (no `.bench.ts`): the runner skips it.
 */
export const PAYLOAD_BYTES = 1024;

export interface Connection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
}

/** BullMQ takes ioredis options, not a URL. */
export function connectionOf(url: string): Connection {
  const u = new URL(url);
  const c: Connection = { host: u.hostname, port: Number(u.port || 6379) };
  if (u.username !== '') c.username = decodeURIComponent(u.username);
  if (u.password !== '') c.password = decodeURIComponent(u.password);
  if (u.pathname.length > 1) c.db = Number(u.pathname.slice(1));
  if (u.protocol === 'rediss:') c.tls = {};
  return c;
}

/** A 1 KiB JSON job (its JSON text is exactly 1,024 bytes). */
export function jobData(i: number): { orderId: string; customer: string; items: Array<{ sku: string; qty: number }>; note: string } {
  const base = { orderId: `ord_${String(i).padStart(8, '0')}`, customer: 'cus_7F2Q', items: [{ sku: 'A-100', qty: 2 }, { sku: 'B-220', qty: 1 }], note: '' };
  return { ...base, note: 'x'.repeat(PAYLOAD_BYTES - Buffer.byteLength(JSON.stringify(base))) };
}
