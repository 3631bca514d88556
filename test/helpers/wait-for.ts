import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `cond` until it holds; fails after `limitMs`, a bound for a stuck test, not a timing assertion. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, limitMs = 20_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await sleep(10);
  }
}
