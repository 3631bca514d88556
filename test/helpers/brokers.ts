import { createConnection } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * Integration tests talk to real brokers. When one is not reachable the test is skipped with a
 * message saying what to start, except in CI (CI=true), where a skip would hide a break: it fails.
 */
export const BROKERS = {
  redis: { host: '127.0.0.1', port: 6379, start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no' },
  amqp: { host: '127.0.0.1', port: 5672, start: 'rabbitmq-server -detached' },
  nats: { host: '127.0.0.1', port: 4222, start: 'nats-server -a 127.0.0.1 -p 4222 -js &' },
  mqtt: { host: '127.0.0.1', port: 1883, start: 'mosquitto -d -c /etc/mosquitto/mosquitto.conf' },
} as const;
export type BrokerName = keyof typeof BROKERS;

const reachable = new Map<BrokerName, Promise<boolean>>();

export function isReachable(name: BrokerName): Promise<boolean> {
  let p = reachable.get(name);
  if (p === undefined) {
    const { host, port } = BROKERS[name];
    p = new Promise<boolean>((resolve) => {
      const s = createConnection({ host, port });
      const done = (ok: boolean): void => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(1000, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
    reachable.set(name, p);
  }
  return p;
}

/** Call first in a test: returns false (test skipped) when the broker is down outside CI; throws in CI. */
export async function needBroker(t: TestContext, name: BrokerName): Promise<boolean> {
  if (await isReachable(name)) return true;
  const { host, port, start } = BROKERS[name];
  const msg = `${name} is not reachable on ${host}:${port}; start it with: ${start}`;
  if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: integration tests must not be skipped)`);
  t.skip(msg);
  return false;
}

/** A name no other test (or earlier run) uses: for queues, streams, keys. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
