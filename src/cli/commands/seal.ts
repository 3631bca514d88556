import { DEFAULT_MAX_PAYLOAD_BYTES } from '../../envelope/limits.js';
import { seal, times } from '../../seal.js';
import type { SealOptions } from '../../seal.js';
import { durationFlag, parseFlags, required, sizeFlag } from '../args.js';
import { EXIT_OK, EXIT_REJECTED } from '../command.js';
import type { Command, Io } from '../command.js';
import { loadKeyring } from '../keyring-source.js';
import { writeAll } from '../output.js';
import { printError } from '../report.js';
import { isTerminal, readBounded } from '../stdin.js';

const help = `Usage: sealq seal --ctx CTX [--keyring FILE] [--type T] [--expires-in DURATION] [--max-validity DURATION] [--id ID] [--content-type CT] [--max-payload SIZE] < payload

Seals the payload on stdin (any bytes, taken exactly; at most 1MiB, or --max-payload) with the
keyring's primary key and prints the compact envelope on stdout, followed by one newline
(sealq open and sealq inspect accept it with or without that newline).

Options:
  --keyring FILE             private keyring (default: the SEALQ_KEYRING environment variable)
  --ctx CTX                  context: the destination (queue name); the message opens only there (required)
  --type T                   message type (job name); consumers may require it
  --expires-in DURATION      valid for this long, like 30s, 5m, 2h, 7d (default: the consumer's --max-age);
                             more than 0 and at most --max-validity
  --max-validity DURATION    longest --expires-in allowed (default 30d); consumers reject longer
                             validity (ERR_VALIDITY_TOO_LONG) unless their --max-validity is raised too
  --id ID                    message id (default: 128 random bits); the replay store keys on it
  --content-type CT          content type of the payload, like application/json
  --max-payload SIZE         largest payload: bytes, KiB or MiB, like 4MiB (default 1MiB, at most 256MiB);
                             consumers must accept as much (sealq open --max-payload, maxPayloadBytes)

Exit status: 0 sealed; 1 payload refused (too large, or the key's policy forbids this ctx/type);
2 usage or configuration error (missing option, unreadable keyring, keyring that cannot sign).

Example:
  echo '{"to":"alice"}' | sealq seal --keyring keyring.json --ctx emails --type welcome --expires-in 1h
`;

export const sealCommand: Command = {
  name: 'seal',
  summary: 'sign the payload on stdin for one context; print the envelope',
  help,
  async run(args: string[], io: Io): Promise<number> {
    const v = parseFlags(args, {
      keyring: { type: 'string' },
      ctx: { type: 'string' },
      type: { type: 'string' },
      'expires-in': { type: 'string' },
      'max-validity': { type: 'string' },
      id: { type: 'string' },
      'content-type': { type: 'string' },
      'max-payload': { type: 'string' },
    });
    const options: SealOptions = { ctx: required(v.ctx, 'ctx', 'the context (queue name) the message is for') };
    if (v.type !== undefined) options.typ = v.type;
    if (v.id !== undefined) options.id = v.id;
    if (v['content-type'] !== undefined) options.ct = v['content-type'];
    const expiresIn = durationFlag(v['expires-in'], 'expires-in');
    if (expiresIn !== undefined) options.expiresIn = expiresIn;
    const maxValidity = durationFlag(v['max-validity'], 'max-validity');
    if (maxValidity !== undefined) options.maxValidity = maxValidity;
    times(options); // the expiry's sanity rules, before waiting on stdin
    const maxPayload = sizeFlag(v['max-payload'], 'max-payload') ?? DEFAULT_MAX_PAYLOAD_BYTES;
    options.maxPayloadBytes = maxPayload;
    // Everything about the invocation is checked before waiting on stdin.
    const keyring = await loadKeyring(v.keyring, io, 'seal');
    keyring.signer();

    if (isTerminal(io.stdin)) io.stderr.write('reading the payload from stdin: type it, then press Ctrl-D (or pipe it in)\n');
    const input = await readBounded(io.stdin, maxPayload);
    if (input.overLimit) {
      const raise = maxPayload === DEFAULT_MAX_PAYLOAD_BYTES ? ', or raise the limit with --max-payload here and on every consumer' : '';
      printError(io, 'ERR_INVALID_ARGUMENT', `the payload on stdin is larger than ${maxPayload} bytes, the maximum: send a reference to the data (a URL, an object key) instead${raise}`);
      return EXIT_REJECTED;
    }
    const envelope = seal(keyring, input.data, options);
    await writeAll(io.stdout, `${envelope}\n`);
    return EXIT_OK;
  },
};
