/**
 * Core: seal / open of a 1 KiB payload for each algorithm, next to the raw node:crypto primitive
 * over the same bytes with the same key, and next to what a user would pick instead (jose compact
 * JWS, standardwebhooks). The library is imported as a user imports it (`sealq`, the built dist).
 */
import { createPrivateKey, createPublicKey, createSecretKey, createHmac, sign, timingSafeEqual, verify, constants } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { CompactSign, compactVerify, importJWK } from 'jose';
import { Registry } from 'prom-client';
import type { CryptoKey as JoseKey, JWK } from 'jose';
import { Keyring, open, seal, sealObject } from 'sealq';
import { registerTracing } from 'sealq/opentelemetry';
import { registerMetrics } from 'sealq/prometheus';
import type { Alg, SealqJwk } from 'sealq';
import { Webhook } from 'standardwebhooks';
import type { Case, Harness } from './harness.js';

const PAYLOAD_BYTES = 1024;
const CONCURRENCY = 64;
/**
 * CPU time: these cases are CPU-bound, and on a shared machine CPU time is disturbed far less than
 * wall time. It counts the thread pool's work for jose's async calls but not their idle waits,
 * which if anything flatters jose. `npm run bench -- core --clock wall` times by wall clock.
 */
const CLOCK = { clock: 'cpu' } as const;

/** A 1 KiB JSON job, as a queue would carry it. */
function payloadText(): string {
  const base = { orderId: 'ord_01JD8W9ZK3', customer: 'cus_7F2Q', currency: 'EUR', items: [{ sku: 'A-100', qty: 2, price: 1999 }, { sku: 'B-220', qty: 1, price: 4999 }], note: '' };
  const fill = PAYLOAD_BYTES - Buffer.byteLength(JSON.stringify(base));
  const text = JSON.stringify({ ...base, note: 'x'.repeat(fill) });
  if (Buffer.byteLength(text) !== PAYLOAD_BYTES) throw new Error('payload is not 1 KiB');
  return text;
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`sanity check failed: ${what}; the benchmark would measure a failing path`);
}

const text = payloadText();
const payload = Buffer.from(text, 'utf8');
const ctx = 'orders';
const typ = 'order.created';
const sealOpts = { ctx, typ };
const openOpts = { ctx, typ };

/** The same key for every contender: sealq's keyring, exported as JWK and imported by each. */
function keys(alg: Alg): { kr: Keyring; jwk: SealqJwk } {
  const kr = Keyring.generate(alg, { kid: `bench-${alg.toLowerCase()}` });
  return { kr, jwk: kr.toPrivateJwks().keys[0]! };
}

/** Only the members a JOSE library expects (sealq's extension members stripped). */
function joseJwk(jwk: SealqJwk, publicOnly: boolean): JWK {
  const out: Record<string, unknown> = {};
  for (const m of ['kty', 'crv', 'x', 'y', 'n', 'e', 'k', ...(publicOnly ? [] : ['d', 'p', 'q', 'dp', 'dq', 'qi'])]) if (jwk[m] !== undefined) out[m] = jwk[m];
  return out as JWK;
}

/** sealq's cases for one keyring: seal, open, seal+open, on the compact string and the JSON-safe object. */
function sealqCases(kr: Keyring): Record<'seal' | 'sealString' | 'sealObject' | 'open' | 'openObject' | 'sealOpen' | 'sealObjectOpen', Case> {
  const env = seal(kr, payload, sealOpts);
  const obj = sealObject(kr, payload, sealOpts);
  check(open(kr, env, openOpts).payload.equals(payload), 'sealq open (compact)');
  check(open(kr, obj, openOpts).payload.equals(payload), 'sealq open (object)');
  return {
    seal: { name: 'sealq seal', fn: () => seal(kr, payload, sealOpts) },
    sealString: { name: 'sealq seal (string payload)', fn: () => seal(kr, text, sealOpts) },
    sealObject: { name: 'sealq sealObject', fn: () => sealObject(kr, payload, sealOpts) },
    open: { name: 'sealq open (compact)', fn: () => open(kr, env, openOpts) },
    openObject: { name: 'sealq open (object)', fn: () => open(kr, obj, openOpts) },
    sealOpen: { name: 'sealq seal+open', fn: () => open(kr, seal(kr, payload, sealOpts), openOpts) },
    sealObjectOpen: { name: 'sealq sealObject+open (object)', fn: () => open(kr, sealObject(kr, payload, sealOpts), openOpts) },
  };
}

/** jose compact JWS sign / verify / sign+verify, awaited one after the other, plus a concurrent batch. */
async function joseCases(alg: 'HS256' | 'EdDSA', signKey: JoseKey, verifyKey: JoseKey, kid: string): Promise<{ sign: Case; verify: Case; signVerify: Case; batch: Case }> {
  const header = { alg, kid };
  const jwsSign = (): Promise<string> => new CompactSign(payload).setProtectedHeader(header).sign(signKey);
  const jwsVerify = (jws: string): Promise<unknown> => compactVerify(jws, verifyKey, { algorithms: [alg] });
  const signVerify = async (): Promise<unknown> => jwsVerify(await jwsSign());
  const jws = await jwsSign();
  check((await compactVerify(jws, verifyKey, { algorithms: [alg] })).payload.length === PAYLOAD_BYTES, `jose ${alg} verify`);
  return {
    sign: { name: `jose ${alg} sign`, fn: jwsSign },
    verify: { name: `jose ${alg} verify`, fn: () => jwsVerify(jws) },
    signVerify: { name: `jose ${alg} sign+verify (awaited in turn)`, fn: signVerify },
    batch: { name: `jose ${alg} sign+verify (${CONCURRENCY} concurrent)`, fn: () => Promise.all(Array.from({ length: CONCURRENCY }, signVerify)), ops: CONCURRENCY },
  };
}

async function hs256(h: Harness): Promise<void> {
  const { kr, jwk } = keys('HS256');
  const secret = Buffer.from(jwk.k as string, 'base64url');
  const key = createSecretKey(secret);
  const hmac = (): Buffer => createHmac('sha256', key).update(payload).digest();
  const tag = hmac();
  const hmacVerify = (t: Buffer): boolean => t.length === 32 && timingSafeEqual(hmac(), t);
  check(hmacVerify(tag), 'raw HMAC verify');

  const joseKey = (await importJWK(joseJwk(jwk, false), 'HS256')) as JoseKey;
  const jose = await joseCases('HS256', joseKey, joseKey, jwk.kid);

  // standardwebhooks: HMAC-SHA256 over "id.timestamp.payload"; jsonParse off, as sealq does not parse either.
  const wh = new Webhook(secret, { format: 'raw' });
  const whId = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
  const whSign = (): string => wh.sign(whId, new Date(), text);
  const whHeaders = (signature: string, ts: Date): Record<string, string> => ({ 'webhook-id': whId, 'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)), 'webhook-signature': signature });
  const whTs = new Date();
  const whFixed = whHeaders(wh.sign(whId, whTs, text), whTs);
  wh.verify(text, whFixed, { jsonParse: false }); // throws if wrong
  const whSignVerify = (): unknown => {
    const ts = new Date();
    return wh.verify(text, whHeaders(wh.sign(whId, ts, text), ts), { jsonParse: false }) ?? true;
  };

  const s = sealqCases(kr);
  h.section('HS256 (HMAC-SHA256), 1 KiB payload', [
    'raw: createHmac(sha256, same KeyObject).update(1 KiB).digest(); verify = recompute + length check + timingSafeEqual. No encoding.',
    'sealq seal: random id, header JSON, length-prefixed signing input, HMAC, base64url -> compact string.',
    'sealq open: strict base64url decode, header parse and check, key lookup by kid, HMAC, timingSafeEqual, ctx/typ/time checks.',
    `jose ${version('jose')}: compact JWS {alg,kid} over the same bytes, WebCrypto HMAC (async). standardwebhooks ${version('standardwebhooks')}: HMAC in JS over "id.ts.payload", base64.`,
  ].join('\n'));

  await h.compare('HS256 sign (seal)', [
    { name: 'node:crypto HMAC sign', fn: hmac },
    s.seal, s.sealString, s.sealObject, jose.sign,
    { name: 'standardwebhooks sign', fn: whSign },
  ], CLOCK);
  await h.compare('HS256 verify (open)', [
    { name: 'node:crypto HMAC verify', fn: () => hmacVerify(tag) },
    s.open, s.openObject, jose.verify,
    { name: 'standardwebhooks verify', fn: () => wh.verify(text, whFixed, { jsonParse: false }) ?? true },
  ], CLOCK);
  const both = await h.compare('HS256 sign+verify (seal+open)', [
    { name: 'node:crypto HMAC sign+verify', fn: () => hmacVerify(hmac()) },
    s.sealOpen, s.sealObjectOpen, jose.signVerify, jose.batch,
    { name: 'standardwebhooks sign+verify', fn: whSignVerify },
  ], CLOCK);
  h.ratio('HS256 sealq seal+open / node:crypto HMAC sign+verify', both.ratio('sealq seal+open', 'node:crypto HMAC sign+verify'), { atLeast: 0.6 });
  h.ratio('HS256 sealq seal+open / jose sign+verify (awaited)', both.ratio('sealq seal+open', jose.signVerify.name), { about: 15 });
  h.ratio('HS256 sealq seal+open / jose sign+verify (concurrent)', both.ratio('sealq seal+open', jose.batch.name));
  h.ratio('HS256 sealq seal+open / standardwebhooks sign+verify', both.ratio('sealq seal+open', 'standardwebhooks sign+verify'));
}

async function eddsa(h: Harness): Promise<void> {
  const { kr, jwk } = keys('EdDSA');
  const priv = createPrivateKey({ key: joseJwk(jwk, false) as JsonWebKey, format: 'jwk' });
  const pub = createPublicKey(priv);
  const rawSign = (): Buffer => sign(null, payload, priv);
  const rawVerify = (sig: Buffer): boolean => sig.length === 64 && verify(null, payload, pub, sig);
  const sig = rawSign();
  check(rawVerify(sig), 'raw Ed25519 verify');

  const josePriv = (await importJWK(joseJwk(jwk, false), 'EdDSA')) as JoseKey;
  const josePub = (await importJWK(joseJwk(jwk, true), 'EdDSA')) as JoseKey;
  const jose = await joseCases('EdDSA', josePriv, josePub, jwk.kid);

  const s = sealqCases(kr);
  h.section('EdDSA (Ed25519), 1 KiB payload', 'raw: crypto.sign(null, 1 KiB, privateKey) / crypto.verify(null, 1 KiB, publicKey, sig) with the same key. jose: compact JWS via WebCrypto Ed25519 (async).');
  await h.compare('EdDSA sign (seal)', [{ name: 'node:crypto Ed25519 sign', fn: rawSign }, s.seal, jose.sign], CLOCK);
  await h.compare('EdDSA verify (open)', [{ name: 'node:crypto Ed25519 verify', fn: () => rawVerify(sig) }, s.open, jose.verify], CLOCK);
  const both = await h.compare('EdDSA sign+verify (seal+open)', [
    { name: 'node:crypto Ed25519 sign+verify', fn: () => rawVerify(rawSign()) },
    s.sealOpen, s.sealObjectOpen, jose.signVerify, jose.batch,
  ], CLOCK);
  h.ratio('EdDSA sealq seal+open / node:crypto sign+verify', both.ratio('sealq seal+open', 'node:crypto Ed25519 sign+verify'), { atLeast: 0.9 });
  h.ratio('EdDSA sealq seal+open / jose sign+verify (awaited)', both.ratio('sealq seal+open', jose.signVerify.name));
}

/** ES256 and PS256, briefly: sealq against the raw primitive only. */
async function asymmetric(h: Harness, alg: 'ES256' | 'PS256'): Promise<void> {
  const { kr, jwk } = keys(alg);
  const priv = createPrivateKey({ key: joseJwk(jwk, false) as JsonWebKey, format: 'jwk' });
  const pub = createPublicKey(priv);
  const opts = alg === 'ES256'
    ? { sign: { key: priv, dsaEncoding: 'ieee-p1363' as const }, verify: { key: pub, dsaEncoding: 'ieee-p1363' as const } }
    : { sign: { key: priv, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, verify: { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } };
  const rawSign = (): Buffer => sign('sha256', payload, opts.sign);
  const rawVerify = (sig: Buffer): boolean => verify('sha256', payload, opts.verify, sig);
  const sig = rawSign();
  check(rawVerify(sig), `raw ${alg} verify`);
  const s = sealqCases(kr);
  const raw = alg === 'ES256' ? 'node:crypto ECDSA P-256' : 'node:crypto RSA-PSS 2048';
  const c = await h.compare(`${alg} sealq vs raw`, [
    { name: `${raw} sign+verify`, fn: () => rawVerify(rawSign()) },
    s.sealOpen,
    { name: `${raw} sign`, fn: rawSign },
    s.seal,
    { name: `${raw} verify`, fn: () => rawVerify(sig) },
    s.open,
  ], CLOCK);
  h.ratio(`${alg} sealq seal / raw sign`, c.ratio('sealq seal', `${raw} sign`));
  h.ratio(`${alg} sealq open / raw verify`, c.ratio('sealq open (compact)', `${raw} verify`));
  h.ratio(`${alg} sealq seal+open / raw sign+verify`, c.ratio('sealq seal+open', `${raw} sign+verify`));
}

/**
 * What operating sealq costs: HS256 seal+open with sealq/prometheus and sealq/opentelemetry
 * registered (a real prom-client registry; the OpenTelemetry SDK with a context manager and an
 * in-memory exporter), next to the same without. Subscriptions are process-wide, so each case
 * puts them in its state on its first call of a time slice.
 */
async function operations(h: Harness): Promise<void> {
  const kr = Keyring.generate('HS256', { kid: 'bench-ops' });
  const registry = new Registry();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
  trace.setGlobalTracerProvider(provider);
  // The span a messaging instrumentation would have open around a publish or a delivery.
  const inSpan = trace.setSpan(context.active(), provider.getTracer('bench').startSpan('orders process'));
  let on: Array<{ stop(): void }> | undefined;
  const registered = (yes: boolean): void => {
    if (yes && on === undefined) on = [registerMetrics(registry), registerTracing()];
    if (!yes && on !== undefined) {
      for (const x of on) x.stop();
      on = undefined;
    }
  };
  const sealOpen = (): unknown => open(kr, seal(kr, payload, sealOpts), openOpts);
  h.section('Operating it: HS256 seal+open with metrics and tracing registered', [
    'registered: registerMetrics on a prom-client Registry and registerTracing (span events), with an OpenTelemetry SDK tracer provider and context manager.',
    'in a recording span: the same inside a span, as under a messaging instrumentation; each seal and open adds an event to it (the SDK keeps the last 128).',
  ].join('\n'));
  const c = await h.compare('HS256 seal+open, operations', [
    { name: 'sealq seal+open', fn: () => (registered(false), sealOpen()) },
    { name: 'sealq seal+open, metrics and tracing registered', fn: () => (registered(true), sealOpen()) },
    { name: 'sealq seal+open, registered, in a recording span', fn: () => (registered(true), context.with(inSpan, sealOpen)) },
  ], CLOCK);
  registered(false);
  h.ratio('HS256 seal+open with metrics and tracing registered / without', c.ratio('sealq seal+open, metrics and tracing registered', 'sealq seal+open'), { atLeast: 0.9 });
  h.ratio('HS256 seal+open registered, in a recording span / without', c.ratio('sealq seal+open, registered, in a recording span', 'sealq seal+open'));
  await provider.shutdown();
}

export async function run(h: Harness): Promise<void> {
  h.note(`payload: ${PAYLOAD_BYTES} bytes of JSON; header: ctx "${ctx}", typ "${typ}", random 128-bit id; default open options.`);
  await hs256(h);
  await operations(h);
  await eddsa(h);
  h.section('ES256 and PS256, 1 KiB payload', 'raw: crypto.sign/verify("sha256", ...) with the same key (P1363 signatures for ECDSA; PSS, salt 32, for RSA).');
  await asymmetric(h, 'ES256');
  await asymmetric(h, 'PS256');
}
