/**
 * Stream replies in every shape ioredis gives them. Through call()/callBuffer() ioredis passes
 * the server's reply on as it came, so XREADGROUP's per-stream result depends on the protocol:
 * - RESP2 (ioredis 5, or ioredis 6 with `protocol: 2`): [[stream, entries], ...];
 * - RESP3 (the ioredis 6 default), replyMapping "legacy": the map flattened, [stream, entries, ...];
 * - RESP3, replyMapping "resp3": an object keyed by stream name ({ stream: entries }).
 * Entries themselves ([id, [field, value, ...]]) and XAUTOCLAIM's reply are the same in all three.
 */
import { SealqError } from '../../errors.js';

const unexpected = (what: string): SealqError =>
  new SealqError(`unexpected XREADGROUP reply from Redis (${what}): is the client an ioredis client (version 5 or 6)?`);

/** One stream entry: its id and fields (name, value, ...); fields null when it was deleted while pending. */
export type StreamEntry = [id: Buffer, fields: Buffer[] | null];

/** The entries of an XREADGROUP / XREAD reply, every stream's in turn; none for a timed-out read (null). */
export function readReplyEntries(reply: unknown): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  const lists: unknown[] = [];
  if (Array.isArray(reply)) {
    if (reply.length > 0 && Array.isArray(reply[0])) {
      for (const pair of reply) lists.push((pair as unknown[])[1]); // RESP2: [name, entries] pairs
    } else {
      for (let i = 1; i < reply.length; i += 2) lists.push(reply[i]); // RESP3 map, flattened
    }
  } else if (reply instanceof Map) {
    lists.push(...reply.values());
  } else if (typeof reply === 'object') {
    lists.push(...Object.values(reply));
  } else {
    throw unexpected(typeof reply);
  }
  const out: StreamEntry[] = [];
  for (const list of lists) {
    if (list === null || list === undefined) continue;
    if (!Array.isArray(list)) throw unexpected("a stream's entries are not a list");
    for (const e of list) out.push(e as StreamEntry);
  }
  return out;
}
