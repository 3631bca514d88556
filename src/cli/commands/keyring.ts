import { existsSync, readFileSync, statSync } from 'node:fs';
import { fsReason } from '../../fs-errors.js';
import { exportEncryptedKeyring, importEncryptedKeyring, MIN_PASSPHRASE_LENGTH, readBackupInfo } from '../../keys/backup.js';
import { keyringFileText, writeFileAtomicSync } from '../../keys/file-source.js';
import { parseFlagsAndPositionals, subcommand } from '../args.js';
import type { FlagSpec, FlagValues } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { loadKeyring } from '../keyring-source.js';
import { writeAll } from '../output.js';
import { readBounded } from '../stdin.js';

/** The environment variable that may hold the backup passphrase. */
export const PASSPHRASE_ENV = 'SEALQ_PASSPHRASE';

const help = `Usage: sealq keyring <export|import|info> [options]

Encrypted backups of a keyring, sealed under a passphrase:

  sealq keyring export --encrypt [--keyring FILE] [--out BACKUP [--force]] [--passphrase-file F]
  sealq keyring import [--in BACKUP] [--out FILE [--force]] [--passphrase-file F]
  sealq keyring info   [--in BACKUP]

export  writes the keyring encrypted with scrypt (N=2^17, r=8, p=1) and AES-256-GCM; the file
        names its KDF parameters and the key ids in the clear (authenticated, not secret).
import  decrypts a backup back into a keyring file (mode 0600) or onto stdout.
info    shows what a backup says about itself (created, key ids, KDF), without the passphrase.

The passphrase comes from the ${PASSPHRASE_ENV} environment variable or from --passphrase-file
(its first line), never from a command-line flag: those end up in shell history and in the
process list. Use at least ${MIN_PASSPHRASE_LENGTH} characters; a few random words are good.

Options:
  --encrypt             required for export: the only export format is the encrypted one
                        (for the public keys use: sealq public)
  --keyring FILE        the keyring to export (default: the SEALQ_KEYRING environment variable)
  --in BACKUP           the backup to import or describe (default: stdin)
  --out FILE            write there, with mode 0600 (default: stdout)
  --force               replace --out FILE if it exists
  --passphrase-file F   read the passphrase from the first line of F

A wrong passphrase fails with ERR_BACKUP_PASSPHRASE, an altered or damaged backup with
ERR_BACKUP_TAMPERED, something that is not a backup with ERR_BACKUP_MALFORMED (all exit 2).
`;

type Sub = 'export' | 'import' | 'info';

const PASSPHRASE_HELP = `The passphrase comes from the ${PASSPHRASE_ENV} environment variable or from --passphrase-file
(its first line), never from a command-line flag.`;

/** Each subcommand's own help, for `sealq keyring SUB --help`. */
const SUB_HELP: Record<Sub, string> = {
  export: `Usage: sealq keyring export --encrypt [--keyring FILE] [--out BACKUP [--force]] [--passphrase-file F]

Writes the keyring encrypted under a passphrase (scrypt, then AES-256-GCM). The backup names its
KDF parameters and key ids in the clear (authenticated, not secret). For the public keys, use
sealq public instead.

Options:
  --encrypt             required: the only export format is the encrypted one
  --keyring FILE        the keyring to export (default: the SEALQ_KEYRING environment variable)
  --out BACKUP          write there, with mode 0600 (default: stdout)
  --force               replace --out BACKUP if it exists
  --passphrase-file F   read the passphrase from the first line of F

${PASSPHRASE_HELP} Use at least ${MIN_PASSPHRASE_LENGTH} characters.
`,
  import: `Usage: sealq keyring import [--in BACKUP] [--out FILE [--force]] [--passphrase-file F]

Decrypts a backup made by sealq keyring export back into a keyring file (mode 0600) or onto
stdout. A wrong passphrase fails with ERR_BACKUP_PASSPHRASE, an altered or damaged backup with
ERR_BACKUP_TAMPERED, something that is not a backup with ERR_BACKUP_MALFORMED (all exit 2).

Options:
  --in BACKUP           the backup (default: stdin)
  --out FILE            write the keyring there, with mode 0600 (default: stdout)
  --force               replace --out FILE if it exists
  --passphrase-file F   read the passphrase from the first line of F

${PASSPHRASE_HELP}
`,
  info: `Usage: sealq keyring info [--in BACKUP]

Shows what a backup says about itself (when it was made, its key ids, its KDF) as JSON, marked
unverified: no passphrase is needed, so nothing of it is checked.

Options:
  --in BACKUP           the backup (default: stdin)
`,
};

const OPTIONS = {
  encrypt: { type: 'boolean' },
  keyring: { type: 'string' },
  in: { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  'passphrase-file': { type: 'string' },
  passphrase: { type: 'string' },
} as const satisfies FlagSpec;

const ALLOWED: Record<Sub, ReadonlyArray<keyof typeof OPTIONS>> = {
  export: ['encrypt', 'keyring', 'out', 'force', 'passphrase-file', 'passphrase'],
  import: ['in', 'out', 'force', 'passphrase-file', 'passphrase'],
  info: ['in'],
};

// A backup of 1000 RSA keys is a few MB.
const MAX_BACKUP_BYTES = 32 * 1024 * 1024;

type Values = FlagValues<typeof OPTIONS>;

function passphrase(v: Values, io: Io): string {
  if (v.passphrase !== undefined) {
    throw new UsageError(`--passphrase is not accepted: a passphrase on the command line lands in shell history and the process list. Put it in the ${PASSPHRASE_ENV} environment variable or a file for --passphrase-file`);
  }
  const file = v['passphrase-file'];
  if (file !== undefined) {
    let text: string;
    try {
      if (statSync(file).size > 64 * 1024) throw new UsageError(`--passphrase-file ${JSON.stringify(file)} is larger than any passphrase`);
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`cannot read --passphrase-file ${JSON.stringify(file)}: ${fsReason(e)}`);
    }
    const line = text.split(/\r?\n/, 1)[0] ?? '';
    if (line === '') throw new UsageError(`--passphrase-file ${JSON.stringify(file)} is empty: its first line is the passphrase`);
    return line;
  }
  const env = io.env[PASSPHRASE_ENV];
  if (env === undefined || env === '') throw new UsageError(`no passphrase: set the ${PASSPHRASE_ENV} environment variable or pass --passphrase-file FILE`);
  return env;
}

async function readBackup(v: Values, io: Io): Promise<Buffer> {
  if (v.in !== undefined) {
    try {
      if (statSync(v.in).size > MAX_BACKUP_BYTES) throw new UsageError(`${JSON.stringify(v.in)} is larger than any keyring backup`);
      return readFileSync(v.in);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`cannot read backup ${JSON.stringify(v.in)}: ${fsReason(e)}`);
    }
  }
  const { data, overLimit } = await readBounded(io.stdin, MAX_BACKUP_BYTES);
  if (overLimit) throw new UsageError('stdin is larger than any keyring backup');
  if (data.length === 0) throw new UsageError('no backup: pass --in BACKUP or pipe the backup into stdin');
  return data;
}

async function output(v: Values, io: Io, text: string, what: string): Promise<void> {
  if (v.out === undefined) {
    if (v.force === true) throw new UsageError('--force only applies with --out');
    await writeAll(io.stdout, text);
    return;
  }
  if (v.out === '') throw new UsageError('--out needs a file name');
  if (existsSync(v.out) && v.force !== true) throw new UsageError(`${JSON.stringify(v.out)} already exists; pass --force to replace it`);
  writeFileAtomicSync(v.out, text, 0o600);
  io.stderr.write(`wrote ${what} to ${v.out} (mode 0600)\n`);
}

export const keyringCommand: Command = {
  name: 'keyring',
  summary: 'encrypted keyring backups: export --encrypt, import, info',
  help,
  helpFor(args: readonly string[]): string | undefined {
    const sub = args.find((a) => Object.hasOwn(SUB_HELP, a)) as Sub | undefined;
    return sub === undefined ? undefined : SUB_HELP[sub];
  },
  async run(args: string[], io: Io): Promise<number> {
    const { values: v, positionals } = parseFlagsAndPositionals(args, OPTIONS);
    const [sub, ...extra] = positionals;
    const s = subcommand('keyring', sub, v, ALLOWED);
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0]!.slice(0, 40))}`);

    if (s === 'export') {
      if (v.encrypt !== true) throw new UsageError('export needs --encrypt (a backup is always encrypted; for the public keys use: sealq public)');
      const pass = passphrase(v, io);
      const keyring = await loadKeyring(v.keyring, io, 'keyring');
      const text = await exportEncryptedKeyring(keyring, pass);
      await output(v, io, text, `an encrypted backup of ${keyring.size} key(s)`);
      return EXIT_OK;
    }
    if (s === 'import') {
      const pass = passphrase(v, io);
      const data = await readBackup(v, io);
      const keyring = await importEncryptedKeyring(data, pass);
      await output(v, io, keyringFileText(keyring), `the keyring (${keyring.keys().map((k) => `${k.kid} ${k.status}`).join(', ')})`);
      return EXIT_OK;
    }
    const info = readBackupInfo(await readBackup(v, io));
    await writeAll(io.stdout, `${JSON.stringify({ unverified: true, ...info }, null, 2)}\n`);
    return EXIT_OK;
  },
};
