package sealq

import "encoding/binary"

// Strict base64url (SPEC §5.4): the URL-safe alphabet only, no padding, no whitespace, a length
// that is not 1 modulo 4 and zero unused bits, so every byte string has exactly one accepted text.
// Go's base64.RawURLEncoding.Strict() would still skip \r and \n, hence a codec of our own. It is
// also the hot path of the compact carrier, so it works 6 bytes (8 characters) at a time.

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64Value maps a character to its 6 bits; 0xff marks a character outside the alphabet.
var b64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b64Alphabet); i++ {
		t[b64Alphabet[i]] = byte(i)
	}
	return
}()

// b64Pair maps 12 bits to their two characters (the first in the low byte).
var b64Pair = func() (t [4096]uint16) {
	for i := range t {
		t[i] = uint16(b64Alphabet[i>>6]) | uint16(b64Alphabet[i&63])<<8
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

// b64Decode decodes canonical base64url; ok is false for anything else.
func b64Decode(s string) ([]byte, bool) {
	n := b64DecodedLen(len(s))
	if n < 0 {
		return nil, false
	}
	out := make([]byte, n)
	return out, b64DecodeInto(out, s)
}

// b64DecodeInto decodes s into out, which has exactly b64DecodedLen(len(s)) bytes.
func b64DecodeInto(out []byte, s string) bool {
	var bad byte
	o, i := 0, 0
	// 8 characters -> 6 bytes, written as 8 (the last two overwritten next): needs 2 bytes of room.
	for ; i+8 <= len(s) && o+8 <= len(out); i, o = i+8, o+6 {
		c := s[i : i+8]
		_ = c[7]
		a, b, d, e := b64Value[c[0]], b64Value[c[1]], b64Value[c[2]], b64Value[c[3]]
		f, g, h, k := b64Value[c[4]], b64Value[c[5]], b64Value[c[6]], b64Value[c[7]]
		bad |= a | b | d | e | f | g | h | k
		v := uint64(a)<<58 | uint64(b)<<52 | uint64(d)<<46 | uint64(e)<<40 | uint64(f)<<34 | uint64(g)<<28 | uint64(h)<<22 | uint64(k)<<16
		binary.BigEndian.PutUint64(out[o:], v)
	}
	for ; i+4 <= len(s); i, o = i+4, o+3 {
		a, b, d, e := b64Value[s[i]], b64Value[s[i+1]], b64Value[s[i+2]], b64Value[s[i+3]]
		bad |= a | b | d | e
		v := uint(a)<<18 | uint(b)<<12 | uint(d)<<6 | uint(e)
		out[o], out[o+1], out[o+2] = byte(v>>16), byte(v>>8), byte(v)
	}
	switch len(s) - i {
	case 2:
		a, b := b64Value[s[i]], b64Value[s[i+1]]
		bad |= a | b
		if b&0x0f != 0 {
			bad |= 0x80 // the unused low bits must be zero
		}
		out[o] = a<<2 | b>>4
	case 3:
		a, b, d := b64Value[s[i]], b64Value[s[i+1]], b64Value[s[i+2]]
		bad |= a | b | d
		if d&0x03 != 0 {
			bad |= 0x80
		}
		v := uint(a)<<12 | uint(b)<<6 | uint(d)
		out[o], out[o+1] = byte(v>>10), byte(v>>2)
	}
	// Every alphabet value is below 64: 0xff (outside the alphabet) or the flag sets 0x80.
	return bad&0xc0 == 0
}

func b64Encode(b []byte) string { return string(b64AppendEncode(nil, b)) }

// b64AppendEncode appends the unpadded base64url encoding of src to dst.
func b64AppendEncode(dst, src []byte) []byte {
	n := b64Len(len(src))
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	out := dst[len(dst) : len(dst)+n]
	i, o := 0, 0
	// 6 bytes (read as 8) -> 8 characters.
	for ; i+8 <= len(src); i, o = i+6, o+8 {
		v := binary.BigEndian.Uint64(src[i:])
		binary.LittleEndian.PutUint64(out[o:], uint64(b64Pair[v>>52])|uint64(b64Pair[v>>40&0xfff])<<16|
			uint64(b64Pair[v>>28&0xfff])<<32|uint64(b64Pair[v>>16&0xfff])<<48)
	}
	for ; i+3 <= len(src); i, o = i+3, o+4 {
		v := uint(src[i])<<16 | uint(src[i+1])<<8 | uint(src[i+2])
		binary.LittleEndian.PutUint16(out[o:], b64Pair[v>>12])
		binary.LittleEndian.PutUint16(out[o+2:], b64Pair[v&0xfff])
	}
	switch len(src) - i {
	case 1:
		out[o], out[o+1] = b64Alphabet[src[i]>>2], b64Alphabet[src[i]&3<<4]
	case 2:
		v := uint(src[i])<<8 | uint(src[i+1])
		out[o], out[o+1], out[o+2] = b64Alphabet[v>>10], b64Alphabet[v>>4&63], b64Alphabet[v&15<<2]
	}
	return dst[:len(dst)+n]
}
