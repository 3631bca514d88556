// What `npm install sealq bullmq ioredis` may pick must be what is tested: the peer ranges are
// closed (no `>=` that admits a major nobody has run), each alternative starts at a tested
// version (the installed one here, the others in scripts/compat-matrix.mjs), and the README's
// compatibility table says the same.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

const ROOT = join(import.meta.dirname, '..');
const readJson = (p: string): Record<string, any> => JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>;
const pkg = readJson(join(ROOT, 'package.json'));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const PEERS = ['bullmq', 'ioredis'] as const;

describe('peer ranges of bullmq and ioredis', () => {
  for (const name of PEERS) {
    const range = String(pkg.peerDependencies?.[name]);
    const alternatives = range.split('||').map((s) => s.trim());

    test(`${name}: "${range}" is closed: each alternative is ^x.y.z, one per major`, () => {
      for (const alt of alternatives) assert.match(alt, /^\^\d+\.\d+\.\d+$/, `"${alt}" admits versions nobody tested (a later major, or any version)`);
      const majors = alternatives.map((a) => a.slice(1).split('.')[0]);
      assert.equal(new Set(majors).size, majors.length, 'one alternative per major');
      assert.ok(majors.length >= 2, 'the current major and the previous one');
    });

    test(`${name}: the installed version is the tested minimum of its major, and the devDependency asks for it`, () => {
      const installed = readJson(join(ROOT, 'node_modules', name, 'package.json')).version as string;
      assert.ok(alternatives.includes(`^${installed}`), `${name} ${installed} is installed, but "${range}" does not start a range there: run the tests with it and raise that alternative to ^${installed}`);
      assert.equal(pkg.devDependencies?.[name], `^${installed}`);
    });

    test(`${name}: the README's compatibility table lists the range and every tested version`, () => {
      const section = /^## Compatibility\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
      const row = section.split('\n').find((l) => l.startsWith(`| ${name} |`));
      assert.ok(row, `the README's Compatibility section has a row for ${name}`);
      assert.ok(row.includes(range.replace(/\|/g, '\\|')), `the row states "${range}"`);
      for (const alt of alternatives) assert.ok(row.includes(alt.slice(1)), `the row names ${alt.slice(1)} as tested`);
    });
  }

  test("Node.js: the README's compatibility table states the engines range", () => {
    const section = /^## Compatibility\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
    assert.ok(section.includes(`\`${pkg.engines.node}\``), `the table states engines ${pkg.engines.node}`);
  });
});
