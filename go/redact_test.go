package sealq

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Keys and keyrings never show their material, through any fmt verb or encoding/json.
func TestSecretsNeverPrinted(t *testing.T) {
	var secrets []string
	var keys []*Key
	for _, name := range []string{"hs256", "hs512", "ed25519", "p256", "rsa2048"} {
		jwk := testJWK(t, name)
		for _, m := range []string{"k", "d", "p", "q", "dp", "dq", "qi"} {
			if s, ok := jwk[m].(string); ok {
				secrets = append(secrets, s)
				raw, _ := b64Decode(s)
				secrets = append(secrets, fmt.Sprintf("%x", raw), fmt.Sprintf("%X", raw), fmt.Sprint(raw))
			}
		}
		k := testKeyring(t, name)
		keys = append(keys, k.Primary())
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			for _, v := range []any{k, *k, k.Primary(), *k.Primary(), []*Key{k.Primary()}, map[string]*Keyring{"k": k}} {
				out := fmt.Sprintf(verb, v)
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Fatalf("%s of %T shows key material: %s", verb, v, out)
					}
				}
			}
		}
		for _, v := range []any{k, k.Primary(), []*Key{k.Primary()}} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					t.Fatalf("json.Marshal of %T shows key material: %s", v, b)
				}
			}
		}
	}
	k := testKeyring(t, "hs256")
	if got := fmt.Sprintf("%v", k); got != "sealq.Keyring{hs256-test (HS256, primary)}" {
		t.Errorf("%%v: %s", got)
	}
	b, _ := json.Marshal(k)
	if string(b) != `{"keys":[{"kid":"hs256-test","alg":"HS256","status":"primary","canSign":true}]}` {
		t.Errorf("json: %s", b)
	}
	_ = keys
}

// Struct values (not pointers) printed with %v would walk the fields: Format stops that too.
func TestKeyValueFormat(t *testing.T) {
	k := testKeyring(t, "hs256").Primary()
	secret := testJWK(t, "hs256")["k"].(string)
	raw, _ := b64Decode(secret)
	out := fmt.Sprintf("%v %+v %#v", *k, struct{ K Key }{*k}, []Key{*k})
	if strings.Contains(out, fmt.Sprint(raw)) || strings.Contains(out, secret) {
		t.Fatalf("a Key value printed its secret: %s", out)
	}
}

func TestErrors(t *testing.T) {
	k := testKeyring(t, "hs256")
	_, err := openAt(k, "sealq1.x")
	var e *Error
	if !asError(err, &e) || e.Code != CodeMalformed || !e.Rejection() || e.Retryable() {
		t.Fatalf("%#v", err)
	}
	if !strings.HasPrefix(err.Error(), "ERR_MALFORMED: ") {
		t.Errorf("Error() is CODE: message, got %q", err.Error())
	}
	if !isErr(err, ErrMalformed) || isErr(err, ErrExpired) {
		t.Error("errors.Is matches by code")
	}
	wrapped := fmt.Errorf("handler: %w", err)
	if !isErr(wrapped, ErrMalformed) || CodeOf(wrapped) != CodeMalformed {
		t.Error("errors.Is through wrapping")
	}
	for code, want := range map[string][2]bool{
		CodeInFlight: {true, true}, CodeReplayStoreUnavailable: {true, true}, CodeReplayed: {true, false},
		CodeCompletionNotRecorded: {false, false}, CodeInvalidArgument: {false, false}, CodeValidityTooLong: {true, false},
	} {
		e := &Error{Code: code}
		if e.Rejection() != want[0] || e.Retryable() != want[1] {
			t.Errorf("%s: rejection %v retryable %v", code, e.Rejection(), e.Retryable())
		}
	}
}
