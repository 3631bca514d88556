package redisstore

import (
	"encoding/json"
	"strconv"
	"testing"

	"sealq.dev/sealq"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// testKeyring returns the vectors' test key name as the primary key of a keyring.
func testKeyring(t *testing.T, vectors []byte, name string) *sealq.Keyring {
	t.Helper()
	var f struct {
		TestKeys map[string]map[string]any `json:"test_keys"`
	}
	if err := json.Unmarshal(vectors, &f); err != nil {
		t.Fatal(err)
	}
	jwk := f.TestKeys[name]
	jwk["status"] = "primary"
	doc, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
	k, err := sealq.ParseKeyring(doc)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func itoa(n int) string { return strconv.Itoa(n) }
