// Error codes as a user's code meets them: a switch over every code a failure can carry, checked
// for exhaustiveness by the compiler (`npm run typecheck`, part of `npm test`), and the codes the
// adapters hand back typed as those unions, not as string.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSealqErrorCode, OTHER_ERROR_CODES, REJECTION_CODES } from '../src/index.ts';
import type { SealqErrorCode } from '../src/index.ts';
import { failedCode } from '../src/adapters/bullmq/index.ts';
import { DEAD_LETTER_FIELDS, HANDLER_FAILED, parseDeadLetter } from '../src/adapters/redis-streams/index.ts';
import type { DeadLetter, DeadLetterCode, SealedStreamConsumerOptions } from '../src/adapters/redis-streams/index.ts';

function assertNever(x: never): never {
  throw new Error(`unhandled code ${String(x)}`);
}

/**
 * What an operator's dashboard might do with each code: every one handled, or it does not compile.
 * A new code in src/errors.ts (or an adapter's own) makes this fail to compile until it is added here.
 */
function action(code: DeadLetterCode): 'drop' | 'alert' | 'retry' | 'fix-config' | 'check-work' {
  switch (code) {
    case 'ERR_MALFORMED':
    case 'ERR_UNSUPPORTED_VERSION':
    case 'ERR_CONTEXT_MISMATCH':
    case 'ERR_TYPE_MISMATCH':
    case 'ERR_EXPIRED':
    case 'ERR_NOT_YET_VALID':
    case 'ERR_VALIDITY_TOO_LONG':
    case 'ERR_REPLAYED':
    case 'ERR_DUPLICATE_TASK': // a producer's: the task is already queued
    case 'ERR_TASK_ID_CONFLICT':
      return 'drop';
    case 'ERR_KEY_UNKNOWN':
    case 'ERR_ALG_MISMATCH':
    case 'ERR_SIGNATURE_INVALID':
    case 'ERR_KEY_INACTIVE':
    case 'ERR_KEY_NOT_PERMITTED':
      return 'alert';
    case 'ERR_IN_FLIGHT':
    case 'ERR_REPLAY_STORE_UNAVAILABLE':
    case HANDLER_FAILED:
      return 'retry';
    case 'ERR_COMPLETION_NOT_RECORDED':
      return 'check-work';
    case 'ERR_SEALQ':
    case 'ERR_INVALID_ARGUMENT':
    case 'ERR_INVALID_KEY':
    case 'ERR_INVALID_KEYRING':
    case 'ERR_NO_SIGNING_KEY':
    case 'ERR_ROTATION_REFUSED':
    case 'ERR_KEYRING_SOURCE':
    case 'ERR_BACKUP_PASSPHRASE':
    case 'ERR_BACKUP_MALFORMED':
    case 'ERR_BACKUP_TAMPERED':
    case 'ERR_PKCS11':
    case 'ERR_STORE_NOT_ISOLATED':
      return 'fix-config';
    default:
      return assertNever(code);
  }
}

/** A switch that forgets codes must not compile. */
export function incomplete(code: SealqErrorCode): string {
  switch (code) {
    case 'ERR_REPLAYED':
      return 'seen';
    default:
      // @ts-expect-error: the other codes are not handled, so `code` is not `never` here
      return assertNever(code);
  }
}

test('a switch over every code handles each code sealq has', () => {
  const every: DeadLetterCode[] = [...REJECTION_CODES, ...OTHER_ERROR_CODES, HANDLER_FAILED];
  for (const code of every) assert.ok(action(code), code);
  assert.equal(isSealqErrorCode('ERR_REPLAYED'), true);
  assert.equal(isSealqErrorCode('ERR_HANDLER_FAILED'), false, 'an adapter code, not a SealqError code');
  assert.equal(isSealqErrorCode('ERR_NOPE'), false);
});

test("failedCode() is typed SealqErrorCode and ignores a processor's own ERR_ prefix", () => {
  const code: SealqErrorCode | undefined = failedCode({ failedReason: 'ERR_SIGNATURE_INVALID: signature does not verify' });
  assert.equal(code, 'ERR_SIGNATURE_INVALID');
  assert.equal(action(code!), 'alert');
  assert.equal(failedCode({ failedReason: 'ERR_MY_APP_TIMEOUT: the mail server did not answer' }), undefined);
  assert.equal(failedCode({ failedReason: 'connection refused' }), undefined);
  assert.equal(failedCode({}), undefined);
});

const deadLetterEntry = (code: string): Buffer[] =>
  [...DEAD_LETTER_FIELDS.flatMap((f) => [f, f === 'sealq-code' ? code : f === 'sealq-redelivered' ? '0' : 'x']), 'sealq', 'sealq1.abc'].map((s) => Buffer.from(s));

test("parseDeadLetter: the record's code is a DeadLetterCode; an unknown code is not guessed", () => {
  const d: DeadLetter | undefined = parseDeadLetter(deadLetterEntry('ERR_HANDLER_FAILED'));
  assert.ok(d);
  const code: DeadLetterCode = d.code;
  assert.equal(action(code), 'retry');
  assert.equal(parseDeadLetter(deadLetterEntry('ERR_KEY_UNKNOWN'))?.code, 'ERR_KEY_UNKNOWN');
  assert.equal(parseDeadLetter(deadLetterEntry('ERR_FROM_THE_FUTURE')), undefined);
});

test('onDeadLetter accepts a handler written for the exported DeadLetter type', () => {
  const seen: DeadLetter[] = [];
  const handler = (d: DeadLetter): void => {
    seen.push(d);
  };
  const onDeadLetter: SealedStreamConsumerOptions['onDeadLetter'] = handler;
  onDeadLetter!(parseDeadLetter(deadLetterEntry('ERR_REPLAYED'))!);
  assert.equal(seen[0]!.fields.length, 2);
});
