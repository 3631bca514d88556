/**
 * A protobuf wire-format reader for tests: a message's top-level fields, to compare TaskMessages
 * whose map entries (field 15, task headers) may come in any order, and a TaskMessage decoder.
 */
import type { TaskMessage } from '../../src/adapters/asynq/task-message.js';

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

/** Decodes a TaskMessage (asynq.proto), for tests that rewrite a stored task as an attacker would. */
export function decodeTaskMessage(b: Uint8Array): TaskMessage {
  const m: TaskMessage = { type: '', payload: new Uint8Array(0), headers: {}, id: '', queue: '', retry: 0, retried: 0, errorMsg: '', lastFailedAt: 0, timeout: 0, deadline: 0, uniqueKey: '', groupKey: '', retention: 0, completedAt: 0 };
  const headers: Record<string, string> = {};
  const text = (v: Uint8Array): string => Buffer.from(v).toString('utf8');
  let at = 0;
  while (at < b.length) {
    const [tag, next] = varint(b, at);
    const field = Number(tag >> 3n);
    if ((tag & 7n) === 0n) {
      const [v, end] = varint(b, next);
      const n = Number(BigInt.asIntN(64, v));
      at = end;
      const ints: Record<number, keyof TaskMessage> = { 5: 'retry', 6: 'retried', 8: 'timeout', 9: 'deadline', 11: 'lastFailedAt', 12: 'retention', 13: 'completedAt' };
      if (ints[field] !== undefined) (m as unknown as Record<string, number>)[ints[field]] = n;
      continue;
    }
    const [len, start] = varint(b, next);
    const v = b.subarray(start, start + Number(len));
    at = start + Number(len);
    if (field === 2) m.payload = Buffer.from(v);
    else if (field === 15) {
      const entry = taskFields(v);
      headers[text(Buffer.from(entry.find(([f]) => f === 1)?.[1] ?? '', 'hex'))] = text(Buffer.from(entry.find(([f]) => f === 2)?.[1] ?? '', 'hex'));
    } else {
      const strings: Record<number, keyof TaskMessage> = { 1: 'type', 3: 'id', 4: 'queue', 7: 'errorMsg', 10: 'uniqueKey', 14: 'groupKey' };
      if (strings[field] !== undefined) (m as unknown as Record<string, string>)[strings[field]] = text(v);
    }
  }
  m.headers = headers;
  return m;
}
