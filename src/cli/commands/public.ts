import { Keyring } from '../../keys/keyring.js';
import { parseFlags } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { loadKeyring } from '../keyring-source.js';
import { writeAll } from '../output.js';
import { printWarning } from '../report.js';

const help = `Usage: sealq public [--keyring FILE]

Prints the public JWKS of a keyring: what consumers need to verify, with no private material.
Publish it to consumers before promoting a new key.

Options:
  --keyring FILE   the private keyring (default: the SEALQ_KEYRING environment variable)

An HS256/HS512 key is one shared secret with no public half, so it is never printed. A keyring
that mixes them with EdDSA/ES256/PS256 keys (in a move from HMAC to signatures) gives the
public keys, and stderr names the keys left out: verifiers keep those from the private keyring,
given to them over a secure channel. A keyring of HMAC keys only is refused (ERR_INVALID_KEY,
exit 2): its verifiers need the private keyring itself; or use EdDSA, ES256 or PS256.
`;

export const publicCommand: Command = {
  name: 'public',
  summary: 'print the public JWKS of a keyring (no private material)',
  help,
  async run(args: string[], io: Io): Promise<number> {
    const v = parseFlags(args, { keyring: { type: 'string' } });
    const keyring = await loadKeyring(v.keyring, io, 'public');
    if (keyring.size === 0) throw new UsageError('the keyring holds no keys');
    const shared = keyring.keys().filter((k) => k.spec.symmetric);
    // Only shared secrets: toPublicJwks throws ERR_INVALID_KEY naming the kid; exit 2, nothing printed.
    const published = shared.length === keyring.size ? keyring : new Keyring(keyring.keys().filter((k) => !k.spec.symmetric));
    const jwks = published.toPublicJwks();
    await writeAll(io.stdout, `${JSON.stringify(jwks, null, 2)}\n`);
    if (shared.length > 0) {
      const names = shared.map((k) => `"${k.kid}" (${k.alg}, ${k.status})`).join(', ');
      printWarning(io, 'public', `left out ${names}: a shared secret has no public half. Verifiers of ${shared.length === 1 ? 'its' : 'their'} messages keep ${shared.length === 1 ? 'it' : 'them'} from the private keyring, given over a secure channel`);
    }
    return EXIT_OK;
  },
};
