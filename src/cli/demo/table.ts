import type { DemoResult } from './scenario.js';

export interface Style {
  bold(s: string): string;
  good(s: string): string;
  warn(s: string): string;
  bad(s: string): string;
  dim(s: string): string;
}

const plain: Style = { bold: (s) => s, good: (s) => s, warn: (s) => s, bad: (s) => s, dim: (s) => s };
const sgr = (open: number, close: number) => (s: string): string => `\x1b[${open}m${s}\x1b[${close}m`;
const ansi: Style = { bold: sgr(1, 22), good: sgr(32, 39), warn: sgr(33, 39), bad: sgr(31, 39), dim: sgr(2, 22) };

export function style(color: boolean): Style {
  return color ? ansi : plain;
}

/** The demo's report: one aligned row per message, then the verdict. Widths come from the plain text, so colour never breaks alignment. */
export function renderDemo(r: DemoResult, s: Style): string {
  const head = ['#', 'sent', 'consumer', 'why'];
  const cells = r.rows.map((row, i) => [String(i + 1), row.step.label, row.did, row.why]);
  const width = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)));
  const line = (cols: string[], paint: (c: number, text: string) => string): string =>
    `  ${cols.map((text, c) => paint(c, c === cols.length - 1 ? text : c === 0 ? text.padStart(width[c]!) : text.padEnd(width[c]!))).join('  ')}`.trimEnd();

  const out: string[] = [];
  out.push(s.bold(`sealq demo: producer -> in-process queue "payments" -> consumer`));
  out.push(s.dim(`  HS256 key "${r.kid}" shared by producer and consumer; in-memory replay store; consumer runs "charge" jobs only${r.mode === 'report' ? '; REPORT MODE' : ''}`));
  out.push('');
  out.push(s.bold(line(head, (_c, t) => t)));
  r.rows.forEach((row, i) => {
    const text = line(cells[i]!, (c, t) => {
      if (c === 2) return row.did === 'processed' ? s.good(t) : row.did.startsWith('retried') || row.did.endsWith('(report mode)') ? s.warn(t) : row.did === 'rejected' ? s.good(t) : s.bad(t);
      return t;
    });
    out.push(row.ok ? text : `${text}  ${s.bad(`<- FAIL: ${row.problem}`)}`);
  });
  out.push('');
  const attacks = r.rows.filter((x) => x.step.expect.kind === 'rejected');
  const legit = r.rows.filter((x) => x.step.expect.kind === 'processed');
  const failed = r.rows.map((x, i) => ({ x, n: i + 1 })).filter(({ x }) => !x.ok);
  if (failed.length === 0 && r.mode === 'report') {
    out.push(s.good(`ok (report mode): ${attacks.length} attacks processed, each reported with the code enforcement would reject it with; ${legit.length} legitimate messages processed exactly once.`));
    out.push(s.dim('  Nothing was rejected: switch the consumer to enforce once the would-reject counts stay at zero.'));
  } else if (failed.length === 0) {
    out.push(s.good(`ok: ${attacks.length} attacks rejected with the expected code; ${legit.length} legitimate messages processed exactly once (one after a retry).`));
    out.push(s.dim(`  ${r.deadLetters} rejected messages kept in the dead-letter list for inspection, none dropped.`));
  } else {
    for (const { x, n } of failed) out.push(s.bad(`FAIL row ${n} (${x.step.label}): ${x.problem}`));
  }
  return `${out.join('\n')}\n`;
}
