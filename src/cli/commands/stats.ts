import { readFile } from 'node:fs/promises';
import { parseFlagsAndPositionals } from '../args.js';
import { EXIT_OK, UsageError } from '../command.js';
import type { Command, Io } from '../command.js';
import { parseMetricsText } from '../metrics-text.js';
import type { Sample } from '../metrics-text.js';
import { writeAll } from '../output.js';
import { readBounded } from '../stdin.js';

const help = `Usage: sealq stats SOURCE [--json]

Shows the current counts from sealq's metrics (sealq/prometheus, registerMetrics): opens per ctx
(ok, rejected, reported in report mode), rejections by code, the report-mode would-reject counts
that tell when a queue can be switched to enforce, replay-store claims and errors, dead letters,
and use per key.

SOURCE is the metrics endpoint your service serves (http://host:port/metrics), a file holding a
scrape of it, or - for stdin.

  --json   the same counts as JSON

Exit status: 0 shown; 2 usage error, unreadable source, or a source without sealq metrics (is
registerMetrics called in the service?).
`;

const MAX_BYTES = 32 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

async function read(source: string, io: Io): Promise<string> {
  if (source === '-') {
    const r = await readBounded(io.stdin, MAX_BYTES);
    if (r.overLimit) throw new UsageError(`stdin holds more than ${MAX_BYTES} bytes: not a metrics scrape`);
    return r.data.toString('utf8');
  }
  if (/^https?:\/\//i.test(source)) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new UsageError(`${JSON.stringify(source.slice(0, 200))} is not a URL`);
    }
    // Credentials in the URL become a Basic authorization header; they are never echoed back.
    const headers: Record<string, string> = { accept: 'text/plain' };
    if (url.username !== '' || url.password !== '') {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    const shown = `${url.protocol}//${url.host}${url.pathname}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers });
    } catch (e) {
      const cause = (e as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).name; // the URL in them holds no credentials any more
      throw new UsageError(`cannot read ${shown}: ${String(why)}`);
    }
    if (!res.ok) throw new UsageError(`${shown} answered HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_BYTES) throw new UsageError(`${shown} served more than ${MAX_BYTES} bytes: not a metrics endpoint`);
    return text;
  }
  try {
    return await readFile(source, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${JSON.stringify(source)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

type Row = Record<string, string | number>;

/** Sums the samples of `name` by the given labels. */
function sumBy(samples: readonly Sample[], name: string, by: readonly string[]): Row[] {
  const rows = new Map<string, Row>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = by.map((b) => s.labels[b] ?? '').join('\u0000');
    let r = rows.get(key);
    if (r === undefined) {
      r = Object.fromEntries(by.map((b) => [b, s.labels[b] ?? '']));
      r.count = 0;
      rows.set(key, r);
    }
    (r.count as number) += s.value;
  }
  return [...rows.values()].filter((r) => (r.count as number) > 0).sort((a, b) => (b.count as number) - (a.count as number));
}

export interface Stats {
  opens: Array<{ ctx: string; ok: number; rejected: number; reported: number }>;
  rejections: Row[];
  wouldReject: Row[];
  claims: Row[];
  storeErrors: Row[];
  deadLetters: Row[];
  keys: Array<{ kid: string; seals: number; opens: number; rejected: number; lastUsedSecondsAgo?: number }>;
}

/** The counts `sealq stats` shows, from the samples of a scrape. */
export function summarize(samples: readonly Sample[], nowSeconds = Date.now() / 1000): Stats {
  const opens = new Map<string, { ctx: string; ok: number; rejected: number; reported: number }>();
  for (const s of samples) {
    if (s.name !== 'sealq_opens_total') continue;
    const ctx = s.labels.ctx ?? '';
    const o = opens.get(ctx) ?? { ctx, ok: 0, rejected: 0, reported: 0 };
    const outcome = s.labels.outcome;
    if (outcome === 'ok' || outcome === 'rejected' || outcome === 'reported') o[outcome] += s.value;
    opens.set(ctx, o);
  }
  const keys = new Map<string, Stats['keys'][number]>();
  const key = (kid: string): Stats['keys'][number] => {
    let k = keys.get(kid);
    if (k === undefined) keys.set(kid, (k = { kid, seals: 0, opens: 0, rejected: 0 }));
    return k;
  };
  for (const s of samples) {
    const kid = s.labels.kid ?? '';
    if (s.name === 'sealq_key_uses_total') {
      const k = key(kid);
      if (s.labels.op === 'seal') k.seals += s.value;
      else if (s.labels.outcome === 'ok') k.opens += s.value;
      else k.rejected += s.value;
    } else if (s.name === 'sealq_key_last_used_timestamp_seconds') {
      const ago = Math.max(0, Math.round(nowSeconds - s.value));
      const k = key(kid);
      k.lastUsedSecondsAgo = k.lastUsedSecondsAgo === undefined ? ago : Math.min(k.lastUsedSecondsAgo, ago);
    }
  }
  return {
    opens: [...opens.values()].sort((a, b) => a.ctx.localeCompare(b.ctx)),
    rejections: sumBy(samples.filter((s) => s.labels.outcome !== 'ok'), 'sealq_opens_total', ['ctx', 'outcome', 'code']),
    wouldReject: sumBy(samples, 'sealq_would_reject_total', ['ctx', 'code']),
    claims: sumBy(samples, 'sealq_replay_claims_total', ['ctx', 'outcome']),
    storeErrors: sumBy(samples, 'sealq_replay_store_errors_total', ['op']),
    deadLetters: sumBy(samples, 'sealq_dead_letters_total', ['adapter', 'destination', 'code']),
    keys: [...keys.values()].sort((a, b) => a.kid.localeCompare(b.kid)),
  };
}

function table(title: string, head: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>, empty: string): string {
  if (rows.length === 0) return `${title}\n  ${empty}\n`;
  const cells = rows.map((r) => r.map(String));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const numeric = head.map((_, i) => rows.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly string[]): string => `  ${r.map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join('  ')}`.trimEnd();
  return `${title}\n${line(head)}\n${cells.map(line).join('\n')}\n`;
}

const ago = (s: number | undefined): string => (s === undefined ? '-' : s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : s < 172_800 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86400)}d ago`);

export function renderStats(st: Stats, source: string): string {
  const out: string[] = [`sealq stats from ${source}\n`];
  out.push(table('Opens per ctx', ['ctx', 'ok', 'rejected', 'reported'], st.opens.map((o) => [o.ctx, o.ok, o.rejected, o.reported]), 'no opens counted yet'));
  out.push(table('Rejected and reported, by code', ['ctx', 'outcome', 'code', 'count'], st.rejections.map((r) => [r.ctx!, r.outcome!, r.code!, r.count!]), 'none'));
  out.push(table('Report mode: processed, would have been rejected (enforce a ctx once its counts stop growing)', ['ctx', 'code', 'count'], st.wouldReject.map((r) => [r.ctx!, r.code!, r.count!]), 'none'));
  out.push(table('Replay-store claims', ['ctx', 'outcome', 'count'], st.claims.map((r) => [r.ctx!, r.outcome!, r.count!]), 'none'));
  out.push(table('Replay-store errors', ['op', 'count'], st.storeErrors.map((r) => [r.op!, r.count!]), 'none'));
  out.push(table('Dead letters', ['adapter', 'kept in', 'code', 'count'], st.deadLetters.map((r) => [r.adapter!, r.destination!, r.code!, r.count!]), 'none'));
  out.push(table('Keys (on a rejection the kid is as claimed)', ['kid', 'seals', 'opens', 'rejected', 'last used'], st.keys.map((k) => [k.kid, k.seals, k.opens, k.rejected, ago(k.lastUsedSecondsAgo)]), 'none'));
  return out.join('\n');
}

export const statsCommand: Command = {
  name: 'stats',
  summary: "show sealq's current counts from a metrics endpoint or a scrape file",
  help,
  async run(args: string[], io: Io): Promise<number> {
    const { values, positionals } = parseFlagsAndPositionals(args, { json: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('sealq stats needs one SOURCE: a metrics URL (http://host:port/metrics), a file, or - for stdin');
    const source = positionals[0]!;
    let samples: Sample[];
    try {
      samples = parseMetricsText(await read(source, io));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`the source is not in the Prometheus text format: ${(e as Error).message}`);
    }
    const shown = /^https?:\/\//i.test(source) ? (() => { const u = new URL(source); return `${u.protocol}//${u.host}${u.pathname}`; })() : source === '-' ? 'stdin' : source;
    if (!samples.some((s) => s.name.startsWith('sealq_'))) {
      throw new UsageError(`${shown} holds no sealq metrics: call registerMetrics(registry) from sealq/prometheus in the service, and point sealq stats at the endpoint that serves that registry`);
    }
    const st = summarize(samples);
    await writeAll(io.stdout, values.json === true ? `${JSON.stringify(st, null, 2)}\n` : renderStats(st, shown));
    return EXIT_OK;
  },
};
