import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, watch, writeSync } from 'node:fs';
import type { FSWatcher, Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseDuration } from '../duration.js';
import { InvalidKeyringError, SealqError } from '../errors.js';
import { fsReason } from '../fs-errors.js';
import { Keyring } from './keyring.js';
import { consoleLogger, describe, holdsSecrets, KeyringSourceError } from './sources.js';
import type { RefreshableKeyringSource, SourceLogger } from './sources.js';

// A keyring of the maximum 1000 RSA keys is a few MB; anything far larger is not a keyring.
const MAX_KEYRING_BYTES = 16 * 1024 * 1024;

/** A warning when a file holding secrets can be read by group or others; undefined when fine. */
export function fileModeWarning(path: string, mode: number): string | undefined {
  if (process.platform === 'win32' || (mode & 0o077) === 0) return undefined;
  const who = (mode & 0o007) !== 0 ? 'everyone on this machine' : 'its group';
  return `keyring file ${JSON.stringify(path)} holds secret keys and is readable by ${who} (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 on it`;
}

export interface ReadKeyringFileOptions {
  /** false: refuse a file with private material (a verifier that must only ever hold public keys). */
  allowPrivate?: boolean;
  /** Gets the group/world-readable warning. Default: console. */
  logger?: SourceLogger;
}

function parse(path: string, text: string | Buffer, allowPrivate: boolean | undefined): Keyring {
  try {
    return Keyring.fromJwks(text, allowPrivate === undefined ? {} : { allowPrivate });
  } catch (e) {
    if (e instanceof InvalidKeyringError) throw new InvalidKeyringError(`keyring file ${JSON.stringify(path)}: ${e.message}`);
    throw e;
  }
}

/** Refuses keyring JSON passed where a path belongs (SEALQ_KEYRING given to readKeyringFileSync), without echoing it. */
function checkPath(path: string): void {
  if (typeof path !== 'string' || path === '') throw new KeyringSourceError('a keyring file path is required');
  if (/^\s*[{[]/.test(path)) {
    throw new KeyringSourceError('the keyring file path looks like keyring JSON, not a path (not shown: it may hold secrets). SEALQ_KEYRING holds the JSON itself: load it with keyringFromEnv() or Keyring.fromJwks, and name a file in another variable such as KEYRING_FILE');
  }
}

function loadSync(path: string, options: ReadKeyringFileOptions): { keyring: Keyring; st: Stats; data: Buffer } {
  checkPath(path);
  let data: Buffer;
  let st: Stats;
  try {
    st = statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' });
    if (st.size > MAX_KEYRING_BYTES) throw new KeyringSourceError(`keyring file ${JSON.stringify(path)} is ${st.size} bytes, larger than any keyring (${MAX_KEYRING_BYTES}): is it the right file?`);
    data = readFileSync(path);
  } catch (e) {
    if (e instanceof SealqError) throw e;
    throw new KeyringSourceError(`cannot read keyring file ${JSON.stringify(path)}: ${fsReason(e)}`);
  }
  const keyring = parse(path, data, options.allowPrivate);
  const warning = holdsSecrets(keyring) ? fileModeWarning(path, st.mode) : undefined;
  if (warning !== undefined) (options.logger ?? consoleLogger).warn(warning);
  return { keyring, st, data };
}

/** Reads a keyring file (JWKS JSON) synchronously; warns through the logger when it holds secrets and is readable by others. */
export function readKeyringFileSync(path: string, options: ReadKeyringFileOptions = {}): Keyring {
  return loadSync(path, options).keyring;
}

/** The text sealq writes for a keyring: the private JWKS, or the public one with `public: true`. */
export function keyringFileText(keyring: Keyring, options: { public?: boolean } = {}): string {
  // Written, it could never be read back: loaders refuse an empty keyring.
  if (keyring.size === 0) throw new InvalidKeyringError('a keyring needs at least one key: refusing to write an empty one');
  return `${JSON.stringify(options.public === true ? keyring.toPublicJwks() : keyring.toPrivateJwks(), null, 2)}\n`;
}

/**
 * Replaces (or creates) a file atomically: a new file in the same directory, created with `mode`
 * (default 0600) from its first byte, written and fsynced, then renamed over the target, and the
 * directory fsynced. Readers see the old content or the new one, never a mix, and a crash leaves
 * one of the two.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      fchmodSync(fd, mode); // the umask may have removed bits; it never adds any
      writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new KeyringSourceError(`cannot write ${JSON.stringify(path)}: ${fsReason(e)}`);
  }
  try {
    // Makes the rename itself durable; not possible on every platform, and the data is already safe.
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}

/** Writes a keyring file atomically with mode 0600 (the private JWKS unless `public: true`). */
export function writeKeyringFileSync(path: string, keyring: Keyring, options: { public?: boolean; mode?: number } = {}): void {
  writeFileAtomicSync(path, keyringFileText(keyring, options), options.mode ?? 0o600);
}

export interface UpdateKeyringFileOptions {
  allowPrivate?: boolean;
  logger?: SourceLogger;
}

/**
 * Read-modify-write of a keyring file under a lock file (`FILE.lock`), so two operators (or two
 * scripts) changing the same keyring cannot lose each other's change. `change` returns the new
 * keyring (or throws to abort, leaving the file untouched). Returns the old and the new keyring.
 */
export function updateKeyringFileSync(path: string, change: (keyring: Keyring) => Keyring, options: UpdateKeyringFileOptions = {}): { before: Keyring; after: Keyring } {
  const lock = `${path}.lock`;
  let lfd: number;
  try {
    lfd = openSync(lock, 'wx', 0o600);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') {
      throw new KeyringSourceError(`${JSON.stringify(lock)} exists: another sealq command is changing this keyring; if none is running (a crash left it behind), delete that lock file`);
    }
    throw new KeyringSourceError(`cannot lock ${JSON.stringify(path)} (creating ${JSON.stringify(lock)}): ${fsReason(e)}`);
  }
  try {
    writeSync(lfd, `${process.pid}\n`);
    const before = readKeyringFileSync(path, options);
    const after = change(before);
    // Always 0600, also when the old file was wider: the warning on read said so, the write fixes it.
    writeFileAtomicSync(path, keyringFileText(after), 0o600);
    return { before, after };
  } finally {
    closeSync(lfd);
    rmSync(lock, { force: true });
  }
}

export interface WatchKeyringFileOptions {
  /** Poll the file this often (`5s`, or ms); 0 turns polling off. Default 5s. Polling catches changes fs.watch misses (network file systems, some editors, mounted secrets). */
  interval?: number | string;
  /** Also react to fs.watch events on the file's directory, for near-immediate reloads. Default true. */
  watch?: boolean;
  /** false: refuse files with private material (verifiers). */
  allowPrivate?: boolean;
  /**
   * Extra check of a new keyring before it replaces the old one: throw to refuse it. Built in:
   * the file must parse as a keyring with at least one key, and a keyring that could sign is not
   * replaced by one that cannot (a public keyring copied over a producer's private one).
   */
  validate?: (next: Keyring, previous: Keyring) => void;
  /** Called after a new keyring took effect. If it throws, the error is logged through `logger.error`; the new keyring stays in force. */
  onReload?: (keyring: Keyring, previous: Keyring) => void;
  /** Called when a changed file was refused (the old keyring stays in force), or could not be read. If it throws, that is logged too. */
  onError?: (error: SealqError) => void;
  /** Where refusals are logged (loudly, as errors) and mode warnings go. Default: console. */
  logger?: SourceLogger;
}

export interface KeyringFileSource extends RefreshableKeyringSource {
  readonly path: string;
  /** The keyring in force: the last one that loaded and passed the checks. */
  readonly keyring: Keyring;
  /** The reason the newest content of the file was refused, until a good one loads. */
  readonly lastError: SealqError | undefined;
  /** Re-reads the file now; resolves true when a new keyring took effect. */
  refresh(): Promise<boolean>;
  /** Stops watching and polling. */
  close(): void;
}

const signature = (s: Stats): string => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/**
 * A keyring that follows its file: producers and consumers pass the returned source to seal/open
 * (which read `.keyring` per message) and pick up a rotation without restarting. The first load
 * is synchronous and throws if the file is unusable. Later, a changed file (seen by fs.watch or by
 * polling its size, times and inode, then comparing a SHA-256 of its content) is parsed and
 * checked; a bad one is refused, logged as an error and reported to onError, and the old keyring
 * stays in force until a good one appears. Timers are unref'd: the source never keeps a process
 * alive on its own.
 */
export function watchKeyringFile(path: string, options: WatchKeyringFileOptions = {}): KeyringFileSource {
  const logger = options.logger ?? consoleLogger;
  const interval = options.interval === undefined ? 5000 : parseDuration(options.interval, 'interval');
  const first = loadSync(path, options);
  let keyring = first.keyring;
  let lastSig = signature(first.st);
  let lastHash = createHash('sha256').update(first.data).digest('hex');
  // the first load already warned about the mode; warn again only after it was fixed and broken again
  let warnedMode = holdsSecrets(keyring) && fileModeWarning(path, first.st.mode) !== undefined;
  let badHash: string | undefined;
  let lastError: SealqError | undefined;
  let closed = false;
  let running: Promise<boolean> | undefined;
  let again: { force: boolean } | undefined;

  const refuse = (err: SealqError, contentHash: string | undefined): void => {
    lastError = err;
    // Log a given bad content once, not on every poll; a new bad version is logged again.
    if (contentHash !== undefined && contentHash === badHash) return;
    badHash = contentHash;
    logger.error(`keyring file ${JSON.stringify(path)} changed but was refused; the previous keyring stays in force: ${describe(err)}`);
    try {
      options.onError?.(err);
    } catch (e) {
      // A failing callback must not stop reloads, nor go unnoticed.
      logger.error(`keyring file ${JSON.stringify(path)}: the onError callback threw: ${describe(e)}`);
    }
  };

  const check = async (force: boolean): Promise<boolean> => {
    let st: Stats;
    let data: Buffer;
    try {
      st = await stat(path);
      if (!force && signature(st) === lastSig) return false;
      if (st.size > MAX_KEYRING_BYTES) throw new KeyringSourceError(`the file is ${st.size} bytes, larger than any keyring`);
      data = await readFile(path);
    } catch (e) {
      refuse(e instanceof SealqError ? e : new KeyringSourceError(`cannot read keyring file ${JSON.stringify(path)}: ${fsReason(e)}`), `unreadable:${fsReason(e)}`);
      return false;
    }
    lastSig = signature(st);
    const hash = createHash('sha256').update(data).digest('hex');
    if (hash === lastHash) {
      lastError = undefined;
      return false;
    }
    let next: Keyring;
    try {
      next = parse(path, data, options.allowPrivate);
      if (next.size === 0) throw new InvalidKeyringError(`keyring file ${JSON.stringify(path)} holds no keys`);
      if (keyring.primary?.canSign === true && next.primary?.canSign !== true) {
        throw new InvalidKeyringError(`keyring file ${JSON.stringify(path)}: the new keyring cannot sign (no primary key with private material) but the one in force can; refusing it so producers keep working`);
      }
      options.validate?.(next, keyring);
    } catch (e) {
      refuse(e instanceof SealqError ? e : new InvalidKeyringError(`keyring file ${JSON.stringify(path)} refused by validate: ${describe(e)}`), hash);
      return false;
    }
    const previous = keyring;
    keyring = next;
    lastHash = hash;
    lastError = undefined;
    badHash = undefined;
    if (holdsSecrets(next)) {
      const warning = fileModeWarning(path, st.mode);
      if (warning !== undefined && !warnedMode) logger.warn(warning);
      warnedMode = warning !== undefined;
    }
    logger.info?.(`keyring file ${JSON.stringify(path)} reloaded: ${next.keys().map((k) => `${k.kid} (${k.status})`).join(', ')}`);
    try {
      options.onReload?.(next, previous);
    } catch (e) {
      // A failing callback must not undo a good reload, nor go unnoticed.
      logger.error(`keyring file ${JSON.stringify(path)} reloaded, but the onReload callback threw (the new keyring is in force): ${describe(e)}`);
    }
    return true;
  };

  // One check at a time; a trigger during a check runs one more check after it.
  const trigger = (force: boolean): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    if (running !== undefined) {
      again = { force: force || again?.force === true };
      return running;
    }
    running = (async () => {
      let changed = false;
      let next: { force: boolean } | undefined = { force };
      try {
        while (next !== undefined && !closed) {
          again = undefined;
          changed = (await check(next.force)) || changed;
          next = again;
        }
      } finally {
        running = undefined;
      }
      return changed;
    })();
    return running;
  };

  let watcher: FSWatcher | undefined;
  if (options.watch !== false) {
    try {
      const name = basename(path);
      // Watch the directory, not the file: an atomic rename replaces the file's inode.
      watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) void trigger(false);
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined; // polling still works
    }
  }
  const timer = interval > 0 ? setInterval(() => void trigger(false), interval) : undefined;
  timer?.unref();

  return {
    path,
    get keyring() {
      return keyring;
    },
    get lastError() {
      return lastError;
    },
    refresh: () => trigger(true),
    close() {
      closed = true;
      watcher?.close();
      if (timer !== undefined) clearInterval(timer);
    },
  };
}
