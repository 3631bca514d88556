// The shipped type declarations, compiled the way a user's project compiles them: strict and
// without skipLibCheck, against the bullmq and ioredis this project installs or, in the
// compatibility matrix (scripts/compat-matrix.mjs), against the ones in SEALQ_COMPAT_MODULES.
// The declarations are read from dist/: `npm test` builds first.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

const ROOT = join(import.meta.dirname, '..');
const MODULES = process.env.SEALQ_COMPAT_MODULES ? join(process.env.SEALQ_COMPAT_MODULES, 'node_modules') : join(ROOT, 'node_modules');
const versionOf = (name: string): string => (JSON.parse(readFileSync(join(MODULES, name, 'package.json'), 'utf8')) as { version: string }).version;
const BULLMQ = versionOf('bullmq');
const IOREDIS = versionOf('ioredis');
const IOREDIS_MAJOR = Number(IOREDIS.split('.')[0]);

// A new project's code, using every subpath the way the docs do.
const APP = `
import { Keyring, MemoryReplayStore, openAndClaim, type SealqErrorCode } from 'sealq';
import { RedisReplayStore } from 'sealq/redis';
import { failedCode, resealJob, sealFlow, sealedFlowProducer, sealedProcessor, sealedQueue, sealedSandbox, type PlainFlowJob, type SealedJob } from 'sealq/bullmq';
import { SealedStreamConsumer, parseDeadLetter, xaddSealed, type DeadLetter, type StreamMessage } from 'sealq/redis-streams';
import { FlowProducer, Queue, Worker } from 'bullmq';
import { Cluster, Redis } from 'ioredis';

interface Email { to: string; template: string }
const keyring = Keyring.generate('EdDSA');
const connection = new Redis({ maxRetriesPerRequest: null });
const replay = new RedisReplayStore({ redis: connection });
new RedisReplayStore({ redis: 'redis://127.0.0.1:6379', prefix: 'app:r:' });
new RedisReplayStore({ redis: new Cluster([{ host: '127.0.0.1', port: 7000 }]) });

const queue = sealedQueue<Email>(new Queue('emails', { connection }), { keyring });
await queue.add('welcome', { to: 'a@example.com', template: 'hi' }, { delay: 1000 });
await queue.upsertJobScheduler('digest', { every: 60_000 }, { data: { to: 'b@example.com', template: 'digest' } });

const worker = new Worker('emails', sealedProcessor<Email, string>(async (job: SealedJob<Email>) => {
  await resealJob(job, { ...job.data, template: 'again' }, { keyring });
  return job.data.to + job.seal.header.kid;
}, { keyring, replay }), { connection });
worker.on('failed', (job) => {
  const code: SealqErrorCode | undefined = job === undefined ? undefined : failedCode(job);
  return code;
});
export const sandboxed = sealedSandbox<Email>(async (job) => job.data.to, { keyring, replay: new MemoryReplayStore() });

const flow: PlainFlowJob<{ page: number }> = {
  name: 'render', queueName: 'renders', data: { page: 0 },
  children: [{ name: 'page', queueName: 'pages', data: { page: 1 }, opts: { attempts: 2 }, children: [{ name: 'tile', queueName: 'tiles', data: { page: 2 } }] }],
};
await sealedFlowProducer<{ page: number }>(new FlowProducer({ connection }), { keyring }).add(flow);
await sealFlow(keyring, flow);

await xaddSealed(connection, keyring, 'orders', JSON.stringify({ id: 1 }), { fields: { source: 'web' } });
const consumer = new SealedStreamConsumer({
  redis: connection, keyring, stream: 'orders', group: 'billing', replay,
  handler: (m: StreamMessage) => void m.payload.toString(),
  onDeadLetter: (d: DeadLetter) => void d.code,
});
await consumer.start();
const dead = (await connection.xrangeBuffer('orders:dead', '-', '+')).map(([, fields]) => parseDeadLetter(fields));
await openAndClaim(keyring, 'x', { ctx: 'orders', replay });
${IOREDIS_MAJOR >= 6 ? `
// ioredis 6: a client speaking RESP3 with object-shaped map replies.
const resp3 = new Redis({ protocol: 3, replyMapping: 'resp3' });
new RedisReplayStore({ redis: resp3 });
new SealedStreamConsumer({ redis: resp3, keyring, stream: 'orders', group: 'g', replay, handler: () => undefined });
await xaddSealed(resp3, keyring, 'orders', 'hello');
` : ''}
export { dead };
`;

// NodeNext only: Bundler resolves the same "types" conditions, and each compilation costs seconds.
const CONFIGS: Record<string, Record<string, unknown>> = {
  NodeNext: { module: 'NodeNext', moduleResolution: 'NodeNext' },
};

function declarations(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? declarations(p) : p.endsWith('.d.ts') ? [p] : [];
  });
}

let dir: string;
before(() => {
  assert.ok(existsSync(join(ROOT, 'dist', 'index.d.ts')), 'dist/ is not built: run npm run build (npm test builds first)');
  dir = mkdtempSync(join(tmpdir(), 'sealq-declarations-'));
  // Installed as npm would: sealq's package.json and declarations; the peers (and the Node and
  // PKCS#11 typings the declarations refer to) linked from where they are installed.
  const pkg = join(dir, 'node_modules', 'sealq');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  for (const file of declarations(join(ROOT, 'dist'))) {
    const to = join(pkg, relative(ROOT, file));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(file, to);
  }
  for (const name of ['bullmq', 'ioredis']) symlinkSync(join(MODULES, name), join(dir, 'node_modules', name), 'dir');
  for (const name of ['@types', 'pkcs11js']) symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(join(dir, 'app.ts'), APP);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe(`the shipped declarations, in a new strict project without skipLibCheck, with bullmq ${BULLMQ} and ioredis ${IOREDIS}`, () => {
  for (const [name, options] of Object.entries(CONFIGS)) {
    test(`compile with moduleResolution ${name}`, async () => {
      const config = `tsconfig.${name}.json`;
      const compilerOptions = { target: 'ES2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'], ...options };
      writeFileSync(join(dir, config), JSON.stringify({ compilerOptions, files: ['app.ts'] }));
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
      const r = await new Promise<{ code: number | null; output: string }>((resolve) => {
        execFile(process.execPath, [tsc, '-p', config], { cwd: dir, encoding: 'utf8' }, (e, stdout, stderr) => resolve({ code: e === null ? 0 : (e.code as number | null), output: stdout + stderr }));
      });
      assert.equal(r.output, '', 'tsc reports no error');
      assert.equal(r.code, 0);
    });
  }
});
