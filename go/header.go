package sealq

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Header is a verified (or, in Seal, produced) header, SPEC §3.2. Times are ms since the epoch.
// Nbf and Exp are pointers because 0 is a valid value for both and differs from absent: a header
// with "exp":0 expired in 1970, one without exp expires at iat + maxAge.
type Header struct {
	Kid string // key id of the signing key
	Alg string // HS256, HS512, EdDSA, ES256 or PS256: always the verifier's key's algorithm
	ID  string // message id; the replay key together with Ctx
	Iat int64  // issued at (ms)
	Nbf *int64 // not before (ms), nil when absent
	Exp *int64 // expires at (ms): the first instant the message is no longer valid; nil when absent
	Ctx string // context: the destination (queue name)
	Typ string // message type; "" when absent (an empty typ is never valid)
	Ct  string // content type of the payload; "" when absent
}

// IssuedAt returns Iat as a time.
func (h *Header) IssuedAt() time.Time { return time.UnixMilli(h.Iat) }

// NotBefore returns Nbf as a time, and whether it is present.
func (h *Header) NotBefore() (time.Time, bool) {
	if h.Nbf == nil {
		return time.Time{}, false
	}
	return time.UnixMilli(*h.Nbf), true
}

// ExpiresAt returns Exp as a time, and whether it is present.
func (h *Header) ExpiresAt() (time.Time, bool) {
	if h.Exp == nil {
		return time.Time{}, false
	}
	return time.UnixMilli(*h.Exp), true
}

// sameMessage reports whether two headers agree on every member other than kid and alg
// (SPEC-DECISIONS 3: all headers of one envelope describe the same message).
func (h *Header) sameMessage(o *Header) bool {
	return h.ID == o.ID && h.Iat == o.Iat && eqOpt(h.Nbf, o.Nbf) && eqOpt(h.Exp, o.Exp) &&
		h.Ctx == o.Ctx && h.Typ == o.Typ && h.Ct == o.Ct
}

func eqOpt(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

var algNames = [...]string{"HS256", "HS512", "EdDSA", "ES256", "PS256"}

// canonicalAlg returns the interned name for a valid alg (case-sensitive), or "".
func canonicalAlg(s string) string {
	for _, a := range algNames {
		if s == a {
			return a
		}
	}
	return ""
}

func badHeader(what string) *Error {
	return &Error{Code: CodeMalformed, Message: "malformed header: " + what}
}

// parseHeader parses and checks carried header bytes (SPEC §3.3 with SPEC-DECISIONS 1 and 2).
// It is a scanner for exactly what a header may be: one flat object whose members are the nine
// known names with string or integer values. Anything else (another JSON value, a nested value,
// a duplicate or unknown name, a lone surrogate, a number that is not a plain integer) is
// malformed, so it needs no general JSON parser and encoding/json's leniencies cannot apply.
// The header's strings share b's memory: b must never change afterwards (carried header bytes
// are decoded into memory of their own and never written again).
func parseHeader(b []byte) (*Header, *Error) {
	h := &Header{}
	if err := parseHeaderInto(b, h); err != nil {
		return nil, err
	}
	return h, nil
}

// parseHeaderInto is parseHeader into h, which the caller provides (no allocation of its own).
func parseHeaderInto(b []byte, h *Header) *Error {
	if len(b) > MaxHeaderBytes {
		return badHeader("larger than 4096 bytes")
	}
	if !utf8.Valid(b) {
		return badHeader("not UTF-8")
	}
	p := scanner{b: b}
	p.ws()
	if !p.eat('{') {
		return badHeader("not a JSON object")
	}
	*h = Header{}
	var seen uint16
	p.ws()
	if p.eat('}') {
		return badHeader(`"kid" must be a string of 1 to 128 characters`)
	}
	for {
		p.ws()
		name, ok := p.str()
		if !ok {
			return badHeader("not JSON")
		}
		p.ws()
		if !p.eat(':') {
			return badHeader("not JSON")
		}
		p.ws()
		bit, field := memberBit(name)
		if bit == 0 {
			return badHeader("unknown field " + quote(name) + "; version 1 allows kid, alg, id, iat, nbf, exp, ctx, typ, ct")
		}
		if seen&bit != 0 {
			return badHeader("duplicate member " + quote(name))
		}
		seen |= bit
		if err := h.set(&p, field); err != nil {
			return err
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			break
		}
		return badHeader("not JSON")
	}
	p.ws()
	if p.i != len(p.b) {
		return badHeader("not JSON: something follows the object")
	}
	const required = 1<<fKid | 1<<fAlg | 1<<fID | 1<<fIat | 1<<fCtx
	if seen&required != required {
		switch {
		case seen&(1<<fKid) == 0:
			return badHeader(`"kid" must be a string of 1 to 128 characters`)
		case seen&(1<<fAlg) == 0:
			return badHeader(`"alg" is missing`)
		case seen&(1<<fID) == 0:
			return badHeader(`"id" must be a string of 1 to 128 characters`)
		case seen&(1<<fIat) == 0:
			return badHeader(`"iat" must be a non-negative integer (ms since the epoch)`)
		default:
			return badHeader(`"ctx" must be a string of 1 to 256 characters`)
		}
	}
	if h.Nbf != nil && h.Exp != nil && *h.Exp <= *h.Nbf {
		return badHeader(`"exp" must be after "nbf"`)
	}
	return nil
}

const (
	fKid = iota + 1
	fAlg
	fID
	fIat
	fNbf
	fExp
	fCtx
	fTyp
	fCt
)

func memberBit(name string) (uint16, int) {
	f := 0
	switch name {
	case "kid":
		f = fKid
	case "alg":
		f = fAlg
	case "id":
		f = fID
	case "iat":
		f = fIat
	case "nbf":
		f = fNbf
	case "exp":
		f = fExp
	case "ctx":
		f = fCtx
	case "typ":
		f = fTyp
	case "ct":
		f = fCt
	default:
		return 0, 0
	}
	return 1 << f, f
}

func (h *Header) set(p *scanner, field int) *Error {
	switch field {
	case fIat, fNbf, fExp:
		names := [...]string{fIat: "iat", fNbf: "nbf", fExp: "exp"}
		v, ok := p.integer()
		if !ok {
			return badHeader(quote(names[field]) + " must be a non-negative integer (ms since the epoch) written as plain digits")
		}
		switch field {
		case fIat:
			h.Iat = v
		case fNbf:
			n := v // only an nbf or exp that is present costs an allocation
			h.Nbf = &n
		default:
			n := v
			h.Exp = &n
		}
		return nil
	}
	s, ok := p.str()
	if !ok {
		switch field {
		case fKid:
			return badHeader(`"kid" must be a string of 1 to 128 characters`)
		case fAlg:
			return badHeader(`"alg" is not a supported algorithm`)
		case fID:
			return badHeader(`"id" must be a string of 1 to 128 characters`)
		case fCtx:
			return badHeader(`"ctx" must be a string of 1 to 256 characters`)
		case fTyp:
			return badHeader(`"typ" must be a string of 1 to 256 characters`)
		default:
			return badHeader(`"ct" must be a string of 1 to 256 characters`)
		}
	}
	switch field {
	case fKid:
		if !nameOK(s, maxIDLen) {
			return badHeader(`"kid" must be a string of 1 to 128 characters`)
		}
		h.Kid = s
	case fAlg:
		if h.Alg = canonicalAlg(s); h.Alg == "" {
			return badHeader(`"alg" ` + quote(truncate(s, 20)) + " is not a supported algorithm")
		}
	case fID:
		if !idOK(s) {
			return badHeader(`"id" must be 1 to 128 printable ASCII characters without spaces`)
		}
		h.ID = s
	case fCtx:
		if !nameOK(s, maxNameLen) {
			return badHeader(`"ctx" must be a string of 1 to 256 characters`)
		}
		h.Ctx = s
	case fTyp:
		if !nameOK(s, maxNameLen) {
			return badHeader(`"typ" must be a string of 1 to 256 characters`)
		}
		h.Typ = s
	case fCt:
		if !nameOK(s, maxNameLen) {
			return badHeader(`"ct" must be a string of 1 to 256 characters`)
		}
		h.Ct = s
	}
	return nil
}

// utf16Len is the length of a valid UTF-8 string in UTF-16 code units (SPEC §1 "length").
func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c < 0x80:
			i++
		case c < 0xe0:
			i += 2
		case c < 0xf0:
			i += 3
		default: // four bytes: outside the BMP, a surrogate pair
			i += 4
			n++
		}
		n++
	}
	return n
}

// nameOK: 1..max UTF-16 code units. s is valid UTF-8 without surrogates (the scanner ensured it).
func nameOK(s string, max int) bool {
	return len(s) > 0 && (len(s) <= max || utf16Len(s) <= max)
}

func idOK(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// scanner reads the JSON tokens a header consists of.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// integer reads a number that must be written `0` or `[1-9][0-9]*` with a value of at most
// 2^53 - 1 (SPEC-DECISIONS 1): no sign, fraction or exponent. What follows must end the value.
func (p *scanner) integer() (int64, bool) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	d := p.b[start:p.i]
	if len(d) == 0 || len(d) > 16 || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case ',', '}', ' ', '\t', '\n', '\r':
		default: // '.', 'e', 'E' or anything else
			return 0, false
		}
	}
	var v int64
	for _, c := range d {
		v = v*10 + int64(c-'0')
	}
	return v, v <= maxSafeInteger
}

// str reads a JSON string and returns its value. It fails on a lone surrogate, written as an
// escape or otherwise (SPEC-DECISIONS 2), on control characters and on invalid escapes. The
// input is valid UTF-8, so bytes without escapes are taken as they are.
func (p *scanner) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := ""
			if p.i > start {
				s = unsafe.String(&p.b[start], p.i-start) // shares b's memory: see parseHeader
			}
			p.i++
			return s, true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		p.i++
	}
	// Slow path: escapes. A lone surrogate has no UTF-8 form: the header refuses it.
	s, lone, ok := p.unescape(start)
	return s, ok && !lone
}

// unescape reads the rest of a JSON string whose bytes from start up to p.i hold no escape, and
// returns its value. A lone surrogate escape is kept as its 3-byte WTF-8 form and reported (lone),
// so that a caller may refuse it (headers) or keep the value exact (keyring text); control
// characters and invalid escapes fail.
func (p *scanner) unescape(start int) (string, bool, bool) {
	out := make([]byte, 0, p.i-start+16)
	out = append(out, p.b[start:p.i]...)
	lone := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), lone, true
		case c < 0x20:
			return "", false, false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false, false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false, false
			}
			if r >= 0xd800 && r < 0xdc00 && p.i+6 <= len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
				save := p.i
				p.i += 2
				if lo, ok := p.hex4(); ok && lo >= 0xdc00 && lo <= 0xdfff {
					out = utf8.AppendRune(out, utf16.DecodeRune(r, lo))
					continue
				}
				p.i = save
			}
			if utf16.IsSurrogate(r) {
				lone = true
				out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
				continue
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false, false
		}
	}
	return "", false, false
}

func (p *scanner) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	p.i += 4
	return r, true
}

// appendHeader serialises a header in the canonical form of SPEC §3.1 (ECMAScript
// JSON.stringify's bytes for the members in this order).
func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, `{"kid":`...)
	dst = appendJSString(dst, h.Kid)
	dst = append(dst, `,"alg":"`...)
	dst = append(dst, h.Alg...)
	dst = append(dst, `","id":`...)
	dst = appendJSString(dst, h.ID)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, h.Iat, 10)
	if h.Nbf != nil {
		dst = append(dst, `,"nbf":`...)
		dst = strconv.AppendInt(dst, *h.Nbf, 10)
	}
	if h.Exp != nil {
		dst = append(dst, `,"exp":`...)
		dst = strconv.AppendInt(dst, *h.Exp, 10)
	}
	dst = append(dst, `,"ctx":`...)
	dst = appendJSString(dst, h.Ctx)
	if h.Typ != "" {
		dst = append(dst, `,"typ":`...)
		dst = appendJSString(dst, h.Typ)
	}
	if h.Ct != "" {
		dst = append(dst, `,"ct":`...)
		dst = appendJSString(dst, h.Ct)
	}
	return append(dst, '}')
}

// appendJSString writes s (valid UTF-8) as ECMAScript JSON.stringify does: `"` and `\` escaped,
// \b \t \n \f \r, other control characters as \u00xx, everything else literally. Unlike
// encoding/json it leaves <, >, & and U+2028/U+2029 alone.
func appendJSString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func quote(s string) string { return strconv.Quote(truncate(s, 40)) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
