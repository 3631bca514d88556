import { DEFAULT_MAX_PAYLOAD_BYTES, maxCompactLength } from '../envelope/limits.js';
import { MalformedError } from '../errors.js';
import type { Io } from './command.js';
import { isTerminal, readBounded, trimOneNewline } from './stdin.js';

/**
 * The compact envelope on stdin, read with a bound: the largest envelope a payload of
 * `maxPayloadBytes` (default 1 MiB) can make, plus a CRLF. Anything longer is ERR_MALFORMED as soon
 * as the bound is passed, without reading on.
 */
export async function readEnvelope(io: Io, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): Promise<Buffer> {
  const max = maxCompactLength(maxPayloadBytes);
  if (isTerminal(io.stdin)) io.stderr.write('reading an envelope from stdin: paste it, then press Ctrl-D (or pipe in the output of sealq seal)\n');
  const input = await readBounded(io.stdin, max + 2);
  if (input.overLimit) {
    throw new MalformedError(`malformed envelope: stdin holds more than ${max + 2} bytes, larger than any envelope with a payload of at most ${maxPayloadBytes} bytes${maxPayloadBytes === DEFAULT_MAX_PAYLOAD_BYTES ? ' (raise the limit with --max-payload)' : ''}`);
  }
  if (input.data.length === 0) throw new MalformedError('malformed envelope: stdin is empty (pipe in the output of sealq seal)');
  return trimOneNewline(input.data);
}
