/**
 * deploy/: the Prometheus alert rules pass `promtool check rules`, and `promtool test rules` shows
 * every alert firing on its attack series and silent on normal traffic
 * (deploy/prometheus/sealq-alerts.test.yml). Without promtool the promtool tests are skipped with
 * what to install, except in CI (CI=true), where they fail. The rules and the Grafana dashboard
 * name only metrics that registerMetrics registers.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { registerMetrics } from '../src/adapters/prometheus/index.js';
import { Keyring } from '../src/index.js';

const DIR = join(import.meta.dirname, '..', 'deploy', 'prometheus');
const RULES = join(DIR, 'sealq-alerts.yml');
const DASHBOARD = join(import.meta.dirname, '..', 'deploy', 'grafana', 'sealq-dashboard.json');

function promtool(t: TestContext): boolean {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  const msg = 'promtool is not installed: install it with `apt-get install prometheus` (scripts/ci-setup.sh does)';
  if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: these tests must not be skipped)`);
  t.skip(msg);
  return false;
}

/** Metric families registerMetrics registers (with a keyring, so the optional one is there too). */
async function registered(): Promise<Set<string>> {
  const r = new Registry();
  const m = registerMetrics(r, { keyring: Keyring.generate('HS256') });
  const names = new Set((await r.getMetricsAsJSON()).map((x) => x.name));
  m.stop();
  return names;
}

/** Metric names in PromQL text (sealq_ identifiers; histogram series map to their family). */
const namesIn = (promql: string): string[] => [...promql.matchAll(/\bsealq_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));

describe('deploy/prometheus alert rules', () => {
  test('promtool check rules', (t) => {
    if (!promtool(t)) return;
    const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 8 rules found/);
  });

  test('promtool test rules: every alert fires on its attack and stays silent on normal traffic', (t) => {
    if (!promtool(t)) return;
    const r = spawnSync('promtool', ['test', 'rules', 'sealq-alerts.test.yml'], { cwd: DIR, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test('the test file covers every alert with an attack that fires it and normal traffic that does not', () => {
    const rules = readFileSync(RULES, 'utf8');
    const alerts = [...rules.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
    assert.equal(alerts.length, 8);
    const tests = readFileSync(join(DIR, 'sealq-alerts.test.yml'), 'utf8');
    const groups = tests.split(/^  - interval:/m).slice(1);
    const normal = groups[0]!;
    for (const a of alerts) {
      assert.match(normal, new RegExp(`alertname: ${a}\\n\\s+exp_alerts: \\[\\]`), `${a} is checked silent on normal traffic`);
      assert.ok(groups.slice(1).some((g) => new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`).test(g)), `${a} fires on an attack`);
    }
  });

  test('the rules and the dashboard name only metrics registerMetrics registers', async () => {
    const names = await registered();
    for (const n of namesIn(readFileSync(RULES, 'utf8'))) assert.ok(names.has(n), `the rules use ${n}, which is not registered`);
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }>; templating: { list: Array<{ query?: unknown }> } };
    assert.ok(dashboard.panels.length >= 8);
    for (const p of dashboard.panels) {
      assert.ok(p.targets.length > 0, p.title);
      for (const tg of p.targets) for (const n of namesIn(tg.expr)) assert.ok(names.has(n), `panel "${p.title}" uses ${n}, which is not registered`);
    }
  });
});
