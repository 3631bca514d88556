package sealq

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// SealOptions are the producer's inputs. Zero values mean "absent" or "the default".
type SealOptions struct {
	// Ctx is the context the message is sealed for (queue name, subject, topic). Required.
	Ctx string
	// Typ is the message type (job name, task type); "" for none.
	Typ string
	// ID is the message id; "" for 128 random bits. Two messages with the same Ctx and ID are
	// the same message to a replay store.
	ID string
	// Ct is the payload's content type, such as application/json; "" for none.
	Ct string
	// ExpiresIn: the message is valid for this long after it is issued (precision: ms). Give
	// ExpiresIn or ExpiresAt, not both.
	ExpiresIn time.Duration
	// ExpiresAt: the first instant the message is no longer valid; later than the issue time.
	ExpiresAt time.Time
	// NotBefore: the message is not valid before this instant (delayed jobs).
	NotBefore time.Time
	// Now is the issue time; zero for time.Now().
	Now time.Time
	// MaxPayloadBytes bounds the payload; 0 for the default 1 MiB. Verifiers must allow as much.
	MaxPayloadBytes int
	// MaxValidity bounds exp - iat; 0 for the default 30 days (SPEC-DECISIONS 10). Verifiers
	// reject longer windows (ERR_VALIDITY_TOO_LONG), so the producer refuses to make them.
	MaxValidity time.Duration
}

// Seal signs payload with the keyring's primary key for o.Ctx and returns the compact carrier
// ("sealq1...."), safe for any text transport. The payload is signed as exact bytes.
func Seal(k *Keyring, payload []byte, o SealOptions) (string, error) {
	var tag [64]byte
	header, sig, err := sealParts(k, payload, &o, tag[:0], getHeaderBuffer())
	if err != nil {
		return "", err
	}
	raw := rawEnvelope{payload: payload, sigs: []rawSig{{header, sig}}}
	out := encodeCompact(&raw, false)
	putHeaderBuffer(header)
	return out, nil
}

// SealObject is Seal for queues that store JSON: it returns the object carrier's JSON text
// ({"sealq":1,"signatures":[...],"payload":"..."}), the payload as text when it is UTF-8.
func SealObject(k *Keyring, payload []byte, o SealOptions) ([]byte, error) {
	var tag [64]byte
	header, sig, err := sealParts(k, payload, &o, tag[:0], getHeaderBuffer())
	if err != nil {
		return nil, err
	}
	raw := rawEnvelope{payload: payload, sigs: []rawSig{{header, sig}}}
	out, oerr := encodeObject(&raw)
	putHeaderBuffer(header)
	if oerr != nil {
		return nil, oerr
	}
	return out, nil
}

// SealDetached is Seal for brokers with message headers (the headers carrier): it returns the
// value for the message header named "sealq" (HeaderName). The message body is payload itself,
// unchanged.
func SealDetached(k *Keyring, payload []byte, o SealOptions) (string, error) {
	var tag [64]byte
	header, sig, err := sealParts(k, payload, &o, tag[:0], getHeaderBuffer())
	if err != nil {
		return "", err
	}
	raw := rawEnvelope{payload: payload, sigs: []rawSig{{header, sig}}}
	out := encodeCompact(&raw, true)
	putHeaderBuffer(header)
	return out, nil
}

func msTime(t time.Time, what string) (int64, *Error) {
	ms := t.UnixMilli()
	if ms < 0 || ms > maxSafeInteger {
		return 0, invalidArg(what + " must lie between 1970 and the year 287396 (ms since the epoch up to 2^53 - 1)")
	}
	return ms, nil
}

func checkName(v, what string, max int) *Error {
	if !utf8.ValidString(v) {
		return invalidArg(what + " is not valid UTF-8 (a lone surrogate or another invalid sequence)")
	}
	if !nameOK(v, max) {
		return invalidArg(what + " must be 1 to " + strconv.Itoa(max) + " characters")
	}
	return nil
}

func durationMs(d time.Duration, def time.Duration, what string) (int64, *Error) {
	if d == 0 {
		d = def
	}
	if d < 0 {
		return 0, invalidArg(what + " must not be negative (0 for the default " + def.String() + ")")
	}
	return d.Milliseconds(), nil
}

// sealParts checks the options, builds the header and signs: it returns the header bytes and the
// signature (an HMAC tag is appended to tag, so it can live on the caller's stack).
func sealParts(k *Keyring, payload []byte, o *SealOptions, tag, hbuf []byte) (header, sig []byte, _ error) {
	key, kerr := k.signer()
	if kerr != nil {
		return nil, nil, kerr
	}
	var err *Error
	max, err := checkMaxPayload(o.MaxPayloadBytes)
	if err != nil {
		return nil, nil, err
	}
	if len(payload) > max {
		return nil, nil, invalidArg("payload is " + strconv.Itoa(len(payload)) + " bytes, larger than MaxPayloadBytes (" + strconv.Itoa(max) + "); raise the limit on both sides or send a reference")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	h := &Header{Kid: key.kid, Alg: key.alg, ID: o.ID, Ctx: o.Ctx, Typ: o.Typ, Ct: o.Ct}
	if h.Iat, err = msTime(now, "Now"); err != nil {
		return nil, nil, err
	}
	if o.Ctx == "" {
		return nil, nil, invalidArg("Seal needs Ctx: the context (queue name) the message is for")
	}
	if err = checkName(o.Ctx, "Ctx", maxNameLen); err != nil {
		return nil, nil, err
	}
	if o.Typ != "" {
		if err = checkName(o.Typ, "Typ", maxNameLen); err != nil {
			return nil, nil, err
		}
	}
	if o.Ct != "" {
		if err = checkName(o.Ct, "Ct", maxNameLen); err != nil {
			return nil, nil, err
		}
	}
	if h.ID == "" {
		h.ID = randomID()
	} else if !idOK(h.ID) {
		return nil, nil, invalidArg("ID must be 1 to 128 printable ASCII characters without spaces")
	}
	if !o.NotBefore.IsZero() {
		nbf, err := msTime(o.NotBefore, "NotBefore")
		if err != nil {
			return nil, nil, err
		}
		h.Nbf = &nbf
	}
	if o.ExpiresIn != 0 && !o.ExpiresAt.IsZero() {
		return nil, nil, invalidArg("give ExpiresAt or ExpiresIn, not both")
	}
	if o.ExpiresIn != 0 {
		if o.ExpiresIn < time.Millisecond {
			return nil, nil, invalidArg("ExpiresIn must be at least 1ms")
		}
		exp := h.Iat + o.ExpiresIn.Milliseconds()
		h.Exp = &exp
	} else if !o.ExpiresAt.IsZero() {
		exp, err := msTime(o.ExpiresAt, "ExpiresAt")
		if err != nil {
			return nil, nil, err
		}
		if exp <= h.Iat {
			return nil, nil, invalidArg("ExpiresAt must be later than the issue time (Now)")
		}
		h.Exp = &exp
	}
	if h.Exp != nil {
		if *h.Exp > maxSafeInteger {
			return nil, nil, invalidArg("the expiry lies beyond the year 287396")
		}
		if h.Nbf != nil && *h.Exp <= *h.Nbf {
			return nil, nil, invalidArg("the expiry must be later than NotBefore")
		}
		maxValidity, err := durationMs(o.MaxValidity, DefaultMaxValidity, "MaxValidity")
		if err != nil {
			return nil, nil, err
		}
		if *h.Exp-h.Iat > maxValidity {
			return nil, nil, invalidArg("the message would be valid for longer than MaxValidity (" + time.Duration(maxValidity*int64(time.Millisecond)).String() + "); verifiers would reject it with ERR_VALIDITY_TOO_LONG")
		}
	} else if o.MaxValidity < 0 {
		return nil, nil, invalidArg("MaxValidity must not be negative (0 for the default 720h0m0s)")
	}
	// Refuse to produce a message every verifier would reject for the key's policy.
	if !key.ctxMatch.allows(h.Ctx, true) || !key.typMatch.allows(h.Typ, h.Typ != "") {
		return nil, nil, newErr(CodeKeyNotPermitted, "key "+strconv.Quote(key.kid)+" may not sign ctx "+quote(h.Ctx)+typPart(h)+": its policy does not allow it")
	}
	header = appendHeader(hbuf, h)
	if key.secret != nil {
		return header, key.mac(framed(header, payload), tag), nil
	}
	sig, serr := key.sign(header, payload)
	if serr != nil {
		return nil, nil, &Error{Code: CodeInvalidArgument, Message: "signing failed with key " + strconv.Quote(key.kid), Err: serr}
	}
	return header, sig, nil
}

// headerBuffers holds buffers for header bytes, which live only until the carrier is written.
// A bounded free list rather than a sync.Pool, which every GC empties.
var headerBuffers = make(chan []byte, 32)

func getHeaderBuffer() []byte {
	select {
	case b := <-headerBuffers:
		return b[:0]
	default:
		return make([]byte, 0, 512)
	}
}

func putHeaderBuffer(b []byte) {
	if cap(b) <= MaxHeaderBytes*2 {
		select {
		case headerBuffers <- b[:0]:
		default:
		}
	}
}

func typPart(h *Header) string {
	if h.Typ == "" {
		return ""
	}
	return " / typ " + quote(h.Typ)
}
