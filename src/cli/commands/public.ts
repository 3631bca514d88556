import { parseFlags } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { loadKeyring } from '../keyring-source.js';
import { writeAll } from '../output.js';

const help = `Usage: sealq public [--keyring FILE]

Prints the public JWKS of a keyring: what consumers need to verify, with no private material.
Publish it to consumers before promoting a new key.

Options:
  --keyring FILE   the private keyring (default: the SEALQ_KEYRING environment variable)

An HS256/HS512 key is one shared secret with no public half: for such a keyring the command
refuses (ERR_INVALID_KEY, exit 2) rather than print the secret. Verifiers of HMAC messages need
the private keyring itself, over a secure channel; or use EdDSA, ES256 or PS256.
`;

export const publicCommand: Command = {
  name: 'public',
  summary: 'print the public JWKS of a keyring (no private material)',
  help,
  async run(args: string[], io: Io): Promise<number> {
    const v = parseFlags(args, { keyring: { type: 'string' } });
    const keyring = await loadKeyring(v.keyring, io.env);
    if (keyring.size === 0) throw new UsageError('the keyring holds no keys');
    // toPublicJwks throws ERR_INVALID_KEY for a shared secret, naming its kid: exit 2, nothing printed.
    await writeAll(io.stdout, `${JSON.stringify(keyring.toPublicJwks(), null, 2)}\n`);
    return EXIT_OK;
  },
};
