package sealq

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Cross test, TypeScript -> Go: the TypeScript implementation seals in every algorithm and
// carrier (test/fixtures/cross/ts-seal.ts); Go opens each. The reverse direction is
// test/cross-go.test.ts, which runs internal/crosshelper.

// needNode returns the repository root when node and tsx are there; otherwise it skips (fails
// with CI=true) saying what to install.
func needNode(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs("..")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH: install Node.js 20 or later"
	} else if _, err := os.Stat(filepath.Join(root, "node_modules", "tsx")); err != nil {
		missing = "node_modules/tsx is missing: run npm ci in the repository root"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: cross tests must not be skipped)", missing)
		}
		t.Skip(missing)
	}
	return root
}

type crossEnvelope struct {
	Alg, Carrier, Payload, Envelope, Body string
}

func TestCrossTypeScriptSealsGoOpens(t *testing.T) {
	root := needNode(t)
	cmd := exec.Command("node", "--import", "tsx", "test/fixtures/cross/ts-seal.ts")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ts-seal.ts: %v", err)
	}
	var envs []crossEnvelope
	if err := json.Unmarshal(out, &envs); err != nil {
		t.Fatal(err)
	}
	keyrings := map[string]*Keyring{}
	for _, a := range algKeys {
		keyrings[a.alg] = testKeyring(t, a.key)
	}
	seen := map[string]int{}
	o := OpenOptions{Ctx: []string{"billing.invoices"}, Typ: []string{"invoice.send"}}
	for _, e := range envs {
		k := keyrings[e.Alg]
		payload, _ := b64Decode(e.Payload)
		var env Envelope
		switch e.Carrier {
		case "compact":
			env = Compact(e.Envelope)
		case "object":
			env = Object([]byte(e.Envelope))
			// Go writes the object carrier with the same bytes as the TypeScript producer.
			if again, err := ToObject(env, 0); err != nil || string(again) != e.Envelope {
				t.Errorf("%s object: Go re-encodes it as %s", e.Alg, again)
			}
		case "detached":
			body, _ := b64Decode(e.Body)
			env = Detached(e.Envelope, body)
		}
		m, err := OpenEnvelope(k, env, o)
		if err != nil {
			t.Errorf("%s %s (%d-byte payload): %v", e.Alg, e.Carrier, len(payload), err)
			continue
		}
		if !bytes.Equal(m.Payload, payload) || m.Header.Alg != e.Alg || m.Header.Ct != "application/octet-stream" || m.Header.Exp == nil {
			t.Errorf("%s %s: opened %+v", e.Alg, e.Carrier, m.Header)
		}
		// And it still opens after converting to every other carrier.
		c, err := ToCompact(env, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(k, c, o); err != nil {
			t.Errorf("%s %s -> compact: %v", e.Alg, e.Carrier, err)
		}
		seen[e.Alg+"/"+e.Carrier]++
	}
	if len(seen) != 15 {
		t.Errorf("expected 5 algorithms x 3 carriers, got %v", seen)
	}
	t.Logf("%d TypeScript envelopes opened in Go (%d algorithm/carrier pairs)", len(envs), len(seen))
}
