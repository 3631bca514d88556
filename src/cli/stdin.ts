import type { Readable } from 'node:stream';

export interface BoundedInput {
  /** At most `limit` bytes (when overLimit, the first `limit` bytes). */
  readonly data: Buffer;
  /** True when the input held more than `limit` bytes; reading stopped there. */
  readonly overLimit: boolean;
}

/**
 * Reads a stream up to `limit` bytes and stops: with more input, it gives up at the first byte
 * over the limit and destroys the stream, so hostile input (`sealq open` on 50 MB) costs at most
 * `limit` plus one chunk of memory and is answered without waiting for the writer to finish.
 */
export async function readBounded(stream: Readable, limit: number): Promise<BoundedInput> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    if (total + b.length > limit) {
      chunks.push(b.subarray(0, limit - total));
      stream.destroy(); // leaving the loop early destroys it too; explicit, because this is the point
      return { data: Buffer.concat(chunks, limit), overLimit: true };
    }
    chunks.push(b);
    total += b.length;
  }
  return { data: Buffer.concat(chunks, total), overLimit: false };
}

/**
 * Drops ONE trailing line ending (LF or CRLF): `sealq seal` prints the envelope with a newline,
 * and shells or editors add one. A compact envelope never contains either character.
 */
export function trimOneNewline(b: Buffer): Buffer {
  if (b.length >= 2 && b[b.length - 2] === 0x0d && b[b.length - 1] === 0x0a) return b.subarray(0, b.length - 2);
  if (b.length >= 1 && b[b.length - 1] === 0x0a) return b.subarray(0, b.length - 1);
  return b;
}

/** True when stdin is a terminal: the user is about to type, so say what is expected and how to end it. */
export function isTerminal(stream: Readable): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}
