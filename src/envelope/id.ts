import { randomFillSync } from 'node:crypto';

// Message ids are 128 random bits. Drawing them from a pooled buffer avoids one call into the
// CSPRNG per message (the same trick randomUUID uses).
const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let next = POOL_IDS;

/** 128 random bits, base64url (22 characters). */
export function randomId(): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const o = 16 * next++;
  return pool.toString('base64url', o, o + 16);
}
