package sealq

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// rawEnvelope is what every carrier carries (SPEC §5): the payload and, per signature, the exact
// header bytes and the signature bytes.
type rawEnvelope struct {
	payload []byte
	sigs    []rawSig // decoding appends to it: a caller may provide the capacity
}

type rawSig struct {
	header []byte
	sig    []byte
}

type carrierKind uint8

const (
	kindNone carrierKind = iota
	kindCompact
	kindCompactBytes
	kindObject
	kindDetached
)

// Envelope is a sealed message in one of its carriers, not yet decoded or verified. Build one
// with Compact, CompactBytes, Object or Detached; OpenEnvelope, OpenAndClaim and the converters
// take any of them.
type Envelope struct {
	kind carrierKind
	s    string // compact string, or the detached seal
	b    []byte // compact bytes, object text, or the detached body
}

// Compact is the compact carrier (SPEC §5.1): "sealq1.<header>.<payload>.<sig>...".
func Compact(s string) Envelope { return Envelope{kind: kindCompact, s: s} }

// CompactBytes is the compact carrier as bytes (SPEC §5.2), such as a message body. Nothing is
// trimmed: a trailing newline makes it malformed.
func CompactBytes(b []byte) Envelope { return Envelope{kind: kindCompactBytes, b: b} }

// Object is the JSON object carrier (SPEC §5.3) as its JSON text, e.g. a job's data.
func Object(jsonText []byte) Envelope { return Envelope{kind: kindObject, b: jsonText} }

// Detached is the headers carrier (for brokers with message headers): the value of the message
// header named "sealq" ("sealq1.<header>..<sig>...", the compact form with an empty payload
// part) and the message body, which is the payload as it is. An empty seal (the header is
// missing) is malformed: the message was not sealed.
func Detached(seal string, body []byte) Envelope {
	return Envelope{kind: kindDetached, s: seal, b: body}
}

// HeaderName is the name of the message header that holds the detached seal.
const HeaderName = "sealq"

func (e Envelope) decode(maxPayloadBytes int) (*rawEnvelope, *Error) {
	raw := &rawEnvelope{}
	if err := e.decodeInto(maxPayloadBytes, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// decodeInto decodes the carrier into raw (SPEC §9 step 1), bounded before any cryptography.
func (e Envelope) decodeInto(maxPayloadBytes int, raw *rawEnvelope) *Error {
	switch e.kind {
	case kindCompact:
		if len(e.s) > maxCompactLength(maxPayloadBytes) && jsLength(e.s) > maxCompactLength(maxPayloadBytes) {
			return malformed(strconv.Itoa(jsLength(e.s)) + " characters is larger than any envelope with a payload of at most " + strconv.Itoa(maxPayloadBytes) + " bytes")
		}
		return decodeCompact(e.s, maxPayloadBytes, false, raw)
	case kindCompactBytes:
		if len(e.b) > maxCompactLength(maxPayloadBytes) {
			return malformed(strconv.Itoa(len(e.b)) + " bytes is larger than any envelope with a payload of at most " + strconv.Itoa(maxPayloadBytes) + " bytes")
		}
		// A view of the bytes, not a copy: every part is decoded into new memory.
		return decodeCompact(unsafe.String(unsafe.SliceData(e.b), len(e.b)), maxPayloadBytes, false, raw)
	case kindObject:
		return decodeObjectText(e.b, maxPayloadBytes, raw)
	case kindDetached: // SPEC §5.6, in its order
		if e.s == "" {
			return malformed(`the message has no "sealq" header (was it sealed at all?)`)
		}
		if len(e.b) > maxPayloadBytes {
			return malformed("the body is larger than " + strconv.Itoa(maxPayloadBytes) + " bytes")
		}
		if len(e.s) > maxCompactLength(0) && jsLength(e.s) > maxCompactLength(0) {
			return malformed(`the "sealq" header is larger than any seal`)
		}
		if err := decodeCompact(e.s, maxPayloadBytes, true, raw); err != nil {
			return err
		}
		raw.payload = e.b
		if raw.payload == nil {
			raw.payload = []byte{}
		}
		return nil
	}
	return malformed("no envelope given")
}

// jsLength is the length of a Go string as ECMAScript counts it (UTF-16 code units; a byte that
// is not UTF-8 counts as one), so an over-long compact string is judged as the reference does.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

const compactPrefix = "sealq1."

// decodeCompact decodes the compact carrier after its length was checked (SPEC §5.1). With
// detached, the payload part must be empty (the payload is the body). Every part is checked
// (size, then alphabet and canonical form) before anything is decoded, and all parts decode into
// one buffer.
func decodeCompact(s string, maxPayloadBytes int, detached bool, raw *rawEnvelope) *Error {
	if len(s) < len(compactPrefix) || s[:len(compactPrefix)] != compactPrefix {
		if v, ok := versionPrefix(s); ok {
			return &Error{Code: CodeUnsupportedVersion, Message: "envelope version sealq" + v + " is not supported: this verifier reads sealq1; upgrade sealq"}
		}
		return malformed(`it does not start with "sealq1." (was the message sealed at all?)`)
	}
	// Split at every '.', keeping one part more than allowed so that too many parts is seen.
	var parts [2*MaxSignatures + 2]string
	n := 0
	for rest := s[len(compactPrefix):]; n < len(parts); n++ {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			parts[n] = rest
			n++
			break
		}
		parts[n], rest = rest[:i], rest[i+1:]
	}
	if n < 3 || n%2 == 0 || n > 2*MaxSignatures+1 {
		return malformed("expected header.payload.signature and at most " + strconv.Itoa(MaxSignatures) + " signatures, got " + strconv.Itoa(n) + " parts")
	}
	if detached && parts[1] != "" {
		return malformed(`the "sealq" header must have an empty payload part ("sealq1.<header>..<sig>"): the payload is the message body`)
	}
	// Sizes first: the payload, then every header and signature.
	total := 0
	if parts[1] != "" {
		if len(parts[1]) > b64Len(maxPayloadBytes) {
			return malformed("payload is larger than " + strconv.Itoa(maxPayloadBytes) + " bytes")
		}
		if total = b64DecodedLen(len(parts[1])); total < 0 {
			return malformed("payload is not canonical base64url")
		}
	}
	for i := 0; i < n; i++ {
		if i == 1 {
			continue
		}
		what, max := "header", MaxHeaderBytes
		if i == 2 || (i > 2 && i%2 == 0) {
			what, max = "signature", MaxSigBytes
		}
		switch d := b64DecodedLen(len(parts[i])); {
		case len(parts[i]) == 0:
			return malformed(what + " is empty")
		case len(parts[i]) > b64Len(max):
			return malformed(what + " is larger than " + strconv.Itoa(max) + " bytes")
		case d < 0:
			return malformed(what + " is not canonical base64url")
		default:
			total += d
		}
	}
	buf := make([]byte, total)
	raw.sigs = raw.sigs[:0]
	take := func(part, what string) ([]byte, *Error) {
		d := b64DecodedLen(len(part))
		out := buf[:d:d]
		buf = buf[d:]
		if !b64DecodeInto(out, part) {
			return nil, malformed(what + " is not canonical base64url")
		}
		return out, nil
	}
	var err *Error
	if detached {
		// the body is the payload
	} else if raw.payload, err = take(parts[1], "payload"); err != nil {
		return err
	}
	// Signature j's parts: the first at 0 and 2 (the payload sits between), the others at 2j+1, 2j+2.
	for j := 0; j < n/2; j++ {
		h, sg := parts[0], parts[2]
		if j > 0 {
			h, sg = parts[2*j+1], parts[2*j+2]
		}
		hb, err := take(h, "header")
		if err != nil {
			return err
		}
		sb, err := take(sg, "signature")
		if err != nil {
			return err
		}
		raw.sigs = append(raw.sigs, rawSig{hb, sb})
	}
	return nil
}

func b64Part(s string, what string, max int) ([]byte, *Error) {
	if len(s) == 0 {
		return nil, malformed(what + " is empty")
	}
	if len(s) > b64Len(max) {
		return nil, malformed(what + " is larger than " + strconv.Itoa(max) + " bytes")
	}
	b, ok := b64Decode(s)
	if !ok {
		return nil, malformed(what + " is not canonical base64url")
	}
	return b, nil
}

// versionPrefix matches ^sealq([0-9]{1,6})\. and returns the digits.
func versionPrefix(s string) (string, bool) {
	if len(s) < 7 || string(s[:5]) != "sealq" {
		return "", false
	}
	i := 5
	for i < len(s) && i < 12 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 5 || i >= len(s) || s[i] != '.' {
		return "", false
	}
	return strings.Clone(s[5:i]), true // s may be a view of the caller's bytes
}

func encodeCompact(raw *rawEnvelope, detached bool) string {
	n := len(compactPrefix) + 2
	if !detached {
		n += b64Len(len(raw.payload))
	}
	for _, s := range raw.sigs {
		n += 2 + b64Len(len(s.header)) + b64Len(len(s.sig))
	}
	out := make([]byte, 0, n)
	out = append(out, compactPrefix...)
	out = b64AppendEncode(out, raw.sigs[0].header)
	out = append(out, '.')
	if !detached {
		out = b64AppendEncode(out, raw.payload)
	}
	out = append(out, '.')
	out = b64AppendEncode(out, raw.sigs[0].sig)
	for _, s := range raw.sigs[1:] {
		out = append(out, '.')
		out = b64AppendEncode(out, s.header)
		out = append(out, '.')
		out = b64AppendEncode(out, s.sig)
	}
	return unsafe.String(unsafe.SliceData(out), len(out)) // out is never written again
}

// encodeObject writes the object carrier's JSON text as the reference does (JSON.stringify of
// {sealq, signatures, payload|payload64}): the payload as text when it is UTF-8.
func encodeObject(raw *rawEnvelope) ([]byte, *Error) {
	out := make([]byte, 0, 64+len(raw.payload)*11/10+len(raw.sigs)*(64+MaxHeaderBytes/2))
	out = append(out, `{"sealq":1,"signatures":[`...)
	for i, s := range raw.sigs {
		if !utf8.Valid(s.header) {
			return nil, malformed("a header is not UTF-8, so the envelope has no object form")
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"header":`...)
		out = appendJSString(out, string(s.header))
		out = append(out, `,"sig":"`...)
		out = b64AppendEncode(out, s.sig)
		out = append(out, `"}`...)
	}
	out = append(out, ']')
	if utf8.Valid(raw.payload) {
		out = append(out, `,"payload":`...)
		out = appendJSString(out, string(raw.payload))
	} else {
		out = append(out, `,"payload64":"`...)
		out = b64AppendEncode(out, raw.payload)
		out = append(out, '"')
	}
	return append(out, '}'), nil
}

// decodeObjectText decodes the object carrier from its JSON text (SPEC §5.3, SPEC-DECISIONS 4
// and 5). The text is bounded before it is parsed, and duplicate member names are malformed.
func decodeObjectText(text []byte, maxPayloadBytes int, raw *rawEnvelope) *Error {
	if len(text) > maxObjectTextLength(maxPayloadBytes) {
		return malformed("the JSON text is larger than any object envelope with a payload of at most " + strconv.Itoa(maxPayloadBytes) + " bytes")
	}
	v, err := parseJSONText(text)
	if err != nil {
		return malformed("the object carrier is " + err.Error())
	}
	if v.kind != jObj {
		return malformed("expected a compact string or a sealed object")
	}
	ver := v.get("sealq")
	if ver == nil || ver.kind != jNum || ver.float() != 1 {
		if ver != nil && ver.kind == jNum {
			return &Error{Code: CodeUnsupportedVersion, Message: "envelope version " + ver.str + " is not supported: this verifier reads version 1; upgrade sealq"}
		}
		return malformed(`the object has no "sealq": 1 member (was the message sealed at all?)`)
	}
	for _, m := range v.obj {
		switch m.name {
		case "sealq", "payload", "payload64", "signatures":
		default:
			return malformed("unknown member " + quote(toValidUTF8(m.name)))
		}
	}
	raw.sigs = raw.sigs[:0]
	pt, p64 := v.get("payload"), v.get("payload64")
	switch {
	case pt != nil && pt.kind == jStr && p64 == nil:
		if pt.lone {
			return malformed("payload text is not well-formed Unicode")
		}
		if len(pt.str) > maxPayloadBytes {
			return malformed("payload is larger than " + strconv.Itoa(maxPayloadBytes) + " bytes")
		}
		raw.payload = []byte(pt.str)
	case p64 != nil && p64.kind == jStr && pt == nil:
		if p64.str == "" {
			raw.payload = []byte{}
			break
		}
		if len(p64.str) > b64Len(maxPayloadBytes) {
			return malformed("payload64 is larger than " + strconv.Itoa(maxPayloadBytes) + " bytes")
		}
		b, ok := b64Decode(p64.str)
		if !ok {
			return malformed("payload64 is not canonical base64url")
		}
		raw.payload = b
	default:
		return malformed(`exactly one of "payload" (text) and "payload64" (base64url) must be a string`)
	}
	sigs := v.get("signatures")
	if sigs == nil || sigs.kind != jArr || len(sigs.arr) == 0 || len(sigs.arr) > MaxSignatures {
		return malformed(`"signatures" must be a list of 1 to ` + strconv.Itoa(MaxSignatures) + " entries")
	}
	for _, e := range sigs.arr {
		var h, s *jvalue
		if e.kind == jObj {
			h, s = e.get("header"), e.get("sig")
		}
		if h == nil || h.kind != jStr || s == nil || s.kind != jStr {
			return malformed(`each signature needs "header" (text) and "sig" (base64url)`)
		}
		for _, m := range e.obj {
			if m.name != "header" && m.name != "sig" {
				return malformed("unknown member " + quote(toValidUTF8(m.name)) + " in a signature")
			}
		}
		if h.lone {
			return malformed("header must be well-formed text")
		}
		// The UTF-8 length bounds the UTF-16 length from above, so one check covers both limits.
		if len(h.str) > MaxHeaderBytes {
			return malformed("header must be at most 4096 bytes")
		}
		sb, err := b64Part(s.str, "signature", MaxSigBytes)
		if err != nil {
			return err
		}
		raw.sigs = append(raw.sigs, rawSig{[]byte(h.str), sb})
	}
	return nil
}

func checkMaxPayload(maxPayloadBytes int) (int, *Error) {
	switch {
	case maxPayloadBytes == 0:
		return DefaultMaxPayloadBytes, nil
	case maxPayloadBytes < 0 || maxPayloadBytes > maxPayloadLimit:
		return 0, invalidArg("MaxPayloadBytes must be a positive number of bytes (at most 2^40), or 0 for the default 1 MiB")
	}
	return maxPayloadBytes, nil
}

// ToCompact converts an envelope from any carrier into the compact carrier without verifying
// it and without re-signing: the same bytes are carried. maxPayloadBytes 0 means the default.
func ToCompact(e Envelope, maxPayloadBytes int) (string, error) {
	raw, err := decodeFor(e, maxPayloadBytes)
	if err != nil {
		return "", err
	}
	return encodeCompact(raw, false), nil
}

// ToObject converts an envelope into the object carrier's JSON text, without verifying or
// re-signing. A header that is not UTF-8 has no object form (ERR_MALFORMED).
func ToObject(e Envelope, maxPayloadBytes int) ([]byte, error) {
	raw, err := decodeFor(e, maxPayloadBytes)
	if err != nil {
		return nil, err
	}
	out, oerr := encodeObject(raw)
	if oerr != nil {
		return nil, oerr
	}
	return out, nil
}

// ToDetached converts an envelope into the headers carrier: the value of the "sealq" message
// header and the body (the payload), without verifying or re-signing.
func ToDetached(e Envelope, maxPayloadBytes int) (seal string, body []byte, err error) {
	raw, derr := decodeFor(e, maxPayloadBytes)
	if derr != nil {
		return "", nil, derr
	}
	return encodeCompact(raw, true), raw.payload, nil
}

func decodeFor(e Envelope, maxPayloadBytes int) (*rawEnvelope, error) {
	m, err := checkMaxPayload(maxPayloadBytes)
	if err != nil {
		return nil, err
	}
	raw, derr := e.decode(m)
	if derr != nil {
		return nil, derr
	}
	return raw, nil
}
