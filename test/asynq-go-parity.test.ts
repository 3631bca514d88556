/**
 * The Node producer (sealq/asynq) and the Go producer (go/asynqseal's Sealer) sign the same
 * header for the same task and clock: context, type, content type, issue time, not-before and
 * expiry (Asynq's retry window, grace, deadline, maxValidity). Needs Go, not Redis.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planTask, sealOptionsOf } from '../src/adapters/asynq/plan.js';
import type { AsynqEnqueueOptions } from '../src/adapters/asynq/plan.js';
import { Keyring, sealDetached } from '../src/index.js';
import { fixtureJson, needGo } from './helpers/asynq-go.js';

const NOW = 1_893_456_000_000; // 2030-01-01
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

interface Task {
  type: string;
  queue?: string;
  maxRetry?: number;
  timeoutMs?: number;
  deadlineMs?: number;
  processAtMs?: number;
  processInMs?: number;
}
interface Settings {
  ct?: string;
  expiresInMs?: number;
  graceMs?: number;
  maxValidityMs?: number;
}

const TASKS: Task[] = [
  { type: 'defaults' },
  { type: 'q', queue: 'critical', maxRetry: 3, timeoutMs: MIN },
  { type: 'no-retry', maxRetry: 0, timeoutMs: 10_000 },
  { type: 'negative', maxRetry: -2 },
  { type: 'fraction', maxRetry: 7, timeoutMs: 90_500 },
  { type: 'deadline-soon', deadlineMs: NOW + 2 * HOUR },
  { type: 'deadline-past', deadlineMs: NOW - HOUR },
  { type: 'deadline-and-timeout', deadlineMs: NOW + 3 * DAY + 17, timeoutMs: 5 * MIN },
  { type: 'at', processAtMs: NOW + HOUR + 250 },
  { type: 'in', processInMs: 10 * MIN },
  { type: 'far', processAtMs: NOW + 29 * DAY, maxRetry: 2 },
  { type: 'beyond', processAtMs: NOW + 40 * DAY },
  { type: 'many-retries', maxRetry: 1000 },
];

const SETTINGS: Settings[] = [{}, { ct: 'application/json', graceMs: HOUR }, { expiresInMs: 6 * HOUR }, { maxValidityMs: 7 * DAY }];

function nodeOptions(t: Task, s: Settings): AsynqEnqueueOptions {
  const o: AsynqEnqueueOptions = { now: NOW };
  if (t.queue !== undefined) o.queue = t.queue;
  if (t.maxRetry !== undefined) o.maxRetry = t.maxRetry;
  if (t.timeoutMs !== undefined) o.timeout = t.timeoutMs;
  if (t.deadlineMs !== undefined) o.deadline = t.deadlineMs;
  if (t.processAtMs !== undefined) o.processAt = t.processAtMs;
  if (t.processInMs !== undefined) o.processIn = t.processInMs;
  if (s.ct !== undefined) o.ct = s.ct;
  if (s.expiresInMs !== undefined) o.expiresIn = s.expiresInMs;
  if (s.graceMs !== undefined) o.grace = s.graceMs;
  if (s.maxValidityMs !== undefined) o.maxValidity = s.maxValidityMs;
  return o;
}

/** The signed header, less what is random (id) or the key's. */
function fields(headerJson: unknown): Record<string, unknown> {
  const { id: _id, kid: _kid, alg: _alg, ...rest } = headerJson as Record<string, unknown>;
  return rest;
}

describe('the Node and Go producers sign the same validity', () => {
  const keyring = Keyring.generate('HS256', { kid: 'parity' });
  for (const [i, s] of SETTINGS.entries()) {
    test(`settings ${i}: ${JSON.stringify(s)}`, async (t) => {
      if (!(await needGo(t))) return;
      const go = await fixtureJson<Array<{ header?: unknown; err?: string }>>('sealplan', {
        jwks: keyring.toPrivateJwks(),
        nowMs: NOW,
        ...s,
        tasks: TASKS.map((task) => ({ ...task, payload: Buffer.from('x').toString('base64') })),
      });
      for (const [n, task] of TASKS.entries()) {
        let node: { header?: unknown; err?: string };
        try {
          const options = nodeOptions(task, s);
          const { seal } = sealDetached(keyring, 'x', sealOptionsOf(planTask(task.type, 'x', options), options));
          node = { header: JSON.parse(Buffer.from(seal.split('.')[1]!, 'base64url').toString('utf8')) };
        } catch (e) {
          node = { err: (e as { code?: string }).code ?? String(e) };
        }
        const g = go[n]!;
        if (g.err !== undefined || node.err !== undefined) assert.deepEqual(node, g, task.type);
        else assert.deepEqual(fields(node.header), fields(g.header), task.type);
      }
    });
  }
});
