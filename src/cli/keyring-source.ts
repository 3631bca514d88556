import { readFile, stat } from 'node:fs/promises';
import { InvalidKeyringError } from '../errors.js';
import { Keyring } from '../keys/keyring.js';
import { UsageError } from './command.js';

/** The environment variable that may hold the keyring JSON itself, for containers and CI secrets. */
export const KEYRING_ENV = 'SEALQ_KEYRING';

// A keyring of the maximum 1000 RSA keys is a few MB; anything far larger is not a keyring.
const MAX_KEYRING_BYTES = 16 * 1024 * 1024;

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

function unreadable(file: string, e: unknown): never {
  const code = (e as { code?: unknown }).code;
  const why = typeof code === 'string' ? (REASONS[code] ?? code) : 'unknown error';
  throw new UsageError(`cannot read keyring file ${JSON.stringify(file)}: ${why}`);
}

/**
 * The keyring for a command: `--keyring FILE`, else the SEALQ_KEYRING variable holding the JWKS
 * JSON. Neither, or one that cannot be read, is a usage error. Errors name the source, never its
 * content (it holds secrets).
 */
export async function loadKeyring(file: string | undefined, env: NodeJS.ProcessEnv): Promise<Keyring> {
  let text: string;
  let source: string;
  if (file !== undefined) {
    if (file === '') throw new UsageError('--keyring needs a file name');
    source = `keyring file ${JSON.stringify(file)}`;
    try {
      const s = await stat(file);
      if (s.isDirectory()) unreadable(file, { code: 'EISDIR' });
      if (s.size > MAX_KEYRING_BYTES) throw new UsageError(`${source} is ${s.size} bytes, larger than any keyring (${MAX_KEYRING_BYTES}): is it the right file?`);
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (e instanceof UsageError) throw e;
      unreadable(file, e);
    }
  } else {
    const v = env[KEYRING_ENV];
    if (v === undefined || v.trim() === '') {
      throw new UsageError(`no keyring: pass --keyring FILE, or put the keyring JSON in the ${KEYRING_ENV} environment variable (create one with: sealq keygen --alg EdDSA --out keyring.json)`);
    }
    source = `the ${KEYRING_ENV} environment variable`;
    text = v;
  }
  try {
    return Keyring.fromJwks(text);
  } catch (e) {
    // The core's messages name key ids and members, never material; add where it came from.
    if (e instanceof InvalidKeyringError) throw new InvalidKeyringError(`${source}: ${e.message}`);
    throw e;
  }
}
