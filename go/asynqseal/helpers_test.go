package asynqseal

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"sealq.dev/sealq"
)

// hsKeyring is a fresh HS256 keyring with one primary key.
func hsKeyring(t testing.TB, kid string) *sealq.Keyring {
	t.Helper()
	return parseKeyring(t, hsJWKS(kid))
}

func hsJWKS(kid string) string {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}
	return `{"keys":[{"kty":"oct","kid":"` + kid + `","alg":"HS256","status":"primary","k":"` +
		base64.RawURLEncoding.EncodeToString(secret) + `"}]}`
}

func parseKeyring(t testing.TB, jwks string) *sealq.Keyring {
	t.Helper()
	k, err := sealq.ParseKeyring([]byte(jwks))
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	return k
}
