/**
 * The Go side of the sealq/asynq tests: test/fixtures/asynq-go (asynq's own client, inspector and
 * a server with sealq's middleware), built once per test process. Without a Go toolchain the test
 * is skipped with a message saying what to install, except with CI=true, where it fails.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/asynq-go/', import.meta.url));

let goVersion: Promise<string | undefined> | undefined;

/** Call first: false (test skipped) when there is no Go toolchain outside CI; throws in CI. */
export async function needGo(t: TestContext): Promise<boolean> {
  goVersion ??= run('go', ['version']).then(
    (r) => r.stdout.trim(),
    () => undefined,
  );
  if ((await goVersion) !== undefined) return true;
  const msg = 'no Go toolchain (the `go` command): install Go 1.24 or later to run the Asynq tests';
  if (process.env.CI === 'true') throw new Error(`${msg} (CI=true: these tests must not be skipped)`);
  t.skip(msg);
  return false;
}

let built: Promise<string> | undefined;
let buildDir: string | undefined;
process.once('exit', () => {
  if (buildDir !== undefined) rmSync(buildDir, { recursive: true, force: true });
});

/** Path of the built fixture program (go build, once per process; Go caches the packages). */
export function asynqFixture(): Promise<string> {
  built ??= (async () => {
    buildDir = mkdtempSync(join(tmpdir(), 'sealq-asynq-go-'));
    const bin = join(buildDir, 'asynqfixture');
    try {
      await run('go', ['build', '-o', bin, '.'], { cwd: FIXTURE_DIR, maxBuffer: 16 << 20 });
    } catch (e) {
      throw new Error(`building test/fixtures/asynq-go failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
    }
    return bin;
  })();
  return built;
}

/** Runs one fixture command with `input` as JSON on stdin; resolves with its stdout parsed as JSON. */
export async function fixtureJson<T>(command: string, input: unknown, env: Record<string, string> = {}): Promise<T> {
  const bin = await asynqFixture();
  return new Promise<T>((resolve, reject) => {
    const p = spawn(bin, [command], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`asynqfixture ${command} exited with ${code}: ${err.trim()}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`asynqfixture ${command} printed no JSON: ${out.slice(0, 200)} ${err.trim()}`));
      }
    });
    p.stdin.end(JSON.stringify(input));
  });
}
