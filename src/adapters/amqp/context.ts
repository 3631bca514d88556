import { InvalidArgumentError } from '../../index.js';

/**
 * The ctx of an AMQP message is what its producer addresses: an exchange and a routing key
 * (`amqp:<exchange>/<routing key>`; the default exchange is empty, so a message sent straight to
 * queue `jobs` is `amqp:/jobs`). Not the queue: a topic or fanout exchange delivers one message
 * to several queues, and the producer does not know them; a moved copy (another queue, another
 * binding) carries an address the consumer did not state, so it is ERR_CONTEXT_MISMATCH.
 */
export interface AmqpAddress {
  /** Exchange name; '' is the default exchange (the routing key is then the queue name). */
  readonly exchange: string;
  /**
   * Routing key. Where a consumer states what it accepts, a topic pattern: `*` stands for one
   * dot-separated word and `#` for zero or more, as in a topic binding.
   */
  readonly routingKey: string;
}

export const AMQP_CTX_PREFIX = 'amqp:';

// AMQP 0-9-1 names and routing keys are short strings: at most 255 bytes.
const MAX_SHORTSTR = 255;

function shortstr(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${what} must be a string`);
  if (Buffer.byteLength(v, 'utf8') > MAX_SHORTSTR) throw new InvalidArgumentError(`${what} is longer than ${MAX_SHORTSTR} bytes, the AMQP limit`);
  return v;
}

/** `/` separates exchange from routing key, so it is escaped in the exchange name (and `%`, to keep that reversible). */
const escapeExchange = (e: string): string => e.replace(/%/g, '%25').replace(/\//g, '%2F');
const unescapeExchange = (e: string): string => e.replace(/%2F/g, '/').replace(/%25/g, '%');

/** The ctx a message published to `exchange` with `routingKey` is sealed for. */
export function amqpContext(exchange: string, routingKey: string): string {
  return AMQP_CTX_PREFIX + escapeExchange(shortstr(exchange, 'exchange')) + '/' + shortstr(routingKey, 'routingKey');
}

/** The address inside an AMQP ctx, or undefined when `ctx` is not one. */
export function parseAmqpContext(ctx: string): AmqpAddress | undefined {
  if (!ctx.startsWith(AMQP_CTX_PREFIX)) return undefined;
  const rest = ctx.slice(AMQP_CTX_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return undefined;
  const escaped = rest.slice(0, slash);
  if (/%(?!25|2F)/.test(escaped)) return undefined; // not produced by amqpContext
  return { exchange: unescapeExchange(escaped), routingKey: rest.slice(slash + 1) };
}

/** True when the routing key pattern has a `*` or `#` word (a topic pattern, not one key). */
export function isTopicPattern(pattern: string): boolean {
  return pattern.split('.').some((w) => w === '*' || w === '#');
}

/**
 * Topic matching as RabbitMQ does it: words split on `.`, `*` matches exactly one word, `#` zero
 * or more. Dynamic programming over words: linear in pattern x key, no backtracking blow-up.
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = pattern.split('.');
  const k = routingKey.split('.');
  // ok[j]: the pattern words seen so far match the first j key words.
  let ok = new Array<boolean>(k.length + 1).fill(false);
  ok[0] = true;
  for (const w of p) {
    const next = new Array<boolean>(k.length + 1).fill(false);
    if (w === '#') {
      let any = false;
      for (let j = 0; j <= k.length; j++) {
        any ||= ok[j]!;
        next[j] = any;
      }
    } else {
      for (let j = 1; j <= k.length; j++) next[j] = ok[j - 1]! && (w === '*' || w === k[j - 1]);
    }
    ok = next;
  }
  return ok[k.length]!;
}

/** Checks a consumer's list of accepted addresses. */
export function checkAddresses(v: unknown): readonly AmqpAddress[] {
  if (!Array.isArray(v) || v.length === 0) throw new InvalidArgumentError('addresses must be a non-empty list of { exchange, routingKey }');
  return v.map((a: unknown, i) => {
    if (typeof a !== 'object' || a === null) throw new InvalidArgumentError(`addresses[${i}] must be { exchange, routingKey }`);
    const { exchange, routingKey } = a as Record<string, unknown>;
    return { exchange: shortstr(exchange, `addresses[${i}].exchange`), routingKey: shortstr(routingKey, `addresses[${i}].routingKey`) };
  });
}
