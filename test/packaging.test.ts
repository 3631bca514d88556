// What `npm install sealq` gives a new project: the tarball's contents, its scripts, its license,
// its description, its docs' links, and CommonJS. The tarball is listed with `npm pack --dry-run`
// (scripts off, so nothing is rebuilt); the built files are read from dist/: `npm test` builds first.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

const ROOT = join(import.meta.dirname, '..');

interface Pkg {
  description: string;
  license: string;
  scripts: Record<string, string>;
  exports: Record<string, unknown>;
  engines: { node: string };
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Pkg;
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

let shipped: Set<string>;
before(() => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', shell: process.platform === 'win32' });
  assert.equal(r.status, 0, r.stderr);
  const [packed] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  shipped = new Set(packed!.files.map((f) => f.path));
});

describe('the tarball', () => {
  test('holds the Apache-2.0 LICENSE that package.json declares', () => {
    assert.equal(pkg.license, 'Apache-2.0');
    assert.ok(shipped.has('LICENSE'), 'LICENSE is in the tarball');
    const text = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    assert.match(text, /Apache License\s+Version 2\.0, January 2004/);
    assert.match(text, /END OF TERMS AND CONDITIONS/, 'the full text, not a summary');
  });

  test('holds a CHANGELOG with an Unreleased section', () => {
    assert.ok(shipped.has('CHANGELOG.md'));
    assert.match(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'), /^## \[Unreleased\]$/m);
  });

  test('no source maps: no .map file, and no built file points at one', () => {
    const maps = [...shipped].filter((f) => f.endsWith('.map'));
    assert.deepEqual(maps, []);
    const pointing = [...shipped].filter((f) => f.endsWith('.js') && readFileSync(join(ROOT, f), 'utf8').includes('sourceMappingURL'));
    assert.deepEqual(pointing, [], 'built files name a source map the tarball does not hold');
  });

  test('every relative link in its markdown files leads to a file it holds', () => {
    const dead: string[] = [];
    for (const file of [...shipped].filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.replace(/#.*$/, '');
        if (target === '' || /^[a-z]+:/i.test(target)) continue;
        const path = normalize(join(dirname(file), target)).replace(/\\/g, '/').replace(/\/$/, '');
        const found = shipped.has(path) || [...shipped].some((f) => f.startsWith(`${path}/`));
        if (!found) dead.push(`${file}: ${m[1]}`);
      }
    }
    assert.deepEqual(dead, []);
  });
});

describe('installing', () => {
  test('runs no install script: the build is on prepack, not prepare or (pre/post)install', () => {
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(pkg.scripts[s], undefined, `scripts.${s} runs on every install`);
    assert.match(pkg.scripts.prepack ?? '', /npm run build/);
  });

  test("the README's checkout commands build before they use dist/", () => {
    const block = /In a checkout of this repository:\n\n```sh\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'README has the checkout quick start');
    const commands = block[1]!.split('\n').filter(Boolean).map((l) => l.replace(/\s+#.*$/, '').trim());
    assert.deepEqual(commands, ['npm ci && npm run demo', 'npm test']);
    assert.match(pkg.scripts.demo!, /^npm run build && /);
    assert.match(pkg.scripts.test!, /^npm run build && /);
  });

  test('the description names only queues sealq has an adapter for', () => {
    const adapters: Record<string, string[]> = {
      BullMQ: ['./bullmq'],
      'Redis Streams': ['./redis-streams'],
      RabbitMQ: ['./rabbitmq', './amqp'],
      NATS: ['./nats'],
      MQTT: ['./mqtt'],
      Asynq: ['./asynq'],
      Kafka: ['./kafka'],
      SQS: ['./sqs'],
    };
    for (const [queue, subpaths] of Object.entries(adapters)) {
      if (pkg.description.includes(queue)) assert.ok(subpaths.some((s) => s in pkg.exports), `the description promises ${queue}, which has no adapter`);
    }
  });
});

describe('CommonJS', () => {
  // require() of an ES module is on by default from Node 20.19, 22.12 and 23.
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const requireEsm = major >= 23 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);

  test('the README says where require("sealq") works', () => {
    assert.match(readme, /require\('sealq'\)[^.]*Node 20\.19 or\s+later, 22\.12 or later, and 23 or later/);
    assert.match(readme, /ERR_REQUIRE_ESM/);
  });

  test(`require('sealq') and its subpaths ${requireEsm ? 'work' : 'fail with ERR_REQUIRE_ESM'} on this Node (${process.versions.node})`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sealq-cjs-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'sealq'), 'dir');
    for (const dep of ['bullmq', 'ioredis']) symlinkSync(join(ROOT, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
    writeFileSync(join(dir, 'app.cjs'), [
      "const { Keyring, seal, open } = require('sealq');",
      "const keyring = Keyring.generate('EdDSA');",
      "process.stdout.write(open(keyring, seal(keyring, 'hello', { ctx: 'q' }), { ctx: 'q' }).payload.toString() + '\\n');",
      "const subpaths = { 'sealq/bullmq': 'sealedQueue', 'sealq/redis': 'RedisReplayStore', 'sealq/redis-streams': 'SealedStreamConsumer' };",
      "for (const [id, name] of Object.entries(subpaths)) if (typeof require(id)[name] !== 'function') throw new Error(id);",
      '',
    ].join('\n'));
    const r = spawnSync(process.execPath, ['app.cjs'], { cwd: dir, encoding: 'utf8' });
    if (requireEsm) {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'hello\n');
      assert.equal(r.stderr, '', 'no warning');
    } else {
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /ERR_REQUIRE_ESM/);
    }
  });
});
