import { KeyUnknownError, SealqError } from '../errors.js';
import { open } from '../open.js';
import type { Envelope, OpenedMessage, OpenOptions } from '../open.js';
import type { Keyring, KeyringSource } from './keyring.js';

/**
 * What keyring sources (file, environment, JWKS URL) share: how they report trouble, their error,
 * and the refresh contract that lets a synchronous open() learn about a new key.
 */

/** Where a source reports a refused reload or a failed fetch. Messages name the source, never key material. */
export interface SourceLogger {
  info?(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The default: stderr through console, prefixed so it stands out in service logs. */
export const consoleLogger: SourceLogger = {
  warn: (m) => console.warn(`sealq: WARNING: ${m}`),
  error: (m) => console.error(`sealq: ERROR: ${m}`),
};

/** A keyring source could not produce a keyring (unreadable file, failed fetch, refused content). */
export class KeyringSourceError extends SealqError {
  override readonly code = 'ERR_KEYRING_SOURCE';
}

/**
 * A source that can be asked to look again now, e.g. after a message named a kid the current
 * keyring lacks. `refresh()` resolves true when the keyring changed. Sources rate-limit it (a
 * cooldown), so calling it for every unknown kid an attacker sends costs at most one fetch per
 * cooldown.
 */
export interface RefreshableKeyringSource extends KeyringSource {
  refresh(): Promise<boolean>;
}

/**
 * open() for a refreshable source: when the message's kid is unknown (ERR_KEY_UNKNOWN), ask the
 * source to refresh once and, if the keyring changed, try again. Any other rejection, or an
 * unknown kid after the refresh, is thrown as open() throws it. Use it where a consumer may see a
 * new key before its cached keyring does (a JWKS URL source with a long cache age).
 */
export async function openRefreshing(source: RefreshableKeyringSource, envelope: Envelope, options: OpenOptions): Promise<OpenedMessage> {
  try {
    return open(source, envelope, options);
  } catch (e) {
    if (!(e instanceof KeyUnknownError)) throw e;
    let changed = false;
    try {
      changed = await source.refresh();
    } catch {
      // the source logs its own failures; the message stays rejected as unknown
    }
    if (!changed) throw e;
    return open(source, envelope, options);
  }
}

/** True when a keyring holds anything secret (a private key or an HMAC secret). */
export function holdsSecrets(keyring: Keyring): boolean {
  return keyring.keys().some((k) => k.canSign);
}

/** A short, safe description of an error for a log line (sealq messages never hold key material). */
export function describe(e: unknown): string {
  if (e instanceof SealqError) return `${e.code}: ${e.message}`;
  const err = e as { code?: unknown; message?: unknown } | null;
  if (typeof err?.code === 'string') return err.code;
  return typeof err?.message === 'string' ? err.message.slice(0, 200) : String(e).slice(0, 200);
}
