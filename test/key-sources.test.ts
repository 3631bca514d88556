/**
 * Keyring sources: a file that is watched and reloaded (bad versions refused, old keyring kept),
 * atomic writes with mode 0600, the SEALQ_KEYRING environment variable, and a remote JWKS URL
 * served by a real local HTTP server (cache age, cooldown, timeouts, private keys refused).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Keyring,
  addKey,
  jwksUrlSource,
  keyringFromEnv,
  open,
  openRefreshing,
  readKeyringFileSync,
  seal,
  updateKeyringFileSync,
  watchKeyringFile,
  writeKeyringFileSync,
} from '../src/index.js';
import type { KeyringFileSource, SealqError, SourceLogger } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sealq-sources-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `keyring-${++n}.json`);

/** A logger that remembers what it was told. */
function memoryLogger(): SourceLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

const code = (e: unknown): string => (e as { code?: string }).code ?? `untyped ${String(e)}`;

function ring(kid: string, alg: 'EdDSA' | 'HS256' = 'EdDSA'): Keyring {
  return Keyring.generate(alg, { kid });
}

/**
 * Resolves on the source's next reload (via onReload). The source's timers are unref'd (it never
 * keeps a process alive), so a ref'd timer keeps this test's event loop running meanwhile; the
 * test runner's timeout bounds the wait.
 */
function nextReload(): { onReload: () => void; reloaded: Promise<void> } {
  let resolve!: () => void;
  const keepAlive = setInterval(() => undefined, 1000);
  const reloaded = new Promise<void>((r) => (resolve = r)).finally(() => clearInterval(keepAlive));
  return { onReload: () => resolve(), reloaded };
}

describe('writing keyring files', () => {
  test('writeKeyringFileSync writes atomically with mode 0600 and leaves no temp file', { skip: process.platform === 'win32' }, () => {
    const f = file();
    writeFileSync(f, 'old', { mode: 0o644 });
    chmodSync(f, 0o644);
    writeKeyringFileSync(f, ring('a'));
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal(readKeyringFileSync(f).primary!.kid, 'a');
    assert.deepEqual(readdirSync(dir).filter((x) => x.endsWith('.tmp')), []);
  });

  test('an empty keyring is never written: no loader would read it back', () => {
    const f = file();
    assert.throws(() => writeKeyringFileSync(f, new Keyring([])), { code: 'ERR_INVALID_KEYRING', message: /at least one key/ });
    assert.deepEqual(readdirSync(dir).filter((x) => x === f.slice(dir.length + 1) || x.endsWith('.tmp')), []);
    writeKeyringFileSync(f, ring('a'));
    assert.throws(() => updateKeyringFileSync(f, (k) => k.without('a')), { code: 'ERR_INVALID_KEYRING' });
    assert.equal(readKeyringFileSync(f).primary!.kid, 'a', 'the file is untouched');
  });

  test('updateKeyringFileSync changes the file under a lock and refuses while a lock exists', () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const { before, after: next } = updateKeyringFileSync(f, (k) => addKey(k, 'EdDSA', { kid: 'b' }));
    assert.equal(before.size, 1);
    assert.equal(next.size, 2);
    assert.deepEqual(readKeyringFileSync(f).keys().map((k) => k.kid), ['a', 'b']);
    assert.throws(() => statSync(`${f}.lock`), /ENOENT/, 'the lock is gone afterwards');

    writeFileSync(`${f}.lock`, '123');
    assert.throws(() => updateKeyringFileSync(f, (k) => k), (e: unknown) => code(e) === 'ERR_KEYRING_SOURCE' && /another sealq command/.test((e as Error).message));
    rmSync(`${f}.lock`);
  });

  test('a change that throws leaves the file as it was', () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const before = statSync(f).mtimeMs;
    assert.throws(() => updateKeyringFileSync(f, () => {
      throw new Error('abort');
    }), /abort/);
    assert.equal(statSync(f).mtimeMs, before);
    assert.equal(readKeyringFileSync(f).size, 1);
  });
});

describe('reading a keyring file', () => {
  test('warns when a file with secrets is group- or world-readable, not when it is 0600 or public', { skip: process.platform === 'win32' }, () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const quiet = memoryLogger();
    readKeyringFileSync(f, { logger: quiet });
    assert.deepEqual(quiet.lines, []);

    chmodSync(f, 0o644);
    const loud = memoryLogger();
    readKeyringFileSync(f, { logger: loud });
    assert.equal(loud.lines.length, 1);
    assert.match(loud.lines[0]!, /^warn .*readable by everyone.*0644.*chmod 600/);

    chmodSync(f, 0o640);
    const group = memoryLogger();
    readKeyringFileSync(f, { logger: group });
    assert.match(group.lines[0]!, /readable by its group/);

    const pub = file();
    writeKeyringFileSync(pub, ring('p').toPublic(), { mode: 0o644 });
    const none = memoryLogger();
    readKeyringFileSync(pub, { logger: none });
    assert.deepEqual(none.lines, [], 'a public keyring may be world-readable');
  });

  test('unreadable, missing and invalid files are typed errors that do not echo the content', () => {
    assert.equal(code(catching(() => readKeyringFileSync(join(dir, 'missing.json')))), 'ERR_KEYRING_SOURCE');
    const f = file();
    writeFileSync(f, '{"keys":[{"kty":"oct","kid":"x","k":"SECRETSECRETSECRET"', { mode: 0o600 });
    const e = catching(() => readKeyringFileSync(f));
    assert.equal(code(e), 'ERR_INVALID_KEYRING');
    assert.doesNotMatch((e as Error).message, /SECRETSECRET/);
  });

  test('allowPrivate: false refuses a private keyring', () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    assert.equal(code(catching(() => readKeyringFileSync(f, { allowPrivate: false }))), 'ERR_INVALID_KEYRING');
  });
});

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

describe('watchKeyringFile', () => {
  const sources: KeyringFileSource[] = [];
  after(() => sources.forEach((s) => s.close()));

  test('loads at once, and picks up an atomically replaced file through fs.watch or polling', async () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const r = nextReload();
    const src = watchKeyringFile(f, { interval: 20, logger: memoryLogger(), onReload: r.onReload });
    sources.push(src);
    assert.equal(src.keyring.primary!.kid, 'a');
    writeKeyringFileSync(f, addKey(src.keyring, 'EdDSA', { kid: 'b' }));
    await r.reloaded;
    assert.deepEqual(src.keyring.keys().map((k) => k.kid), ['a', 'b']);
    assert.equal(src.lastError, undefined);
  });

  test('polling alone (fs.watch off) picks up a change made in place', async () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const r = nextReload();
    const src = watchKeyringFile(f, { interval: 10, watch: false, logger: memoryLogger(), onReload: r.onReload });
    sources.push(src);
    const next = addKey(src.keyring, 'HS256', { kid: 'c' });
    writeFileSync(f, JSON.stringify(next.toPrivateJwks()));
    await r.reloaded;
    assert.ok(src.keyring.get('c'));
  });

  test('a bad new file is refused loudly; the old keyring stays in force; a later good file is taken', async () => {
    const f = file();
    const good = ring('a');
    writeKeyringFileSync(f, good);
    const logger = memoryLogger();
    const errors: SealqError[] = [];
    const src = watchKeyringFile(f, { interval: 0, watch: false, logger, onError: (e) => errors.push(e) });
    sources.push(src);
    const before = src.keyring;
    const msg = seal(src, 'hello', { ctx: 'q' });

    // Truncated JSON (a non-atomic editor save caught mid-write).
    writeFileSync(f, '{"keys":[');
    assert.equal(await src.refresh(), false);
    assert.equal(src.keyring, before);
    assert.equal(code(src.lastError), 'ERR_INVALID_KEYRING');
    assert.equal(errors.length, 1);
    assert.match(logger.lines.at(-1)!, /^error keyring file .* refused; the previous keyring stays in force/);
    assert.equal(open(src, msg, { ctx: 'q' }).payload.toString(), 'hello', 'still verifies with the old keyring');

    // The same bad content again is not logged again.
    await src.refresh();
    assert.equal(errors.length, 1);

    // Valid JSON but no keys.
    writeFileSync(f, '{"keys":[]}');
    await src.refresh();
    assert.equal(errors.length, 2);
    assert.match(errors[1]!.message, /no keys/);

    // A public keyring over a producer's private one: would stop producers from signing.
    writeFileSync(f, JSON.stringify(ring('z').toPublicJwks()));
    await src.refresh();
    assert.equal(errors.length, 3);
    assert.match(errors[2]!.message, /cannot sign/);

    // The file disappears.
    rmSync(f);
    await src.refresh();
    assert.equal(code(src.lastError), 'ERR_KEYRING_SOURCE');
    assert.equal(src.keyring, before);

    // Fixed: the good file is taken, the error clears.
    writeKeyringFileSync(f, addKey(good, 'EdDSA', { kid: 'b' }));
    assert.equal(await src.refresh(), true);
    assert.ok(src.keyring.get('b'));
    assert.equal(src.lastError, undefined);
  });

  test('a validate hook can refuse a keyring', async () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const src = watchKeyringFile(f, {
      interval: 0,
      watch: false,
      logger: memoryLogger(),
      validate: (next) => {
        if (next.get('a') === undefined) throw new Error('key a must stay');
      },
    });
    sources.push(src);
    writeKeyringFileSync(f, ring('b'));
    assert.equal(await src.refresh(), false);
    assert.match(src.lastError!.message, /key a must stay/);
    assert.equal(src.keyring.primary!.kid, 'a');
  });

  test('an exception thrown by onReload or onError is logged as an error, not swallowed; the reload stands', async () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const logger = memoryLogger();
    const src = watchKeyringFile(f, {
      interval: 0,
      watch: false,
      logger,
      onReload: () => {
        throw new Error('metrics client not ready');
      },
      onError: () => {
        throw new Error('alerting down');
      },
    });
    sources.push(src);
    writeKeyringFileSync(f, ring('b'));
    assert.equal(await src.refresh(), true);
    assert.equal(src.keyring.primary!.kid, 'b', 'the new keyring is in force');
    assert.match(logger.lines.at(-1)!, /^error keyring file .* reloaded, but the onReload callback threw .*metrics client not ready/);
    writeFileSync(f, 'not json');
    assert.equal(await src.refresh(), false);
    assert.match(logger.lines.at(-1)!, /^error keyring file .*: the onError callback threw: alerting down/);
  });

  test('a file that did not change does not reload', async () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    let reloads = 0;
    const src = watchKeyringFile(f, { interval: 0, watch: false, logger: memoryLogger(), onReload: () => reloads++ });
    sources.push(src);
    const text = JSON.stringify(src.keyring.toPrivateJwks(), null, 2) + '\n';
    writeFileSync(f, text); // same content, new mtime
    assert.equal(await src.refresh(), false);
    assert.equal(reloads, 0);
  });

  test('an unusable file at start throws', () => {
    const f = file();
    writeFileSync(f, 'nope');
    assert.equal(code(catching(() => watchKeyringFile(f, { logger: memoryLogger() }))), 'ERR_INVALID_KEYRING');
  });

  test('warns once when a reloaded private keyring file is world-readable', { skip: process.platform === 'win32' }, async () => {
    const f = file();
    writeKeyringFileSync(f, ring('a'));
    const logger = memoryLogger();
    const src = watchKeyringFile(f, { interval: 0, watch: false, logger });
    sources.push(src);
    writeFileSync(f, JSON.stringify(addKey(src.keyring, 'EdDSA', { kid: 'b' }).toPrivateJwks()));
    chmodSync(f, 0o644);
    await src.refresh();
    assert.equal(logger.lines.filter((l) => l.startsWith('warn')).length, 1);
    writeFileSync(f, JSON.stringify(addKey(src.keyring, 'EdDSA', { kid: 'c' }).toPrivateJwks()));
    await src.refresh();
    assert.equal(logger.lines.filter((l) => l.startsWith('warn')).length, 1, 'not on every reload');
  });
});

describe('SEALQ_KEYRING', () => {
  test('reads the JSON from the environment', () => {
    const r = ring('env-key', 'HS256');
    const k = keyringFromEnv({ env: { SEALQ_KEYRING: JSON.stringify(r.toPrivateJwks()) } });
    assert.equal(k.primary!.kid, 'env-key');
    const other = keyringFromEnv({ env: { MY_KEYS: JSON.stringify(r.toPrivateJwks()) }, name: 'MY_KEYS' });
    assert.equal(other.primary!.kid, 'env-key');
  });

  test('missing or invalid: typed errors naming the variable, never its content', () => {
    assert.equal(code(catching(() => keyringFromEnv({ env: {} }))), 'ERR_KEYRING_SOURCE');
    const e = catching(() => keyringFromEnv({ env: { SEALQ_KEYRING: '{"keys":[{"kid":"x","kty":"oct","k":"TOPSECRETVALUE"}' } }));
    assert.equal(code(e), 'ERR_INVALID_KEYRING');
    assert.match((e as Error).message, /SEALQ_KEYRING/);
    assert.doesNotMatch((e as Error).message, /TOPSECRET/);
    const pub = ring('a');
    assert.equal(code(catching(() => keyringFromEnv({ env: { SEALQ_KEYRING: JSON.stringify(pub.toPrivateJwks()) }, allowPrivate: false }))), 'ERR_INVALID_KEYRING');
  });
});

// ---- JWKS URL ------------------------------------------------------------------------------------

interface Reply {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Never answer (to test the timeout). */
  hang?: boolean;
}

/** A real HTTP server on 127.0.0.1 with a scripted reply; counts requests. */
async function jwksServer(): Promise<{ url: string; requests: IncomingMessage[]; reply: Reply; close(): Promise<void> }> {
  const state = { reply: {} as Reply, requests: [] as IncomingMessage[] };
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    state.requests.push(req);
    const r = state.reply;
    if (r.hang) {
      hanging.push(res);
      return;
    }
    res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers });
    res.end(r.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return state.requests;
    },
    get reply() {
      return state.reply;
    },
    set reply(r: Reply) {
      state.reply = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        hanging.forEach((r) => r.destroy());
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('jwksUrlSource against a local HTTP server', () => {
  test('fetches public keys; a consumer opens messages from the producer', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    const producer = ring('p1');
    srv.reply = { body: JSON.stringify(producer.toPublicJwks()), headers: { 'cache-control': 'public, max-age=600' } };
    const src = await jwksUrlSource(srv.url, { logger: memoryLogger() });
    t.after(() => src.close());
    const m = seal(producer, 'hi', { ctx: 'q' });
    assert.equal(open(src, m, { ctx: 'q' }).payload.toString(), 'hi');
    assert.equal(srv.requests.length, 1);
    assert.equal(srv.requests[0]!.headers.accept, 'application/jwk-set+json, application/json');
    assert.equal(src.keyring.primary!.canSign, false, 'public keys only');
  });

  test('honours Cache-Control max-age (bounded), refetches in the background when stale, keeps ETag', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    let clock = 1_000_000;
    const p = ring('p1');
    srv.reply = { body: JSON.stringify(p.toPublicJwks()), headers: { 'cache-control': 'max-age=120', etag: '"v1"' } };
    const src = await jwksUrlSource(srv.url, { logger: memoryLogger(), now: () => clock });
    t.after(() => src.close());
    assert.equal(src.freshUntil, clock + 120_000);
    clock += 119_000;
    void src.keyring;
    assert.equal(srv.requests.length, 1, 'fresh: no fetch');

    clock += 2_000;
    srv.reply = { status: 304, headers: { 'cache-control': 'max-age=120' } };
    const k = src.keyring; // stale: served at once, refetched in the background
    assert.equal(k.primary!.kid, 'p1');
    await src.refresh(); // joins the background fetch
    assert.equal(srv.requests.length, 2);
    assert.equal(srv.requests[1]!.headers['if-none-match'], '"v1"');
    assert.equal(src.freshUntil, clock + 120_000, '304 extends freshness');

    // A huge max-age is capped (default 1h); no-cache is raised to minAge (default 30s).
    clock += 121_000;
    srv.reply = { body: JSON.stringify(p.toPublicJwks()), headers: { 'cache-control': 'max-age=99999999' } };
    void src.keyring;
    await src.refresh();
    assert.equal(src.freshUntil, clock + 3_600_000);
    clock += 3_600_000;
    srv.reply = { body: JSON.stringify(p.toPublicJwks()), headers: { 'cache-control': 'no-cache' } };
    void src.keyring;
    await src.refresh();
    assert.equal(src.freshUntil, clock + 30_000);
    // Without Cache-Control: maxAge (default 5 min).
    clock += 30_000;
    srv.reply = { body: JSON.stringify(p.toPublicJwks()) };
    void src.keyring;
    await src.refresh();
    assert.equal(src.freshUntil, clock + 300_000);
  });

  test('unknown kid: refresh() fetches once per cooldown; openRefreshing retries after a refresh', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    let clock = 5_000_000;
    const old = ring('old');
    srv.reply = { body: JSON.stringify(old.toPublicJwks()), headers: { 'cache-control': 'max-age=3600' } };
    const src = await jwksUrlSource(srv.url, { logger: memoryLogger(), now: () => clock, cooldown: '30s' });
    t.after(() => src.close());

    // The producer rotated to a key the cached JWKS does not have yet.
    const next = ring('next');
    const msg = seal(next, 'new key', { ctx: 'q' });
    assert.equal(code(catching(() => open(src, msg, { ctx: 'q' }))), 'ERR_KEY_UNKNOWN');

    // Within the cooldown after the first fetch: no fetch, still unknown.
    await assert.rejects(openRefreshing(src, msg, { ctx: 'q' }), (e: unknown) => code(e) === 'ERR_KEY_UNKNOWN');
    assert.equal(srv.requests.length, 1);

    // After the cooldown the JWKS has the new key: one fetch, then the message opens.
    clock += 30_000;
    srv.reply = { body: JSON.stringify(addKey(old, next.primary!).toPublicJwks()) };
    const opened = await openRefreshing(src, msg, { ctx: 'q' });
    assert.equal(opened.payload.toString(), 'new key');
    assert.equal(srv.requests.length, 2);

    // A flood of unknown kids (forgeries) costs no more fetches within the cooldown.
    const forged = seal(ring('attacker'), 'x', { ctx: 'q' });
    for (let i = 0; i < 50; i++) await assert.rejects(openRefreshing(src, forged, { ctx: 'q' }));
    assert.equal(srv.requests.length, 2);
  });

  test('a JWKS with private or secret keys is refused, at start and on refresh (last good kept)', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    const priv = ring('p1');
    srv.reply = { body: JSON.stringify(priv.toPrivateJwks()) };
    await assert.rejects(jwksUrlSource(srv.url, { logger: memoryLogger() }), (e: unknown) => code(e) === 'ERR_KEYRING_SOURCE' && /private key material/.test((e as Error).message));

    srv.reply = { body: JSON.stringify(priv.toPublicJwks()) };
    let clock = 0;
    const logger = memoryLogger();
    const errors: SealqError[] = [];
    const src = await jwksUrlSource(srv.url, { logger, now: () => clock, onError: (e) => errors.push(e) });
    t.after(() => src.close());
    clock += 3_600_000;
    const secret = ring('hmac', 'HS256').toPrivateJwks();
    srv.reply = { body: JSON.stringify(secret) };
    assert.equal(await src.refresh(), false);
    assert.equal(src.keyring.primary!.kid, 'p1');
    assert.equal(errors.length, 1);
    assert.match(logger.lines.at(-1)!, /^error .*refused.*last good keyring stays in force/);
    assert.ok(!logger.lines.join('\n').includes(String(secret.keys[0]!.k)), 'the served secret is not logged');
    assert.ok(!errors[0]!.message.includes(String(secret.keys[0]!.k)));
  });

  test('HTTP errors, garbage, empty key sets, oversized bodies and timeouts keep the last good keyring', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    const p = ring('p1');
    srv.reply = { body: JSON.stringify(p.toPublicJwks()) };
    let clock = 0;
    const errors: SealqError[] = [];
    const src = await jwksUrlSource(srv.url, { logger: memoryLogger(), now: () => clock, onError: (e) => errors.push(e), timeout: '300ms', maxBytes: 4096, cooldown: '1s' });
    t.after(() => src.close());
    const msg = seal(p, 'ok', { ctx: 'q' });
    const cases: Array<[Reply, RegExp]> = [
      [{ status: 500, body: 'oops' }, /HTTP 500/],
      [{ body: 'not json' }, /refused/],
      [{ body: '{"keys":[]}' }, /no keys/],
      [{ body: JSON.stringify({ keys: [], pad: 'x'.repeat(5000) }) }, /larger than maxBytes/],
      [{ hang: true }, /no answer within 300 ms/],
    ];
    for (const [reply, pattern] of cases) {
      clock += 1_000;
      srv.reply = reply;
      assert.equal(await src.refresh(), false);
      assert.match(errors.at(-1)!.message, pattern);
      assert.equal(code(errors.at(-1)), 'ERR_KEYRING_SOURCE');
      assert.equal(open(src, msg, { ctx: 'q' }).payload.toString(), 'ok', 'last good keyring still verifies');
    }
    assert.equal(errors.length, cases.length);
    // The server comes back.
    clock += 1_000;
    srv.reply = { body: JSON.stringify(addKey(p, 'EdDSA', { kid: 'p2' }).toPublicJwks()) };
    assert.equal(await src.refresh(), true);
    assert.equal(src.lastError, undefined);
    assert.ok(src.keyring.get('p2'));
  });

  test('refuses plain http to other hosts and credentials in the URL; the first fetch must succeed', async (t) => {
    await assert.rejects(jwksUrlSource('http://keys.example.com/jwks.json'), (e: unknown) => code(e) === 'ERR_INVALID_ARGUMENT' && /https/.test((e as Error).message));
    await assert.rejects(jwksUrlSource('https://user:pw@keys.example.com/jwks.json'), (e: unknown) => code(e) === 'ERR_INVALID_ARGUMENT');
    await assert.rejects(jwksUrlSource('ftp://x/'), (e: unknown) => code(e) === 'ERR_INVALID_ARGUMENT');
    const srv = await jwksServer();
    t.after(() => srv.close());
    srv.reply = { status: 404 };
    await assert.rejects(jwksUrlSource(srv.url, { logger: memoryLogger() }), (e: unknown) => code(e) === 'ERR_KEYRING_SOURCE' && /HTTP 404/.test((e as Error).message));
  });

  test('an exception thrown by onReload is logged as an error, not swallowed; the reload stands', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    let clock = 0;
    srv.reply = { body: JSON.stringify(ring('u1').toPublicJwks()) };
    const logger = memoryLogger();
    const onReload = (): void => {
      throw new Error('cache warmer crashed');
    };
    const src = await jwksUrlSource(srv.url, { logger, now: () => clock, onReload });
    t.after(() => src.close());
    srv.reply = { body: JSON.stringify(ring('u2').toPublicJwks()) };
    clock += 3_600_000;
    assert.equal(await src.refresh(), true);
    assert.equal(src.keyring.primary!.kid, 'u2');
    assert.match(logger.lines.at(-1)!, /^error JWKS from .* reloaded, but the onReload callback threw .*cache warmer crashed/);
  });

  test('a revocation published in the JWKS takes effect after the refetch', async (t) => {
    const srv = await jwksServer();
    t.after(() => srv.close());
    let clock = 0;
    let p = addKey(ring('p1'), 'EdDSA', { kid: 'p2', now: 0 });
    srv.reply = { body: JSON.stringify(p.toPublicJwks()), headers: { 'cache-control': 'max-age=60' } };
    const src = await jwksUrlSource(srv.url, { logger: memoryLogger(), now: () => clock });
    t.after(() => src.close());
    const old = seal(p, 'x', { ctx: 'q' });
    assert.equal(open(src, old, { ctx: 'q' }).header.kid, 'p1');
    // p1 compromised: promote p2 (forced), revoke p1, publish.
    const { promoteKey, revokeKey } = await import('../src/index.js');
    p = revokeKey(promoteKey(p, 'p2', { force: true }), 'p1');
    srv.reply = { body: JSON.stringify(p.toPublicJwks()), headers: { 'cache-control': 'max-age=60' } };
    clock += 60_000;
    void src.keyring;
    await src.refresh();
    assert.equal(code(catching(() => open(src, old, { ctx: 'q' }))), 'ERR_KEY_INACTIVE');
  });
});
