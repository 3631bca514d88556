/**
 * A full key rotation while producers add sealed jobs to a real BullMQ queue (Redis) and workers
 * open them, each side following its keyring file with watchKeyringFile. Uses bullmq directly with
 * sealObject / open, so it checks the keys machinery, not an adapter.
 *
 * As in test/rotation-load.test.ts, time is virtual (one millisecond per job sealed): waiting
 * times are job counts, the test is bounded by count. Producers keep at most BACKLOG jobs
 * outstanding, so no legitimate job outlives its validity in the queue.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import {
  Keyring,
  addKey,
  open,
  promoteKey,
  removeKey,
  retireKey,
  sealObject,
  watchKeyringFile,
  writeKeyringFileSync,
} from '../../src/index.js';
import type { KeyringFileSource, RotationOptions, SealedObject, SourceLogger } from '../../src/index.js';
import { needBroker, uniqueName } from '../helpers/brokers.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
const quiet: SourceLogger = { warn: () => undefined, error: (m) => assert.fail(`a keyring reload was refused during the rotation: ${m}`) };

describe('rotation under load on BullMQ', () => {
  test('EdDSA: zero legitimate jobs rejected through add -> publish -> promote -> retire -> remove', { timeout: 180_000 }, async (t) => {
    if (!(await needBroker(t, 'redis'))) return;
    const dir = mkdtempSync(join(tmpdir(), 'sealq-rotation-bullmq-'));
    const name = uniqueName('sealq-rotation');
    const VALIDITY = 1_500;
    const PUBLISH_DELAY = 200;
    const BACKLOG = 100;
    const clock = { t: 1_000_000 };
    const rot = (): RotationOptions => ({ now: clock.t, publishDelay: PUBLISH_DELAY, maxMessageValidity: VALIDITY, clockSkew: 0 });

    let admin = addKey(new Keyring([]), 'EdDSA', { kid: 'k1', primary: true, now: 0 });
    const producerFile = join(dir, 'producers.json');
    const consumerFile = join(dir, 'consumers.json');
    const publish = (): void => {
      writeKeyringFileSync(producerFile, admin);
      writeKeyringFileSync(consumerFile, admin.toPublic(), { public: true });
    };
    publish();
    const producerSource = watchKeyringFile(producerFile, { interval: 5, logger: quiet });
    const workerSources: KeyringFileSource[] = [0, 1].map(() => watchKeyringFile(consumerFile, { interval: 5, logger: quiet }));

    const expected = new Map<string, string | undefined>(); // job id -> expected rejection code (undefined: must open)
    const opened = new Map<string, string>(); // job id -> kid
    const rejected = new Map<string, string>(); // job id -> code
    let sealed = 0;
    let retiredSeen = false;
    let oldAfterRetire = 0;

    const queue = new Queue(name, { connection: REDIS });
    const workers = workerSources.map((source) => {
      const w = new Worker(name, async (job) => {
        const id = job.id!;
        try {
          const { header, payload } = open(source, job.data as SealedObject, { ctx: name, typ: 'work', now: clock.t, clockSkew: 0 });
          assert.equal(payload.toString(), id);
          assert.ok(!opened.has(id), `processed twice: ${id}`);
          opened.set(id, header.kid);
          if (header.kid === 'k1' && retiredSeen) oldAfterRetire++;
        } catch (e) {
          rejected.set(id, (e as { code?: string }).code ?? 'untyped');
        }
      }, { connection: REDIS, concurrency: 16 });
      w.on('error', () => undefined);
      return w;
    });
    t.after(async () => {
      await Promise.all(workers.map((w) => w.close()));
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      [producerSource, ...workerSources].forEach((s) => s.close());
      rmSync(dir, { recursive: true, force: true });
    });

    const done = (): number => opened.size + rejected.size;
    const add = async (id: string, data: SealedObject, expect?: string): Promise<void> => {
      expected.set(id, expect);
      await queue.add('work', data, { jobId: id, removeOnComplete: true, removeOnFail: true });
    };
    let stop = false;
    let seq = 0;
    const producer = async (p: number): Promise<void> => {
      while (!stop) {
        while (sealed - done() > BACKLOG && !stop) await sleep(1);
        const id = `p${p}-${seq++}`;
        const data = sealObject(producerSource, id, { ctx: name, typ: 'work', id, expiresIn: VALIDITY, now: ++clock.t });
        sealed++;
        await add(id, data);
      }
    };
    const waitUntil = async (cond: () => boolean): Promise<void> => {
      while (!cond()) await sleep(2);
    };
    const workersHave = (pred: (k: Keyring) => boolean): boolean => workerSources.every((s) => pred(s.keyring));

    const producers = [0, 1].map((p) => producer(p));
    await waitUntil(() => clock.t >= 1_000_200);

    admin = addKey(admin, 'EdDSA', { kid: 'k2', ...rot() });
    const tAdd = clock.t;
    publish();
    await waitUntil(() => workersHave((k) => k.get('k2') !== undefined) && clock.t >= tAdd + PUBLISH_DELAY);

    admin = promoteKey(admin, 'k2', rot());
    const tPromote = clock.t;
    publish();
    await waitUntil(() => producerSource.keyring.primary?.kid === 'k2' && clock.t >= tPromote + VALIDITY);

    const stale = new Keyring([admin.get('k1')!.with({ status: 'primary' })]);
    const delayed = Array.from({ length: 10 }, (_, i) => ({ id: `delayed-${i}`, data: sealObject(stale, `delayed-${i}`, { ctx: name, typ: 'work', id: `delayed-${i}`, expiresIn: VALIDITY, now: clock.t }) }));
    admin = retireKey(admin, 'k1', rot());
    const tRetire = clock.t;
    publish();
    await waitUntil(() => workersHave((k) => k.get('k1')?.notAfter === tRetire));
    retiredSeen = true;
    for (const d of delayed) await add(d.id, d.data);
    for (let i = 0; i < 10; i++) {
      await add(`late-${i}`, sealObject(stale, `late-${i}`, { ctx: name, typ: 'work', id: `late-${i}`, expiresIn: VALIDITY, now: ++clock.t }), 'ERR_KEY_INACTIVE');
    }

    await waitUntil(() => clock.t >= tRetire + VALIDITY);
    admin = removeKey(admin, 'k1', rot());
    publish();
    await waitUntil(() => workersHave((k) => k.get('k1') === undefined));
    for (let i = 0; i < 10; i++) {
      await add(`gone-${i}`, sealObject(stale, `gone-${i}`, { ctx: name, typ: 'work', id: `gone-${i}`, expiresIn: VALIDITY, now: ++clock.t }), 'ERR_KEY_UNKNOWN');
    }
    const tEnd = clock.t + 300;
    await waitUntil(() => clock.t >= tEnd);
    stop = true;
    await Promise.all(producers);
    await waitUntil(() => done() === expected.size);

    const wrong = [...expected].filter(([id, code]) => (code === undefined ? !opened.has(id) : rejected.get(id) !== code));
    assert.deepEqual(wrong.slice(0, 10).map(([id, code]) => `${id}: expected ${code ?? 'open'}, got ${rejected.get(id) ?? 'opened'}`), [], `${wrong.length} jobs ended wrongly`);
    assert.equal(oldAfterRetire, 10, 'jobs signed before the retirement still open after it');
    const byKid = [...opened.values()].reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
    assert.ok((byKid.get('k1') ?? 0) > PUBLISH_DELAY && (byKid.get('k2') ?? 0) > VALIDITY, JSON.stringify([...byKid]));
  });
});
