import type { IPublishPacket } from 'mqtt';
import { InvalidArgumentError, MalformedError, SEAL_HEADER } from '../../index.js';
import type { DetachedEnvelope, Envelope } from '../../index.js';

/**
 * Where the seal travels in an MQTT message:
 * - `properties` (MQTT 5): the body is the payload as it is, and one user property named `sealq`
 *   holds the detached seal (the headers carrier of docs/SPEC.md §5.6);
 * - `compact` (MQTT 3.1.1, which has no user properties, or by choice): the body is the compact
 *   envelope, `sealq1.<header>.<payload>.<sig>`, the payload inside it base64url-encoded (a third
 *   larger); subscribers must be told, with the same option.
 */
export type MqttCarrier = 'properties' | 'compact';

export type UserProperties = Record<string, string | string[]>;

export function checkCarrier(v: unknown): MqttCarrier {
  if (v === undefined) return 'properties';
  if (v !== 'properties' && v !== 'compact') throw new InvalidArgumentError(`carrier must be "properties" (MQTT 5 user properties) or "compact" (the compact envelope as the body), not ${JSON.stringify(v)}`);
  return v;
}

/** User properties sorted by name: brokers need not keep their order, so none is relied on, and the same input gives the same packet. */
export function sortedUserProperties(p: UserProperties): UserProperties {
  const out: UserProperties = {};
  for (const k of Object.keys(p).sort()) out[k] = p[k]!;
  return out;
}

/** The user properties of a sealed message: the caller's (which may not use the name `sealq`) and the seal. */
export function withSeal(user: UserProperties | undefined, seal: string): UserProperties {
  const p: UserProperties = {};
  for (const [k, v] of Object.entries(user ?? {})) {
    if (k === SEAL_HEADER) throw new InvalidArgumentError(`the "${SEAL_HEADER}" user property is reserved for the seal`);
    p[k] = v;
  }
  p[SEAL_HEADER] = seal;
  return sortedUserProperties(p);
}

/** The envelope a received message carries, for open(). */
export function envelopeOf(packet: Pick<IPublishPacket, 'payload' | 'properties'>, carrier: MqttCarrier): Envelope {
  const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
  if (carrier === 'compact') return body; // the bytes form of the compact envelope (SPEC §5.2)
  const seal = packet.properties?.userProperties?.[SEAL_HEADER];
  if (Array.isArray(seal)) throw new MalformedError(`the message has ${seal.length} "${SEAL_HEADER}" user properties; a sealed message has one`);
  return { seal, payload: body } as DetachedEnvelope;
}
