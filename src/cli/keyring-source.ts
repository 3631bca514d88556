import { keyringFromEnv, KEYRING_ENV } from '../keys/env-source.js';
import { readKeyringFileSync } from '../keys/file-source.js';
import type { Keyring } from '../keys/keyring.js';
import type { SourceLogger } from '../keys/sources.js';
import { UsageError } from './command.js';
import type { Io } from './command.js';
import { printWarning } from './report.js';

/** Warnings about the keyring's source (a private keyring file others can read) go to stderr, naming the command. */
export function stderrLogger(io: Io, command: string): SourceLogger {
  return { warn: (m) => printWarning(io, command, m), error: (m) => printWarning(io, command, m) };
}

/**
 * The keyring for a command: `--keyring FILE`, else the SEALQ_KEYRING variable holding the JWKS
 * JSON. Neither is a usage error; a file that cannot be read is ERR_KEYRING_SOURCE, content that is
 * not a keyring ERR_INVALID_KEYRING (exit 2). A private keyring file that group or others can read
 * is used, with a warning on stderr, as the library warns. Errors name the source, never its
 * content (it holds secrets).
 */
export async function loadKeyring(file: string | undefined, io: Io, command: string): Promise<Keyring> {
  if (file !== undefined) {
    if (file === '') throw new UsageError('--keyring needs a file name');
    return readKeyringFileSync(file, { logger: stderrLogger(io, command) });
  }
  const v = io.env[KEYRING_ENV];
  if (v === undefined || v.trim() === '') {
    throw new UsageError(`no keyring: pass --keyring FILE, or put the keyring JSON in the ${KEYRING_ENV} environment variable (create one with: sealq keygen --alg EdDSA --out keyring.json)`);
  }
  return keyringFromEnv({ env: io.env });
}
