/**
 * The in-memory replay store (claim -> complete / release, leases, retention, capacity) and the
 * claim flow built on it (openAndClaim, openOnce). Time is a variable clock, never a sleep.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompletionNotRecordedError,
  InFlightError,
  Keyring,
  MemoryReplayStore,
  ReplayedError,
  ReplayStoreUnavailableError,
  openAndClaim,
  openOnce,
  seal,
} from '../src/index.js';
import type { ClaimOptions, ClaimOutcome, OpenedMessage, ReplayKey, ReplayStore } from '../src/index.js';

const T0 = 1_700_000_000_000;

/** A store on a clock the test moves by hand. */
function clocked(options: { maxEntries?: number } = {}): { store: MemoryReplayStore; clock: { now: number } } {
  const clock = { now: T0 };
  return { store: new MemoryReplayStore({ ...options, now: () => clock.now }), clock };
}

const k = (id: string, ctx = 'q'): { ctx: string; id: string } => ({ ctx, id });

function token(o: ClaimOutcome): string {
  assert.equal(o.status, 'claimed');
  return (o as { token: string }).token;
}

describe('MemoryReplayStore', () => {
  test('a first claim wins; a claim on a leased id is in-flight; on a completed id, completed', async () => {
    const { store } = clocked();
    const t = token(await store.claim(k('a'), 30_000, 60_000));
    assert.deepEqual(await store.claim(k('a'), 30_000, 60_000), { status: 'in-flight' });
    assert.equal(await store.complete(k('a'), t, 60_000), true);
    assert.deepEqual(await store.claim(k('a'), 30_000, 60_000), { status: 'completed' });
  });

  test('ids are per context: the same id on another ctx is a different message', async () => {
    const { store } = clocked();
    token(await store.claim(k('a', 'q1'), 30_000, 60_000));
    token(await store.claim(k('a', 'q2'), 30_000, 60_000));
    // The length prefix keeps ("a:b", "c") and ("a", "b:c") apart.
    token(await store.claim({ ctx: 'a:b', id: 'c' }, 30_000, 60_000));
    token(await store.claim({ ctx: 'a', id: 'b:c' }, 30_000, 60_000));
  });

  test('a released claim can be claimed again (a retry after a failure)', async () => {
    const { store } = clocked();
    const t1 = token(await store.claim(k('a'), 30_000, 60_000));
    assert.equal(await store.release(k('a'), t1), true);
    const t2 = token(await store.claim(k('a'), 30_000, 60_000));
    assert.notEqual(t2, t1);
    assert.equal(await store.release(k('a'), t1), false, 'a stale token releases nothing');
    assert.deepEqual(await store.claim(k('a'), 30_000, 60_000), { status: 'in-flight' });
  });

  test('an expired lease can be claimed again; the old holder has lost it', async () => {
    const { store, clock } = clocked();
    const t1 = token(await store.claim(k('a'), 1_000, 60_000));
    clock.now += 999;
    assert.deepEqual(await store.claim(k('a'), 1_000, 60_000), { status: 'in-flight' });
    clock.now += 1;
    const t2 = token(await store.claim(k('a'), 1_000, 60_000));
    assert.equal(await store.extend(k('a'), t1, 1_000), false, 'old holder cannot extend');
    assert.equal(await store.release(k('a'), t1), false, 'old holder cannot release the new claim');
    assert.deepEqual(await store.claim(k('a'), 1_000, 60_000), { status: 'in-flight' });
    assert.equal(await store.complete(k('a'), t2, 60_000), true);
  });

  test('complete with a lost lease reports false but still marks the id completed', async () => {
    const { store, clock } = clocked();
    const t1 = token(await store.claim(k('a'), 1_000, 60_000));
    clock.now += 1_000;
    token(await store.claim(k('a'), 1_000, 60_000));
    assert.equal(await store.complete(k('a'), t1, 60_000), false);
    assert.deepEqual(await store.claim(k('a'), 1_000, 60_000), { status: 'completed' });
  });

  test('extend keeps a long job leased; it fails after completion or with a wrong token', async () => {
    const { store, clock } = clocked();
    const t = token(await store.claim(k('a'), 1_000, 2_000));
    clock.now += 900;
    assert.equal(await store.extend(k('a'), t, 5_000), true);
    clock.now += 4_000; // past the first lease and past the original retention
    assert.deepEqual(await store.claim(k('a'), 1_000, 2_000), { status: 'in-flight' });
    assert.equal(await store.extend(k('a'), 'not-the-token', 5_000), false);
    assert.equal(await store.complete(k('a'), t, 2_000), true);
    assert.equal(await store.extend(k('a'), t, 5_000), false, 'a completed id has no lease to extend');
    assert.equal(await store.release(k('a'), t), false, 'a completed id cannot be released');
    assert.deepEqual(await store.claim(k('a'), 1_000, 2_000), { status: 'completed' });
  });

  test('a completed id is remembered for its retention, then forgotten', async () => {
    const { store, clock } = clocked();
    const t = token(await store.claim(k('a'), 1_000, 10_000));
    clock.now += 500;
    await store.complete(k('a'), t, 10_000);
    clock.now += 9_999;
    assert.deepEqual(await store.claim(k('a'), 1_000, 10_000), { status: 'completed' });
    clock.now += 1;
    token(await store.claim(k('a'), 1_000, 10_000));
  });

  test('retention never ends before the lease does', async () => {
    const { store, clock } = clocked();
    token(await store.claim(k('a'), 5_000, 1_000));
    clock.now += 4_999;
    assert.deepEqual(await store.claim(k('a'), 5_000, 1_000), { status: 'in-flight' });
  });

  test('full of unexpired ids, new claims fail closed; known ids still answer; it recovers after expiry', async () => {
    const { store, clock } = clocked({ maxEntries: 3 });
    const t = token(await store.claim(k('a'), 1_000, 10_000));
    await store.complete(k('a'), t, 10_000);
    token(await store.claim(k('b'), 1_000, 10_000));
    token(await store.claim(k('c'), 1_000, 10_000));
    assert.equal(store.size, 3);
    await assert.rejects(store.claim(k('d'), 1_000, 10_000), (e: unknown) => {
      assert.ok(e instanceof ReplayStoreUnavailableError);
      assert.equal(e.code, 'ERR_REPLAY_STORE_UNAVAILABLE');
      assert.equal(e.retryable, true);
      return true;
    });
    // Fail closed means: never forget a completed id to make room.
    assert.deepEqual(await store.claim(k('a'), 1_000, 10_000), { status: 'completed' });
    assert.deepEqual(await store.claim(k('b'), 1_000, 10_000), { status: 'in-flight' });
    clock.now += 5_000;
    await assert.rejects(store.claim(k('d'), 1_000, 10_000), { code: 'ERR_REPLAY_STORE_UNAVAILABLE' });
    clock.now += 5_000;
    token(await store.claim(k('d'), 1_000, 10_000));
    token(await store.claim(k('e'), 1_000, 10_000));
    assert.ok(store.size <= 3);
  });

  test('maxEntries must be a positive integer', () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new MemoryReplayStore({ maxEntries }), { code: 'ERR_INVALID_ARGUMENT' });
    }
  });

  test('1000 concurrent claims on one id: exactly one wins', async () => {
    const { store } = clocked();
    const outcomes = await Promise.all(Array.from({ length: 1000 }, () => store.claim(k('same'), 30_000, 60_000)));
    assert.equal(outcomes.filter((o) => o.status === 'claimed').length, 1);
    assert.equal(outcomes.filter((o) => o.status === 'in-flight').length, 999);
  });

  test('concurrent claims on many ids, interleaved: exactly one winner per id', async () => {
    const { store } = clocked();
    const ids = Array.from({ length: 200 }, (_, i) => `id-${i}`);
    // 10 claims per id, interleaved in a scrambled but deterministic order.
    const calls = Array.from({ length: ids.length * 10 }, (_, n) => ids[(n * 7919) % ids.length]!);
    const outcomes = await Promise.all(calls.map(async (id) => ({ id, o: await store.claim(k(id), 30_000, 60_000) })));
    const winners = new Map<string, number>();
    for (const { id, o } of outcomes) if (o.status === 'claimed') winners.set(id, (winners.get(id) ?? 0) + 1);
    assert.equal(winners.size, ids.length, 'every id was claimed');
    assert.ok([...winners.values()].every((n) => n === 1), 'no id was claimed twice');
  });

  test('concurrent claim, release and re-claim: at most one holder at any time', async () => {
    const { store } = clocked();
    let holders = 0;
    let maxHolders = 0;
    let processed = 0;
    const worker = async (): Promise<void> => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const o = await store.claim(k('job'), 30_000, 60_000);
        if (o.status === 'completed') return;
        if (o.status === 'in-flight') {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        holders++;
        maxHolders = Math.max(maxHolders, holders);
        await new Promise((r) => setImmediate(r));
        holders--;
        // The first few holders fail (release); a later one completes.
        if (processed++ < 3) await store.release(k('job'), o.token);
        else await store.complete(k('job'), o.token, 60_000);
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    assert.equal(maxHolders, 1);
    assert.equal(processed, 4, 'three failed runs, then exactly one completed run');
    assert.deepEqual(await store.claim(k('job'), 30_000, 60_000), { status: 'completed' });
  });
});

describe('openAndClaim / openOnce', () => {
  const keyring = Keyring.generate('HS256', { kid: 'claim-key' });
  const envelope = seal(keyring, 'charge 42', { ctx: 'billing', now: T0, expiresIn: '10m' });

  function options(store: ReplayStore, now = T0): ClaimOptions {
    return { ctx: 'billing', replay: store, now };
  }

  test('handler throws -> released -> a retry processes the message', async () => {
    const { store } = clocked();
    const boom = new Error('downstream unavailable');
    const seen: string[] = [];
    await assert.rejects(
      openOnce(keyring, envelope, options(store), () => {
        seen.push('attempt 1');
        throw boom;
      }),
      (e) => e === boom, // the handler's own error, so the queue's retry logic sees it
    );
    const result = await openOnce(keyring, envelope, options(store), (msg: OpenedMessage) => {
      seen.push('attempt 2');
      return msg.payload.toString('utf8');
    });
    assert.equal(result, 'charge 42');
    assert.deepEqual(seen, ['attempt 1', 'attempt 2']);
  });

  test('after a successful run, a second attempt is ERR_REPLAYED and the handler is not called', async () => {
    const { store } = clocked();
    let calls = 0;
    await openOnce(keyring, envelope, options(store), () => void calls++);
    await assert.rejects(openOnce(keyring, envelope, options(store), () => void calls++), (e: unknown) => {
      assert.ok(e instanceof ReplayedError);
      assert.equal(e.code, 'ERR_REPLAYED');
      assert.equal(e.retryable, false);
      return true;
    });
    assert.equal(calls, 1);
  });

  test('a duplicate while the first is still processing is ERR_IN_FLIGHT (retryable); after lease expiry it takes over', async () => {
    const { store, clock } = clocked();
    const first = await openAndClaim(keyring, envelope, { ...options(store), lease: '30s' });
    let calls = 0;
    await assert.rejects(openOnce(keyring, envelope, options(store), () => void calls++), (e: unknown) => {
      assert.ok(e instanceof InFlightError);
      assert.equal(e.code, 'ERR_IN_FLIGHT');
      assert.equal(e.retryable, true);
      return true;
    });
    assert.equal(calls, 0);
    // The first consumer died without releasing: once its lease runs out a redelivery may run.
    clock.now += 30_000;
    await openOnce(keyring, envelope, options(store, clock.now), () => void calls++);
    assert.equal(calls, 1);
    await first.complete(); // a late completion by the dead consumer changes nothing
    await assert.rejects(openOnce(keyring, envelope, options(store, clock.now), () => void calls++), { code: 'ERR_REPLAYED' });
    assert.equal(calls, 1);
  });

  test('openAndClaim: release lets a retry claim; extend keeps the lease; complete makes it a replay', async () => {
    const { store, clock } = clocked();
    const a = await openAndClaim(keyring, envelope, { ...options(store), lease: 1_000 });
    assert.equal(a.payload.toString(), 'charge 42');
    await a.release();
    const b = await openAndClaim(keyring, envelope, { ...options(store), lease: 1_000 });
    clock.now += 900;
    assert.equal(await b.extend('5s'), true);
    clock.now += 1_000;
    await assert.rejects(openAndClaim(keyring, envelope, options(store, clock.now)), { code: 'ERR_IN_FLIGHT' });
    await b.complete();
    await assert.rejects(openAndClaim(keyring, envelope, options(store, clock.now)), { code: 'ERR_REPLAYED' });
  });

  test('a completed id is remembered for the message validity; after that freshness rejects it', async () => {
    const { store, clock } = clocked();
    await openOnce(keyring, envelope, options(store), () => undefined);
    clock.now = T0 + 10 * 60_000 - 1; // still valid (expiresIn 10m)...
    await assert.rejects(openOnce(keyring, envelope, options(store, clock.now), () => undefined), { code: 'ERR_REPLAYED' });
    clock.now = T0 + 10 * 60_000 + 60_000; // ...past exp plus the default clock skew
    await assert.rejects(openOnce(keyring, envelope, options(store, clock.now), () => undefined), { code: 'ERR_EXPIRED' });
  });

  test('a message that does not open never reaches the store', async () => {
    const { store } = clocked();
    await assert.rejects(openOnce(keyring, envelope, { ...options(store), ctx: 'other' }, () => undefined), { code: 'ERR_CONTEXT_MISMATCH' });
    assert.equal(store.size, 0);
  });

  test('a store that throws: ERR_REPLAY_STORE_UNAVAILABLE, retryable, handler not called', async () => {
    const failures: Array<[string, ReplayStore]> = [
      ['rejects', { claim: () => Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379')), complete: async () => true, release: async () => true, extend: async () => true }],
      ['throws synchronously', { claim: () => { throw new TypeError('socket closed'); }, complete: async () => true, release: async () => true, extend: async () => true }],
      ['rejects with a non-error', { claim: () => Promise.reject('nope'), complete: async () => true, release: async () => true, extend: async () => true }],
    ];
    for (const [how, store] of failures) {
      let calls = 0;
      await assert.rejects(openOnce(keyring, envelope, options(store), () => void calls++), (e: unknown) => {
        assert.ok(e instanceof ReplayStoreUnavailableError, `${how}: ${String(e)}`);
        assert.equal(e.code, 'ERR_REPLAY_STORE_UNAVAILABLE');
        assert.equal(e.retryable, true);
        assert.equal(e.rejection, true);
        return true;
      });
      assert.equal(calls, 0, `${how}: handler not called`);
    }
  });

  /** A store whose completions fail `failures` times (every time by default), claims and releases working. */
  function failingCompletion(failures = Infinity): ReplayStore & { completions: number } {
    const inner = new MemoryReplayStore({ now: () => T0 });
    const store = {
      completions: 0,
      claim: (key: ReplayKey, lease: number, retain: number) => inner.claim(key, lease, retain),
      complete: async (key: ReplayKey, t: string, retain: number) => {
        if (store.completions++ < failures) throw new Error('READONLY You can\'t write against a read only replica.');
        return inner.complete(key, t, retain);
      },
      release: (key: ReplayKey, t: string) => inner.release(key, t),
      extend: (key: ReplayKey, t: string, lease: number) => inner.extend(key, t, lease),
    };
    return store;
  }

  test('a store that cannot record completion: ERR_COMPLETION_NOT_RECORDED, processed, not retryable', async () => {
    const store = failingCompletion();
    let calls = 0;
    await assert.rejects(openOnce(keyring, envelope, { ...options(store), lease: 300 }, () => void calls++), (e: unknown) => {
      assert.ok(e instanceof CompletionNotRecordedError, String(e));
      assert.equal(e.code, 'ERR_COMPLETION_NOT_RECORDED');
      assert.equal(e.processed, true);
      assert.equal(e.retryable, false);
      assert.equal(e.rejection, false);
      assert.match(e.message, /was processed/);
      assert.match(e.message, /READONLY/);
      return true;
    });
    assert.equal(calls, 1);
    assert.ok(store.completions > 1, 'retried while the lease held');

    const claimed = await openAndClaim(keyring, envelope, { ...options(failingCompletion()), lease: 300 });
    await assert.rejects(claimed.complete(), { code: 'ERR_COMPLETION_NOT_RECORDED', retryable: false });
  });

  test('a caller that retries every retryable error runs the handler once when completion cannot be recorded', async () => {
    const store = failingCompletion();
    let calls = 0;
    let last: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await openOnce(keyring, envelope, { ...options(store), lease: 100 }, () => void calls++);
        break;
      } catch (e) {
        last = e;
        if (!(e as { retryable?: boolean }).retryable) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal((last as { code?: string }).code, 'ERR_COMPLETION_NOT_RECORDED');
    assert.equal(calls, 1);
  });

  test('a completion that fails for a moment and then works within the lease: no error', async () => {
    const store = failingCompletion(2);
    let calls = 0;
    assert.equal(await openOnce(keyring, envelope, { ...options(store), lease: 5000 }, () => ++calls), 1);
    await assert.rejects(openOnce(keyring, envelope, options(store), () => ++calls), { code: 'ERR_REPLAYED' });
    assert.equal(calls, 1);
  });
});
