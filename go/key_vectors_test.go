package sealq

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The key and keyring document vectors of vectors/keys-v1.json, shared with the TypeScript suite.

type keyVectorFile struct {
	Vectors []struct {
		Name     string          `json:"name"`
		Kind     string          `json:"kind"`
		Reason   string          `json:"reason"`
		Document json.RawMessage `json:"document"`
		Expected struct {
			Error string           `json:"error"`
			Keys  []map[string]any `json:"keys"`
		} `json:"expected"`
	} `json:"vectors"`
	Patterns []struct {
		Pattern string `json:"pattern"`
		Name    string `json:"name"`
		Match   bool   `json:"match"`
		Reason  string `json:"reason"`
	} `json:"patterns"`
}

// keyFacts is what a vector says a loader must read from a key.
func keyFacts(k *Key) map[string]any {
	m := map[string]any{"kid": k.Kid(), "alg": k.Alg(), "status": k.Status(), "can_sign": k.CanSign()}
	for name, ms := range k.stamps {
		m[name] = float64(ms)
	}
	if k.hasPolicy {
		p := map[string]any{}
		for name, l := range map[string][]string{"ctx": k.ctxList, "typ": k.typList} {
			if l != nil {
				a := make([]any, len(l))
				for i, s := range l {
					a[i] = s
				}
				p[name] = a
			}
		}
		m["policy"] = p
	}
	return m
}

func TestKeyVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "vectors", "keys-v1.json"))
	if err != nil {
		t.Fatalf("reading the key vectors: %v", err)
	}
	var f keyVectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	check := func(name, how string, keys []*Key, err error, wantErr string, want []map[string]any) {
		t.Helper()
		if wantErr != "" {
			if CodeOf(err) != wantErr {
				t.Errorf("%s (%s): got %v, want %s", name, how, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("%s (%s): refused: %v", name, how, err)
			return
		}
		got := make([]map[string]any, len(keys))
		for i, k := range keys {
			got[i] = keyFacts(k)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s (%s): read %v, want %v", name, how, got, want)
		}
	}
	for _, v := range f.Vectors {
		switch v.Kind {
		case "key":
			k, err := ParseKey(v.Document)
			var keys []*Key
			if err == nil {
				keys = []*Key{k}
			}
			check(v.Name, "ParseKey", keys, err, v.Expected.Error, v.Expected.Keys)
			// Alone in a keyring: the keyring code.
			r, err := ParseKeyring([]byte(`{"keys":[` + string(v.Document) + `]}`))
			wantErr := v.Expected.Error
			if wantErr != "" {
				wantErr = CodeInvalidKeyring
			}
			if err == nil {
				keys = r.Keys()
			}
			check(v.Name, "in a keyring", keys, err, wantErr, v.Expected.Keys)
		case "keyring":
			r, err := ParseKeyring(v.Document)
			var keys []*Key
			if err == nil {
				keys = r.Keys()
			}
			check(v.Name, "ParseKeyring", keys, err, v.Expected.Error, v.Expected.Keys)
		case "keyring-text":
			var text string
			if err := json.Unmarshal(v.Document, &text); err != nil {
				t.Fatalf("%s: document is not a string: %v", v.Name, err)
			}
			r, err := ParseKeyring([]byte(text))
			var keys []*Key
			if err == nil {
				keys = r.Keys()
			}
			check(v.Name, "ParseKeyring (text)", keys, err, v.Expected.Error, v.Expected.Keys)
		default:
			t.Errorf("%s: kind %q unknown to this runner", v.Name, v.Kind)
		}
	}
	for _, p := range f.Patterns {
		if got := compileMatcher([]string{p.Pattern}).allows(p.Name, true); got != p.Match {
			t.Errorf("pattern %q on %q: %v, want %v (%s)", p.Pattern, p.Name, got, p.Match, p.Reason)
		}
	}
	t.Logf("%d key and keyring documents, %d pattern matches", len(f.Vectors), len(f.Patterns))
}
