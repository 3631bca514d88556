import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ALG_SPECS, isAlg } from '../crypto/algorithms.js';
import type { Alg } from '../crypto/algorithms.js';
import { InvalidArgumentError } from '../errors.js';
import { SealKey } from './key.js';
import type { KeyInfo, KeyStatus } from './key.js';
import type { KeyPolicy } from './policy.js';

export interface GenerateKeyOptions {
  /** Defaults to `<alg>-<yyyymmdd>-<random>`, readable in logs and sortable by age. */
  kid?: string;
  /** Defaults to `active` (verify-only); a new keyring makes its first key primary. */
  status?: KeyStatus;
  notBefore?: number;
  notAfter?: number;
  policy?: KeyPolicy;
}

export function defaultKid(alg: Alg, now = Date.now()): string {
  return `${alg.toLowerCase()}-${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`;
}

/** A new random key: 256-bit (HS256) or 512-bit (HS512) secret, Ed25519, P-256 or RSA-2048. */
export function generateKey(alg: Alg, options: GenerateKeyOptions = {}): SealKey {
  if (!isAlg(alg)) throw new InvalidArgumentError(`unknown algorithm ${JSON.stringify(alg)}: use one of ${Object.keys(ALG_SPECS).join(', ')}`);
  let signing: KeyObject;
  let verifying: KeyObject;
  switch (alg) {
    case 'HS256':
    case 'HS512':
      signing = verifying = createSecretKey(randomBytes(ALG_SPECS[alg].maxSigLength));
      break;
    case 'EdDSA':
      ({ privateKey: signing, publicKey: verifying } = generateKeyPairSync('ed25519'));
      break;
    case 'ES256':
      ({ privateKey: signing, publicKey: verifying } = generateKeyPairSync('ec', { namedCurve: 'P-256' }));
      break;
    case 'PS256':
      ({ privateKey: signing, publicKey: verifying } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
      break;
  }
  const info: { -readonly [K in keyof KeyInfo]: KeyInfo[K] } = { kid: options.kid ?? defaultKid(alg), alg, status: options.status ?? 'active' };
  if (options.notBefore !== undefined) info.notBefore = options.notBefore;
  if (options.notAfter !== undefined) info.notAfter = options.notAfter;
  if (options.policy !== undefined) info.policy = options.policy;
  return new SealKey(info, verifying, signing);
}
