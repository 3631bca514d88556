/**
 * Every failure sealq reports is a SealqError with a stable string `code`.
 * One subclass per reason, so callers can use `instanceof` or `err.code`.
 * Messages name what was wrong and what to check; they never carry key material
 * (only key ids, which are public identifiers).
 */
export class SealqError extends Error {
  /** Stable, never renamed. A `switch` over it can be checked for exhaustiveness. */
  readonly code: SealqErrorCode = 'ERR_SEALQ';
  /**
   * True when the same message may succeed later (replay store unreachable, message in flight
   * elsewhere); adapters retry these instead of dead-lettering them.
   */
  readonly retryable: boolean = false;
  /** True when the error is a verdict on a message (it was rejected), not a usage error. */
  readonly rejection: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ---- Rejections: a verdict on a message ---------------------------------------------------------

/** Base of every verdict on a message: the message must not be processed. */
export class RejectionError extends SealqError {
  override readonly rejection: boolean = true;
}

export class MalformedError extends RejectionError {
  override readonly code = 'ERR_MALFORMED';
}
export class UnsupportedVersionError extends RejectionError {
  override readonly code = 'ERR_UNSUPPORTED_VERSION';
}
export class KeyUnknownError extends RejectionError {
  override readonly code = 'ERR_KEY_UNKNOWN';
}
export class AlgMismatchError extends RejectionError {
  override readonly code = 'ERR_ALG_MISMATCH';
}
export class SignatureInvalidError extends RejectionError {
  override readonly code = 'ERR_SIGNATURE_INVALID';
}
export class KeyInactiveError extends RejectionError {
  override readonly code = 'ERR_KEY_INACTIVE';
}
export class KeyNotPermittedError extends RejectionError {
  override readonly code = 'ERR_KEY_NOT_PERMITTED';
}
export class ContextMismatchError extends RejectionError {
  override readonly code = 'ERR_CONTEXT_MISMATCH';
}
export class TypeMismatchError extends RejectionError {
  override readonly code = 'ERR_TYPE_MISMATCH';
}
export class ExpiredError extends RejectionError {
  override readonly code = 'ERR_EXPIRED';
}
export class NotYetValidError extends RejectionError {
  override readonly code = 'ERR_NOT_YET_VALID';
}
/** The signed validity window (exp - iat) is longer than this consumer allows (option maxValidity). */
export class ValidityTooLongError extends RejectionError {
  override readonly code = 'ERR_VALIDITY_TOO_LONG';
}
export class ReplayedError extends RejectionError {
  override readonly code = 'ERR_REPLAYED';
}
/** Another consumer holds an unexpired lease on this message: try again later, do not drop it. */
export class InFlightError extends RejectionError {
  override readonly code = 'ERR_IN_FLIGHT';
  override readonly retryable = true;
}
/** The replay store could not answer: nothing was marked, the message can be retried later. */
export class ReplayStoreUnavailableError extends RejectionError {
  override readonly code = 'ERR_REPLAY_STORE_UNAVAILABLE';
  override readonly retryable = true;
}

// ---- Outcomes after processing -----------------------------------------------------------------

/**
 * The handler ran to success, but the replay store could not record the completion. Not a
 * rejection and NOT retryable: retrying would run the work a second time. The message must go
 * where an operator decides (failed set, dead letter) after checking whether its work was done.
 */
export class CompletionNotRecordedError extends SealqError {
  override readonly code = 'ERR_COMPLETION_NOT_RECORDED';
  /** The handler's work was done. */
  readonly processed = true;
}

// ---- Usage errors: the caller's input or configuration is wrong ---------------------------------

export class InvalidArgumentError extends SealqError {
  override readonly code = 'ERR_INVALID_ARGUMENT';
}
export class InvalidKeyError extends SealqError {
  override readonly code = 'ERR_INVALID_KEY';
}
export class InvalidKeyringError extends SealqError {
  override readonly code = 'ERR_INVALID_KEYRING';
}
export class NoSigningKeyError extends SealqError {
  override readonly code = 'ERR_NO_SIGNING_KEY';
}
/**
 * The replay store's records can be written by the queue's own credentials, so whoever can write
 * to the queue can erase a completed record and replay the message. Thrown by the start-up check.
 */
export class StoreNotIsolatedError extends SealqError {
  override readonly code = 'ERR_STORE_NOT_ISOLATED';
}
/** A unique task (asynq's Unique option) is already queued: its uniqueness lock is held. */
export class DuplicateTaskError extends SealqError {
  override readonly code = 'ERR_DUPLICATE_TASK';
}
/** A task with the given task id already exists in the queue. */
export class TaskIdConflictError extends SealqError {
  override readonly code = 'ERR_TASK_ID_CONFLICT';
}

/** Every rejection code, for documentation and exhaustive checks. */
export const REJECTION_CODES = [
  'ERR_MALFORMED',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_KEY_UNKNOWN',
  'ERR_ALG_MISMATCH',
  'ERR_SIGNATURE_INVALID',
  'ERR_KEY_INACTIVE',
  'ERR_KEY_NOT_PERMITTED',
  'ERR_CONTEXT_MISMATCH',
  'ERR_TYPE_MISMATCH',
  'ERR_EXPIRED',
  'ERR_NOT_YET_VALID',
  'ERR_VALIDITY_TOO_LONG',
  'ERR_REPLAYED',
  'ERR_IN_FLIGHT',
  'ERR_REPLAY_STORE_UNAVAILABLE',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** Codes of usage errors and other outcomes that are not verdicts on a message. */
export const OTHER_ERROR_CODES = [
  'ERR_SEALQ',
  'ERR_COMPLETION_NOT_RECORDED',
  'ERR_INVALID_ARGUMENT',
  'ERR_INVALID_KEY',
  'ERR_INVALID_KEYRING',
  'ERR_NO_SIGNING_KEY',
  'ERR_ROTATION_REFUSED',
  'ERR_KEYRING_SOURCE',
  'ERR_BACKUP_PASSPHRASE',
  'ERR_BACKUP_MALFORMED',
  'ERR_BACKUP_TAMPERED',
  'ERR_PKCS11',
  'ERR_STORE_NOT_ISOLATED',
  'ERR_DUPLICATE_TASK',
  'ERR_TASK_ID_CONFLICT',
] as const;

/** Every code a SealqError can carry. */
export type SealqErrorCode = RejectionCode | (typeof OTHER_ERROR_CODES)[number];

const ERROR_CODES: ReadonlySet<string> = new Set<string>([...REJECTION_CODES, ...OTHER_ERROR_CODES]);

/** True when `code` is one of the codes a SealqError can carry (for codes read back from a queue). */
export function isSealqErrorCode(code: unknown): code is SealqErrorCode {
  return typeof code === 'string' && ERROR_CODES.has(code);
}

/** True for any sealq error (also across duplicated module copies, by shape). */
export function isSealqError(err: unknown): err is SealqError {
  return err instanceof SealqError || (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && (err as Error).name?.endsWith('Error') && 'rejection' in err);
}
