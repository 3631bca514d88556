import { DEAD_LETTER_AT, DEAD_LETTER_CODE, DEAD_LETTER_REASON, HANDLER_FAILED, isDeadLetterCode } from '../shared/dead-letter-code.js';
import type { DeadLetterCode } from '../shared/dead-letter-code.js';

/**
 * Dead-letter entries: what was rejected, why, when and where, followed by the original entry's
 * fields exactly as they were (bytes, order, duplicates), so nothing is lost and an operator can
 * inspect it or add it back.
 *
 * Layout: the eight fields of DEAD_LETTER_FIELDS, in that order, then the original fields.
 */
export const DEAD_LETTER_FIELDS = [
  DEAD_LETTER_CODE, // rejection code (ERR_KEY_UNKNOWN, ERR_REPLAYED, ...) or ERR_HANDLER_FAILED
  DEAD_LETTER_REASON, // the error message
  DEAD_LETTER_AT, // when it was dead-lettered (ISO 8601)
  'sealq-stream', // where the entry was read
  'sealq-group', // by which consumer group
  'sealq-consumer', // and which consumer
  'sealq-entry', // its entry id there
  'sealq-redelivered', // "1" if it had been delivered before (a reclaim after a crash, failure or timeout)
] as const;

/** Suffix of the default dead-letter stream (`<stream>:dead`). */
export const DEAD_LETTER_SUFFIX = ':dead';

export { HANDLER_FAILED };
export type { DeadLetterCode };

export interface DeadLetter {
  readonly code: DeadLetterCode;
  readonly reason: string;
  readonly at: string;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly entryId: string;
  readonly redelivered: boolean;
  /** The original entry's fields, name and value in turn, as they were. */
  readonly fields: readonly Buffer[];
}

export function deadLetterFields(d: Omit<DeadLetter, 'fields'>, original: readonly Buffer[]): Array<string | Buffer> {
  return [
    DEAD_LETTER_CODE, d.code,
    DEAD_LETTER_REASON, d.reason,
    DEAD_LETTER_AT, d.at,
    'sealq-stream', d.stream,
    'sealq-group', d.group,
    'sealq-consumer', d.consumer,
    'sealq-entry', d.entryId,
    'sealq-redelivered', d.redelivered ? '1' : '0',
    ...original,
  ];
}

/**
 * Reads a dead-letter entry's fields (as XRANGE returns them, strings or Buffers); undefined when
 * they are not a sealq dead letter, or carry a code this version does not know (a code is typed,
 * so that a switch over it can be exhaustive; a newer sealq may add codes).
 */
export function parseDeadLetter(fields: ReadonlyArray<string | Buffer>): DeadLetter | undefined {
  const n = DEAD_LETTER_FIELDS.length;
  if (fields.length < 2 * n) return undefined;
  const meta: string[] = [];
  for (let i = 0; i < n; i++) {
    if (String(fields[2 * i]) !== DEAD_LETTER_FIELDS[i]) return undefined;
    meta.push(String(fields[2 * i + 1]));
  }
  const [code, reason, at, stream, group, consumer, entryId, redelivered] = meta as [string, string, string, string, string, string, string, string];
  if (!isDeadLetterCode(code)) return undefined;
  const rest = fields.slice(2 * n).map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f, 'utf8')));
  return { code, reason, at, stream, group, consumer, entryId, redelivered: redelivered === '1', fields: rest };
}
