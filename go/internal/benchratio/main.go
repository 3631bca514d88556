// Command benchratio measures Seal+Open against the raw primitives at 1 KiB, for npm run bench
// (bench/go.bench.ts) and docs/benchmarks.md:
//
//	go run ./internal/benchratio [-rounds 7] [-slice 200ms] [-json] VECTORS_FILE
//
// Cases run interleaved, round after round, each for a time slice, timed by this process's CPU
// time (a busy shared machine disturbs it far less than wall time); every figure is the median
// over rounds and every ratio the median of per-round ratios. The same operations as the
// package's go test -bench benchmarks (bench_test.go).
package main

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"sealq.dev/sealq"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchCase struct {
	name string
	op   func()
}

// measure runs op for about slice of CPU time and returns ops per CPU second.
func measure(op func(), slice time.Duration) float64 {
	n := 0
	start := cpuTime()
	for {
		for i := 0; i < 64; i++ {
			op()
		}
		n += 64
		if d := cpuTime() - start; d >= slice {
			return float64(n) / d.Seconds()
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	rounds := flag.Int("rounds", 7, "rounds over all cases")
	slice := flag.Duration("slice", 200*time.Millisecond, "CPU time per case per round")
	asJSON := flag.Bool("json", false, "print JSON instead of a table")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchratio [-rounds N] [-slice D] [-json] VECTORS_FILE")
		os.Exit(2)
	}
	b, err := os.ReadFile(flag.Arg(0))
	check(err)
	var f struct {
		TestKeys map[string]map[string]any `json:"test_keys"`
	}
	check(json.Unmarshal(b, &f))
	keyring := func(name string) *sealq.Keyring {
		jwk := f.TestKeys[name]
		jwk["status"] = "primary"
		doc, _ := json.Marshal(map[string]any{"keys": []any{jwk}})
		k, err := sealq.ParseKeyring(doc)
		check(err)
		return k
	}
	raw := func(name, member string) []byte {
		v, err := base64.RawURLEncoding.DecodeString(f.TestKeys[name][member].(string))
		check(err)
		return v
	}
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	so := sealq.SealOptions{Ctx: "billing", Typ: "invoice.send"}
	o := sealq.OpenOptions{Ctx: []string{"billing"}, Typ: []string{"invoice.send"}}
	sealOpen := func(k *sealq.Keyring) func() {
		return func() {
			env, err := sealq.Seal(k, payload, so)
			check(err)
			_, err = sealq.Open(k, env, o)
			check(err)
		}
	}
	sealOpenDetached := func(k *sealq.Keyring) func() {
		return func() {
			seal, err := sealq.SealDetached(k, payload, so)
			check(err)
			_, err = sealq.OpenDetached(k, seal, payload, o)
			check(err)
		}
	}
	secret := raw("hs256", "k")
	priv := ed25519.NewKeyFromSeed(raw("ed25519", "d"))
	pub := priv.Public().(ed25519.PublicKey)
	cases := []benchCase{
		{"HS256 Seal+Open", sealOpen(keyring("hs256"))},
		{"raw crypto/hmac SHA-256 sign+verify", func() {
			m := hmac.New(sha256.New, secret)
			m.Write(payload)
			tag := m.Sum(nil)
			v := hmac.New(sha256.New, secret)
			v.Write(payload)
			if !hmac.Equal(v.Sum(nil), tag) {
				panic("tag")
			}
		}},
		{"EdDSA Seal+Open", sealOpen(keyring("ed25519"))},
		{"raw crypto/ed25519 sign+verify", func() {
			if !ed25519.Verify(pub, payload, ed25519.Sign(priv, payload)) {
				panic("sig")
			}
		}},
		{"HS256 Seal+Open, headers carrier", sealOpenDetached(keyring("hs256"))},
		{"EdDSA Seal+Open, headers carrier", sealOpenDetached(keyring("ed25519"))},
	}
	for _, c := range cases { // warm up
		measure(c.op, *slice/2)
	}
	perRound := make([][]float64, len(cases))
	for r := 0; r < *rounds; r++ {
		for i, c := range cases {
			runtime.GC()
			perRound[i] = append(perRound[i], measure(c.op, *slice))
		}
	}
	ratio := func(a, b int) float64 {
		rs := make([]float64, *rounds)
		for r := range rs {
			rs[r] = perRound[a][r] / perRound[b][r]
		}
		return median(rs)
	}
	type result struct {
		Name      string  `json:"name"`
		OpsPerSec float64 `json:"opsPerSec"`
	}
	type ratioResult struct {
		Label   string  `json:"label"`
		Value   float64 `json:"value"`
		AtLeast float64 `json:"atLeast"`
	}
	var results []result
	for i, c := range cases {
		results = append(results, result{c.name, median(perRound[i])})
	}
	ratios := []ratioResult{
		{"Go HS256 Seal+Open (compact) vs raw crypto/hmac, 1 KiB", ratio(0, 1), 0.6},
		{"Go EdDSA Seal+Open (compact) vs raw crypto/ed25519, 1 KiB", ratio(2, 3), 0.9},
		{"Go HS256 Seal+Open (headers carrier) vs raw crypto/hmac, 1 KiB", ratio(4, 1), 0.6},
		{"Go EdDSA Seal+Open (headers carrier) vs raw crypto/ed25519, 1 KiB", ratio(5, 3), 0.9},
	}
	if *asJSON {
		check(json.NewEncoder(os.Stdout).Encode(map[string]any{
			"go": runtime.Version(), "rounds": *rounds, "slice": slice.String(), "clock": "cpu", "cases": results, "ratios": ratios,
		}))
		return
	}
	fmt.Printf("Go %s, %d rounds of %v CPU time per case, 1 KiB payload\n", runtime.Version(), *rounds, *slice)
	for _, r := range results {
		fmt.Printf("  %-40s %12.0f ops/s  %8.2f µs/op\n", r.Name, r.OpsPerSec, 1e6/r.OpsPerSec)
	}
	for _, r := range ratios {
		verdict := "met"
		if r.Value < r.AtLeast {
			verdict = "MISSED"
		}
		fmt.Printf("  %-66s %.2fx (target >= %.1fx: %s)\n", r.Label, r.Value, r.AtLeast, verdict)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}
