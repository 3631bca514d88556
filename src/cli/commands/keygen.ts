import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ALGS, isAlg } from '../../crypto/algorithms.js';
import { fsReason } from '../../fs-errors.js';
import { Keyring } from '../../keys/keyring.js';
import { parseFlags } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { writeAll } from '../output.js';

const help = `Usage: sealq keygen --alg ALG [--kid ID] [--out FILE [--force]]

Creates a new private keyring (JWKS JSON) holding one primary key.

Options:
  --alg ALG    ${ALGS.join(', ')} (required)
                 HS256/HS512: one shared secret, producers and consumers hold the same keyring.
                 EdDSA/ES256/PS256: consumers need only the public keyring (sealq public).
  --kid ID     key id (default: <alg>-<yyyymmdd>-<random>)
  --out FILE   write the keyring to FILE, created with mode 0600; without it, print on stdout
  --force      replace FILE if it exists (its keys are lost)

The output holds secret key material: keep it in a file only you can read, or a secret manager.
`;

function cannotWrite(file: string, e: unknown): never {
  // Creating a file, ENOENT means its directory is missing.
  throw new UsageError(`cannot write ${JSON.stringify(file)}: ${fsReason(e, { ENOENT: 'the directory does not exist' })}`);
}

function writeNew(path: string, text: string): void {
  // Created with 0600 from the first byte (never a moment world-readable); fchmod in case the umask removed bits.
  const fd = openSync(path, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a secret file with mode 0600: refuses to replace one, unless `force` (then atomically, via a new file and rename). */
export function writeSecretFile(path: string, text: string, force: boolean): void {
  if (!force) {
    try {
      writeNew(path, text);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'EEXIST') throw new UsageError(`${JSON.stringify(path)} already exists; pass --force to replace it (the keys in it are lost)`);
      cannotWrite(path, e);
    }
    return;
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeNew(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    cannotWrite(path, e);
  }
}

export const keygen: Command = {
  name: 'keygen',
  summary: 'create a new private keyring (JWKS) with one primary key',
  help,
  async run(args: string[], io: Io): Promise<number> {
    const v = parseFlags(args, { alg: { type: 'string' }, kid: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } });
    if (v.alg === undefined) throw new UsageError(`missing --alg: one of ${ALGS.join(', ')}`);
    if (!isAlg(v.alg)) throw new UsageError(`--alg ${JSON.stringify(v.alg.slice(0, 20))} is not supported: use one of ${ALGS.join(', ')}`);
    if (v.force && v.out === undefined) throw new UsageError('--force only applies with --out');
    const generated = Keyring.generate(v.alg, v.kid === undefined ? {} : { kid: v.kid });
    // Stamped as sealq key add --create stamps a new primary: sealq key list shows when it was added.
    const now = Date.now();
    const keyring = generated.with(generated.primary!.with({ lifecycle: { addedAt: now, promotedAt: now } }));
    const text = `${JSON.stringify(keyring.toPrivateJwks(), null, 2)}\n`;
    if (v.out === undefined) {
      await writeAll(io.stdout, text);
    } else {
      if (v.out === '') throw new UsageError('--out needs a file name');
      writeSecretFile(v.out, text, v.force === true);
      const key = keyring.primary!;
      io.stderr.write(`wrote ${v.out} (mode 0600): primary key "${key.kid}" (${key.alg})\n`);
    }
    return EXIT_OK;
  },
};
