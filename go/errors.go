package sealq

import "errors"

// Codes of every error this package returns. They are the codes of docs/SPEC.md §14 and of the
// TypeScript implementation, stable and never renamed.
const (
	CodeMalformed              = "ERR_MALFORMED"
	CodeUnsupportedVersion     = "ERR_UNSUPPORTED_VERSION"
	CodeKeyUnknown             = "ERR_KEY_UNKNOWN"
	CodeAlgMismatch            = "ERR_ALG_MISMATCH"
	CodeSignatureInvalid       = "ERR_SIGNATURE_INVALID"
	CodeKeyInactive            = "ERR_KEY_INACTIVE"
	CodeKeyNotPermitted        = "ERR_KEY_NOT_PERMITTED"
	CodeContextMismatch        = "ERR_CONTEXT_MISMATCH"
	CodeTypeMismatch           = "ERR_TYPE_MISMATCH"
	CodeExpired                = "ERR_EXPIRED"
	CodeNotYetValid            = "ERR_NOT_YET_VALID"
	CodeValidityTooLong        = "ERR_VALIDITY_TOO_LONG"
	CodeReplayed               = "ERR_REPLAYED"
	CodeInFlight               = "ERR_IN_FLIGHT"
	CodeReplayStoreUnavailable = "ERR_REPLAY_STORE_UNAVAILABLE"
	CodeCompletionNotRecorded  = "ERR_COMPLETION_NOT_RECORDED"
	CodeInvalidArgument        = "ERR_INVALID_ARGUMENT"
	CodeInvalidKey             = "ERR_INVALID_KEY"
	CodeInvalidKeyring         = "ERR_INVALID_KEYRING"
	CodeNoSigningKey           = "ERR_NO_SIGNING_KEY"
	// CodeStoreNotIsolated: the replay store's records can be written with the queue's own
	// credentials, so whoever writes to the queue can erase a completed record and replay the
	// message. Returned by the start-up isolation check (redisstore, asynqseal).
	CodeStoreNotIsolated = "ERR_STORE_NOT_ISOLATED"
)

// Error is every error this package returns: a stable Code and a Message that says what was
// wrong and what to check. Messages name key ids, never key material.
//
// Compare with the sentinels through errors.Is (errors.Is(err, sealq.ErrExpired) is true for any
// *Error whose Code is ERR_EXPIRED), or take the details with errors.As(err, &e) for e *Error.
type Error struct {
	// Code is one of the Code* constants.
	Code string
	// Message is a human-readable explanation without key material.
	Message string
	// Err is the underlying cause, if any (a replay store's failure, for example).
	Err error
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so the sentinels match any error of
// their code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Rejection reports whether the error is a verdict on a message (it must not be processed), as
// opposed to a usage error or an outcome after processing.
func (e *Error) Rejection() bool {
	switch e.Code {
	case CodeMalformed, CodeUnsupportedVersion, CodeKeyUnknown, CodeAlgMismatch, CodeSignatureInvalid,
		CodeKeyInactive, CodeKeyNotPermitted, CodeContextMismatch, CodeTypeMismatch, CodeExpired,
		CodeNotYetValid, CodeValidityTooLong, CodeReplayed, CodeInFlight, CodeReplayStoreUnavailable:
		return true
	}
	return false
}

// Retryable reports whether the same message may succeed later: another consumer holds it
// (ERR_IN_FLIGHT) or the replay store could not answer (ERR_REPLAY_STORE_UNAVAILABLE).
// ERR_COMPLETION_NOT_RECORDED is not retryable: the work was done, and a retry would do it again.
func (e *Error) Retryable() bool {
	return e.Code == CodeInFlight || e.Code == CodeReplayStoreUnavailable
}

// Sentinels, one per code, for errors.Is.
var (
	ErrMalformed              = &Error{Code: CodeMalformed}
	ErrUnsupportedVersion     = &Error{Code: CodeUnsupportedVersion}
	ErrKeyUnknown             = &Error{Code: CodeKeyUnknown}
	ErrAlgMismatch            = &Error{Code: CodeAlgMismatch}
	ErrSignatureInvalid       = &Error{Code: CodeSignatureInvalid}
	ErrKeyInactive            = &Error{Code: CodeKeyInactive}
	ErrKeyNotPermitted        = &Error{Code: CodeKeyNotPermitted}
	ErrContextMismatch        = &Error{Code: CodeContextMismatch}
	ErrTypeMismatch           = &Error{Code: CodeTypeMismatch}
	ErrExpired                = &Error{Code: CodeExpired}
	ErrNotYetValid            = &Error{Code: CodeNotYetValid}
	ErrValidityTooLong        = &Error{Code: CodeValidityTooLong}
	ErrReplayed               = &Error{Code: CodeReplayed}
	ErrInFlight               = &Error{Code: CodeInFlight}
	ErrReplayStoreUnavailable = &Error{Code: CodeReplayStoreUnavailable}
	ErrCompletionNotRecorded  = &Error{Code: CodeCompletionNotRecorded}
	ErrInvalidArgument        = &Error{Code: CodeInvalidArgument}
	ErrInvalidKey             = &Error{Code: CodeInvalidKey}
	ErrInvalidKeyring         = &Error{Code: CodeInvalidKeyring}
	ErrNoSigningKey           = &Error{Code: CodeNoSigningKey}
	ErrStoreNotIsolated       = &Error{Code: CodeStoreNotIsolated}
)

// CodeOf returns the code of the first *Error in err's chain, or "" if there is none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func newErr(code, msg string) *Error { return &Error{Code: code, Message: msg} }

func malformed(msg string) *Error {
	return &Error{Code: CodeMalformed, Message: "malformed envelope: " + msg}
}

func invalidArg(msg string) *Error { return &Error{Code: CodeInvalidArgument, Message: msg} }
