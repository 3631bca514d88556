package sealq

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OpenOptions are the verifier's inputs (SPEC §9). Zero values mean the defaults.
type OpenOptions struct {
	// Ctx lists the contexts (queue names) this consumer serves. Required: a message sealed for
	// another context is rejected (ERR_CONTEXT_MISMATCH).
	Ctx []string
	// Typ lists the message types this consumer handles; empty for any type (or none).
	Typ []string
	// MaxAge: how long after iat a message without a signed exp stays valid. 0: 24h.
	MaxAge time.Duration
	// ClockSkew tolerated between producer and consumer clocks. 0: 60s; NoClockSkew (or any
	// negative value): none.
	ClockSkew time.Duration
	// MaxValidity bounds a signed exp - iat; longer is ERR_VALIDITY_TOO_LONG. 0: 30 days.
	MaxValidity time.Duration
	// Now is the current time; zero for time.Now().
	Now time.Time
	// MaxPayloadBytes bounds the payload; 0 for the default 1 MiB.
	MaxPayloadBytes int
}

// NoClockSkew as OpenOptions.ClockSkew tolerates no clock difference at all.
const NoClockSkew time.Duration = -1

// Opened is a verified message.
type Opened struct {
	// Payload is exactly the bytes that were sealed. For the headers carrier it is the body
	// passed in (the same memory).
	Payload []byte
	// Header is the verified header: that of the accepted signature.
	Header Header
	// ValidUntil is the first instant this verifier would reject the message as expired
	// (the end of its validity window plus the clock skew).
	ValidUntil time.Time
}

// Open verifies a compact envelope (SPEC §9) and returns the message, or an *Error saying why
// it was rejected.
func Open(k *Keyring, compact string, o OpenOptions) (*Opened, error) {
	return OpenEnvelope(k, Compact(compact), o)
}

// OpenBytes verifies a compact envelope given as bytes (a message body).
func OpenBytes(k *Keyring, compact []byte, o OpenOptions) (*Opened, error) {
	return OpenEnvelope(k, CompactBytes(compact), o)
}

// OpenObject verifies an object-carrier envelope given as its JSON text.
func OpenObject(k *Keyring, jsonText []byte, o OpenOptions) (*Opened, error) {
	return OpenEnvelope(k, Object(jsonText), o)
}

// OpenDetached verifies a headers-carrier envelope: seal is the value of the message header
// "sealq" ("" when it is missing: rejected), body the message body.
func OpenDetached(k *Keyring, seal string, body []byte, o OpenOptions) (*Opened, error) {
	return OpenEnvelope(k, Detached(seal, body), o)
}

// OpenEnvelope verifies an envelope in any carrier.
func OpenEnvelope(k *Keyring, env Envelope, o OpenOptions) (*Opened, error) {
	m, err := openEnvelope(k, env, &o)
	if err != nil {
		return nil, err
	}
	return m, nil
}

type openParams struct {
	now, maxAge, skew, maxValidity int64
	maxPayload                     int
}

func checkOpenOptions(k *Keyring, o *OpenOptions) (openParams, *Error) {
	var p openParams
	if k == nil {
		return p, invalidArg("no keyring given")
	}
	if len(o.Ctx) == 0 {
		return p, invalidArg("open needs Ctx: the context (queue name) this consumer serves, or a list of them")
	}
	var err *Error
	if p.maxPayload, err = checkMaxPayload(o.MaxPayloadBytes); err != nil {
		return p, err
	}
	if p.maxAge, err = durationMs(o.MaxAge, DefaultMaxAge, "MaxAge"); err != nil {
		return p, err
	}
	if p.maxValidity, err = durationMs(o.MaxValidity, DefaultMaxValidity, "MaxValidity"); err != nil {
		return p, err
	}
	switch {
	case o.ClockSkew == 0:
		p.skew = DefaultClockSkew.Milliseconds()
	case o.ClockSkew > 0:
		p.skew = o.ClockSkew.Milliseconds()
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if p.now, err = msTime(now, "Now"); err != nil {
		return p, err
	}
	return p, nil
}

func openEnvelope(k *Keyring, env Envelope, o *OpenOptions) (*Opened, *Error) {
	p, err := checkOpenOptions(k, o)
	if err != nil {
		return nil, err
	}
	// One allocation holds the result and the decoder's signature list.
	box := &struct {
		Opened
		sigs [MaxSignatures]rawSig
	}{}
	raw := rawEnvelope{sigs: box.sigs[:0]}
	if err := env.decodeInto(p.maxPayload, &raw); err != nil {
		return nil, err
	}
	m := &box.Opened
	m.Payload = raw.payload
	if err := verifyRaw(k, &raw, &m.Header); err != nil {
		return nil, err
	}
	validUntil, err := checkClaims(&m.Header, o, &p)
	if err != nil {
		return nil, err
	}
	m.ValidUntil = time.UnixMilli(validUntil)
	return m, nil
}

// verifyRaw is SPEC §9 steps 2 and 3 with SPEC-DECISIONS 3: every header is parsed, the
// well-formed ones must describe the same message, and then the first signature that fully
// verifies with the verifier's own key is accepted; its header is written to out.
func verifyRaw(k *Keyring, raw *rawEnvelope, out *Header) *Error {
	var headers [MaxSignatures]Header
	var wellFormed [MaxSignatures]bool
	var malformedErr *Error
	first := -1
	for i, s := range raw.sigs {
		if err := parseHeaderInto(s.header, &headers[i]); err != nil {
			if malformedErr == nil {
				malformedErr = err // another signature may still verify (SPEC §8)
			}
			continue
		}
		if first < 0 {
			first = i
		} else if !headers[first].sameMessage(&headers[i]) {
			return malformed("the signatures' headers disagree about the message (id, iat, nbf, exp, ctx, typ or ct differ): every header of one envelope must describe the same message")
		}
		wellFormed[i] = true
	}
	var firstErr *Error
	var unknown []string
	for i, s := range raw.sigs {
		if !wellFormed[i] {
			continue
		}
		h := &headers[i]
		key := k.byKid[h.Kid]
		if key == nil {
			unknown = append(unknown, strconv.Quote(h.Kid))
			continue
		}
		if err := verifyWith(key, h, s.header, raw.payload, s.sig); err != nil {
			if firstErr == nil {
				firstErr = err // with several signatures (rotation), any one that verifies is enough
			}
			continue
		}
		*out = *h
		return nil
	}
	switch {
	case firstErr != nil:
		return firstErr
	case malformedErr != nil:
		return malformedErr
	}
	return newErr(CodeKeyUnknown, "no key in this keyring has kid "+strings.Join(unknown, ", ")+": the message was forged, or the consumer's keyring is missing a new key (publish keys to consumers before promoting them)")
}

// verifyWith checks one signature with the verifier's own key for its kid (SPEC §9 step 2.3).
// Any panic in the primitives is a rejection (fail closed).
func verifyWith(key *Key, h *Header, header, payload, sig []byte) (err *Error) {
	// The algorithm comes from our key; the message's claim must merely agree (no algorithm confusion).
	if h.Alg != key.alg {
		return newErr(CodeAlgMismatch, "message claims alg "+h.Alg+" but key "+strconv.Quote(key.kid)+" is "+key.alg+": rejected (possible algorithm-confusion attempt)")
	}
	if key.status == StatusDisabled || key.status == StatusRevoked {
		return newErr(CodeKeyInactive, "key "+strconv.Quote(key.kid)+" is "+key.status+": messages signed by it are no longer accepted")
	}
	if (key.notBefore != nil && h.Iat < *key.notBefore) || (key.notAfter != nil && h.Iat > *key.notAfter) {
		return newErr(CodeKeyInactive, "key "+strconv.Quote(key.kid)+" was not valid at the message's issue time "+isoTime(h.Iat)+": check the key's not_before/not_after")
	}
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Code: CodeSignatureInvalid, Message: "message could not be verified (unexpected verifier error); rejected", Err: fmt.Errorf("panic: %v", r)}
		}
	}()
	if !key.verify(header, payload, sig) {
		return newErr(CodeSignatureInvalid, "signature does not verify with key "+strconv.Quote(key.kid)+": the message was altered or not signed by that key")
	}
	if !key.ctxMatch.allows(h.Ctx, true) || !key.typMatch.allows(h.Typ, h.Typ != "") {
		return newErr(CodeKeyNotPermitted, "key "+strconv.Quote(key.kid)+" is not permitted to sign ctx "+quote(h.Ctx)+typPart(h)+": check the key's policy")
	}
	return nil
}

func isoTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = quote(s)
	}
	return strings.Join(q, " or ")
}

// checkClaims is SPEC §9 steps 4 to 9 with SPEC-DECISIONS 10; it returns validUntil (ms).
func checkClaims(h *Header, o *OpenOptions, p *openParams) (int64, *Error) {
	if !contains(o.Ctx, h.Ctx) {
		return 0, newErr(CodeContextMismatch, "message was sealed for ctx "+quote(h.Ctx)+", this consumer expects "+quoteList(o.Ctx)+": it was moved or sent to the wrong queue")
	}
	if len(o.Typ) > 0 && (h.Typ == "" || !contains(o.Typ, h.Typ)) {
		got := "absent"
		if h.Typ != "" {
			got = quote(h.Typ)
		}
		return 0, newErr(CodeTypeMismatch, "message type is "+got+", this consumer expects "+quoteList(o.Typ))
	}
	if h.Exp != nil && *h.Exp-h.Iat > p.maxValidity {
		return 0, newErr(CodeValidityTooLong, "message is valid for "+time.Duration((*h.Exp-h.Iat)*int64(time.Millisecond)).String()+" after it was issued, longer than this consumer's MaxValidity ("+time.Duration(p.maxValidity*int64(time.Millisecond)).String()+")")
	}
	if h.Iat > p.now+p.skew {
		return 0, newErr(CodeNotYetValid, "message was issued "+strconv.FormatInt(h.Iat-p.now, 10)+" ms in the future: check the producer's and consumer's clocks")
	}
	if h.Nbf != nil && *h.Nbf > p.now+p.skew {
		return 0, newErr(CodeNotYetValid, "message is not valid before "+isoTime(*h.Nbf))
	}
	end := h.Iat + p.maxAge
	if h.Exp != nil {
		end = *h.Exp
	}
	if p.now >= end+p.skew {
		how := ""
		if h.Exp == nil {
			how = " (issued-at plus MaxAge)"
		}
		return 0, newErr(CodeExpired, "message expired at "+isoTime(end)+how)
	}
	return end + p.skew, nil
}
