/**
 * Reads the Prometheus text exposition format (what a /metrics endpoint serves): one sample per
 * line, `name{label="value",...} value [timestamp]`, comments and blank lines skipped.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** The samples of `text`; a line that is not a sample is reported with its number. */
export function parseMetricsText(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (name === undefined) throw new Error(`line ${i + 1} is not a metric sample: ${JSON.stringify(line.slice(0, 80))}`);
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const m = /^\{((?:\s*[a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"(?:[^"\\]|\\.)*"\s*,?)*)\s*\}/.exec(rest);
      if (m === null) throw new Error(`line ${i + 1}: malformed labels: ${JSON.stringify(line.slice(0, 80))}`);
      for (const l of m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = unescape(l[2]!);
      rest = rest.slice(m[0].length);
    }
    const v = rest.trim().split(/\s+/)[0] ?? '';
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
    if (v === '' || (Number.isNaN(value) && v !== 'NaN')) throw new Error(`line ${i + 1}: no number after the labels: ${JSON.stringify(line.slice(0, 80))}`);
    out.push({ name, labels, value });
  }
  return out;
}
