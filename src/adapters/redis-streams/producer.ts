import type { Cluster, Redis } from 'ioredis';
import { InvalidArgumentError } from '../../errors.js';
import type { Keyring, KeyringSource } from '../../keys/keyring.js';
import { sealAsync } from '../../seal.js';
import type { SealOptions } from '../../seal.js';

/** The entry field that carries the compact envelope. */
export const ENVELOPE_FIELD = 'sealq';

export interface XAddSealedOptions extends Omit<SealOptions, 'ctx'> {
  /** Context the message is sealed for. Default: the stream name (consumers expect that by default). */
  ctx?: string;
  /**
   * Extra entry fields, carried next to the envelope but NOT signed: anyone who can write to
   * Redis can change them. Put whatever must be trusted in the payload.
   */
  fields?: Readonly<Record<string, string | number | Buffer>>;
  /** Trim the stream to about this many entries (`MAXLEN ~ n`). */
  maxLen?: number;
  /** Entry id (default `*`: Redis assigns one). */
  entryId?: string;
}

/**
 * Seals `payload` for `stream` (ctx = the stream name unless given, typ = options.typ) and
 * appends it with XADD, the compact envelope in field `sealq`. Returns the entry id.
 */
export async function xaddSealed(
  redis: Redis | Cluster,
  keyring: Keyring | KeyringSource,
  stream: string,
  payload: string | Uint8Array,
  options: XAddSealedOptions = {},
): Promise<string> {
  if (typeof stream !== 'string' || stream.length === 0) throw new InvalidArgumentError('stream must be a non-empty stream name');
  const { fields, maxLen, entryId, ctx, ...sealOptions } = options;
  const envelope = await sealAsync(keyring, payload, { ...sealOptions, ctx: ctx ?? stream });
  const args: Array<string | number | Buffer> = [stream];
  if (maxLen !== undefined) {
    if (!Number.isSafeInteger(maxLen) || maxLen < 1) throw new InvalidArgumentError('maxLen must be a positive whole number');
    args.push('MAXLEN', '~', maxLen);
  }
  args.push(entryId ?? '*', ENVELOPE_FIELD, envelope);
  for (const [name, value] of Object.entries(fields ?? {})) {
    if (name === ENVELOPE_FIELD) throw new InvalidArgumentError(`field "${ENVELOPE_FIELD}" is reserved for the envelope`);
    args.push(name, value);
  }
  const id = await redis.call('XADD', ...args);
  return String(id);
}
