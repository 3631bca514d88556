import { parseFlags } from '../args.js';
import { EXIT_OK, EXIT_REJECTED } from '../command.js';
import type { Command, Io } from '../command.js';
import { runDemo } from '../demo/scenario.js';
import { renderDemo, style } from '../demo/table.js';
import { useColor, writeAll } from '../output.js';

const help = `Usage: sealq demo [--report]

Runs a producer and a consumer on an in-process queue with the embedded defaults (an HS256 key
generated on the spot, the in-memory replay store) and plays the attacks someone with write access
to the broker could try: unsigned job, payload tampered, header tampered, forged with an unknown
key, replay after completion, expired, delivered early, wrong queue, wrong job type, algorithm
confusion; and a legitimate retry after the processor fails once.

With --report the consumer runs in report mode, as during a rollout: every attack is processed
anyway and reported with the code enforcement would reject it with.

Prints one row per message: what was sent, what the consumer did, and why. Exit status 0 when
every attack was rejected with its expected code and every legitimate message processed exactly
once; otherwise 1, naming the row that failed. Needs no broker, no files, no network.
`;

export const demo: Command = {
  name: 'demo',
  summary: 'play the attacks against a producer and consumer on an in-process queue',
  help,
  async run(args: string[], io: Io): Promise<number> {
    const flags = parseFlags(args, { report: { type: 'boolean' } });
    const result = await runDemo(flags.report === true ? { mode: 'report' } : {});
    await writeAll(io.stdout, renderDemo(result, style(useColor(io.stdout, io.env))));
    return result.rows.every((r) => r.ok) ? EXIT_OK : EXIT_REJECTED;
  },
};
