package sealq

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSealOpenEveryAlgorithmAndCarrier(t *testing.T) {
	payload := []byte(`{"invoice":"INV-1"}`)
	for _, a := range algKeys {
		k := testKeyring(t, a.key)
		so := SealOptions{Ctx: "billing", Typ: "invoice.send", Ct: "application/json", ExpiresIn: time.Hour}
		o := OpenOptions{Ctx: []string{"billing"}, Typ: []string{"invoice.send"}}
		c, err := Seal(k, payload, so)
		if err != nil {
			t.Fatalf("%s: %v", a.alg, err)
		}
		obj, err := SealObject(k, payload, so)
		if err != nil {
			t.Fatal(err)
		}
		seal, err := SealDetached(k, payload, so)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(seal, "..") || strings.Count(seal, ".") != 3 {
			t.Errorf("%s: detached seal %q", a.alg, seal)
		}
		for name, env := range map[string]Envelope{"compact": Compact(c), "bytes": CompactBytes([]byte(c)), "object": Object(obj), "detached": Detached(seal, payload)} {
			m, err := OpenEnvelope(k, env, o)
			if err != nil {
				t.Fatalf("%s %s: %v", a.alg, name, err)
			}
			if !bytes.Equal(m.Payload, payload) || m.Header.Alg != a.alg || m.Header.Typ != "invoice.send" || m.Header.Exp == nil || *m.Header.Exp != m.Header.Iat+3_600_000 || len(m.Header.ID) != 22 {
				t.Errorf("%s %s: %+v", a.alg, name, m.Header)
			}
			// Converting never re-signs: every carrier's compact form is the same string.
			if name != "compact" && name != "bytes" {
				continue
			}
		}
		c2, err := ToCompact(Detached(seal, payload), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(k, c2, o); err != nil {
			t.Errorf("%s detached -> compact: %v", a.alg, err)
		}
		back, _ := ToCompact(Object(obj), 0)
		obj2, _ := ToObject(Compact(back), 0)
		if !bytes.Equal(obj, obj2) {
			t.Errorf("%s: object -> compact -> object changed the text", a.alg)
		}
		s2, b2, _ := ToDetached(Compact(c), 0)
		if c3, _ := ToCompact(Detached(s2, b2), 0); c3 != c {
			t.Errorf("%s: compact -> detached -> compact changed the string", a.alg)
		}
		// A public keyring verifies (asymmetric) but does not seal.
		if a.key != "hs256" && a.key != "hs512" {
			pub := with(testJWK(t, a.key), "d", nil, "p", nil, "q", nil, "dp", nil, "dq", nil, "qi", nil, "status", "primary")
			pk, err := ParseKeyring(jwksOf(pub))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(pk, c, o); err != nil {
				t.Errorf("%s public keyring: %v", a.alg, err)
			}
			_, err = Seal(pk, payload, so)
			wantCode(t, err, CodeNoSigningKey, a.alg+" sealing with a public keyring")
		}
	}
}

func TestSealOptions(t *testing.T) {
	k := testKeyring(t, "hs256")
	now := time.UnixMilli(testNow)
	bad := map[string]SealOptions{
		"no ctx":                 {},
		"ctx too long":           {Ctx: repeat("q", 257)},
		"ctx not UTF-8":          {Ctx: "q\xff"},
		"ctx encoded surrogate":  {Ctx: "q\xed\xa0\x80"},
		"typ too long":           {Ctx: "q", Typ: repeat("😀", 129)},
		"ct not UTF-8":           {Ctx: "q", Ct: "\xc0\xaf"},
		"id with space":          {Ctx: "q", ID: "a b"},
		"id too long":            {Ctx: "q", ID: repeat("i", 129)},
		"both expiries":          {Ctx: "q", ExpiresIn: time.Hour, ExpiresAt: now.Add(time.Hour)},
		"negative expiresIn":     {Ctx: "q", ExpiresIn: -time.Second},
		"sub-ms expiresIn":       {Ctx: "q", ExpiresIn: time.Microsecond},
		"expiresAt at iat":       {Ctx: "q", Now: now, ExpiresAt: now},
		"expiresAt before iat":   {Ctx: "q", Now: now, ExpiresAt: now.Add(-time.Hour)},
		"exp not after nbf":      {Ctx: "q", Now: now, NotBefore: now.Add(2 * time.Hour), ExpiresIn: time.Hour},
		"beyond maxValidity":     {Ctx: "q", ExpiresIn: 31 * 24 * time.Hour},
		"beyond own maxValidity": {Ctx: "q", ExpiresIn: 2 * time.Hour, MaxValidity: time.Hour},
		"negative maxValidity":   {Ctx: "q", MaxValidity: -1},
		"now before 1970":        {Ctx: "q", Now: time.UnixMilli(-1)},
		"notBefore before 1970":  {Ctx: "q", NotBefore: time.UnixMilli(-5)},
		"negative max payload":   {Ctx: "q", MaxPayloadBytes: -1},
	}
	for name, o := range bad {
		_, err := Seal(k, []byte("hi"), o)
		wantCode(t, err, CodeInvalidArgument, name)
	}
	_, err := Seal(k, make([]byte, 11), SealOptions{Ctx: "q", MaxPayloadBytes: 10})
	wantCode(t, err, CodeInvalidArgument, "payload over the limit")
	if _, err := Seal(k, make([]byte, 10), SealOptions{Ctx: "q", MaxPayloadBytes: 10}); err != nil {
		t.Error(err)
	}
	// Exactly maxValidity is allowed, and a raised limit on both sides allows more.
	c, err := Seal(k, nil, SealOptions{Ctx: "q", Now: now, ExpiresIn: DefaultMaxValidity})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(k, c, OpenOptions{Ctx: []string{"q"}, Now: now}); err != nil {
		t.Error(err)
	}
	c, err = Seal(k, nil, SealOptions{Ctx: "q", Now: now, ExpiresIn: 40 * 24 * time.Hour, MaxValidity: 40 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(k, c, OpenOptions{Ctx: []string{"q"}, Now: now})
	wantCode(t, err, CodeValidityTooLong, "40 days against the default 30")
	if _, err := Open(k, c, OpenOptions{Ctx: []string{"q"}, Now: now, MaxValidity: 40 * 24 * time.Hour}); err != nil {
		t.Error(err)
	}
	// Policy: the producer refuses what verifiers would reject.
	pk, _ := ParseKeyring(jwksOf(with(testJWK(t, "hs256"), "status", "primary", "policy", map[string]any{"ctx": []string{"billing.*"}, "typ": []string{"job"}})))
	_, err = Seal(pk, nil, SealOptions{Ctx: "mail", Typ: "job"})
	wantCode(t, err, CodeKeyNotPermitted, "ctx outside the policy")
	_, err = Seal(pk, nil, SealOptions{Ctx: "billing.x"})
	wantCode(t, err, CodeKeyNotPermitted, "no typ under a typ policy")
	if _, err := Seal(pk, nil, SealOptions{Ctx: "billing.x", Typ: "job"}); err != nil {
		t.Error(err)
	}
	// No primary.
	ak, _ := ParseKeyring(jwksOf(testJWK(t, "hs256")))
	_, err = Seal(ak, nil, SealOptions{Ctx: "q"})
	wantCode(t, err, CodeNoSigningKey, "no primary key")
	_, err = Seal(nil, nil, SealOptions{Ctx: "q"})
	wantCode(t, err, CodeInvalidArgument, "no keyring")
}

func TestOpenOptions(t *testing.T) {
	k := testKeyring(t, "hs256")
	env, _ := Seal(k, nil, SealOptions{Ctx: "q"})
	for name, o := range map[string]OpenOptions{
		"no ctx":               {},
		"negative maxAge":      {Ctx: []string{"q"}, MaxAge: -1},
		"negative maxValidity": {Ctx: []string{"q"}, MaxValidity: -time.Hour},
		"now before 1970":      {Ctx: []string{"q"}, Now: time.UnixMilli(-1)},
		"negative payload":     {Ctx: []string{"q"}, MaxPayloadBytes: -5},
		"huge payload limit":   {Ctx: []string{"q"}, MaxPayloadBytes: 1 << 50},
	} {
		_, err := Open(k, env, o)
		wantCode(t, err, CodeInvalidArgument, name)
	}
	_, err := Open(nil, env, OpenOptions{Ctx: []string{"q"}})
	wantCode(t, err, CodeInvalidArgument, "no keyring")
	// ClockSkew: 0 is the default 60s, NoClockSkew none at all.
	c, _ := Seal(k, nil, SealOptions{Ctx: "q", Now: time.UnixMilli(testNow + 30_000)})
	if _, err := Open(k, c, OpenOptions{Ctx: []string{"q"}, Now: time.UnixMilli(testNow)}); err != nil {
		t.Error(err)
	}
	_, err = Open(k, c, OpenOptions{Ctx: []string{"q"}, Now: time.UnixMilli(testNow), ClockSkew: NoClockSkew})
	wantCode(t, err, CodeNotYetValid, "30s in the future without skew")
	// Type: absent accepted without a Typ option, refused with one.
	_, err = Open(k, c, OpenOptions{Ctx: []string{"q"}, Typ: []string{"t"}, Now: time.UnixMilli(testNow)})
	wantCode(t, err, CodeTypeMismatch, "typ absent")
}

// A valid, reproducible vector with one canonical header is reproduced byte for byte.
func TestProducerReproducesVectors(t *testing.T) {
	f := loadVectors(t)
	n := 0
	for i := range f.Vectors {
		v := &f.Vectors[i]
		if v.Expected.Error != "" || !v.Reproducible || v.Carrier == "object-json" {
			continue
		}
		o := vectorOptions(t, v)
		var env Envelope
		switch v.Carrier {
		case "compact":
			var s string
			_ = json.Unmarshal(v.Envelope, &s)
			env = Compact(s)
		case "object":
			env = Object(v.Envelope)
		case "detached":
			var d struct{ Seal, Payload_b64url string }
			_ = json.Unmarshal(v.Envelope, &d)
			body, _ := b64Decode(d.Payload_b64url)
			env = Detached(d.Seal, body)
		}
		raw, derr := env.decode(DefaultMaxPayloadBytes)
		if derr != nil || len(raw.sigs) != 1 {
			continue
		}
		h, perr := parseHeader(raw.sigs[0].header)
		if perr != nil || !bytes.Equal(appendHeader(nil, h), raw.sigs[0].header) {
			continue // not canonical: no producer makes it
		}
		if h.Alg == "ES256" || h.Alg == "PS256" {
			continue // a producer's nonce and salt are random
		}
		if v.Carrier == "object" && bytes.Contains(v.Envelope, []byte(`"payload64"`)) && utf8.Valid(raw.payload) {
			continue // UTF-8 carried as payload64: verifiers accept it, producers never make it
		}
		var signer *Keyring
		for name := range f.TestKeys {
			jwk := testJWK(t, name)
			if jwk["kid"] != h.Kid {
				continue
			}
			kr, err := ParseKeyring(jwksOf(with(jwk, "status", "primary")))
			if err != nil {
				t.Fatal(err)
			}
			vk, _ := ParseKeyring(v.Keyring)
			if vk.Get(h.Kid) != nil && kr.Primary().verify(raw.sigs[0].header, raw.payload, raw.sigs[0].sig) {
				signer = kr
			}
		}
		if signer == nil {
			continue
		}
		so := SealOptions{Ctx: h.Ctx, Typ: h.Typ, Ct: h.Ct, ID: h.ID, Now: time.UnixMilli(h.Iat), MaxPayloadBytes: o.MaxPayloadBytes, MaxValidity: o.MaxValidity}
		if h.Nbf != nil {
			so.NotBefore = time.UnixMilli(*h.Nbf)
		}
		if h.Exp != nil {
			so.ExpiresAt = time.UnixMilli(*h.Exp)
		}
		var got, want string
		var err error
		switch v.Carrier {
		case "compact":
			got, err = Seal(signer, raw.payload, so)
			want = env.s
		case "object":
			var b []byte
			b, err = SealObject(signer, raw.payload, so)
			got, want = canonicalJSON(t, b), canonicalJSON(t, v.Envelope)
		case "detached":
			got, err = SealDetached(signer, raw.payload, so)
			want = env.s
		}
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if got != want {
			t.Errorf("%s: produced\n%s\nwant\n%s", v.Name, got, want)
		}
		n++
	}
	if n < 20 {
		t.Errorf("only %d vectors reproduced", n)
	}
	t.Logf("%d vectors reproduced byte for byte", n)
}

func canonicalJSON(t *testing.T, b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
