// Package sealq seals and opens queue messages: tamper-proof, forgery-proof and, with a replay
// store, replay-proof. It is the Go implementation of the sealq envelope format, version 1
// (docs/SPEC.md in the repository), and interoperates with the TypeScript package: the same
// keyring files, the same envelopes in every carrier, the same rejection codes and the same
// Redis replay store layout (package sealq.dev/sealq/redisstore).
//
// # Producing
//
//	k, err := sealq.ReadKeyringFile("keyring.json") // a JWKS with one "primary" key
//	env, err := sealq.Seal(k, payload, sealq.SealOptions{Ctx: "billing", Typ: "invoice.send"})
//
// Seal returns the compact carrier ("sealq1...."), SealObject the JSON object carrier for queues
// that store JSON, SealDetached the value of the "sealq" message header for brokers with headers
// (the body stays the payload, unchanged).
//
// # Consuming
//
//	m, err := sealq.Open(k, env, sealq.OpenOptions{Ctx: []string{"billing"}})
//	// or OpenBytes, OpenObject, OpenDetached(k, seal, body, o), or OpenEnvelope(k, e, o)
//
// A message is accepted only if one of its signatures verifies with a key of the verifier's own
// keyring (the algorithm comes from that key, never from the message), the key's status,
// validity window and policy allow it, and the message was sealed for one of o.Ctx (and o.Typ,
// when given) and is fresh. Every input is decoded and bounded before any cryptography.
//
// # Carriers
//
// Envelope holds a message in any carrier, not yet decoded: Compact(s), CompactBytes(b),
// Object(jsonText) and Detached(seal, body). OpenEnvelope and OpenAndClaim take any of them, and
// ToCompact, ToObject and ToDetached convert between carriers without verifying or re-signing.
//
// # Replay protection
//
//	c, err := sealq.OpenAndClaim(ctx, k, sealq.Detached(seal, body), o, store, 0)
//	if err != nil { ... } // a rejection: ERR_REPLAYED, ERR_IN_FLIGHT (retry), ...
//	if work(c.Payload) != nil { c.Release(ctx); ... } else { err = c.Complete(ctx) }
//
// The store (MemoryReplayStore, or redisstore.Store shared with TypeScript consumers) keys on the
// verified (ctx, id). A completed message is rejected as ERR_REPLAYED; a released one can be
// retried. OpenOnce wraps the whole flow around a handler.
//
// # Errors
//
// Every error is an *Error with a stable Code (the codes of SPEC §14 and the usage codes) and a
// message that says what to check, never key material. Use errors.Is with the sentinels
// (errors.Is(err, sealq.ErrExpired)) or errors.As to read Code, Retryable() and Rejection().
//
// # Options and zero values
//
// Zero values of the options mean the defaults of the TypeScript implementation: MaxAge 24h,
// ClockSkew 60s (NoClockSkew for none), MaxValidity 30 days, MaxPayloadBytes 1 MiB, Now
// time.Now(). Times in headers are ms since the epoch; durations are used to the millisecond.
// In Header, Nbf and Exp are pointers because 0 is a valid value that differs from absent.
//
// # Keys
//
// Keys and Keyrings never show their material: String, GoString, every fmt verb and
// MarshalJSON print kids, algorithms and statuses only.
package sealq
