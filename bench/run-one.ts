/**
 * Runs one bench file in this process (started by bench/run.ts) and sends its report back to the
 * runner. Also usable alone: `node --import tsx bench/run-one.ts bench/core.bench.ts [--quick]`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Harness } from './harness.js';

interface BenchModule {
  run(h: Harness): Promise<void>;
}

const [file, ...flags] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: run-one.ts FILE.bench.ts [--quick] [--markdown] [--clock=wall|cpu]\n');
  process.exit(2);
}
const mod = (await import(pathToFileURL(resolve(file)).href)) as Partial<BenchModule>;
if (typeof mod.run !== 'function') throw new Error(`${file} must export async function run(h: Harness)`);
const clock = flags.find((f) => f.startsWith('--clock='))?.slice('--clock='.length);
if (clock !== undefined && clock !== 'wall' && clock !== 'cpu') throw new Error('--clock must be wall or cpu');
const h = new Harness({ quick: flags.includes('--quick'), markdown: flags.includes('--markdown'), ...(clock === undefined ? {} : { clock }) });
await mod.run(h);
if (process.send !== undefined) await new Promise<void>((done) => process.send!(h.report(), () => done()));
// A benchmark that left a connection or timer open must not hang the run.
process.exit(0);
