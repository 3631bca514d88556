import { InvalidArgumentError } from '../../index.js';

/**
 * The ctx of an MQTT message is the topic it is published to (`mqtt:<topic>`). The broker
 * delivers a message under the topic it was published to, so a subscriber checks the signed topic
 * against the topic each message arrives on: a copy published to another topic is
 * ERR_CONTEXT_MISMATCH, even when the subscriber's filter (`orders/#`) covers both.
 */
export const MQTT_CTX_PREFIX = 'mqtt:';

// MQTT strings are at most 65,535 bytes; this limit keeps a ctx far below the envelope's header limit.
const MAX_TOPIC = 1024;

/** The ctx a message published to `topic` is sealed for. */
export function mqttContext(topic: string): string {
  if (typeof topic !== 'string' || topic.length === 0) throw new InvalidArgumentError('topic must be a non-empty MQTT topic name');
  if (topic.length > MAX_TOPIC) throw new InvalidArgumentError(`topic is longer than ${MAX_TOPIC} characters`);
  if (/[#+\0]/.test(topic)) throw new InvalidArgumentError(`topic "${topic}" has a wildcard or NUL: publish to a topic name, not a filter`);
  return MQTT_CTX_PREFIX + topic;
}

/** The topic inside an MQTT ctx, or undefined when `ctx` is not one. */
export function parseMqttContext(ctx: string): string | undefined {
  return ctx.startsWith(MQTT_CTX_PREFIX) && ctx.length > MQTT_CTX_PREFIX.length ? ctx.slice(MQTT_CTX_PREFIX.length) : undefined;
}

/** A subscription: its filter, and the share group when it is a shared subscription (`$share/<group>/<filter>`). */
export interface Subscription {
  readonly filter: string;
  readonly group?: string;
}

/** Splits `$share/<group>/<filter>` and checks the filter: `#` only as the last level, `+` and `#` only as whole levels. */
export function parseSubscription(v: unknown): Subscription {
  if (typeof v !== 'string' || v.length === 0) throw new InvalidArgumentError('each topic must be a non-empty MQTT topic filter');
  let filter = v;
  let group: string | undefined;
  if (v.startsWith('$share/')) {
    const rest = v.slice('$share/'.length);
    const slash = rest.indexOf('/');
    group = rest.slice(0, Math.max(0, slash));
    filter = rest.slice(slash + 1);
    if (slash <= 0 || filter.length === 0 || /[#+]/.test(group)) throw new InvalidArgumentError(`"${v}" is not a shared subscription: $share/<group>/<filter>`);
  }
  const levels = filter.split('/');
  levels.forEach((l, i) => {
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) throw new InvalidArgumentError(`topic filter "${filter}": "#" must be the whole last level`);
    if (l.includes('+') && l !== '+') throw new InvalidArgumentError(`topic filter "${filter}": "+" must be a whole level`);
  });
  return group === undefined ? { filter } : { filter, group };
}

/**
 * MQTT topic matching: `+` matches one level, a final `#` any number of levels (the parent
 * included); a topic starting with `$` is not matched by a wildcard in the first level.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
