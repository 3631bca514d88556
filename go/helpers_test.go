package sealq

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testKeyring returns a keyring holding the vectors' test key name (hs256, hs512, ed25519, p256,
// rsa2048, ...) as its primary key, private material included.
func testKeyring(t testing.TB, name string) *Keyring {
	t.Helper()
	return testKeyringStatus(t, name, StatusPrimary)
}

func testKeyringStatus(t testing.TB, name, status string) *Keyring {
	t.Helper()
	jwk := testJWK(t, name)
	jwk["status"] = status
	b, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
	k, err := ParseKeyring(b)
	if err != nil {
		t.Fatalf("test keyring %s: %v", name, err)
	}
	return k
}

func testJWK(t testing.TB, name string) map[string]any {
	t.Helper()
	f := loadVectors(t)
	raw, ok := f.TestKeys[name]
	if !ok {
		t.Fatalf("no test key %q", name)
	}
	var jwk map[string]any
	if err := json.Unmarshal(raw, &jwk); err != nil {
		t.Fatal(err)
	}
	return jwk
}

var algKeys = []struct{ alg, key string }{
	{"HS256", "hs256"}, {"HS512", "hs512"}, {"EdDSA", "ed25519"}, {"ES256", "p256"}, {"PS256", "rsa2048"},
}

// signedCompact signs arbitrary header bytes with the keyring's primary key, so a test can hand
// the verifier a header no producer would make, correctly signed.
func signedCompact(t testing.TB, k *Keyring, header string, payload []byte) string {
	t.Helper()
	key := k.Primary()
	sig, err := key.sign([]byte(header), payload)
	if err != nil {
		t.Fatal(err)
	}
	return encodeCompact(&rawEnvelope{payload: payload, sigs: []rawSig{{[]byte(header), sig}}}, false)
}

// multiCompact makes an envelope with several (header, signature) pairs, each signed by k.
func multiCompact(t testing.TB, payload []byte, pairs ...any) string {
	t.Helper()
	raw := &rawEnvelope{payload: payload}
	for i := 0; i < len(pairs); i += 2 {
		k := pairs[i].(*Keyring)
		h := []byte(pairs[i+1].(string))
		sig, err := k.Primary().sign(h, payload)
		if err != nil {
			t.Fatal(err)
		}
		raw.sigs = append(raw.sigs, rawSig{h, sig})
	}
	return encodeCompact(raw, false)
}

const testNow = int64(1767225600000)

func hdr(members string) string {
	return `{"kid":"hs256-test","alg":"HS256","id":"m1","iat":1767225600000,"ctx":"q"` + members + `}`
}

func openAt(k *Keyring, env string) (*Opened, error) {
	return Open(k, env, OpenOptions{Ctx: []string{"q"}, Now: msTimeForTest(testNow)})
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := CodeOf(err); got != code {
		t.Errorf("%s: got %v, want %s", what, err, code)
	}
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }

func msTimeForTest(ms int64) time.Time { return time.UnixMilli(ms) }

func itoa(n int) string { return strconv.Itoa(n) }

func parseHexByte(s string) (byte, error) {
	v, err := strconv.ParseUint(s, 16, 8)
	return byte(v), err
}

func asError(err error, target **Error) bool { return errors.As(err, target) }

func isErr(err, target error) bool { return errors.Is(err, target) }

func base64RawStrict(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }
