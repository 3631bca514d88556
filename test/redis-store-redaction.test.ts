// The Redis replay store never shows the password of its redis://user:password@ URL (or of its
// ioredis options): not in util.inspect, %o, console.log, JSON.stringify, nor in a spread of its
// own properties. No Redis is needed: nothing here talks to a server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { format, inspect } from 'node:util';
import { RedisReplayStore } from '../src/replay/redis.js';

const PASSWORD = 'hunter2-Sup3rSecret';

function views(store: RedisReplayStore): string[] {
  return [
    inspect(store),
    inspect(store, { showHidden: true, depth: Infinity, getters: true }),
    inspect({ nested: { store } }, { depth: Infinity }),
    format('%o', store),
    format('%O', store),
    format('%s', store),
    format('%j', store),
    JSON.stringify(store),
    JSON.stringify({ store }),
    inspect({ ...store }, { depth: Infinity }),
    String(Object.keys(store)),
  ];
}

test('a store made from a redis:// URL with a password shows the server, never the password', async () => {
  const store = new RedisReplayStore({ redis: `redis://billing:${PASSWORD}@127.0.0.1:1/3`, prefix: 'app:r:' });
  try {
    for (const text of views(store)) assert.doesNotMatch(text, new RegExp(PASSWORD), text);
    assert.equal(inspect(store), 'RedisReplayStore { redis: "redis://billing:[redacted]@127.0.0.1:1/3", prefix: "app:r:" }');
    assert.deepEqual(JSON.parse(JSON.stringify(store)), { redis: 'redis://billing:[redacted]@127.0.0.1:1/3', prefix: 'app:r:' });
    assert.ok(store.client, 'the client stays reachable on purpose');
  } finally {
    await store.close();
  }
});

test('a store made from ioredis options (password, TLS) or a client shows no password either', async () => {
  const stores = [
    new RedisReplayStore({ redis: { host: '127.0.0.1', port: 1, password: PASSWORD, lazyConnect: true } }),
    new RedisReplayStore({ redis: `rediss://:${PASSWORD}@127.0.0.1:1`, timeout: 50 }),
  ];
  try {
    for (const store of stores) for (const text of views(store)) assert.doesNotMatch(text, new RegExp(PASSWORD), text);
    assert.equal(inspect(stores[0]), 'RedisReplayStore { redis: "redis://:[redacted]@127.0.0.1:1", prefix: "sealq:r:" }');
    assert.match(inspect(stores[1]), /^RedisReplayStore \{ redis: "rediss:\/\/:\[redacted\]@127\.0\.0\.1:1"/);
  } finally {
    for (const s of stores) await s.close();
  }
});
