/**
 * A full key rotation under load: producers and consumers run flat out on an in-process queue
 * while a controller adds a key, publishes it to the consumers (their keyring files are rewritten
 * and picked up by watchKeyringFile; one consumer has its source swapped directly), promotes it
 * on the producers, retires the old key and removes it after the grace period.
 *
 * Time is virtual: the clock advances one millisecond per message sealed, so every waiting time
 * is a message count and the test is bounded by count, not by the speed of the machine. The
 * controller also waits for the sources to have reloaded before the next step: that is what the
 * publish delay and the grace period stand for in production.
 *
 * Claims checked: zero legitimate messages rejected, each processed exactly once; messages the old
 * key signed before its retirement still open after it; the old key's signatures made after its
 * retirement are rejected (ERR_KEY_INACTIVE), and after its removal ERR_KEY_UNKNOWN.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import {
  Keyring,
  RotationRefusedError,
  addKey,
  open,
  promoteKey,
  removeKey,
  retireKey,
  seal,
  watchKeyringFile,
  writeKeyringFileSync,
} from '../src/index.js';
import type { Alg, KeyringFileSource, KeyringSource, RotationOptions, SourceLogger } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sealq-rotation-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A bounded FIFO with backpressure: producers wait when it is full, consumers when it is empty. */
class Queue<T> {
  readonly #items: T[] = [];
  readonly #takers: Array<(v: T | undefined) => void> = [];
  readonly #givers: Array<() => void> = [];
  #closed = false;
  constructor(readonly capacity: number) {}

  async push(item: T): Promise<void> {
    while (this.#items.length >= this.capacity) await new Promise<void>((r) => this.#givers.push(r));
    const taker = this.#takers.shift();
    if (taker !== undefined) taker(item);
    else this.#items.push(item);
  }

  async pop(): Promise<T | undefined> {
    if (this.#items.length > 0) {
      const item = this.#items.shift()!;
      this.#givers.shift()?.();
      return item;
    }
    if (this.#closed) return undefined;
    return new Promise<T | undefined>((r) => this.#takers.push(r));
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#takers.splice(0)) t(undefined);
  }
}

interface Msg {
  env: string;
  id: string;
  /** A legitimate message must open; an attack must be rejected with `expect`. */
  legit: boolean;
  expect?: string;
}

const quiet: SourceLogger = { warn: () => undefined, error: (m) => assert.fail(`a keyring reload was refused during the rotation: ${m}`) };

async function rotateUnderLoad(alg: Alg, validity: number): Promise<void> {
  const PRODUCERS = 3;
  const CONSUMERS = 3;
  const PUBLISH_DELAY = 500;
  const clock = { t: 1_000_000 };
  const rot = (extra: RotationOptions = {}): RotationOptions => ({ now: clock.t, publishDelay: PUBLISH_DELAY, maxMessageValidity: validity, clockSkew: 0, ...extra });
  const openOpts = () => ({ ctx: 'jobs', typ: 'work', now: clock.t, clockSkew: 0 });
  const symmetric = alg === 'HS256';

  // The operator's keyring, the producers' file (private) and the consumers' file (public for asymmetric keys).
  let admin = addKey(new Keyring([]), alg, { kid: 'k1', primary: true, now: clock.t - 10 * validity });
  const producerFile = join(dir, `${alg}-producers.json`);
  const consumerFile = join(dir, `${alg}-consumers.json`);
  const consumerRing = (k: Keyring): Keyring => (symmetric ? k : k.toPublic());
  const publish = (): void => {
    writeKeyringFileSync(producerFile, admin);
    writeKeyringFileSync(consumerFile, consumerRing(admin), { public: !symmetric });
    holder.keyring = consumerRing(admin);
  };
  const holder: { keyring: Keyring } = { keyring: consumerRing(admin) };
  publish();

  const producerSource = watchKeyringFile(producerFile, { interval: 5, logger: quiet });
  const fileConsumers: KeyringFileSource[] = Array.from({ length: CONSUMERS - 1 }, () => watchKeyringFile(consumerFile, { interval: 5, logger: quiet }));
  const consumerSources: KeyringSource[] = [...fileConsumers, holder];
  const closeAll = (): void => [producerSource, ...fileConsumers].forEach((s) => s.close());

  const q = new Queue<Msg>(64);
  const stats = {
    sealed: 0,
    opened: new Map<string, string>(), // id -> kid
    legitRejected: [] as string[],
    attacksAccepted: [] as string[],
    attackCodes: new Map<string, number>(),
    oldKeyOpenedAfterRetire: 0,
  };
  let stopProducing = false;
  let seq = 0;
  let retiredSeen = false;

  const producer = async (p: number): Promise<void> => {
    while (!stopProducing) {
      const id = `p${p}-${seq++}`;
      const env = seal(producerSource, id, { ctx: 'jobs', typ: 'work', id, expiresIn: validity, now: ++clock.t });
      stats.sealed++;
      await q.push({ env, id, legit: true });
      // Give timers and fs events (the keyring reloads) a turn, as a real service's I/O would.
      if (seq % 4 === 0) await tick();
    }
  };

  const consumer = async (source: KeyringSource): Promise<void> => {
    for (;;) {
      const m = await q.pop();
      if (m === undefined) return;
      try {
        const { header, payload } = open(source, m.env, openOpts());
        if (!m.legit) stats.attacksAccepted.push(m.id);
        else {
          assert.equal(payload.toString(), m.id);
          assert.ok(!stats.opened.has(m.id), `processed twice: ${m.id}`);
          stats.opened.set(m.id, header.kid);
          if (header.kid === 'k1' && retiredSeen) stats.oldKeyOpenedAfterRetire++;
        }
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'untyped';
        if (m.legit) stats.legitRejected.push(`${m.id}: ${code}`);
        else {
          assert.equal(code, m.expect, `attack ${m.id}`);
          stats.attackCodes.set(code, (stats.attackCodes.get(code) ?? 0) + 1);
        }
      }
    }
  };

  const everyConsumer = (pred: (k: Keyring) => boolean): boolean => consumerSources.every((s) => pred(s.keyring));
  const waitUntil = async (cond: () => boolean): Promise<void> => {
    while (!cond()) await tick();
  };

  const controller = async (): Promise<void> => {
    await waitUntil(() => clock.t >= 1_001_000);

    // 1. add k2: verify-only. Promoting it now is refused (consumers may not have it yet).
    admin = addKey(admin, alg, { kid: 'k2', ...rot() });
    const tAdd = clock.t;
    assert.throws(() => promoteKey(admin, 'k2', rot()), RotationRefusedError);
    // 2. publish to consumers (and producers: they verify too, and need it to sign later).
    publish();
    await waitUntil(() => everyConsumer((k) => k.get('k2') !== undefined) && clock.t >= tAdd + PUBLISH_DELAY);

    // 3. promote on the producers.
    admin = promoteKey(admin, 'k2', rot());
    const tPromote = clock.t;
    publish();
    assert.throws(() => retireKey(admin, 'k1', rot()), RotationRefusedError);
    await waitUntil(() => producerSource.keyring.primary?.kid === 'k2' && clock.t >= tPromote + validity);

    // Delayed jobs: signed by the old key just before its retirement, delivered after it.
    const stale = new Keyring([admin.get('k1')!.with({ status: 'primary' })]);
    const delayed: Msg[] = [];
    for (let i = 0; i < 20; i++) delayed.push({ env: seal(stale, `delayed-${i}`, { ctx: 'jobs', typ: 'work', id: `delayed-${i}`, expiresIn: validity, now: clock.t }), id: `delayed-${i}`, legit: true });
    stats.sealed += delayed.length;

    // 4. retire k1 after the grace period.
    admin = retireKey(admin, 'k1', rot());
    const tRetire = clock.t;
    publish();
    await waitUntil(() => everyConsumer((k) => k.get('k1')?.notAfter === tRetire));
    retiredSeen = true;
    for (const m of delayed) await q.push(m);
    // A producer that never reloaded (or a thief with the old key) signs after the retirement.
    for (let i = 0; i < 20; i++) {
      await q.push({ env: seal(stale, `late-${i}`, { ctx: 'jobs', typ: 'work', id: `late-${i}`, expiresIn: validity, now: ++clock.t }), id: `late-${i}`, legit: false, expect: 'ERR_KEY_INACTIVE' });
    }
    assert.throws(() => removeKey(admin, 'k1', rot()), RotationRefusedError);

    // 5. remove k1 after another grace period.
    await waitUntil(() => clock.t >= tRetire + validity);
    admin = removeKey(admin, 'k1', rot());
    publish();
    await waitUntil(() => everyConsumer((k) => k.get('k1') === undefined) && producerSource.keyring.get('k1') === undefined);
    for (let i = 0; i < 20; i++) {
      await q.push({ env: seal(stale, `gone-${i}`, { ctx: 'jobs', typ: 'work', id: `gone-${i}`, expiresIn: validity, now: ++clock.t }), id: `gone-${i}`, legit: false, expect: 'ERR_KEY_UNKNOWN' });
    }
    const tEnd = clock.t + 1000;
    await waitUntil(() => clock.t >= tEnd);
    stopProducing = true;
  };

  try {
    const producers = Array.from({ length: PRODUCERS }, (_, i) => producer(i));
    const consumers = consumerSources.map((s) => consumer(s));
    await controller();
    await Promise.all(producers);
    q.close();
    await Promise.all(consumers);
  } finally {
    closeAll();
  }

  assert.deepEqual(stats.legitRejected.slice(0, 10), [], `${stats.legitRejected.length} legitimate messages rejected`);
  assert.equal(stats.opened.size, stats.sealed, 'every legitimate message processed exactly once');
  assert.deepEqual(stats.attacksAccepted, []);
  assert.equal(stats.attackCodes.get('ERR_KEY_INACTIVE'), 20);
  assert.equal(stats.attackCodes.get('ERR_KEY_UNKNOWN'), 20);
  assert.equal(stats.oldKeyOpenedAfterRetire, 20, 'messages issued before the retirement still open after it');
  const byKid = [...stats.opened.values()].reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
  assert.ok((byKid.get('k1') ?? 0) > PUBLISH_DELAY, 'the old key carried traffic before the rotation');
  assert.ok((byKid.get('k2') ?? 0) > validity, 'the new key carried traffic after it');
  assert.ok(stats.sealed > 2 * validity);
}

describe('rotation under load (in-process queue)', () => {
  test('HS256: zero legitimate rejections through add -> publish -> promote -> retire -> remove', { timeout: 180_000 }, async () => {
    await rotateUnderLoad('HS256', 10_000);
  });
  test('EdDSA (public keyring for consumers): zero legitimate rejections through a full rotation', { timeout: 180_000 }, async () => {
    await rotateUnderLoad('EdDSA', 5_000);
  });
});
