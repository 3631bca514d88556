import { createHmac, sign as cryptoSign, verify as cryptoVerify, timingSafeEqual, constants } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/**
 * The algorithm table. The verifier always takes the algorithm from its own key, never from a
 * message; `none` does not exist. Every primitive is node:crypto (OpenSSL); nothing is hand-written.
 */
export type Alg = 'HS256' | 'HS512' | 'EdDSA' | 'ES256' | 'PS256';
export const ALGS: readonly Alg[] = ['HS256', 'HS512', 'EdDSA', 'ES256', 'PS256'];

export type Kty = 'oct' | 'OKP' | 'EC' | 'RSA';

export interface AlgSpec {
  readonly alg: Alg;
  readonly kty: Kty;
  /** Largest signature this algorithm can produce: longer input is rejected before any crypto. */
  readonly maxSigLength: number;
  readonly symmetric: boolean;
  sign(key: KeyObject, data: Uint8Array): Buffer;
  verify(key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean;
  /**
   * The same verdict as verify, with the signature operation on libuv's thread pool (asymmetric
   * algorithms) so several run at once; lengths are checked first, on the caller's thread. `data`
   * must not be reused until the promise settles.
   */
  verifyAsync(key: KeyObject, data: Uint8Array, sig: Uint8Array): Promise<boolean>;
  /** sign on the thread pool (asymmetric algorithms); HMAC signs synchronously. */
  signAsync(key: KeyObject, data: Uint8Array): Promise<Buffer>;
}

type VerifyArgs = Parameters<typeof cryptoVerify>;

// The callback forms of crypto.verify and crypto.sign run on libuv's thread pool.
function pooledVerify(algorithm: string | null, data: Uint8Array, key: VerifyArgs[2], sig: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    // Fail closed: an OpenSSL error is a failed verification, never a crash.
    try {
      cryptoVerify(algorithm, data, key, sig, (err, ok) => resolve(err === null && ok === true));
    } catch {
      resolve(false);
    }
  });
}

function pooledSign(algorithm: string | null, data: Uint8Array, key: Parameters<typeof cryptoSign>[2]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    cryptoSign(algorithm, data, key, (err, sig) => (err === null ? resolve(sig) : reject(err)));
  });
}

function hmac(alg: Alg, hash: 'sha256' | 'sha512', len: number): AlgSpec {
  const sign = (key: KeyObject, data: Uint8Array): Buffer => createHmac(hash, key).update(data).digest();
  return {
    alg,
    kty: 'oct',
    maxSigLength: len,
    symmetric: true,
    sign,
    // Constant-time compare; a truncated tag is never accepted (length is fixed).
    verify: (key, data, sig) => sig.length === len && timingSafeEqual(sign(key, data), sig),
    // A thread-pool hop costs more than the HMAC itself: stays on the caller's thread.
    verifyAsync: async (key, data, sig) => sig.length === len && timingSafeEqual(sign(key, data), sig),
    signAsync: async (key, data) => sign(key, data),
  };
}

const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;

export const ALG_SPECS: Readonly<Record<Alg, AlgSpec>> = {
  HS256: hmac('HS256', 'sha256', 32),
  HS512: hmac('HS512', 'sha512', 64),
  EdDSA: {
    alg: 'EdDSA',
    kty: 'OKP',
    maxSigLength: 64,
    symmetric: false,
    sign: (key, data) => cryptoSign(null, data, key),
    verify: (key, data, sig) => sig.length === 64 && cryptoVerify(null, data, key, sig),
    verifyAsync: (key, data, sig) => (sig.length === 64 ? pooledVerify(null, data, key, sig) : Promise.resolve(false)),
    signAsync: (key, data) => pooledSign(null, data, key),
  },
  ES256: {
    alg: 'ES256',
    kty: 'EC',
    maxSigLength: 64,
    symmetric: false,
    sign: (key, data) => cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
    verify: (key, data, sig) =>
      sig.length === 64 && cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig),
    verifyAsync: (key, data, sig) =>
      (sig.length === 64 ? pooledVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig) : Promise.resolve(false)),
    signAsync: (key, data) => pooledSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
  },
  PS256: {
    alg: 'PS256',
    kty: 'RSA',
    maxSigLength: 512, // RSA-4096; OpenSSL checks the exact length against the modulus
    symmetric: false,
    sign: (key, data) => cryptoSign('sha256', data, { key, ...pss }),
    // Exactly the modulus length: OpenSSL alone also accepts a signature missing its leading zero bytes.
    verify: (key, data, sig) =>
      sig.length === (key.asymmetricKeyDetails!.modulusLength! + 7) >> 3 && cryptoVerify('sha256', data, { key, ...pss }, sig),
    verifyAsync: (key, data, sig) =>
      (sig.length === (key.asymmetricKeyDetails!.modulusLength! + 7) >> 3 ? pooledVerify('sha256', data, { key, ...pss }, sig) : Promise.resolve(false)),
    signAsync: (key, data) => pooledSign('sha256', data, { key, ...pss }),
  },
};

export function isAlg(value: unknown): value is Alg {
  return typeof value === 'string' && Object.hasOwn(ALG_SPECS, value);
}
