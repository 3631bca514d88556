/**
 * Go core: Seal+Open at 1 KiB for HS256 and EdDSA, in the compact carrier and the headers carrier
 * (what the Asynq, AMQP, NATS and MQTT adapters use), next to raw crypto/hmac and crypto/ed25519
 * sign+verify. Measured in Go by go/internal/benchratio: interleaved rounds, CPU time of the Go
 * process, medians of rounds and of per-round ratios (the same operations as the Go benchmarks,
 * `cd go && go test -run '^$' -bench .`). Skipped when the Go toolchain is not installed.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fmt } from './harness.js';
import type { Harness } from './harness.js';

const run$ = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Figures {
  go: string;
  rounds: number;
  slice: string;
  cases: Array<{ name: string; opsPerSec: number }>;
  ratios: Array<{ label: string; value: number; atLeast: number }>;
}

export async function run(h: Harness): Promise<void> {
  h.section('Go core', 'Seal+Open of a 1 KiB payload in Go against the raw primitives: raw is sign then verify with crypto/hmac (a new hmac.New per side, hmac.Equal) or crypto/ed25519. The headers carrier leaves the payload as it is; the compact carrier also base64url-encodes and decodes it.');
  try {
    await run$('go', ['version'], { cwd: join(root, 'go') });
  } catch {
    h.skip('the Go toolchain (go) is not installed: install Go 1.24 or later');
    return;
  }
  const args = ['run', './internal/benchratio', '-json', '-rounds', h.quick ? '3' : '9', '-slice', h.quick ? '100ms' : '250ms', join(root, 'vectors', 'envelope-v1.json')];
  const { stdout } = await run$('go', args, { cwd: join(root, 'go'), maxBuffer: 16 * 1024 * 1024 });
  const f = JSON.parse(stdout) as Figures;
  h.note(`${f.go}; CPU time, ${f.rounds} rounds × ${f.slice} per case, interleaved; median`);
  h.table(['case', 'ops/s', 'time/op'], f.cases.map((c) => [c.name, fmt.int(c.opsPerSec), fmt.perOp(c.opsPerSec)]), [1, 2]);
  for (const r of f.ratios) h.ratio(r.label, r.value, { atLeast: r.atLeast });
}
