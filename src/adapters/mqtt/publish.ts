import { randomBytes } from 'node:crypto';
import type { IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
import { InvalidArgumentError, sealAsync, sealDetachedAsync } from '../../index.js';
import type { Keyring, KeyringSource, SealOptions } from '../../index.js';
import { checkCarrier, withSeal } from './carrier.js';
import type { MqttCarrier } from './carrier.js';
import { mqttContext } from './context.js';

export interface PublishSealedOptions extends Omit<SealOptions, 'ctx'> {
  /** Default 1: acknowledged by the broker (PUBACK) before publishSealed resolves. */
  qos?: 0 | 1 | 2;
  /** Publish as the topic's retained message (see docs/mqtt.md on retained messages). */
  retain?: boolean;
  /**
   * MQTT 5 properties. They travel next to the seal and are NOT signed, except `contentType`,
   * which must equal the signed ct when both are given. The `sealq` user property is reserved.
   */
  properties?: IPublishPacket['properties'];
  /**
   * `properties` (default): the body is the payload, the seal a user property (MQTT 5 only).
   * `compact`: the body is the compact envelope, for MQTT 3.1.1 connections, which have no user
   * properties; subscribers must be given the same carrier.
   */
  carrier?: MqttCarrier;
}

export interface PublishedSeal {
  /** The message id (the replay key). */
  readonly id: string;
  /** The context it was sealed for: `mqtt:<topic>`. */
  readonly ctx: string;
  readonly carrier: MqttCarrier;
}

/** MQTT 5, or 3.1.1 (protocol level 4) / 3.1 (3). */
export function protocolVersionOf(client: MqttClient): number {
  return client.options?.protocolVersion ?? 4;
}

/**
 * Seals `payload` for `topic` (ctx `mqtt:<topic>`) and publishes it. With QoS 1 or 2 it resolves
 * once the broker has acknowledged it. On an MQTT 3.1.1 connection, pass `carrier: 'compact'`:
 * the compact envelope is then the message body, since 3.1.1 has no user properties.
 */
export async function publishSealed(
  client: MqttClient,
  keyring: Keyring | KeyringSource,
  topic: string,
  payload: string | Uint8Array,
  options: PublishSealedOptions = {},
): Promise<PublishedSeal> {
  if (typeof client?.publishAsync !== 'function') throw new InvalidArgumentError('publishSealed needs an mqtt.js 5 client (await mqtt.connectAsync(url, options))');
  const { qos = 1, retain = false, properties, carrier: c, ...sealOptions } = options;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new InvalidArgumentError('qos must be 0, 1 or 2');
  const carrier = checkCarrier(c);
  const v5 = protocolVersionOf(client) === 5;
  if (carrier === 'properties' && !v5) {
    throw new InvalidArgumentError(`this client speaks MQTT ${protocolVersionOf(client) === 4 ? '3.1.1' : '3.1'}, which has no user properties: connect with protocolVersion 5, or pass carrier: 'compact' to send the compact envelope as the body (subscribers then need carrier: 'compact' too)`);
  }
  if (properties !== undefined && !v5) throw new InvalidArgumentError('properties need an MQTT 5 connection (protocolVersion 5)');
  const ctx = mqttContext(topic);
  if (sealOptions.ct !== undefined && properties?.contentType !== undefined && sealOptions.ct !== properties.contentType) {
    throw new InvalidArgumentError(`ct "${sealOptions.ct}" differs from properties.contentType "${properties.contentType}"`);
  }
  const ct = sealOptions.ct ?? properties?.contentType;
  const id = sealOptions.id ?? randomBytes(16).toString('base64url');
  const publish: IClientPublishOptions = { qos, retain };
  let body: Buffer;
  if (carrier === 'compact') {
    body = Buffer.from(await sealAsync(keyring, payload, { ...sealOptions, ctx, ct, id }), 'latin1');
    if (properties !== undefined) publish.properties = { ...properties };
  } else {
    const d = await sealDetachedAsync(keyring, payload, { ...sealOptions, ctx, ct, id });
    body = Buffer.isBuffer(d.payload) ? d.payload : Buffer.from(d.payload.buffer, d.payload.byteOffset, d.payload.byteLength);
    publish.properties = { ...properties, userProperties: withSeal(properties?.userProperties, d.seal) };
  }
  if (ct !== undefined && v5) publish.properties = { ...publish.properties, contentType: ct };
  await client.publishAsync(topic, body, publish);
  return { id, ctx, carrier };
}
