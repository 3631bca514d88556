package sealq

import "time"

// Limits of docs/SPEC.md §13, checked before any cryptographic work.
const (
	// DefaultMaxPayloadBytes is the default payload limit (1 MiB), on both sides.
	DefaultMaxPayloadBytes = 1 << 20
	// MaxHeaderBytes bounds every header (UTF-8 bytes).
	MaxHeaderBytes = 4096
	// MaxSignatures bounds the signatures of one envelope.
	MaxSignatures = 4
	// MaxSigBytes bounds one signature.
	MaxSigBytes = 512
	maxNameLen  = 256 // ctx, typ, ct (UTF-16 code units)
	maxIDLen    = 128 // kid, id (UTF-16 code units)
	// maxPayloadLimit keeps every length computed from MaxPayloadBytes far from overflowing.
	maxPayloadLimit = 1 << 40
	maxSafeInteger  = 1<<53 - 1
)

// Defaults of the options, the same as the TypeScript implementation's.
const (
	DefaultMaxAge      = 24 * time.Hour
	DefaultClockSkew   = 60 * time.Second
	DefaultMaxValidity = 30 * 24 * time.Hour
	DefaultLease       = 30 * time.Second
)

func b64Len(n int) int { return (n*4 + 2) / 3 }

// maxCompactLength is L(m) of SPEC §13: no compact envelope with parts within the limits is longer.
func maxCompactLength(maxPayloadBytes int) int {
	return 8 + b64Len(maxPayloadBytes) + MaxSignatures*(2+b64Len(MaxHeaderBytes)+b64Len(MaxSigBytes))
}

// maxObjectTextLength bounds the JSON text of an object carrier before it is parsed: every
// payload byte may take 6 characters (\u0000), every header byte too, and pretty-printing some room.
func maxObjectTextLength(maxPayloadBytes int) int {
	return 1024 + 6*maxPayloadBytes + MaxSignatures*(64+6*MaxHeaderBytes+b64Len(MaxSigBytes)) + 64*1024
}
