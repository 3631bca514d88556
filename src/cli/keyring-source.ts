import { keyringFromEnv, KEYRING_ENV } from '../keys/env-source.js';
import { readKeyringFileSync } from '../keys/file-source.js';
import type { Keyring } from '../keys/keyring.js';
import { KeyringSourceError } from '../keys/sources.js';
import type { SourceLogger } from '../keys/sources.js';
import { UsageError } from './command.js';

// Commands that only read a keyring do not warn about its file mode; the sealq key steps that rewrite the file do.
const quiet: SourceLogger = { warn: () => undefined, error: () => undefined };

/**
 * The keyring for a command: `--keyring FILE`, else the SEALQ_KEYRING variable holding the JWKS
 * JSON. Neither, or a file that cannot be read, is a usage error; content that is not a keyring is
 * ERR_INVALID_KEYRING. Errors name the source, never its content (it holds secrets).
 */
export async function loadKeyring(file: string | undefined, env: NodeJS.ProcessEnv): Promise<Keyring> {
  if (file !== undefined) {
    if (file === '') throw new UsageError('--keyring needs a file name');
    try {
      return readKeyringFileSync(file, { logger: quiet });
    } catch (e) {
      // Missing, unreadable, a directory or far too large: the invocation is wrong (exit 2 with a pointer to --help).
      if (e instanceof KeyringSourceError) throw new UsageError(e.message);
      throw e;
    }
  }
  const v = env[KEYRING_ENV];
  if (v === undefined || v.trim() === '') {
    throw new UsageError(`no keyring: pass --keyring FILE, or put the keyring JSON in the ${KEYRING_ENV} environment variable (create one with: sealq keygen --alg EdDSA --out keyring.json)`);
  }
  return keyringFromEnv({ env });
}
