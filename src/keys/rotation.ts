import type { Alg } from '../crypto/algorithms.js';
import { parseDuration } from '../duration.js';
import { InvalidArgumentError, SealqError } from '../errors.js';
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_AGE_MS } from '../open.js';
import { generateKey } from './generate.js';
import type { Keyring } from './keyring.js';
import { SealKey } from './key.js';
import type { KeyInfo, KeyLifecycle } from './key.js';

type KeyChanges = Partial<Omit<KeyInfo, 'kid' | 'alg'>>;
import type { KeyPolicy } from './policy.js';

/**
 * A rotation step was refused because it would reject messages that are still in flight (or
 * leave the keyring unable to sign). `forceable` says whether `force: true` would override it:
 * the primary key can never be retired, revoked or removed, forced or not.
 */
export class RotationRefusedError extends SealqError {
  override readonly code = 'ERR_ROTATION_REFUSED';
  readonly forceable: boolean;
  /** When the step becomes safe (ms since the epoch), if waiting is the answer. */
  readonly allowedAt?: number;

  constructor(message: string, options: { forceable: boolean; allowedAt?: number }) {
    super(message);
    this.forceable = options.forceable;
    if (options.allowedAt !== undefined) this.allowedAt = options.allowedAt;
  }
}

/**
 * The waiting times that keep a rotation from rejecting legitimate messages.
 *
 * - `publishDelay`: how long a new key must have been in the keyring before it may become primary,
 *   so every consumer has loaded it. At least the longest keyring reload interval or JWKS cache
 *   age among consumers. Default 1h.
 * - `maxMessageValidity`: the longest a message stays valid (the consumers' maxAge, or the longest
 *   expiresIn producers use). Default 24h, open()'s default maxAge. Plus `clockSkew` (default 60s)
 *   it is the grace period between demotion and retirement, and between retirement and removal.
 */
export interface RotationOptions {
  /** Current time in ms (default: now). */
  now?: number;
  publishDelay?: number | string;
  maxMessageValidity?: number | string;
  clockSkew?: number | string;
  /** Do it even though messages in flight may be rejected (never overrides the primary's protection). */
  force?: boolean;
}

export const DEFAULT_PUBLISH_DELAY_MS = 3_600_000;

interface Resolved {
  now: number;
  publishDelay: number;
  grace: number;
  /** How the grace period is made up, for messages: "24h + 1m". */
  graceText: string;
  force: boolean;
}

const UNITS: ReadonlyArray<readonly [string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];

/** A duration in the form the options and the CLI flags take (`1h`, `90m`, `1500ms`): the largest unit that divides it. */
function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function resolve(o: RotationOptions): Resolved {
  const d = (v: number | string | undefined, dflt: number, what: string): number => (v === undefined ? dflt : parseDuration(v, what));
  const validity = d(o.maxMessageValidity, DEFAULT_MAX_AGE_MS, 'maxMessageValidity');
  const skew = d(o.clockSkew, DEFAULT_CLOCK_SKEW_MS, 'clockSkew');
  return {
    now: o.now ?? Date.now(),
    publishDelay: d(o.publishDelay, DEFAULT_PUBLISH_DELAY_MS, 'publishDelay'),
    grace: validity + skew,
    graceText: `${formatDuration(validity)} + ${formatDuration(skew)}`,
    force: o.force === true,
  };
}

const iso = (t: number): string => new Date(t).toISOString();

function wait(r: Resolved, allowedAt: number, message: string): void {
  if (r.now >= allowedAt || r.force) return;
  throw new RotationRefusedError(`${message}; wait until ${iso(allowedAt)} or force it (messages in flight may then be rejected)`, { forceable: true, allowedAt });
}

function never(message: string): never {
  throw new RotationRefusedError(message, { forceable: false });
}

function find(keyring: Keyring, kid: string): SealKey {
  if (typeof kid !== 'string' || kid === '') throw new InvalidArgumentError('a key id (kid) is required');
  const key = keyring.get(kid);
  if (key === undefined) throw new InvalidArgumentError(`no key "${kid}" in this keyring (keys: ${keyring.keys().map((k) => k.kid).join(', ') || 'none'})`);
  return key;
}

function stamp(key: SealKey, changes: Partial<KeyLifecycle>): KeyLifecycle {
  return { ...key.lifecycle, ...changes };
}

/** True once a key's not_after is set to (or before) `now`: it verifies only older messages. */
export function isRetired(key: SealKey, now = Date.now()): boolean {
  return key.lifecycle?.retiredAt !== undefined || (key.notAfter !== undefined && key.notAfter <= now);
}

export interface AddKeyOptions extends RotationOptions {
  kid?: string;
  policy?: KeyPolicy;
  notBefore?: number;
  notAfter?: number;
  /**
   * Make the new key primary at once. Allowed only when the keyring has no primary yet (a new
   * keyring: nothing signed, nothing in flight); otherwise add, publish, then promoteKey.
   */
  primary?: boolean;
}

/**
 * Step 1: a new keyring with `key` (or a freshly generated key of `alg`) added as verify-only
 * (status active), stamped `added_at`. Publish the new keyring to every consumer, wait the
 * publish delay, then promoteKey.
 */
export function addKey(keyring: Keyring, keyOrAlg: SealKey | Alg, options: AddKeyOptions = {}): Keyring {
  const r = resolve(options);
  let key = keyOrAlg instanceof SealKey ? keyOrAlg : generateKey(keyOrAlg, options.kid === undefined ? {} : { kid: options.kid });
  if (keyOrAlg instanceof SealKey && options.kid !== undefined && options.kid !== key.kid) {
    throw new InvalidArgumentError(`kid "${options.kid}" given for key "${key.kid}": a key keeps its kid`);
  }
  if (keyring.get(key.kid) !== undefined) throw new InvalidArgumentError(`the keyring already has a key "${key.kid}": choose another kid`);
  if (key.status === 'revoked' || key.status === 'disabled') throw new InvalidArgumentError(`key "${key.kid}" is ${key.status}: add a usable key`);
  const primary = options.primary === true;
  if (primary && keyring.primary !== undefined) {
    never(`the keyring already has primary key "${keyring.primary.kid}": add "${key.kid}" as verify-only, publish it to consumers, then promote it`);
  }
  const meta: { -readonly [K in keyof KeyChanges]: KeyChanges[K] } = {
    status: primary ? 'primary' : 'active',
    lifecycle: stamp(key, primary ? { addedAt: r.now, promotedAt: r.now } : { addedAt: r.now }),
  };
  if (options.policy !== undefined) meta.policy = options.policy;
  if (options.notBefore !== undefined) meta.notBefore = options.notBefore;
  if (options.notAfter !== undefined) meta.notAfter = options.notAfter;
  key = key.with(meta);
  return keyring.with(key);
}

/**
 * Step 3: `kid` becomes the primary (signing) key; the old primary becomes verify-only (active,
 * stamped `demoted_at`) so messages it signed keep verifying. Refused (unless forced) while the
 * key is younger than the publish delay: consumers that have not loaded it yet would reject
 * every new message with ERR_KEY_UNKNOWN.
 */
export function promoteKey(keyring: Keyring, kid: string, options: RotationOptions = {}): Keyring {
  const r = resolve(options);
  const key = find(keyring, kid);
  if (key.status === 'primary') never(`key "${kid}" is already the primary key`);
  if (key.status === 'revoked' || key.status === 'disabled') never(`key "${kid}" is ${key.status}: it cannot become primary; add a new key`);
  if (isRetired(key, r.now)) never(`key "${kid}" is retired (not_after ${key.notAfter === undefined ? 'set' : iso(key.notAfter)}): every message it signed now would be rejected; add a new key`);
  if (key.notBefore !== undefined) wait(r, key.notBefore, `key "${kid}" is not valid before ${iso(key.notBefore)}: messages it signed now would be rejected`);
  const added = key.lifecycle?.addedAt;
  if (added !== undefined) {
    wait(r, added + r.publishDelay, `key "${kid}" was added at ${iso(added)}, less than the publish delay (${formatDuration(r.publishDelay)}) ago: consumers that have not reloaded their keyring would reject its messages`);
  }
  let next = keyring;
  const old = keyring.primary;
  if (old !== undefined) next = next.with(old.with({ status: 'active', lifecycle: stamp(old, { demotedAt: r.now }) }));
  return next.with(key.with({ status: 'primary', lifecycle: stamp(key, { promotedAt: r.now }) }));
}

/**
 * Step 4: the key stops verifying messages issued from now on: not_after is set to now (kept if
 * already earlier) and `retired_at` stamped. Messages it signed before still verify until they
 * expire, so nothing in flight is rejected, while a stale producer (or a thief) signing with it
 * after now is rejected with ERR_KEY_INACTIVE. Refused for the primary key, and (unless forced)
 * within the grace period after it stopped being primary: producers that still sign with it
 * would have their messages rejected.
 */
export function retireKey(keyring: Keyring, kid: string, options: RotationOptions = {}): Keyring {
  const r = resolve(options);
  const key = find(keyring, kid);
  if (key.status === 'primary') never(`key "${kid}" is the primary key and cannot be retired: promote another key first`);
  if (key.status === 'revoked') never(`key "${kid}" is revoked, which already rejects all its messages`);
  if (key.lifecycle?.retiredAt !== undefined) never(`key "${kid}" was already retired at ${iso(key.lifecycle.retiredAt)}`);
  const demoted = key.lifecycle?.demotedAt;
  if (demoted !== undefined) {
    wait(r, demoted + r.grace, `key "${kid}" was primary until ${iso(demoted)}, less than the grace period (max message validity + clock skew, ${r.graceText}) ago`);
  }
  const notAfter = key.notAfter !== undefined && key.notAfter < r.now ? key.notAfter : r.now;
  return keyring.with(key.with({ notAfter, lifecycle: stamp(key, { retiredAt: r.now }) }));
}

/**
 * After a compromise: every message signed by the key is rejected with ERR_KEY_INACTIVE, even
 * those issued before. Immediate, with no waiting time (that is the point). The primary cannot
 * be revoked: promote a fresh key first (with force, if the compromise cannot wait).
 */
export function revokeKey(keyring: Keyring, kid: string, options: RotationOptions = {}): Keyring {
  const r = resolve(options);
  const key = find(keyring, kid);
  if (key.status === 'primary') never(`key "${kid}" is the primary key and cannot be revoked: add and promote a new key first (with force if the compromise cannot wait), then revoke it`);
  if (key.status === 'revoked') never(`key "${kid}" is already revoked`);
  return keyring.with(key.with({ status: 'revoked', lifecycle: stamp(key, { revokedAt: r.now }) }));
}

/**
 * Step 5 (destroy): the key leaves the keyring; its messages then fail with ERR_KEY_UNKNOWN.
 * Allowed at once for revoked or disabled keys and for a key that was never primary; a retired
 * key only once the grace period after retirement has passed (every message it signed has
 * expired); an active key that once signed must be retired first (unless forced). Never the primary.
 */
export function removeKey(keyring: Keyring, kid: string, options: RotationOptions = {}): Keyring {
  const r = resolve(options);
  const key = find(keyring, kid);
  if (key.status === 'primary') never(`key "${kid}" is the primary key and cannot be removed: promote another key, retire this one, then remove it`);
  // The file would then hold an empty keyring, which no loader accepts.
  if (keyring.size === 1) never(`key "${kid}" is the only key of this keyring, and a keyring needs at least one key: add its successor first`);
  if (key.status === 'active') {
    const lc = key.lifecycle;
    const retiredFrom = lc?.retiredAt !== undefined ? Math.min(lc.retiredAt, key.notAfter ?? lc.retiredAt) : key.notAfter;
    if (retiredFrom !== undefined && retiredFrom <= r.now) {
      wait(r, retiredFrom + r.grace, `key "${kid}" stopped verifying new messages at ${iso(retiredFrom)}, less than the grace period (${r.graceText}) ago: messages it signed before may still be in flight`);
    } else {
      const neverSigned = lc?.addedAt !== undefined && lc.promotedAt === undefined && lc.demotedAt === undefined;
      if (!neverSigned && !r.force) {
        throw new RotationRefusedError(`key "${kid}" still verifies messages: retire it first (sealq key retire ${kid}) and remove it after the grace period, or force it`, { forceable: true });
      }
    }
  }
  return keyring.without(kid);
}

/** Where a key stands in its rotation, for `sealq key list` and operators. */
export type KeyPhase =
  | 'primary' // signs and verifies
  | 'pending' // verify-only, never primary: publish, then promote
  | 'previous' // verify-only, was primary: retire after the grace period
  | 'retired' // verifies only messages issued before its not_after: remove after the grace period
  | 'removable' // retired longer than the grace period (or revoked/disabled): safe to remove
  | 'disabled'
  | 'revoked';

export interface KeyRotationState {
  readonly kid: string;
  readonly phase: KeyPhase;
  /** The next rotation step for this key and when it becomes allowed (ms), if any. */
  readonly next?: { readonly step: 'promote' | 'retire' | 'remove'; readonly allowedAt: number };
}

/** Each key's rotation phase and next step, from its status, validity and lifecycle stamps. */
export function rotationState(keyring: Keyring, options: Omit<RotationOptions, 'force'> = {}): KeyRotationState[] {
  const r = resolve(options);
  return keyring.keys().map((key): KeyRotationState => {
    const lc = key.lifecycle ?? {};
    if (key.status === 'primary') return { kid: key.kid, phase: 'primary' };
    if (key.status === 'revoked' || key.status === 'disabled') return { kid: key.kid, phase: key.status, next: { step: 'remove', allowedAt: r.now } };
    if (isRetired(key, r.now)) {
      const from = Math.min(lc.retiredAt ?? Infinity, key.notAfter ?? Infinity);
      const allowedAt = from + r.grace;
      return { kid: key.kid, phase: allowedAt <= r.now ? 'removable' : 'retired', next: { step: 'remove', allowedAt } };
    }
    if (lc.demotedAt !== undefined || lc.promotedAt !== undefined) {
      return { kid: key.kid, phase: 'previous', next: { step: 'retire', allowedAt: (lc.demotedAt ?? r.now) + r.grace } };
    }
    const publishedAt = lc.addedAt === undefined ? r.now : lc.addedAt + r.publishDelay;
    return { kid: key.kid, phase: 'pending', next: { step: 'promote', allowedAt: Math.max(publishedAt, key.notBefore ?? publishedAt) } };
  });
}
