package sealq

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
)

// The "must hold" rules of the Go verifier, one test each, where Go's libraries differ from the
// specification (issue 9, docs/SPEC.md Appendix A).

func TestAlgorithmComesFromOwnKey(t *testing.T) {
	ed := testKeyring(t, "ed25519")
	x, _ := b64Decode(testJWK(t, "ed25519")["x"].(string))
	// Algorithm confusion: claim HS256 under the Ed25519 key's kid, MAC keyed with its public key.
	h := []byte(`{"kid":"ed25519-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q"}`)
	m := hmac.New(sha256.New, x)
	writeSigningInput(m, new([48]byte), h, []byte("hi"))
	env := encodeCompact(&rawEnvelope{payload: []byte("hi"), sigs: []rawSig{{h, m.Sum(nil)}}}, false)
	_, err := openAt(ed, env)
	wantCode(t, err, CodeAlgMismatch, "HS256 claimed under an EdDSA kid")
	// The same with the alg the key has but an HMAC signature: the key's own algorithm rejects it.
	h2 := []byte(`{"kid":"ed25519-test","alg":"EdDSA","id":"m1","iat":1767225600000,"ctx":"q"}`)
	m = hmac.New(sha256.New, x)
	writeSigningInput(m, new([48]byte), h2, []byte("hi"))
	tag := m.Sum(nil)
	env = encodeCompact(&rawEnvelope{payload: []byte("hi"), sigs: []rawSig{{h2, append(tag, tag...)}}}, false)
	_, err = openAt(ed, env)
	wantCode(t, err, CodeSignatureInvalid, "an HMAC tag as an EdDSA signature")
}

func TestHMACComparedInConstantTime(t *testing.T) {
	src, err := os.ReadFile("key.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("hmac.Equal(m.h.Sum(")) || bytes.Contains(src, []byte("bytes.Equal")) {
		t.Error("key.go must compare HMAC tags with hmac.Equal, never bytes.Equal")
	}
	k := testKeyring(t, "hs256")
	env := signedCompact(t, k, hdr(""), []byte("hi"))
	raw, _ := Compact(env).decode(DefaultMaxPayloadBytes)
	tag := raw.sigs[0].sig
	for name, sig := range map[string][]byte{
		"truncated": tag[:16], "one byte short": tag[:31], "extended": append(append([]byte{}, tag...), 0), "last bit flipped": flipLast(tag),
	} {
		e := encodeCompact(&rawEnvelope{payload: raw.payload, sigs: []rawSig{{raw.sigs[0].header, sig}}}, false)
		_, err := openAt(k, e)
		wantCode(t, err, CodeSignatureInvalid, name+" tag")
	}
	if _, err := openAt(k, env); err != nil {
		t.Fatalf("the full tag: %v", err)
	}
}

func flipLast(b []byte) []byte {
	c := append([]byte{}, b...)
	c[len(c)-1] ^= 1
	return c
}

func TestExactCarriedBytes(t *testing.T) {
	k := testKeyring(t, "hs256")
	// A header with whitespace and another order verifies as carried...
	h := "{ \"ctx\" : \"q\",\n \"iat\":1767225600000, \"id\":\"m1\", \"alg\":\"HS256\", \"kid\":\"hs256-test\" }"
	env := signedCompact(t, k, h, []byte("hi"))
	m, err := openAt(k, env)
	if err != nil || m.Header.Ctx != "q" {
		t.Fatalf("non-canonical header: %v", err)
	}
	// ...and its canonical re-serialisation, the same parsed values, does not.
	raw, _ := Compact(env).decode(DefaultMaxPayloadBytes)
	canon := appendHeader(nil, &m.Header)
	e := encodeCompact(&rawEnvelope{payload: raw.payload, sigs: []rawSig{{canon, raw.sigs[0].sig}}}, false)
	_, err = openAt(k, e)
	wantCode(t, err, CodeSignatureInvalid, "re-serialised header")
	// The payload is returned exactly, including bytes that are not UTF-8.
	payload := []byte{0, 0xff, 0xfe, '\n', 0x80}
	env = signedCompact(t, k, hdr(""), payload)
	for _, carrier := range []Envelope{Compact(env), CompactBytes([]byte(env))} {
		m, err = OpenEnvelope(k, carrier, OpenOptions{Ctx: []string{"q"}, Now: msTimeForTest(testNow)})
		if err != nil || !bytes.Equal(m.Payload, payload) {
			t.Fatalf("binary payload: %v", err)
		}
	}
	obj, _ := ToObject(Compact(env), 0)
	if !bytes.Contains(obj, []byte(`"payload64":"AP_-CoA"`)) {
		t.Errorf("a payload that is not UTF-8 travels as payload64: %s", obj)
	}
	_, err = openAt(k, env+"\n")
	wantCode(t, err, CodeMalformed, "a trailing newline")
}

// Input that fails decoding is rejected before any cryptographic work.
func TestMalformedRejectedBeforeCrypto(t *testing.T) {
	k := testKeyring(t, "hs256")
	calls := 0
	cryptoHook = func() { calls++ }
	defer func() { cryptoHook = nil }()
	good := signedCompact(t, k, hdr(""), []byte("hi"))
	o := OpenOptions{Ctx: []string{"q"}, Now: msTimeForTest(testNow)}
	if _, err := Open(k, good, o); err != nil || calls != 1 {
		t.Fatalf("the hook counts verifications: %v %d", err, calls)
	}
	calls = 0
	parts := strings.Split(good, ".")
	cases := map[string]Envelope{
		"oversized compact":        Compact(good + repeat("A", maxCompactLength(DefaultMaxPayloadBytes))),
		"oversized bytes":          CompactBytes([]byte(good + repeat("A", maxCompactLength(DefaultMaxPayloadBytes)))),
		"oversized object text":    Object([]byte(`{"sealq":1,"payload":"` + repeat("a", 8<<20) + `"}`)),
		"oversized body":           Detached("sealq1."+parts[1]+".."+parts[3], make([]byte, DefaultMaxPayloadBytes+1)),
		"oversized seal":           Detached(good+repeat("A", 30000), nil),
		"padding":                  Compact(good + "="),
		"carriage return":          Compact(parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3][:4] + "\r\n" + parts[3][4:]),
		"standard alphabet":        Compact(strings.Replace(good, "_", "/", 1) + strings.Replace("", "", "", 0)),
		"header too large":         Compact(signedCompact(t, k, hdr(repeat(" ", 4096)), []byte("hi"))),
		"duplicate member":         Compact(signedCompact(t, k, hdr(`,"ctx":"q"`), []byte("hi"))),
		"lone surrogate":           Compact(signedCompact(t, k, hdr(`,"typ":"\ud800"`), []byte("hi"))),
		"exponent":                 Compact(signedCompact(t, k, strings.Replace(hdr(""), "1767225600000", "1.7672256e12", 1), []byte("hi"))),
		"object unknown member":    Object([]byte(`{"sealq":1,"payload":"hi","x":1,"signatures":[{"header":"{}","sig":"AA"}]}`)),
		"object duplicate payload": Object([]byte(`{"sealq":1,"payload":"hi","payload":"hi","signatures":[{"header":"{}","sig":"AA"}]}`)),
		"headers disagree":         Compact(multiCompact(t, []byte("hi"), k, hdr(""), k, strings.Replace(hdr(""), `"m1"`, `"m2"`, 1))),
		"five signatures":          Compact(good + "." + parts[1] + "." + parts[3] + "." + parts[1] + "." + parts[3] + "." + parts[1] + "." + parts[3] + "." + parts[1] + "." + parts[3]),
	}
	if !strings.Contains(good, "_") {
		delete(cases, "standard alphabet")
	}
	for name, env := range cases {
		_, err := OpenEnvelope(k, env, o)
		wantCode(t, err, CodeMalformed, name)
	}
	if calls != 0 {
		t.Errorf("%d verifications ran on malformed input", calls)
	}
}

// encoding/json's leniencies: lone surrogates, duplicates, numbers, case-insensitive names.
func TestHeaderJSONStrictness(t *testing.T) {
	k := testKeyring(t, "hs256")
	ok := func(h string) bool {
		_, err := openAt(k, signedCompact(t, k, h, []byte("hi")))
		return err == nil
	}
	accept := map[string]string{
		"surrogate pair escape":    hdr(`,"typ":"\ud83d\ude00"`),
		"escaped name":             `{"k\u0069d":"hs256-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q"}`,
		"2^53-1":                   strings.Replace(hdr(`,"exp":9007199254740991`), "", "", 0),
		"0":                        strings.Replace(hdr(`,"nbf":0`), "", "", 0),
		"256 BMP characters":       hdr(`,"typ":"` + repeat("é", 256) + `"`),
		"128 non-BMP in 256 units": hdr(`,"ct":"` + repeat("😀", 128) + `"`),
		"escaped solidus":          hdr(`,"typ":"a\/b"`),
	}
	for name, h := range accept {
		if name == "2^53-1" {
			continue // exp that far is too long a validity; parsed below
		}
		if !ok(h) {
			t.Errorf("%s: rejected", name)
		}
	}
	if h, err := parseHeader([]byte(accept["2^53-1"])); err != nil || *h.Exp != 1<<53-1 {
		t.Errorf("2^53-1: %v", err)
	}
	reject := map[string]string{
		"lone high surrogate escape": hdr(`,"typ":"\ud800"`),
		"lone low surrogate escape":  hdr(`,"typ":"\udc00x"`),
		"reversed pair":              hdr(`,"typ":"\ude00\ud83d"`),
		"high then non-low escape":   hdr(`,"typ":"\ud83d\u0041"`),
		"surrogate in ctx":           strings.Replace(hdr(""), `"ctx":"q"`, `"ctx":"q\uDBFF"`, 1),
		"surrogate in kid":           `{"kid":"\ud800","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q"}`,
		"UTF-8-encoded surrogate":    hdr(`,"typ":"` + "\xed\xa0\x80" + `"`),
		"overlong UTF-8":             hdr(`,"typ":"` + "\xc0\xaf" + `"`),
		"invalid UTF-8":              hdr(`,"typ":"` + "\xff" + `"`),
		"duplicate name":             hdr(`,"typ":"a","typ":"a"`),
		"duplicate escaped name":     hdr(`,"c\u0074x":"q"`),
		"fraction":                   strings.Replace(hdr(""), "1767225600000", "1767225600000.0", 1),
		"exponent":                   strings.Replace(hdr(""), "1767225600000", "1767225600e3", 1),
		"upper exponent":             strings.Replace(hdr(""), "1767225600000", "1767225600E3", 1),
		"minus zero":                 hdr(`,"nbf":-0`),
		"negative":                   hdr(`,"nbf":-1`),
		"leading zero":               hdr(`,"nbf":01`),
		"2^53":                       hdr(`,"nbf":9007199254740992`),
		"plus sign":                  hdr(`,"nbf":+1`),
		"upper-case name":            `{"KID":"hs256-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q"}`,
		"mixed-case name":            hdr(`,"Typ":"a"`),
		"upper-case alg":             strings.Replace(hdr(""), `"HS256"`, `"hs256"`, 1),
		"257 units":                  hdr(`,"typ":"` + repeat("a", 255) + `😀"`),
		"129 non-BMP characters":     hdr(`,"ct":"` + repeat("😀", 129) + `"`),
		"BOM":                        "\ufeff" + hdr(""),
		"trailing comma":             strings.TrimSuffix(hdr(""), "}") + ",}",
		"null typ":                   hdr(`,"typ":null`),
		"nested":                     hdr(`,"typ":{"a":1}`),
		"array":                      `[` + hdr("") + `]`,
		"two objects":                hdr("") + hdr(""),
		"control character":          hdr(`,"typ":"a` + "\t" + `b"`),
		"bad escape":                 hdr(`,"typ":"\x41"`),
		"id with a space":            strings.Replace(hdr(""), `"m1"`, `"m 1"`, 1),
		"id not ASCII":               strings.Replace(hdr(""), `"m1"`, `"mé"`, 1),
		"empty ctx":                  strings.Replace(hdr(""), `"ctx":"q"`, `"ctx":""`, 1),
		"exp not after nbf":          hdr(`,"nbf":5,"exp":5`),
	}
	for name, h := range reject {
		_, err := openAt(k, signedCompact(t, k, h, []byte("hi")))
		wantCode(t, err, CodeMalformed, name)
	}
	// encoding/json reads the lone-surrogate header without complaint: the reason for our own scanner.
	var m map[string]any
	if err := json.Unmarshal([]byte(reject["lone high surrogate escape"]), &m); err != nil || m["typ"] != "\ufffd" {
		t.Errorf("encoding/json turned the lone surrogate into U+FFFD (%v, %q): this test documents why a scanner of our own is needed", err, m["typ"])
	}
}

func TestObjectCarrierStrictness(t *testing.T) {
	k := testKeyring(t, "hs256")
	env := signedCompact(t, k, hdr(""), []byte("hi"))
	obj, err := ToObject(Compact(env), 0)
	if err != nil {
		t.Fatal(err)
	}
	o := OpenOptions{Ctx: []string{"q"}, Now: msTimeForTest(testNow)}
	if _, err := OpenObject(k, obj, o); err != nil {
		t.Fatal(err)
	}
	s := string(obj)
	reject := map[string]string{
		"case-insensitive member":   strings.Replace(s, `"payload"`, `"Payload"`, 1),
		"duplicate sealq":           strings.Replace(s, `{"sealq":1`, `{"sealq":1,"sealq":1`, 1),
		"duplicate escaped payload": strings.Replace(s, `"payload":"hi"`, `"payload":"hi","p\u0061yload":"hi"`, 1),
		"duplicate header":          strings.Replace(s, `{"header":`, `{"header":"x","header":`, 1),
		"nested duplicate":          strings.Replace(s, `"payload":"hi"`, `"payload":"hi"`, 1)[:len(s)-1] + `,"x":{"a":1,"a":2}}`,
		"lone surrogate payload":    strings.Replace(s, `"payload":"hi"`, `"payload":"\ud800"`, 1),
		"lone surrogate header":     strings.Replace(s, `{\"kid\"`, `{\"kid\ud800\"`, 1),
		"BOM":                       "\ufeff" + s,
		"not UTF-8":                 strings.Replace(s, `"payload":"hi"`, "\"payload\":\"h\xffi\"", 1),
		"trailing garbage":          s + "x",
		"sealq as string":           strings.Replace(s, `"sealq":1`, `"sealq":"1"`, 1),
		"deep nesting":              strings.TrimSuffix(s, "}") + `,"x":` + repeat("[", 100) + repeat("]", 100) + "}",
	}
	for name, text := range reject {
		_, err := OpenObject(k, []byte(text), o)
		wantCode(t, err, CodeMalformed, name)
	}
	// Value semantics that JSON.parse shares: 1.0 is the number 1; 2 is another version.
	if _, err := OpenObject(k, []byte(strings.Replace(s, `"sealq":1`, `"sealq":1.0`, 1)), o); err != nil {
		t.Errorf("sealq 1.0: %v", err)
	}
	_, err = OpenObject(k, []byte(strings.Replace(s, `"sealq":1`, `"sealq":2`, 1)), o)
	wantCode(t, err, CodeUnsupportedVersion, "sealq 2")
	// The escaped text of the payload is what the bytes are: \u0068 is h.
	m, err := OpenObject(k, []byte(strings.Replace(s, `"payload":"hi"`, `"payload":"\u0068i"`, 1)), o)
	if err != nil || string(m.Payload) != "hi" {
		t.Errorf("escaped payload text: %v", err)
	}
}

func TestEd25519KeysCheckedAtImport(t *testing.T) {
	jwk := func(x []byte) []byte {
		b, _ := json.Marshal(map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": b64Encode(x)})
		return b
	}
	good, _ := b64Decode(testJWK(t, "ed25519")["x"].(string))
	if _, err := ParseKey(jwk(good)); err != nil {
		t.Fatal(err)
	}
	// ed25519.Verify panics on a key of another length: such a key never gets that far.
	for _, n := range []int{0, 31, 33, 64} {
		_, err := ParseKey(jwk(make([]byte, n)))
		wantCode(t, err, CodeInvalidKey, "x of "+itoa(n)+" bytes")
	}
	// The points of small order (their canonical encodings), the identity with the sign bit set,
	// and y = p (a non-canonical encoding of 0).
	for _, h := range []string{
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0000000000000000000000000000000000000000000000000000000000000080",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"0100000000000000000000000000000000000000000000000000000000000080",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		_, err := ParseKey(jwk(unhex(t, h)))
		wantCode(t, err, CodeInvalidKey, "small-order or non-canonical x "+h[:8])
	}
	// A y with no point (x^2 not a square): 2 is such a y.
	y2 := make([]byte, 32)
	y2[0] = 2
	_, err := ParseKey(jwk(y2))
	wantCode(t, err, CodeInvalidKey, "y without a point")
}

func TestECDSASignaturesAreP1363(t *testing.T) {
	k := testKeyring(t, "p256")
	key := k.Primary()
	der := 0
	for i := 0; i < 200; i++ {
		h := []byte(hdr(""))
		p := []byte{byte(i)}
		sig, err := key.sign(h, p)
		if err != nil || len(sig) != 64 {
			t.Fatalf("ES256 signature of %d bytes: %v", len(sig), err)
		}
		// The same r and s, checked independently through crypto/ecdsa's ASN.1 form.
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		asn1 := derSig(r, s)
		if !ecdsa.VerifyASN1(key.ecPub, digest(framed(h, p)), asn1) {
			t.Fatal("r||s does not verify as ASN.1")
		}
		if sig[0] == 0 || sig[32] == 0 {
			der++ // a short r or s was left-padded with zeros
		}
		// The DER form is not a valid signature here.
		if len(asn1) == 64 {
			continue
		}
		if key.verify(h, p, asn1) {
			t.Fatal("a DER signature verified")
		}
		if !key.verify(h, p, sig) {
			t.Fatal("own signature did not verify")
		}
	}
	// High S (n - s) verifies as well: ECDSA is malleable and nothing is keyed on signature bytes.
	h, p := []byte(hdr("")), []byte("hi")
	sig, _ := key.sign(h, p)
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(key.ecPub.Params().N, s)
	high := append(append([]byte{}, sig[:32]...), s.FillBytes(make([]byte, 32))...)
	if !key.verify(h, p, high) {
		t.Error("high-S signature rejected")
	}
	// r = 0 or s = 0 never verifies (and does not panic).
	if key.verify(h, p, make([]byte, 64)) {
		t.Error("zero signature verified")
	}
	t.Logf("%d of 200 signatures had r or s padded", der)
}

func derSig(r, s *big.Int) []byte {
	enc := func(v *big.Int) []byte {
		b := v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{2, byte(len(b))}, b...)
	}
	body := append(enc(r), enc(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

func TestRSAPSSSaltAndLength(t *testing.T) {
	k := testKeyring(t, "rsa2048")
	key := k.Primary()
	h, p := []byte(hdr("")), []byte("hi")
	d := digest(framed(h, p))
	for _, salt := range []int{0, 20, 31, 33, rsa.PSSSaltLengthEqualsHash + 0} {
		sig, err := rsa.SignPSS(rand.Reader, key.rsaPriv, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		if want := salt == 32 || salt == rsa.PSSSaltLengthEqualsHash; key.verify(h, p, sig) != want {
			t.Errorf("salt %d: verified %v", salt, !want)
		}
	}
	sig, err := rsa.SignPSS(rand.Reader, key.rsaPriv, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: 32})
	if err != nil || !key.verify(h, p, sig) {
		t.Fatal("salt 32")
	}
	// Exactly the modulus length: a zero byte added in front is invalid, whatever its value.
	if key.verify(h, p, append([]byte{0}, sig...)) {
		t.Error("a signature with a zero byte prepended verified")
	}
	// Find a signature with a leading zero byte (1 in 256) and strip it.
	for i := 0; i < 4000; i++ {
		p := []byte(itoa(i))
		sig, _ := key.sign(h, p)
		if sig[0] != 0 {
			continue
		}
		if !key.verify(h, p, sig) {
			t.Fatal("a signature with a leading zero byte did not verify")
		}
		if key.verify(h, p, sig[1:]) {
			t.Fatal("a signature with its leading zero byte stripped verified")
		}
		return
	}
	t.Log("no signature with a leading zero byte in 4000 tries (the vectors cover the case)")
}

func TestStrictBase64url(t *testing.T) {
	for in, want := range map[string]string{"": "", "AA": "\x00", "AAA": "\x00\x00", "AAAA": "\x00\x00\x00", "_-8": "\xff\xef"} {
		got, ok := b64Decode(in)
		if !ok || string(got) != want {
			t.Errorf("%q: %x %v", in, got, ok)
		}
	}
	for _, in := range []string{"A", "AAAAA", "AB", "AAB", "AA==", "AA=", "A\nA", "AA\r\n", "AA\n", " AA", "+A", "/A", "A+", "AA.A", "ÄA", "AA\x00", "AB\r\nAA"} {
		if _, ok := b64Decode(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := parseHexByte(s[2*i : 2*i+2])
		if err != nil {
			t.Fatal(err)
		}
		b[i] = v
	}
	return b
}
