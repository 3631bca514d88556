// The README's quick start for users, run as a user runs it: its producer.mjs and worker.mjs code
// blocks, taken from the README itself, as plain Node files in an app folder of their own, with
// `sealq`, `bullmq` and `ioredis` resolved from node_modules and the keyring made by the README's
// own keygen command. Runs the BUILT package (dist/): `npm test` builds first.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { needBroker, uniqueName } from '../helpers/brokers.ts';
import { deleteMatching } from '../helpers/redis.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');

function block(readme: string, file: string): string {
  const m = new RegExp('```js\\n// ' + file.replace('.', '\\.') + '\\n([\\s\\S]*?)```').exec(readme);
  assert.ok(m, `README has no js code block starting with "// ${file}"`);
  return m[1]!;
}

/** An app folder whose node_modules holds this package (as installed) and the queue clients. */
function appFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealq-readme-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'sealq'), 'dir');
  for (const dep of ['bullmq', 'ioredis']) symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  return dir;
}

test('README quick start: the producer and the worker run as shown, and the worker processes the job', { timeout: 120_000 }, async (t) => {
  if (!(await needBroker(t, 'redis'))) return;
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.match(readme, /^npm install sealq bullmq ioredis$/m, 'the quick start installs sealq and the queue peer');
  const keygen = /export SEALQ_KEYRING="\$\(npx sealq (keygen [^)]*)\)"/.exec(readme);
  assert.ok(keygen, 'the quick start makes the keyring with sealq keygen');
  const made = spawnSync(process.execPath, [BIN, ...keygen[1]!.trim().split(/\s+/)], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);

  // The test's own queue: the snippets' queue name, replaced (it appears once in each).
  const queue = uniqueName('readme');
  const dir = appFolder();
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  t.after(async () => {
    const q = new Queue(queue, { connection: { host: '127.0.0.1', port: 6379 } });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
    await deleteMatching(redis, `bull:${queue}:*`);
    await deleteMatching(redis, `sealq:r:{${queue.length}:${queue}:*`);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const file of ['producer.mjs', 'worker.mjs']) {
    const code = block(readme, file);
    assert.equal(code.split("'emails'").length, 2, `${file} names the queue 'emails' once`);
    writeFileSync(join(dir, file), code.replace("'emails'", `'${queue}'`));
  }
  const env = { ...process.env, SEALQ_KEYRING: made.stdout };

  const worker = spawn(process.execPath, ['worker.mjs'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    worker.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  const processed = new Promise<void>((resolve, reject) => {
    worker.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('welcome mail to ada@example.com')) resolve();
    });
    worker.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (/^job \S+ failed: /m.test(err)) reject(new Error(`worker: ${err}`));
    });
    worker.on('exit', (code) => reject(new Error(`worker exited (${code}): ${err}`)));
  });

  const producer = spawnSync(process.execPath, ['producer.mjs'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(producer.status, 0, producer.stderr);
  assert.equal(producer.stderr, '');
  await processed;
  // sealq's own start-up warnings (a shared Redis where the store is not isolated) are expected here.
  const other = err.split('\n').filter((l) => l !== '' && !l.startsWith('sealq: WARNING: '));
  assert.deepEqual(other, [], 'the worker printed no failure and no error');
});
