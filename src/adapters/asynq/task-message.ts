import { InvalidArgumentError } from '../../errors.js';

/**
 * Asynq's TaskMessage (asynq.proto, package asynq), the protobuf Asynq v0.26 stores in a task's
 * hash. Written by hand rather than with a protobuf library: it has three wire types and one map,
 * and a small encoder keeps sealq free of a generated-code dependency. The tests compare its bytes
 * with those asynq's Go client writes for the same task.
 */
export interface TaskMessage {
  type: string;
  payload: Uint8Array;
  /** Task headers (field 15, map<string,string>). */
  headers: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  id: string;
  queue: string;
  /** Max retries (int32). */
  retry: number;
  retried: number;
  errorMsg: string;
  /** Unix seconds (int64); 0: no failure. */
  lastFailedAt: number;
  /** Seconds (int64); 0: no timeout. */
  timeout: number;
  /** Unix seconds (int64); 0: no deadline. */
  deadline: number;
  uniqueKey: string;
  groupKey: string;
  /** Seconds (int64). */
  retention: number;
  /** Unix seconds (int64). */
  completedAt: number;
}

const VARINT = 0;
const LEN = 2;

class Writer {
  readonly #parts: Uint8Array[] = [];
  #scratch: number[] = [];

  #flush(): void {
    if (this.#scratch.length > 0) {
      this.#parts.push(Uint8Array.from(this.#scratch));
      this.#scratch = [];
    }
  }

  /** A non-negative integer below 2^53 as a varint. */
  uvarint(n: number): void {
    while (n >= 0x80) {
      this.#scratch.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.#scratch.push(n);
  }

  /** A signed 64-bit integer as protobuf's int32/int64 varint: negatives as 64-bit two's complement (10 bytes). */
  svarint(n: number): void {
    if (n >= 0) return this.uvarint(n);
    let v = BigInt.asUintN(64, BigInt(n));
    while (v >= 0x80n) {
      this.#scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.#scratch.push(Number(v));
  }

  tag(field: number, wire: number): void {
    this.uvarint(field * 8 + wire);
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.#flush();
    this.#parts.push(b);
  }

  finish(): Buffer {
    this.#flush();
    return Buffer.concat(this.#parts);
  }
}

const utf8 = new TextEncoder();

/** Protobuf `string` fields must be valid UTF-8; Go's proto.Unmarshal rejects the message otherwise. */
function str(s: string, what: string): Uint8Array {
  if (typeof s !== 'string') throw new InvalidArgumentError(`${what} must be a string`);
  if (!s.isWellFormed()) throw new InvalidArgumentError(`${what} is not well-formed Unicode (lone surrogate): asynq could not decode the task`);
  return utf8.encode(s);
}

function int(n: number, what: string, min: number, max: number): number {
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}`);
  return n;
}

const INT32 = 2 ** 31;
const SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Encodes a TaskMessage as protobuf-go does: fields in field-number order, proto3 zero values
 * left out, map entries with both key and value written. Map entries go in key order (UTF-8
 * bytes), as protobuf-go's deterministic mode writes them; asynq's own writes them in Go's map
 * iteration order, and either order decodes to the same map.
 */
export function encodeTaskMessage(m: TaskMessage): Buffer {
  const w = new Writer();
  const string = (field: number, s: string, what: string): void => {
    const b = str(s, what);
    if (b.length === 0) return;
    w.tag(field, LEN);
    w.bytes(b);
  };
  const integer = (field: number, n: number, what: string, min: number, max: number): void => {
    if (int(n, what, min, max) === 0) return;
    w.tag(field, VARINT);
    w.svarint(n);
  };
  string(1, m.type, 'task type');
  if (!(m.payload instanceof Uint8Array)) throw new InvalidArgumentError('payload must be bytes');
  if (m.payload.length > 0) {
    w.tag(2, LEN);
    w.bytes(m.payload);
  }
  string(3, m.id, 'task id');
  string(4, m.queue, 'queue name');
  integer(5, m.retry, 'maxRetry', -INT32, INT32 - 1);
  integer(6, m.retried, 'retried', -INT32, INT32 - 1);
  string(7, m.errorMsg, 'error message');
  integer(8, m.timeout, 'timeout', -SAFE, SAFE);
  integer(9, m.deadline, 'deadline', -SAFE, SAFE);
  string(10, m.uniqueKey, 'unique key');
  integer(11, m.lastFailedAt, 'lastFailedAt', -SAFE, SAFE);
  integer(12, m.retention, 'retention', -SAFE, SAFE);
  integer(13, m.completedAt, 'completedAt', -SAFE, SAFE);
  string(14, m.groupKey, 'group key');
  const entries = (m.headers instanceof Map ? [...m.headers] : Object.entries(m.headers)).map(([k, v]) => [str(k, `header name "${k}"`), str(v, `header "${k}"`)] as const);
  entries.sort(([a], [b]) => Buffer.compare(a, b));
  for (const [k, v] of entries) {
    const entry = new Writer();
    entry.tag(1, LEN);
    entry.bytes(k);
    entry.tag(2, LEN);
    entry.bytes(v);
    w.tag(15, LEN);
    w.bytes(entry.finish());
  }
  return w.finish();
}
