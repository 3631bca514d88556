import { parseDuration } from '../duration.js';
import { InvalidArgumentError, SealqError } from '../errors.js';
import { Keyring } from './keyring.js';
import { consoleLogger, describe, KeyringSourceError } from './sources.js';
import type { RefreshableKeyringSource, SourceLogger } from './sources.js';

export interface JwksUrlSourceOptions {
  /** Abort a fetch after this long. Default 5s. */
  timeout?: number | string;
  /** How long a fetched JWKS is used when the response has no Cache-Control max-age. Default 5m. */
  maxAge?: number | string;
  /** Upper bound on a server's Cache-Control max-age, so a revocation is seen within it. Default 1h. */
  maxAgeCap?: number | string;
  /** Lower bound on the cache age (also for no-cache / no-store), so the server is not fetched per message. Default 30s. */
  minAge?: number | string;
  /** Least time between two fetches caused by refresh() (an unknown kid) or by retrying after a failure. Default 30s. */
  cooldown?: number | string;
  /** Largest JWKS accepted. Default 1 MiB. */
  maxBytes?: number;
  /** Allow plain http:// to a host other than localhost / 127.0.0.1 / [::1]. Default false: whoever can alter the response can add keys. */
  allowHttp?: boolean;
  /** Extra request headers (an API token for a private JWKS endpoint). */
  headers?: Record<string, string>;
  /** Called after a new keyring took effect. If it throws, the error is logged through `logger.error`; the new keyring stays in force. */
  onReload?: (keyring: Keyring, previous: Keyring) => void;
  /** Called when a fetch failed or its content was refused (the last good keyring stays in force). If it throws, that is logged too. */
  onError?: (error: SealqError) => void;
  /** Default: console. */
  logger?: SourceLogger;
  /** Clock (ms), for tests. */
  now?: () => number;
}

export interface JwksUrlSource extends RefreshableKeyringSource {
  readonly url: string;
  /** The last good keyring: public keys only. Reading it when the cache is stale starts a background refetch. */
  readonly keyring: Keyring;
  /** When the cached keyring goes stale (ms since the epoch). */
  readonly freshUntil: number;
  /** Why the last fetch failed, until one succeeds. */
  readonly lastError: SealqError | undefined;
  /**
   * Fetches now unless a fetch happened less than `cooldown` ago; resolves true when the keyring
   * changed. Call it when open() says ERR_KEY_UNKNOWN (or use openRefreshing), then open again.
   */
  refresh(): Promise<boolean>;
  /** Stops background refetches. */
  close(): void;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Seconds of Cache-Control max-age, 0 for no-cache/no-store, undefined when absent. */
function cacheMaxAge(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(header)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d{1,10})"?\s*(?:,|$)/i.exec(header);
  return m === null ? undefined : Number(m[1]);
}

async function readCapped(res: Response, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) throw new KeyringSourceError(`the JWKS is ${declared} bytes, more than maxBytes (${maxBytes})`);
  if (res.body === null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new KeyringSourceError(`the JWKS is larger than maxBytes (${maxBytes})`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/**
 * A verifier's keyring fetched from a JWKS URL (public keys only: a JWKS holding any private or
 * secret member is refused). The first fetch must succeed (it throws otherwise). After that:
 *
 * - the keyring is cached for the response's Cache-Control max-age (bounded by minAge and
 *   maxAgeCap), else maxAge; reading `.keyring` when stale returns the cached keyring at once and
 *   refetches in the background (with If-None-Match when the server sent an ETag);
 * - a failed or refused fetch is logged as an error and the last good keyring stays in force;
 *   the next attempt waits the cooldown;
 * - open() is synchronous and cannot wait for a fetch, so a message with an unknown kid is
 *   rejected (ERR_KEY_UNKNOWN); the consumer calls `refresh()` (rate-limited by the cooldown)
 *   and opens again, or uses openRefreshing() which does exactly that. A redelivered message
 *   also succeeds after the background refetch.
 */
export async function jwksUrlSource(url: string | URL, options: JwksUrlSourceOptions = {}): Promise<JwksUrlSource> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidArgumentError(`JWKS URL ${JSON.stringify(String(url).slice(0, 100))} is not a valid URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InvalidArgumentError(`JWKS URL must be https:// (got ${u.protocol})`);
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname) && options.allowHttp !== true) {
    throw new InvalidArgumentError(`JWKS URL ${u.origin} is plain http: anyone on the path could add keys; use https:// (or allowHttp: true on a trusted network)`);
  }
  if (u.username !== '' || u.password !== '') throw new InvalidArgumentError('put credentials for the JWKS URL in options.headers, not in the URL (URLs end up in logs)');
  const href = u.href;
  const shown = `${u.origin}${u.pathname}`;
  const d = (v: number | string | undefined, dflt: number, what: string): number => (v === undefined ? dflt : parseDuration(v, what));
  const timeout = d(options.timeout, 5_000, 'timeout');
  const maxAge = d(options.maxAge, 300_000, 'maxAge');
  const maxAgeCap = d(options.maxAgeCap, 3_600_000, 'maxAgeCap');
  const minAge = Math.min(d(options.minAge, 30_000, 'minAge'), maxAgeCap);
  const cooldown = d(options.cooldown, 30_000, 'cooldown');
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const logger = options.logger ?? consoleLogger;
  const now = options.now ?? Date.now;

  let keyring: Keyring | undefined;
  let etag: string | undefined;
  let freshUntil = 0;
  let lastAttempt = -Infinity;
  let lastError: SealqError | undefined;
  let inflight: Promise<boolean> | undefined;
  let closed = false;

  const fetchOnce = async (): Promise<boolean> => {
    lastAttempt = now();
    const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json', ...options.headers };
    if (etag !== undefined && keyring !== undefined) headers['if-none-match'] = etag;
    let res: Response;
    try {
      res = await fetch(href, { headers, signal: AbortSignal.timeout(timeout), redirect: 'error' });
    } catch (e) {
      const why = (e as { name?: unknown }).name === 'TimeoutError' ? `no answer within ${timeout} ms` : describe((e as { cause?: unknown }).cause ?? e);
      throw new KeyringSourceError(`fetching the JWKS from ${shown} failed: ${why}`);
    }
    const age = cacheMaxAge(res.headers.get('cache-control'));
    const ttl = age === undefined ? maxAge : Math.min(Math.max(age * 1000, minAge), maxAgeCap);
    if (res.status === 304 && keyring !== undefined) {
      await res.body?.cancel().catch(() => undefined);
      freshUntil = now() + ttl;
      return false;
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new KeyringSourceError(`fetching the JWKS from ${shown} failed: HTTP ${res.status}`);
    }
    const body = await readCapped(res, maxBytes).catch((e: unknown) => {
      throw e instanceof SealqError ? e : new KeyringSourceError(`reading the JWKS from ${shown} failed: ${describe(e)}`);
    });
    let next: Keyring;
    try {
      next = Keyring.fromJwks(body, { allowPrivate: false });
    } catch (e) {
      throw new KeyringSourceError(`the JWKS from ${shown} was refused: ${describe(e)}`);
    }
    if (next.size === 0) throw new KeyringSourceError(`the JWKS from ${shown} holds no keys; refusing it`);
    const previous = keyring;
    keyring = next;
    etag = res.headers.get('etag') ?? undefined;
    freshUntil = now() + ttl;
    if (previous !== undefined) {
      logger.info?.(`JWKS from ${shown} reloaded: ${next.keys().map((k) => `${k.kid} (${k.status})`).join(', ')}`);
      try {
        options.onReload?.(next, previous);
      } catch (e) {
        // A failing callback must not undo a good reload, nor go unnoticed.
        logger.error(`JWKS from ${shown} reloaded, but the onReload callback threw (the new keyring is in force): ${describe(e)}`);
      }
    }
    return true;
  };

  const attempt = (): Promise<boolean> => {
    if (inflight !== undefined) return inflight;
    inflight = fetchOnce()
      .then((changed) => {
        lastError = undefined;
        return changed;
      })
      .catch((e: unknown) => {
        const err = e instanceof SealqError ? e : new KeyringSourceError(describe(e));
        lastError = err;
        logger.error(`${err.message}; the last good keyring stays in force`);
        try {
          options.onError?.(err);
        } catch (cb) {
          logger.error(`JWKS source: the onError callback threw: ${describe(cb)}`);
        }
        return false;
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  };

  // The first fetch decides whether the source exists at all.
  try {
    await fetchOnce();
  } catch (e) {
    throw e instanceof SealqError ? e : new KeyringSourceError(describe(e));
  }

  return {
    url: href,
    get keyring(): Keyring {
      const t = now();
      if (!closed && t >= freshUntil && t - lastAttempt >= cooldown && inflight === undefined) void attempt();
      return keyring!;
    },
    get freshUntil() {
      return freshUntil;
    },
    get lastError() {
      return lastError;
    },
    refresh(): Promise<boolean> {
      if (closed) return Promise.resolve(false);
      if (inflight !== undefined) return inflight;
      if (now() - lastAttempt < cooldown) return Promise.resolve(false);
      return attempt();
    },
    close() {
      closed = true;
    },
  };
}
