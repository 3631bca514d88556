import type { Header } from '../../envelope/header.js';
import { inspectEnvelope } from '../../inspect.js';
import { parseFlags } from '../args.js';
import { EXIT_OK } from '../command.js';
import type { Command, Io } from '../command.js';
import { readEnvelope } from '../envelope-input.js';
import { writeAll } from '../output.js';

const help = `Usage: sealq inspect < envelope

Decodes the compact envelope on stdin WITHOUT verifying it, and prints its headers, key ids and
payload size as JSON, with "verified": false. For debugging and operators: never act on it; use
sealq open to verify.

Exit status: 0 decoded; 1 malformed (ERR_MALFORMED, ERR_UNSUPPORTED_VERSION); 2 usage error.
`;

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'decode the envelope on stdin WITHOUT verifying it; print its headers',
  help,
  async run(args: string[], io: Io): Promise<number> {
    parseFlags(args, {});
    const info = inspectEnvelope(await readEnvelope(io));
    const out = {
      verified: false,
      warning: 'NOT VERIFIED: decoded only; anyone could have written this. Use sealq open to verify.',
      kids: info.kids,
      payloadBytes: info.payloadBytes,
      headers: info.headers,
      // The same instants, readable; claimed by the message, not checked.
      times: info.headers.map((h: Header) => ({ iat: iso(h.iat), nbf: iso(h.nbf), exp: iso(h.exp) })),
    };
    await writeAll(io.stdout, `${JSON.stringify(out, null, 2)}\n`);
    return EXIT_OK;
  },
};
