package sealq

import "encoding/base64"

// Strict base64url (SPEC §5.4): the URL-safe alphabet only, no padding, no whitespace, a length
// that is not 1 modulo 4 and zero unused bits, so every byte string has exactly one accepted text.
// Go's base64.RawURLEncoding.Strict() would still skip \r and \n, hence a decoder of our own.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b64Alphabet); i++ {
		t[b64Alphabet[i]] = byte(i)
	}
	return
}()

// b64DecodedLen is the byte length a canonical text of length n decodes to, or -1 if no
// canonical text has that length.
func b64DecodedLen(n int) int {
	if n&3 == 1 {
		return -1
	}
	return n/4*3 + max(n&3-1, 0)
}

// b64Decode decodes canonical base64url; ok is false for anything else. It works on strings and
// byte slices alike (the carried text is either).
func b64Decode[T string | []byte](s T) ([]byte, bool) {
	n := b64DecodedLen(len(s))
	if n < 0 {
		return nil, false
	}
	out := make([]byte, n)
	return out, b64DecodeInto(out, s)
}

func b64DecodeInto[T string | []byte](out []byte, s T) bool {
	var bad byte
	o := 0
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a, b, c, d := b64Value[s[i]], b64Value[s[i+1]], b64Value[s[i+2]], b64Value[s[i+3]]
		bad |= a | b | c | d
		v := uint(a)<<18 | uint(b)<<12 | uint(c)<<6 | uint(d)
		out[o], out[o+1], out[o+2] = byte(v>>16), byte(v>>8), byte(v)
		o += 3
	}
	switch len(s) - i {
	case 2:
		a, b := b64Value[s[i]], b64Value[s[i+1]]
		bad |= a | b
		if bad&0x80 == 0 && b&0x0f != 0 { // unused low bits must be zero
			return false
		}
		out[o] = a<<2 | b>>4
	case 3:
		a, b, c := b64Value[s[i]], b64Value[s[i+1]], b64Value[s[i+2]]
		bad |= a | b | c
		if bad&0x80 == 0 && c&0x03 != 0 {
			return false
		}
		v := uint(a)<<12 | uint(b)<<6 | uint(c)
		out[o], out[o+1] = byte(v>>10), byte(v>>2)
	}
	// Every alphabet value is below 64; 0xff marks a character outside the alphabet.
	return bad&0xc0 == 0
}

func b64Encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64AppendEncode(dst, b []byte) []byte { return base64.RawURLEncoding.AppendEncode(dst, b) }
