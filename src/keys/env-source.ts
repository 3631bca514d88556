import { InvalidKeyringError } from '../errors.js';
import { Keyring, looksLikePath } from './keyring.js';
import { KeyringSourceError } from './sources.js';

/** The environment variable holding the keyring JSON itself (containers, CI secrets, secret managers that inject env). */
export const KEYRING_ENV = 'SEALQ_KEYRING';

export interface KeyringFromEnvOptions {
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default: SEALQ_KEYRING. */
  name?: string;
  /** false: refuse private material (a verifier that must only hold public keys). */
  allowPrivate?: boolean;
}

/**
 * The keyring from an environment variable holding its JWKS JSON. The environment does not change
 * while a process runs, so this is a plain Keyring (itself a valid source for seal/open): rotate
 * by updating the secret and restarting, or use a file source for live reloads. Errors name the
 * variable, never its content.
 */
export function keyringFromEnv(options: KeyringFromEnvOptions = {}): Keyring {
  const env = options.env ?? process.env;
  const name = options.name ?? KEYRING_ENV;
  const text = env[name];
  if (text === undefined || text.trim() === '') {
    throw new KeyringSourceError(`the ${name} environment variable is not set: put the keyring JSON (a JWKS, as written by sealq keygen) in it`);
  }
  if (looksLikePath(text)) {
    // The value is not shown: it is meant to hold secrets.
    throw new InvalidKeyringError(`the ${name} environment variable looks like a file path, but it holds the keyring JSON itself: put the JSON (a JWKS, as written by sealq keygen) in ${name}; for a file, name it in another variable such as KEYRING_FILE and load it with readKeyringFileSync(process.env.KEYRING_FILE) (sealq commands: --keyring FILE)`);
  }
  try {
    return Keyring.fromJwks(text, options.allowPrivate === undefined ? {} : { allowPrivate: options.allowPrivate });
  } catch (e) {
    if (e instanceof InvalidKeyringError) throw new InvalidKeyringError(`the ${name} environment variable: ${e.message}`);
    throw e;
  }
}
