import type { ConfirmChannel, Options } from 'amqplib';
import { InvalidArgumentError, SEAL_HEADER, sealDetachedAsync } from '../../index.js';
import type { Keyring, KeyringSource, SealOptions } from '../../index.js';
import { amqpContext } from './context.js';

export interface PublishSealedOptions extends Omit<SealOptions, 'ctx'> {
  /**
   * AMQP properties and headers. They travel next to the seal and are NOT signed (the broker and
   * anyone who can publish may set or change them), except `type`, which must equal the signed
   * typ, and `contentType`, which must equal the signed ct. The `sealq` header is reserved.
   */
  properties?: Options.Publish;
}

export interface PublishedSeal {
  /** The message id (the replay key), also set as the `messageId` property unless you gave one. */
  readonly id: string;
  /** The context it was sealed for: `amqp:<exchange>/<routingKey>`. */
  readonly ctx: string;
}

/**
 * The id seal chose, read back from the seal's first header (base64url JSON) rather than drawn
 * here: seal draws ids from a pooled buffer, and a CSPRNG call per message costs more than this.
 */
function sealedId(seal: string): string {
  const start = seal.indexOf('.') + 1;
  return (JSON.parse(Buffer.from(seal.slice(start, seal.indexOf('.', start)), 'base64url').toString('utf8')) as { id: string }).id;
}

function sameOrOne(signed: string | undefined, property: unknown, what: string, prop: string): string | undefined {
  if (property !== undefined && property !== null && typeof property !== 'string') throw new InvalidArgumentError(`properties.${prop} must be a string`);
  const p = (property ?? undefined) as string | undefined;
  if (signed !== undefined && p !== undefined && signed !== p) {
    throw new InvalidArgumentError(`${what} "${signed}" differs from properties.${prop} "${p}": consumers reject a message whose ${prop} property is not the signed ${what}`);
  }
  return signed ?? p;
}

/**
 * Seals `payload` for the address it is published to (ctx `amqp:<exchange>/<routingKey>`) and
 * publishes it on a confirm channel: the body is the payload bytes as they are, the seal goes in
 * the `sealq` header, typ in the `type` property. Resolves once the broker has confirmed the
 * message; rejects if the broker refuses it (nack) or the channel closes first.
 *
 * With `properties.mandatory`, a message no queue is bound for is returned by the broker (the
 * channel's `return` event) and still confirmed: listen for `return` if that matters to you.
 */
export async function publishSealed(
  channel: ConfirmChannel,
  keyring: Keyring | KeyringSource,
  exchange: string,
  routingKey: string,
  payload: string | Uint8Array,
  options: PublishSealedOptions = {},
): Promise<PublishedSeal> {
  if (typeof channel?.publish !== 'function' || typeof (channel as { waitForConfirms?: unknown }).waitForConfirms !== 'function') {
    throw new InvalidArgumentError('publishSealed needs a confirm channel (connection.createConfirmChannel())');
  }
  const { properties = {}, ...sealOptions } = options;
  const headers = { ...(properties.headers as Record<string, unknown> | undefined) };
  if (SEAL_HEADER in headers) throw new InvalidArgumentError(`the "${SEAL_HEADER}" header is reserved for the seal`);
  const ctx = amqpContext(exchange, routingKey);
  const typ = sameOrOne(sealOptions.typ, properties.type, 'typ', 'type');
  const ct = sameOrOne(sealOptions.ct, properties.contentType, 'ct', 'contentType');
  const { seal, payload: body } = await sealDetachedAsync(keyring, payload, { ...sealOptions, ctx, typ, ct });
  headers[SEAL_HEADER] = seal;
  const id = sealOptions.id ?? sealedId(seal);
  const publishOptions: Options.Publish = { messageId: id, ...properties, headers };
  if (typ !== undefined) publishOptions.type = typ;
  if (ct !== undefined) publishOptions.contentType = ct;
  const content = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  await new Promise<void>((resolve, reject) => {
    channel.publish(exchange, routingKey, content, publishOptions, (err) => {
      if (err === null || err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(`the broker refused the message (${String(err)})`));
    });
  });
  return { id, ctx };
}

/** publishSealed through the default exchange: straight to `queue` (ctx `amqp:/<queue>`). */
export function sendSealed(
  channel: ConfirmChannel,
  keyring: Keyring | KeyringSource,
  queue: string,
  payload: string | Uint8Array,
  options: PublishSealedOptions = {},
): Promise<PublishedSeal> {
  return publishSealed(channel, keyring, '', queue, payload, options);
}
