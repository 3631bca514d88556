package sealq

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func jwksOf(keys ...map[string]any) []byte {
	l := make([]any, len(keys))
	for i, k := range keys {
		l[i] = k
	}
	b, _ := json.Marshal(map[string]any{"keys": l})
	return b
}

func with(jwk map[string]any, kv ...any) map[string]any {
	c := map[string]any{}
	for k, v := range jwk {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func TestKeyringDocuments(t *testing.T) {
	hs := testJWK(t, "hs256")
	ed := testJWK(t, "ed25519")
	k, err := ParseKeyring(jwksOf(with(hs, "status", "primary"), with(ed, "d", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 2 || k.Primary().Kid() != "hs256-test" || k.Get("ed25519-test").CanSign() || k.Get("ed25519-test").Status() != StatusActive {
		t.Errorf("keyring read wrong: %v", k)
	}
	// The private JWKS the TypeScript side writes, with rotation timestamps and a policy.
	doc := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + ed["x"].(string) + `","d":"` + ed["d"].(string) + `","kid":"ed25519-test","alg":"EdDSA","use":"sig","status":"primary","not_before":"2026-01-01T00:00:00.000Z","added_at":"2025-12-01T00:00:00.000Z","promoted_at":"2025-12-02T00:00:00.000Z","policy":{"ctx":["billing.*"],"typ":["*"]}}],"generator":"ignored"}`
	k, err = ParseKeyring([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if nb, ok := k.Primary().NotBefore(); !ok || !nb.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("not_before %v", nb)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "keyring.json")
	_ = os.WriteFile(p, []byte(doc), 0o600)
	if _, err := ReadKeyringFile(p); err != nil {
		t.Error(err)
	}
	_, err = ReadKeyringFile(filepath.Join(dir, "missing.json"))
	wantCode(t, err, CodeInvalidKeyring, "a missing file")
	if !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Errorf("the cause is kept: %v", err)
	}

	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = with(hs, "kid", "k"+itoa(i))
	}
	bad := map[string][]byte{
		"not JSON":           []byte(`{"keys":[`),
		"no keys":            []byte(`{}`),
		"keys not a list":    []byte(`{"keys":{}}`),
		"empty keyring":      []byte(`{"keys":[]}`),
		"1001 keys":          jwksOf(many...),
		"duplicate kid":      jwksOf(hs, hs),
		"two primaries":      jwksOf(with(hs, "status", "primary"), with(ed, "status", "primary")),
		"duplicate member":   []byte(`{"keys":[{"kty":"oct","kid":"a","kid":"b","k":"` + hs["k"].(string) + `"}]}`),
		"keys twice":         []byte(`{"keys":[],"keys":[` + string(mustJSON(hs)) + `]}`),
		"an invalid key":     jwksOf(with(hs, "status", "Primary")),
		"a key not a object": []byte(`{"keys":["x"]}`),
	}
	for name, doc := range bad {
		_, err := ParseKeyring(doc)
		wantCode(t, err, CodeInvalidKeyring, name)
	}
	if _, err := ParseKeyring(jwksOf(many[:1000]...)); err != nil {
		t.Errorf("1000 keys: %v", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestKeyDocuments(t *testing.T) {
	hs := testJWK(t, "hs256")
	ed := testJWK(t, "ed25519")
	p256 := testJWK(t, "p256")
	rsaKey := testJWK(t, "rsa2048")
	other := testJWK(t, "ed25519-other")
	for _, name := range []string{"hs256", "hs512", "ed25519", "p256", "rsa2048"} {
		k, err := ParseKey(mustJSON(testJWK(t, name)))
		if err != nil || !k.CanSign() {
			t.Errorf("%s: %v", name, err)
		}
		pub := with(testJWK(t, name), "d", nil, "p", nil, "q", nil, "dp", nil, "dq", nil, "qi", nil)
		if name[:2] == "hs" {
			continue
		}
		if k, err := ParseKey(mustJSON(pub)); err != nil || k.CanSign() {
			t.Errorf("%s public: %v", name, err)
		}
	}
	if k, _ := ParseKey(mustJSON(with(hs, "alg", nil))); k.Alg() != "HS256" {
		t.Error("oct defaults to HS256")
	}
	bad := map[string]map[string]any{
		"unknown member":        with(hs, "note", "x"),
		"x5t#S256 misspelt":     with(hs, "x5t#s256", "x"),
		"no kid":                with(hs, "kid", nil),
		"kid with a space":      with(hs, "kid", "a b"),
		"kid too long":          with(hs, "kid", repeat("k", 129)),
		"kid not a string":      with(hs, "kid", 5),
		"alg unknown":           with(hs, "alg", "HS384"),
		"alg none":              with(hs, "alg", "none"),
		"kty mismatch":          with(hs, "kty", "OKP"),
		"no kty":                with(hs, "kty", nil),
		"use enc":               with(hs, "use", "enc"),
		"status unknown":        with(hs, "status", "retired"),
		"status case":           with(hs, "status", "Active"),
		"status not a string":   with(hs, "status", true),
		"HS256 short":           with(hs, "k", b64Encode(make([]byte, 31))),
		"HS512 short":           with(testJWK(t, "hs512"), "k", b64Encode(make([]byte, 63))),
		"k not canonical":       with(hs, "k", hs["k"].(string)+"="),
		"k missing":             with(hs, "k", nil),
		"k empty":               with(hs, "k", ""),
		"crv wrong":             with(ed, "crv", "X25519"),
		"crv missing":           with(p256, "crv", nil),
		"Ed25519 pair mismatch": with(ed, "d", other["d"]),
		"Ed25519 d short":       with(ed, "d", b64Encode(make([]byte, 31))),
		"P-256 not on curve":    with(p256, "y", p256["x"]),
		"P-256 x short":         with(p256, "x", b64Encode(make([]byte, 31))),
		"P-256 pair mismatch":   with(p256, "d", b64Encode(append(make([]byte, 31), 1))),
		"P-256 d zero":          with(p256, "d", b64Encode(make([]byte, 32))),
		"RSA missing e":         with(rsaKey, "e", nil),
		"RSA partial private":   with(rsaKey, "qi", nil),
		"RSA dp wrong":          with(rsaKey, "dp", rsaKey["dq"]),
		"RSA 1024 bits":         with(rsaKey, "n", b64Encode(make([]byte, 128)), "d", nil, "p", nil, "q", nil, "dp", nil, "dq", nil, "qi", nil),
		"RSA even e":            with(rsaKey, "e", "AQAA", "d", nil, "p", nil, "q", nil, "dp", nil, "dq", nil, "qi", nil),
		"foreign member":        with(ed, "k", hs["k"]),
		"policy not object":     with(hs, "policy", []string{"a"}),
		"policy unknown member": with(hs, "policy", map[string]any{"ctx": []string{"a"}, "kid": []string{"b"}}),
		"policy empty list":     with(hs, "policy", map[string]any{"ctx": []string{}}),
		"policy empty pattern":  with(hs, "policy", map[string]any{"typ": []string{""}}),
		"policy not strings":    with(hs, "policy", map[string]any{"typ": []any{1}}),
		"policy list a string":  with(hs, "policy", map[string]any{"ctx": "a"}),
		"not_after before":      with(hs, "not_before", "2026-01-02T00:00:00Z", "not_after", "2026-01-01T00:00:00Z"),
		"timestamp no zone":     with(hs, "not_before", "2026-01-01T00:00:00"),
		"rotation timestamp":    with(hs, "revoked_at", "2026-01-01"),
		"timestamp a number":    with(hs, "not_after", 1767225600000),
	}
	for name, jwk := range bad {
		_, err := ParseKey(mustJSON(jwk))
		wantCode(t, err, CodeInvalidKey, name)
		if err != nil {
			for _, secret := range []string{hs["k"].(string), ed["d"].(string), p256["d"].(string), rsaKey["d"].(string)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s: the error shows key material", name)
				}
			}
		}
	}
	// Registered members that do not affect verification are allowed.
	if _, err := ParseKey(mustJSON(with(hs, "key_ops", []string{"sign", "verify"}, "ext", true, "x5t", "abc"))); err != nil {
		t.Errorf("registered members: %v", err)
	}
}

func TestKeyTimestamps(t *testing.T) {
	ms := func(s string) int64 { return mustTime(t, s).UnixMilli() }
	good := map[string]int64{
		"2026-01-31T00:00:00Z":            ms("2026-01-31T00:00:00Z"),
		"2026-01-31t00:00:00z":            ms("2026-01-31T00:00:00Z"),
		"2024-02-29T12:00:00Z":            ms("2024-02-29T12:00:00Z"),
		"2000-02-29T00:00:00Z":            ms("2000-02-29T00:00:00Z"),
		"2026-01-31T23:59:59.999Z":        ms("2026-01-31T23:59:59.999Z"),
		"2026-01-31T00:00:00.1234567899Z": -1, // ten digits: invalid, listed below
		"2026-01-31T00:00:00.123456789Z":  ms("2026-01-31T00:00:00.123Z"),
		"2026-01-31T00:00:00.9999Z":       ms("2026-01-31T00:00:00.999Z"), // truncated, not rounded
		"2026-01-31T00:00:00.5Z":          ms("2026-01-31T00:00:00.500Z"),
		"2026-01-31T01:00:00+01:00":       ms("2026-01-31T00:00:00Z"),
		"2026-01-30T23:30:00-00:30":       ms("2026-01-31T00:00:00Z"),
		"2026-01-31T00:00:00+23:59":       ms("2026-01-30T00:01:00Z"),
		"0000-01-01T00:00:00Z":            time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		"9999-12-31T23:59:59Z":            ms("9999-12-31T23:59:59Z"),
	}
	for s, want := range good {
		if want == -1 {
			continue
		}
		got, ok := parseTimestamp(s)
		if !ok || got != want {
			t.Errorf("%s: %d %v, want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{
		"2026-01-31T00:00:00.1234567899Z", "2026-01-31T00:00:00", "2026-01-31", "2026-01-31 00:00:00Z",
		"2026-01-31T00:00Z", "2026-01-31T00:00:00+0100", "2026-01-31T00:00:00+01", "2026-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-31T24:00:00Z", "2026-01-31T23:60:00Z",
		"2026-01-31T23:59:60Z", "2026-01-31T00:00:00+24:00", "2026-01-31T00:00:00+01:60", "2026-01-31T00:00:00.Z",
		"+2026-01-31T00:00:00Z", "20260-01-31T00:00:00Z", "2026-1-31T00:00:00Z", "2026-01-31T00:00:00ZZ",
		" 2026-01-31T00:00:00Z", "2026-01-31T00:00:00Z ", "2026-01-31T00:00:00+01:00Z", "2026-01-31T00:00:00-",
		"２026-01-31T00:00:00Z", "",
	} {
		if _, ok := parseTimestamp(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeyStatusAndWindow(t *testing.T) {
	hs := testJWK(t, "hs256")
	env := signedCompact(t, testKeyring(t, "hs256"), hdr(""), []byte("hi")) // iat 2026-01-01T00:00:00Z
	cases := []struct {
		key  map[string]any
		code string
	}{
		{with(hs, "status", "active"), ""},
		{with(hs, "status", "primary"), ""},
		{with(hs, "status", "disabled"), CodeKeyInactive},
		{with(hs, "status", "revoked"), CodeKeyInactive},
		{with(hs, "not_before", "2026-01-01T00:00:00Z"), ""},
		{with(hs, "not_before", "2026-01-01T00:00:00.001Z"), CodeKeyInactive},
		{with(hs, "not_after", "2026-01-01T00:00:00Z"), ""},
		{with(hs, "not_after", "2025-12-31T23:59:59.999Z"), CodeKeyInactive},
		{with(hs, "not_after", "2026-01-01T01:00:00+01:00"), ""},
	}
	for _, c := range cases {
		k, err := ParseKeyring(jwksOf(c.key))
		if err != nil {
			t.Fatal(err)
		}
		_, err = openAt(k, env)
		wantCode(t, err, c.code, string(mustJSON(c.key["status"]))+" "+string(mustJSON(c.key["not_before"]))+" "+string(mustJSON(c.key["not_after"])))
	}
}

func TestPolicyPatterns(t *testing.T) {
	cases := []struct {
		patterns []string
		name     string
		present  bool
		want     bool
	}{
		{[]string{"billing.*"}, "billing.invoices", true, true},
		{[]string{"billing.*"}, "billing.", true, true},
		{[]string{"billing.*"}, "billing", true, false},
		{[]string{"billing.*"}, "xbilling.a", true, false},
		{[]string{"*.refunds"}, "billing.refunds", true, true},
		{[]string{"a*b*c"}, "abc", true, true},
		{[]string{"a*b*c"}, "a-b-c", true, true},
		{[]string{"a*b*c"}, "acb", true, false},
		{[]string{"a*a"}, "a", true, false},
		{[]string{"a*a"}, "aa", true, true},
		{[]string{"**"}, "", true, true},
		{[]string{"x"}, "x", true, true},
		{[]string{"x"}, "X", true, false},
		{[]string{"x.*"}, "x.\n", true, true},
		{[]string{"*"}, "", false, true},
		{[]string{"a*"}, "", false, false},
		{[]string{"a", "*"}, "", false, true},
		{[]string{"é*"}, "é😀", true, true},
		{[]string{"*\xed\xb8\x80"}, "😀", true, true}, // a lone low surrogate (WTF-8) matches half of U+1F600
		{[]string{"\xed\xa0\xbd*"}, "😀", true, true}, // and the high half
		{[]string{"\xed\xa0\xbd"}, "😀", true, false},
		{[]string{"*\xed\xb8\x81"}, "😀", true, false},
	}
	for _, c := range cases {
		if got := compileMatcher(c.patterns).allows(c.name, c.present); got != c.want {
			t.Errorf("%q allows %q (present %v): %v", c.patterns, c.name, c.present, got)
		}
	}
	// Linear: a pattern of many stars against a long name that almost matches.
	long := repeat("a", 10000)
	if compileMatcher([]string{repeat("a*", 200) + "b"}).allows(long, true) {
		t.Error("no b, no match")
	}
	// Through a keyring, including a pattern that holds a lone surrogate escape.
	hs := testJWK(t, "hs256")
	k, err := ParseKeyring([]byte(`{"keys":[` + strings.TrimSuffix(string(mustJSON(hs)), "}") + `,"status":"primary","policy":{"ctx":["*\udE00"],"typ":["job.*"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	env := signedCompact(t, k, `{"kid":"hs256-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q😀","typ":"job.x"}`, nil)
	if _, err := Open(k, env, OpenOptions{Ctx: []string{"q😀"}, Now: msTimeForTest(testNow)}); err != nil {
		t.Errorf("policy with a lone surrogate: %v", err)
	}
	env = signedCompact(t, k, `{"kid":"hs256-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q😀"}`, nil)
	_, err = Open(k, env, OpenOptions{Ctx: []string{"q😀"}, Now: msTimeForTest(testNow)})
	wantCode(t, err, CodeKeyNotPermitted, "a typ policy with no typ")
}
