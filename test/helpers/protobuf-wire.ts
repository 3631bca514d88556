/**
 * A protobuf wire-format reader for tests: a message's top-level fields, to compare TaskMessages
 * whose map entries (field 15, task headers) may come in any order.
 */

function varint(b: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  for (let shift = 0n; ; shift += 7n) {
    if (at >= b.length) throw new Error('truncated varint');
    const c = b[at++]!;
    v |= BigInt(c & 0x7f) << shift;
    if (c < 0x80) return [v, at];
  }
}

/** [field number, value as hex] per field in order, except map field 15, whose entries come last, sorted. */
export function taskFields(b: Uint8Array): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  const entries: Array<[number, string]> = [];
  let at = 0;
  while (at < b.length) {
    const [tag, next] = varint(b, at);
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value: Uint8Array;
    if (wire === 0) {
      const [, end] = varint(b, next);
      value = b.subarray(next, end);
      at = end;
    } else if (wire === 2) {
      const [len, start] = varint(b, next);
      value = b.subarray(start, start + Number(len));
      if (value.length !== Number(len)) throw new Error('truncated field');
      at = start + Number(len);
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
    (field === 15 ? entries : out).push([field, Buffer.from(value).toString('hex')]);
  }
  return [...out, ...entries.sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0))];
}
