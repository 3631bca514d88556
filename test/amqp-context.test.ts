// The AMQP ctx (`amqp:<exchange>/<routing key>`) and topic-pattern matching of sealq/amqp, no broker needed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { amqpContext, parseAmqpContext, topicMatches } from '../src/adapters/amqp/index.js';

describe('amqpContext', () => {
  test('names exchange and routing key; the default exchange is empty', () => {
    assert.equal(amqpContext('orders', 'order.created'), 'amqp:orders/order.created');
    assert.equal(amqpContext('', 'jobs'), 'amqp:/jobs');
  });

  test('is reversible and unambiguous: / and % in an exchange name are escaped, the routing key is kept as it is', () => {
    const cases: Array<[string, string]> = [['a/b', 'c'], ['a', 'b/c'], ['50%', '%2F'], ['%2F', 'x'], ['', ''], ['x', 'a.b.#']];
    const seen = new Set<string>();
    for (const [exchange, routingKey] of cases) {
      const ctx = amqpContext(exchange, routingKey);
      assert.deepEqual(parseAmqpContext(ctx), { exchange, routingKey });
      assert.ok(!seen.has(ctx), ctx);
      seen.add(ctx);
    }
  });

  test('refuses names longer than AMQP allows, and parses nothing but its own form', () => {
    assert.throws(() => amqpContext('x'.repeat(256), 'k'), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => amqpContext('x', 'é'.repeat(128)), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => amqpContext(undefined as unknown as string, 'k'), { code: 'ERR_INVALID_ARGUMENT' });
    for (const ctx of ['orders', 'amqp:no-slash', 'amqp:bad%escape/k', 'redis:x/y']) assert.equal(parseAmqpContext(ctx), undefined, ctx);
  });
});

describe('topicMatches (RabbitMQ topic semantics)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['order.created', 'order.created', true],
    ['order.created', 'order.paid', false],
    ['order.*', 'order.created', true],
    ['order.*', 'order', false],
    ['order.*', 'order.created.eu', false],
    ['order.#', 'order', true],
    ['order.#', 'order.created.eu', true],
    ['#', '', true],
    ['#', 'a.b.c', true],
    ['#.eu', 'order.created.eu', true],
    ['#.eu', 'eu', true],
    ['#.eu', 'order.us', false],
    ['*.*', 'a.b', true],
    ['*.*', 'a', false],
    ['a.#.b', 'a.b', true],
    ['a.#.b', 'a.x.y.b', true],
    ['a.#.b', 'a.x.y.c', false],
  ];
  for (const [pattern, key, want] of cases) {
    test(`${JSON.stringify(pattern)} ${want ? 'matches' : 'does not match'} ${JSON.stringify(key)}`, () => assert.equal(topicMatches(pattern, key), want));
  }

  test('a pattern of many # words against a long key stays fast (no backtracking)', () => {
    const pattern = Array.from({ length: 60 }, () => '#').join('.') + '.z';
    const key = Array.from({ length: 120 }, () => 'a').join('.');
    assert.equal(topicMatches(pattern, key), false);
  });
});
