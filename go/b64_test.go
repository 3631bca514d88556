package sealq

import (
	"bytes"
	"encoding/base64"
	"math/rand"
	"strings"
	"testing"
)

// The fast codec agrees with encoding/base64 on every length and byte, and accepts exactly the
// canonical texts.
func TestBase64urlAgainstStdlib(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for n := 0; n < 300; n++ {
		for k := 0; k < 20; k++ {
			b := make([]byte, n)
			r.Read(b)
			want := base64.RawURLEncoding.EncodeToString(b)
			if got := b64Encode(b); got != want {
				t.Fatalf("encode %x: %s, want %s", b, got, want)
			}
			if got := string(b64AppendEncode([]byte("x."), b)); got != "x."+want {
				t.Fatalf("append: %s", got)
			}
			dec, ok := b64Decode(want)
			if !ok || !bytes.Equal(dec, b) {
				t.Fatalf("decode %s: %x %v", want, dec, ok)
			}
			if n == 0 {
				continue
			}
			// One character changed to any byte: accepted exactly when still canonical.
			s := []byte(want)
			pos := r.Intn(len(s))
			s[pos] = byte(r.Intn(256))
			dec, ok = b64Decode(string(s))
			std, err := base64.RawURLEncoding.Strict().DecodeString(string(s))
			canonical := err == nil && !strings.ContainsAny(string(s), "\r\n") && base64.RawURLEncoding.EncodeToString(std) == string(s)
			if ok != canonical || (ok && !bytes.Equal(dec, std)) {
				t.Fatalf("%q: ours %v %x, canonical %v", s, ok, dec, canonical)
			}
		}
	}
}
