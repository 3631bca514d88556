import { randomBytes } from 'node:crypto';
import type { JetStreamClient, JetStreamPublishOptions } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';
import { InvalidArgumentError, SEAL_HEADER, sealDetachedAsync } from '../../index.js';
import type { Keyring, KeyringSource, SealOptions } from '../../index.js';
import { natsContext } from './context.js';

/** The header JetStream deduplicates on: set to the sealed message id. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

export interface PublishSealedOptions extends Omit<SealOptions, 'ctx'> {
  /**
   * JetStream publish options (expect, timeout, retries, headers). Headers travel next to the seal
   * and are NOT signed; the `sealq` header is reserved. The message id is the sealed id.
   */
  publish?: Partial<Omit<JetStreamPublishOptions, 'msgID'>>;
}

export interface PublishedSeal {
  /** The message id (the replay key), also sent as `Nats-Msg-Id`. */
  readonly id: string;
  /** The context it was sealed for: `nats:<subject>`. */
  readonly ctx: string;
  /** The stream that stored it, and where. */
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already held a message with this id inside its duplicate window, and dropped this copy. */
  readonly duplicate: boolean;
}

/**
 * Seals `payload` for `subject` (ctx `nats:<subject>`) and publishes it to JetStream: the body is
 * the payload bytes as they are, the seal goes in the `sealq` header, the message id in
 * `Nats-Msg-Id`, so a copy published again within the stream's duplicate window is dropped by
 * the broker itself. Resolves with the stream's acknowledgement.
 */
export async function publishSealed(
  js: JetStreamClient,
  keyring: Keyring | KeyringSource,
  subject: string,
  payload: string | Uint8Array,
  options: PublishSealedOptions = {},
): Promise<PublishedSeal> {
  if (typeof js?.publish !== 'function') throw new InvalidArgumentError('publishSealed needs a JetStream client (jetstream(nc) from @nats-io/jetstream)');
  const { publish = {}, ...sealOptions } = options;
  const ctx = natsContext(subject);
  // Chosen here rather than inside seal so it can be the Nats-Msg-Id too (same format: 128 random bits, base64url).
  const id = sealOptions.id ?? randomBytes(16).toString('base64url');
  const h: MsgHdrs = natsHeaders();
  // First: the server finds Nats-Msg-Id by searching the header block for its first occurrence,
  // which must not be inside some other header's value.
  h.set(MSG_ID_HEADER, id);
  for (const [k, vs] of publish.headers ?? []) {
    if (k.toLowerCase() === SEAL_HEADER) throw new InvalidArgumentError(`the "${SEAL_HEADER}" header is reserved for the seal`);
    if (k.toLowerCase() === MSG_ID_HEADER.toLowerCase()) throw new InvalidArgumentError(`the ${MSG_ID_HEADER} header is the sealed id: give it as the id option`);
    for (const v of vs) h.append(k, v);
  }
  const { seal, payload: body } = await sealDetachedAsync(keyring, payload, { ...sealOptions, ctx, id });
  h.set(SEAL_HEADER, seal);
  // Not as the msgID option: the client would move the header to the end of the block.
  const ack = await js.publish(subject, body, { ...publish, headers: h });
  return { id, ctx, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
}
