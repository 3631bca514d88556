// Command crosshelper is the Go side of the TypeScript <-> Go cross tests (test/cross-go.test.ts):
//
//	crosshelper seal VECTORS_FILE
//	    seals the cross payloads in every algorithm and carrier and prints them as JSON;
//	crosshelper complete VECTORS_FILE REDIS_URL PREFIX ALG COMPACT
//	    opens, claims and completes a message in the shared Redis replay store.
//
// The keys are the vectors' test keys, one keyring per algorithm with that key as primary, as in
// test/fixtures/cross/keys.ts.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"sealq.dev/sealq"
	"sealq.dev/sealq/redisstore"
)

var algKeys = [][2]string{{"HS256", "hs256"}, {"HS512", "hs512"}, {"EdDSA", "ed25519"}, {"ES256", "p256"}, {"PS256", "rsa2048"}}

// The payloads of test/fixtures/cross/keys.ts.
var payloads = [][]byte{
	[]byte(`{"invoice":"INV-1","note":"Grüße 😀"}`),
	{0, 1, 0x80, 0xfe, 0xff, 0xc3, 0x28, 0x0a},
	{},
}

const (
	ctxName = "billing.invoices"
	typName = "invoice.send"
)

func keyringFor(vectorsFile, alg string) *sealq.Keyring {
	b, err := os.ReadFile(vectorsFile)
	check(err)
	var f struct {
		TestKeys map[string]map[string]any `json:"test_keys"`
	}
	check(json.Unmarshal(b, &f))
	for _, a := range algKeys {
		if a[0] == alg {
			jwk := f.TestKeys[a[1]]
			jwk["status"] = "primary"
			doc, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
			k, err := sealq.ParseKeyring(doc)
			check(err)
			return k
		}
	}
	check(fmt.Errorf("unknown algorithm %q", alg))
	return nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "crosshelper:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 3 {
		check(fmt.Errorf("usage: crosshelper seal VECTORS_FILE | complete VECTORS_FILE REDIS_URL PREFIX ALG COMPACT"))
	}
	b64 := base64.RawURLEncoding.EncodeToString
	switch os.Args[1] {
	case "seal":
		var out []map[string]string
		for _, a := range algKeys {
			k := keyringFor(os.Args[2], a[0])
			for _, p := range payloads {
				o := sealq.SealOptions{Ctx: ctxName, Typ: typName, Ct: "application/octet-stream", ExpiresIn: time.Hour}
				c, err := sealq.Seal(k, p, o)
				check(err)
				obj, err := sealq.SealObject(k, p, o)
				check(err)
				seal, err := sealq.SealDetached(k, p, o)
				check(err)
				out = append(out,
					map[string]string{"alg": a[0], "carrier": "compact", "payload": b64(p), "envelope": c},
					map[string]string{"alg": a[0], "carrier": "object", "payload": b64(p), "envelope": string(obj)},
					map[string]string{"alg": a[0], "carrier": "detached", "payload": b64(p), "envelope": seal, "body": b64(p)})
			}
		}
		check(json.NewEncoder(os.Stdout).Encode(out))
	case "complete":
		if len(os.Args) != 7 {
			check(fmt.Errorf("usage: crosshelper complete VECTORS_FILE REDIS_URL PREFIX ALG COMPACT"))
		}
		store, err := redisstore.Open(os.Args[3], redisstore.Options{Prefix: os.Args[4]})
		check(err)
		defer store.Close()
		ctx := context.Background()
		k := keyringFor(os.Args[2], os.Args[5])
		c, err := sealq.OpenAndClaim(ctx, k, sealq.Compact(os.Args[6]), sealq.OpenOptions{Ctx: []string{ctxName}}, store, 0)
		check(err)
		check(c.Complete(ctx))
		check(json.NewEncoder(os.Stdout).Encode(map[string]string{"id": c.Header.ID, "key": store.KeyOf(c.Key())}))
	default:
		check(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}
