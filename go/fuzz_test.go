package sealq

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"
	"unicode/utf8"
)

// Fuzz targets (go test -fuzz=FuzzOpen; plain go test runs their seeds) and property tests.

func fuzzSeeds(f *testing.F, carrier string) {
	v := loadVectors(f)
	for _, x := range v.Vectors {
		if x.Carrier != carrier {
			continue
		}
		switch carrier {
		case "compact", "object-json":
			var s string
			_ = json.Unmarshal(x.Envelope, &s)
			f.Add([]byte(s))
		case "object":
			f.Add([]byte(x.Envelope))
		}
	}
}

var fuzzKeyring = func() *Keyring {
	f := loadVectorsOnce()
	keys := []any{}
	for _, name := range []string{"hs256", "hs512", "ed25519", "p256", "rsa2048"} {
		var jwk map[string]any
		_ = json.Unmarshal(f.TestKeys[name], &jwk)
		keys = append(keys, jwk)
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	k, err := ParseKeyring(b)
	if err != nil {
		panic(err)
	}
	return k
}

func loadVectorsOnce() *vectorFile { return loadVectors(&testing.T{}) }

var fuzzOptions = OpenOptions{Ctx: []string{"billing.invoices", "q"}, Now: time.UnixMilli(1767225605000)}

// The verifier never panics, and whatever it returns is a *Error with a code.
func FuzzOpen(f *testing.F) {
	fuzzSeeds(f, "compact")
	f.Add([]byte("sealq1..."))
	f.Add([]byte("sealq99.x"))
	k := fuzzKeyring()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := OpenBytes(k, b, fuzzOptions)
		m2, err2 := Open(k, string(b), fuzzOptions)
		if (err == nil) != (err2 == nil) || CodeOf(err) != CodeOf(err2) {
			t.Fatalf("bytes and string disagree: %v / %v", err, err2)
		}
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("not a sealq error: %v", err)
			}
			return
		}
		if !bytes.Equal(m.Payload, m2.Payload) {
			t.Fatal("payloads differ")
		}
	})
}

func FuzzOpenObject(f *testing.F) {
	fuzzSeeds(f, "object")
	fuzzSeeds(f, "object-json")
	k := fuzzKeyring()
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := OpenObject(k, b, fuzzOptions)
		if err != nil && CodeOf(err) == "" {
			t.Fatalf("not a sealq error: %v", err)
		}
	})
}

func FuzzOpenDetached(f *testing.F) {
	f.Add("sealq1.eyJ9..AA", []byte("x"))
	f.Add("", []byte{})
	k := fuzzKeyring()
	f.Fuzz(func(t *testing.T, seal string, body []byte) {
		_, err := OpenDetached(k, seal, body, fuzzOptions)
		if err != nil && CodeOf(err) == "" {
			t.Fatalf("not a sealq error: %v", err)
		}
	})
}

// Differential: a header this scanner accepts reads the same through encoding/json, which is
// trustworthy on text without duplicates, lone surrogates or non-integer numbers.
func FuzzParseHeader(f *testing.F) {
	for _, h := range []string{hdr(""), hdr(`,"typ":"a\"b","ct":"\u00e9"`), hdr(`,"nbf":0,"exp":1`), `{"kid":"k","alg":"EdDSA","id":"i","iat":0,"ctx":"c"}`} {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if e := d.Decode(&m); e != nil {
			t.Fatalf("accepted what encoding/json cannot read: %v", e)
		}
		want := map[string]any{"kid": h.Kid, "alg": h.Alg, "id": h.ID, "iat": json.Number(itoa64(h.Iat)), "ctx": h.Ctx}
		if h.Nbf != nil {
			want["nbf"] = json.Number(itoa64(*h.Nbf))
		}
		if h.Exp != nil {
			want["exp"] = json.Number(itoa64(*h.Exp))
		}
		if h.Typ != "" {
			want["typ"] = h.Typ
		}
		if h.Ct != "" {
			want["ct"] = h.Ct
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("read %v, encoding/json %v", want, m)
		}
		// Canonical form round trip.
		h2, err := parseHeader(appendHeader(nil, h))
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("canonical form does not read back: %v", err)
		}
	})
}

func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"a","k":"` + repeat("A", 43) + `"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyring(b)
		if err != nil && CodeOf(err) != CodeInvalidKeyring {
			t.Fatalf("code %v", err)
		}
		if err == nil && k.Len() == 0 {
			t.Fatal("empty keyring accepted")
		}
	})
}

func itoa64(n int64) string { return strings.TrimSpace(string(mustJSON(n))) }

// Properties over random inputs: seal then open gives back the payload in every carrier; a
// changed byte is never accepted; converting never changes the outcome.
func TestPropertyRoundTrip(t *testing.T) {
	keyrings := map[string]*Keyring{}
	for _, a := range algKeys {
		keyrings[a.alg] = testKeyring(t, a.key)
	}
	cfg := &quick.Config{MaxCount: 300, Rand: rand.New(rand.NewSource(1))}
	prop := func(payload []byte, ctxSeed string, algIdx uint8, typed bool) bool {
		ctx := strings.ToValidUTF8(ctxSeed, "?")
		if ctx == "" || utf16Len(ctx) > 256 {
			ctx = "q"
		}
		a := algKeys[int(algIdx)%len(algKeys)]
		if a.alg == "PS256" && algIdx%8 != 0 {
			a = algKeys[0] // RSA signing is slow: a few PS256 cases are enough
		}
		k := keyrings[a.alg]
		so := SealOptions{Ctx: ctx}
		o := OpenOptions{Ctx: []string{ctx}}
		if typed {
			so.Typ, o.Typ = "t", []string{"t"}
		}
		c, err := Seal(k, payload, so)
		if err != nil {
			t.Logf("seal: %v", err)
			return false
		}
		obj, _ := SealObject(k, payload, so)
		seal, _ := SealDetached(k, payload, so)
		for _, env := range []Envelope{Compact(c), CompactBytes([]byte(c)), Object(obj), Detached(seal, payload)} {
			m, err := OpenEnvelope(k, env, o)
			if err != nil || !bytes.Equal(m.Payload, payload) || m.Header.Ctx != ctx {
				t.Logf("open %v", err)
				return false
			}
		}
		if utf8.Valid(payload) != bytes.Contains(obj, []byte(`"payload":`)) {
			return false
		}
		// Flip one bit of one character of the compact form: never accepted.
		i := 7 + int(algIdx)*31%(len(c)-7)
		b := []byte(c)
		b[i] ^= 1
		if _, err := OpenBytes(k, b, o); err == nil {
			t.Logf("accepted a changed envelope at %d", i)
			return false
		}
		// A changed body in the headers carrier: never accepted.
		if _, err := OpenDetached(k, seal, append(append([]byte{}, payload...), 0), o); err == nil {
			return false
		}
		return true
	}
	if err := quick.Check(prop, cfg); err != nil {
		t.Error(err)
	}
}

// Canonical base64url: a text decodes exactly when it is the encoding of what it decodes to.
func TestPropertyBase64url(t *testing.T) {
	alphabet := b64Alphabet + "=+/\r\n .Ä"
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		n := r.Intn(12)
		var sb strings.Builder
		for j := 0; j < n; j++ {
			if r.Intn(10) == 0 {
				sb.WriteByte(alphabet[64+r.Intn(len(alphabet)-64)])
			} else {
				sb.WriteByte(b64Alphabet[r.Intn(64)])
			}
		}
		s := sb.String()
		b, ok := b64Decode(s)
		if ok != (ok && b64Encode(b) == s) || (ok && b64Encode(b) != s) {
			t.Fatalf("%q: decoded %v to %x", s, ok, b)
		}
		if !ok {
			if b, err := base64RawStrict(s); err == nil && b64Encode(b) == s {
				t.Fatalf("%q is canonical but was refused", s)
			}
		}
	}
}
