import type { KeyObject } from 'node:crypto';
import { ALG_SPECS } from '../crypto/algorithms.js';
import type { Alg, AlgSpec } from '../crypto/algorithms.js';
import { InvalidKeyError } from '../errors.js';
import { INSPECT } from '../redact.js';
import { compilePolicy } from './policy.js';
import type { KeyPolicy, NameMatcher } from './policy.js';

/**
 * - primary: signs new messages (exactly one per signing keyring) and verifies.
 * - active: verify-only (a key being introduced, or one being phased out).
 * - disabled: verifies nothing; may be re-activated.
 * - revoked: verifies nothing, ever (compromise); messages issued before revocation are rejected too.
 */
export type KeyStatus = 'primary' | 'active' | 'disabled' | 'revoked';
export const KEY_STATUSES: readonly KeyStatus[] = ['primary', 'active', 'disabled', 'revoked'];

/**
 * A signer whose private half never enters this process (PKCS#11 token, cloud KMS). It returns
 * the signature in the algorithm's wire form (raw 64-byte r||s for ES256, 64 bytes for EdDSA).
 * A synchronous signer works with seal(); an asynchronous one (a KMS call) with sealAsync().
 */
export interface ExternalSigner {
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface KeyInfo {
  readonly kid: string;
  readonly alg: Alg;
  readonly status: KeyStatus;
  /** Messages issued (signed `iat`) before this instant (ms) are rejected. */
  readonly notBefore?: number;
  /** Messages issued after this instant (ms) are rejected. */
  readonly notAfter?: number;
  readonly policy?: KeyPolicy;
  /** Rotation bookkeeping (ms), stored as the JWK members `added_at`, `promoted_at`, ... Informational: open() checks status and not_before/not_after only. */
  readonly lifecycle?: KeyLifecycle;
}

/**
 * When a key went through each rotation step (ms since the epoch). Used by the rotation functions
 * to refuse a step that would reject messages still in flight; absent for keys made before
 * sealq tracked them (then no waiting time can be checked).
 */
export interface KeyLifecycle {
  /** Added to the keyring as verify-only. */
  readonly addedAt?: number;
  /** Became the primary (signing) key. */
  readonly promotedAt?: number;
  /** Stopped being primary when another key was promoted. */
  readonly demotedAt?: number;
  /** Retired: not_after was set to this instant. */
  readonly retiredAt?: number;
  /** Revoked after a (suspected) compromise. */
  readonly revokedAt?: number;
}

/**
 * One key of a keyring. Immutable; changes make a new key. Its secret lives in a KeyObject inside
 * a private field, and toJSON/inspect show only public facts, so a key can be logged safely.
 */
export class SealKey implements KeyInfo {
  readonly kid: string;
  readonly alg: Alg;
  readonly status: KeyStatus;
  readonly notBefore?: number;
  readonly notAfter?: number;
  readonly policy?: KeyPolicy;
  readonly lifecycle?: KeyLifecycle;
  /** @internal */ readonly spec: AlgSpec;
  /** @internal */ readonly allowsCtx: NameMatcher;
  /** @internal */ readonly allowsTyp: NameMatcher;
  readonly #signing: KeyObject | ExternalSigner | undefined;
  readonly #verifying: KeyObject;

  /** @internal Use generateKey, importJwk or a Keyring. */
  constructor(info: KeyInfo, verifying: KeyObject, signing: KeyObject | ExternalSigner | undefined) {
    if (!KEY_STATUSES.includes(info.status)) throw new InvalidKeyError(`key ${JSON.stringify(String(info.kid).slice(0, 128))}: status must be one of ${KEY_STATUSES.join(', ')}`);
    this.kid = info.kid;
    this.alg = info.alg;
    this.status = info.status;
    if (info.notBefore !== undefined) this.notBefore = info.notBefore;
    if (info.notAfter !== undefined) this.notAfter = info.notAfter;
    if (info.lifecycle !== undefined && Object.keys(info.lifecycle).length > 0) this.lifecycle = Object.freeze({ ...info.lifecycle });
    this.spec = ALG_SPECS[info.alg];
    const m = compilePolicy(info.policy, info.kid);
    if (m.policy !== undefined) this.policy = m.policy;
    this.allowsCtx = m.ctx;
    this.allowsTyp = m.typ;
    this.#verifying = verifying;
    this.#signing = signing;
  }

  /** True when this key holds private (or secret) material and so can sign. */
  get canSign(): boolean {
    return this.#signing !== undefined;
  }

  /** @internal */ sign(data: Uint8Array): Uint8Array | Promise<Uint8Array> {
    const s = this.#signing!;
    return 'sign' in s ? s.sign(data) : this.spec.sign(s, data);
  }

  /** True when the private half lives outside this process (PKCS#11, KMS). */
  get external(): boolean {
    return this.#signing !== undefined && 'sign' in this.#signing;
  }

  /** @internal */ verify(data: Uint8Array, sig: Uint8Array): boolean {
    return this.spec.verify(this.#verifying, data, sig);
  }

  /** @internal verify, with the signature operation on the thread pool for asymmetric keys. */
  verifyAsync(data: Uint8Array, sig: Uint8Array): Promise<boolean> {
    return this.spec.verifyAsync(this.#verifying, data, sig);
  }

  /** @internal sign on the thread pool for asymmetric keys held in memory; external signers as they are. */
  signAsync(data: Uint8Array): Uint8Array | Promise<Uint8Array> {
    const s = this.#signing!;
    return 'sign' in s ? s.sign(data) : this.spec.symmetric ? this.spec.sign(s, data) : this.spec.signAsync(s, data);
  }

  /** @internal The KeyObjects, for JWK export (an external signer has none to export). */
  material(): { verifying: KeyObject; signing: KeyObject | undefined } {
    const s = this.#signing;
    return { verifying: this.#verifying, signing: s === undefined || 'sign' in s ? undefined : s };
  }

  /**
   * A key whose signing happens elsewhere (HSM, KMS): `publicKey` verifies, `signer` signs.
   * Not available for HMAC: a shared secret must be in memory to verify anyway.
   */
  static external(info: KeyInfo, publicKey: KeyObject, signer: ExternalSigner): SealKey {
    return new SealKey(info, publicKey, signer);
  }

  /** A copy with other metadata (status, validity, policy); same key material. */
  with(changes: Partial<Omit<KeyInfo, 'kid' | 'alg'>>): SealKey {
    return new SealKey({ ...this.info(), ...changes }, this.#verifying, this.#signing);
  }

  /** A verify-only copy without private material. */
  toPublic(): SealKey {
    if (this.spec.symmetric) return this;
    return new SealKey(this.info(), this.#verifying, undefined);
  }

  /** Public facts only. */
  info(): KeyInfo {
    const i: { -readonly [K in keyof KeyInfo]: KeyInfo[K] } = { kid: this.kid, alg: this.alg, status: this.status };
    if (this.notBefore !== undefined) i.notBefore = this.notBefore;
    if (this.notAfter !== undefined) i.notAfter = this.notAfter;
    if (this.policy !== undefined) i.policy = this.policy;
    if (this.lifecycle !== undefined) i.lifecycle = this.lifecycle;
    return i;
  }

  toJSON(): KeyInfo & { canSign: boolean } {
    return { ...this.info(), canSign: this.canSign };
  }

  /** Public facts only, like inspect. */
  toString(): string {
    return `SealKey { kid: ${JSON.stringify(this.kid)}, alg: '${this.alg}', status: '${this.status}', material: [redacted] }`;
  }

  [INSPECT](): string {
    return this.toString();
  }
}
