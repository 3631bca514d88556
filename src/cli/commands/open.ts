import { openAndClaim } from '../../claim.js';
import type { ClaimedMessage } from '../../claim.js';
import { open } from '../../open.js';
import type { OpenedMessage, OpenOptions } from '../../open.js';
import { durationFlag, parseFlags, sizeFlag } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { readEnvelope } from '../envelope-input.js';
import { loadKeyring } from '../keyring-source.js';
import { writeAll } from '../output.js';
import { resolveReplayStore } from '../replay.js';

const help = `Usage: sealq open --ctx CTX [--keyring FILE] [--type T] [--max-age DURATION] [--clock-skew DURATION] [--max-validity DURATION] [--max-payload SIZE] [--replay URL] < envelope

Verifies the compact envelope on stdin (one trailing newline or CRLF is ignored). On success
prints the payload on stdout, byte for byte, and exits 0. On rejection prints "CODE: message"
on stderr (ERR_SIGNATURE_INVALID, ERR_CONTEXT_MISMATCH, ERR_EXPIRED, ...) and exits 1. With
--replay, a payload that was written but whose completion the store could not record exits 3
(ERR_COMPLETION_NOT_RECORDED): it is not a rejection, and retrying it would output it again.

Options:
  --keyring FILE            keyring to verify with, private or public (default: the SEALQ_KEYRING environment variable)
  --ctx CTX                 the context (queue name) this consumer serves (required; repeat to accept several)
  --type T                  accepted message type (repeat to accept several; default: any)
  --max-age DURATION        validity of messages sealed without --expires-in (default 24h)
  --clock-skew DURATION     tolerated clock difference with the producer (default 60s)
  --max-validity DURATION   longest signed validity (expiry minus issue time) accepted (default 30d);
                            longer is ERR_VALIDITY_TOO_LONG
  --max-payload SIZE        largest payload accepted: bytes, KiB or MiB, like 4MiB (default 1MiB,
                            at most 256MiB); a larger envelope is ERR_MALFORMED before any cryptography
  --replay URL              claim the message in a replay store and mark it completed once the
                            payload is written; a message already completed is ERR_REPLAYED.
                            Supported: redis://HOST:PORT[/DB] (or rediss://, shared by every
                            consumer), memory (one process only: remembers nothing between runs)

Exit status: 0 opened; 1 rejected; 2 usage or configuration error (missing option, unknown flag,
unreadable or invalid keyring, bad duration).

Example:
  sealq seal --keyring k.json --ctx emails < job.json | sealq open --keyring k.json --ctx emails
`;

export const openCommand: Command = {
  name: 'open',
  summary: 'verify the envelope on stdin; print the payload, or CODE: reason',
  help,
  async run(args: string[], io: Io): Promise<number> {
    const v = parseFlags(args, {
      keyring: { type: 'string' },
      ctx: { type: 'string', multiple: true },
      type: { type: 'string', multiple: true },
      'max-age': { type: 'string' },
      'clock-skew': { type: 'string' },
      'max-validity': { type: 'string' },
      'max-payload': { type: 'string' },
      replay: { type: 'string' },
    });
    if (v.ctx === undefined || v.ctx.length === 0 || v.ctx.some((c) => c === '')) {
      throw new UsageError('missing --ctx: the context (queue name) this consumer serves');
    }
    const options: OpenOptions = { ctx: v.ctx.length === 1 ? v.ctx[0]! : v.ctx };
    if (v.type !== undefined) {
      if (v.type.some((t) => t === '')) throw new UsageError('--type needs a message type');
      options.typ = v.type.length === 1 ? v.type[0]! : v.type;
    }
    const maxAge = durationFlag(v['max-age'], 'max-age');
    if (maxAge !== undefined) options.maxAge = maxAge;
    const clockSkew = durationFlag(v['clock-skew'], 'clock-skew');
    if (clockSkew !== undefined) options.clockSkew = clockSkew;
    const maxValidity = durationFlag(v['max-validity'], 'max-validity');
    if (maxValidity !== undefined) options.maxValidity = maxValidity;
    const maxPayload = sizeFlag(v['max-payload'], 'max-payload');
    if (maxPayload !== undefined) options.maxPayloadBytes = maxPayload;
    const keyring = await loadKeyring(v.keyring, io, 'open');
    if (v.replay === undefined) {
      const msg: OpenedMessage = open(keyring, await readEnvelope(io, maxPayload), options);
      await writeAll(io.stdout, msg.payload);
      return EXIT_OK;
    }

    const replay = await resolveReplayStore(v.replay);
    try {
      const envelope = await readEnvelope(io, maxPayload);
      const msg: ClaimedMessage = await openAndClaim(keyring, envelope, { ...options, replay: replay.store });
      try {
        await writeAll(io.stdout, msg.payload);
      } catch (e) {
        // The payload did not reach its reader: let a retry have it.
        await msg.release().catch(() => undefined);
        throw e;
      }
      await msg.complete();
      return EXIT_OK;
    } finally {
      await replay.close();
    }
  },
};
