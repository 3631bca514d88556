package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
)

const redisAddr = "127.0.0.1:6379"

// needRedis returns a client of the shared Redis and a prefix of this test's own, and removes the
// test's keys afterwards. Without Redis it skips (fails with CI=true) saying what to start.
func needRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		msg := "redis is not reachable on " + redisAddr + "; start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: integration tests must not be skipped)", msg)
		}
		t.Skip(msg)
	}
	c.Close()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	prefix := fmt.Sprintf("sealq-go-test-%d-%d:", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Unlink(ctx, iter.Val())
		}
		client.Close()
	})
	return client, prefix
}

// The script is byte for byte the TypeScript store's: TypeScript and Go share a store.
func TestScriptIsTheTypeScriptScript(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "src", "replay", "redis-script.ts"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)export const REPLAY_SCRIPT = `(.*?)`;").FindSubmatch(src)
	if m == nil {
		t.Fatal("REPLAY_SCRIPT not found in src/replay/redis-script.ts")
	}
	if string(m[1]) != Script {
		t.Fatal("the Go script differs from src/replay/redis-script.ts: copy it byte for byte")
	}
}

func TestKeyLayout(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{Addr: redisAddr}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ctx, id, want string }{
		{"billing", "abc", "sealq:r:{7:billing:abc}"},
		{"a{b}%", "x}", "sealq:r:{5:a%7Bb%7D%25:x%7D}"},
		{"é😀", "i", "sealq:r:{3:é😀:i}"},
		{"a:b", "c", "sealq:r:{3:a:b:c}"},
		{"a", "b:c", "sealq:r:{1:a:b:c}"},
	} {
		if got := s.KeyOf(sealq.ReplayKey{Ctx: c.ctx, ID: c.id}); got != c.want {
			t.Errorf("%q %q: %s, want %s", c.ctx, c.id, got, c.want)
		}
	}
	if _, err := New(s.client, Options{Prefix: "x{y}:"}); sealq.CodeOf(err) != sealq.CodeInvalidArgument {
		t.Errorf("a prefix with a hash tag: %v", err)
	}
}

func TestStoreSemantics(t *testing.T) {
	client, prefix := needRedis(t)
	ctx := context.Background()
	s, err := New(client, Options{Prefix: prefix, ExtraRetain: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	key := sealq.ReplayKey{Ctx: "q{1}", ID: "m1"}
	out, err := s.Claim(ctx, key, time.Second, time.Minute)
	if err != nil || out.Status != sealq.StatusClaimed || out.Token == "" {
		t.Fatalf("claim: %+v %v", out, err)
	}
	if v, _ := client.Get(ctx, s.KeyOf(key)).Result(); v != "l"+out.Token {
		t.Errorf("a lease is stored as l<token>, got %q", v)
	}
	if o, _ := s.Claim(ctx, key, time.Second, time.Minute); o.Status != sealq.StatusInFlight {
		t.Errorf("second claim: %v", o.Status)
	}
	if ok, _ := s.Extend(ctx, key, "nope", time.Second); ok {
		t.Error("extend with another token")
	}
	if ok, err := s.Extend(ctx, key, out.Token, 5*time.Second); !ok || err != nil {
		t.Errorf("extend: %v", err)
	}
	if ttl := client.PTTL(ctx, s.KeyOf(key)).Val(); ttl < 4*time.Second {
		t.Errorf("extended lease ttl %v", ttl)
	}
	if ok, _ := s.Release(ctx, key, out.Token); !ok {
		t.Error("release")
	}
	out, _ = s.Claim(ctx, key, time.Second, time.Minute)
	if held, err := s.Complete(ctx, key, out.Token, time.Minute); !held || err != nil {
		t.Errorf("complete: %v %v", held, err)
	}
	if v, _ := client.Get(ctx, s.KeyOf(key)).Result(); v != "1" {
		t.Errorf("completed is stored as 1, got %q", v)
	}
	if ttl := client.PTTL(ctx, s.KeyOf(key)).Val(); ttl < 60*time.Second || ttl > 61*time.Second {
		t.Errorf("retention %v, want retain + ExtraRetain", ttl)
	}
	if o, _ := s.Claim(ctx, key, time.Second, time.Minute); o.Status != sealq.StatusCompleted {
		t.Errorf("claim after completion: %v", o.Status)
	}
	// A lease that expired: Redis's clock alone ends it.
	k2 := sealq.ReplayKey{Ctx: "q", ID: "m2"}
	o2, _ := s.Claim(ctx, k2, 50*time.Millisecond, time.Minute)
	for i := 0; i < 100 && client.Exists(ctx, s.KeyOf(k2)).Val() == 1; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	o3, _ := s.Claim(ctx, k2, time.Second, time.Minute)
	if o3.Status != sealq.StatusClaimed {
		t.Fatal("an expired lease can be claimed again")
	}
	if held, _ := s.Complete(ctx, k2, o2.Token, time.Minute); held {
		t.Error("complete with a lost lease reports false")
	}
	if v, _ := client.Get(ctx, s.KeyOf(k2)).Result(); v != "1" {
		t.Error("and marks it completed anyway")
	}
	// A key holding another type fails closed and is left alone.
	k3 := sealq.ReplayKey{Ctx: "q", ID: "m3"}
	client.HSet(ctx, s.KeyOf(k3), "x", "1")
	_, err = s.Claim(ctx, k3, time.Second, time.Minute)
	if sealq.CodeOf(err) != sealq.CodeReplayStoreUnavailable || !strings.Contains(err.Error(), "not a sealq replay record") {
		t.Errorf("a hash at the key: %v", err)
	}
	// The script cache flushed (restart, failover): EVALSHA falls back to EVAL.
	client.ScriptFlush(ctx)
	if _, err := s.Claim(ctx, sealq.ReplayKey{Ctx: "q", ID: "m4"}, time.Second, time.Minute); err != nil {
		t.Errorf("after SCRIPT FLUSH: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s, err := Open("redis://user:hunter2-secret@"+addr+"/0", Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Claim(context.Background(), sealq.ReplayKey{Ctx: "q", ID: "m"}, time.Second, time.Minute)
	var e *sealq.Error
	if !errors.As(err, &e) || e.Code != sealq.CodeReplayStoreUnavailable || !e.Retryable() {
		t.Fatalf("unreachable: %v", err)
	}
	for _, out := range []string{err.Error(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), s.String()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("the password leaked: %s", out)
		}
	}
	if _, err := Open("http://x", Options{}); sealq.CodeOf(err) != sealq.CodeInvalidArgument {
		t.Errorf("http URL: %v", err)
	}
	if _, err := Open("redis://:pw-secret@host:notaport/zz", Options{}); err == nil || strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("a bad URL is refused without echoing it: %v", err)
	}
}

// A TypeScript consumer completes a message in Redis; a Go consumer on the same store then gets
// ERR_REPLAYED. Both compute the same store keys.
func TestCrossTypeScriptCompletesGoReplayed(t *testing.T) {
	client, prefix := needRedis(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	if _, err := exec.LookPath("node"); err != nil {
		skipOrFail(t, "node is not on PATH: install Node.js 20 or later")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "tsx")); err != nil {
		skipOrFail(t, "node_modules/tsx is missing: run npm ci in the repository root")
	}
	kjson, err := os.ReadFile(filepath.Join(root, "vectors", "envelope-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := New(client, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct{ alg, key string }{{"HS256", "hs256"}, {"EdDSA", "ed25519"}, {"ES256", "p256"}} {
		k := testKeyring(t, kjson, c.key)
		env, err := sealq.Seal(k, []byte("job"), sealq.SealOptions{Ctx: "billing.invoices", Typ: "invoice.send"})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("node", "--import", "tsx", "test/fixtures/cross/ts-complete.ts", "redis://"+redisAddr, prefix, c.alg, env, "a{b}%😀", "x}{%")
		cmd.Dir = root
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ts-complete.ts: %v", err)
		}
		var done struct{ ID, Key, PairKey string }
		if err := jsonUnmarshal(out, &done); err != nil {
			t.Fatal(err)
		}
		m, err := sealq.Open(k, env, sealq.OpenOptions{Ctx: []string{"billing.invoices"}})
		if err != nil {
			t.Fatal(err)
		}
		if done.ID != m.Header.ID || done.Key != store.KeyOf(sealq.ReplayKey{Ctx: m.Header.Ctx, ID: m.Header.ID}) {
			t.Errorf("%s: TypeScript key %s, Go key %s", c.alg, done.Key, store.KeyOf(sealq.ReplayKey{Ctx: m.Header.Ctx, ID: m.Header.ID}))
		}
		if want := store.KeyOf(sealq.ReplayKey{Ctx: "a{b}%😀", ID: "x}{%"}); done.PairKey != want {
			t.Errorf("escaped key: TypeScript %s, Go %s", done.PairKey, want)
		}
		_, err = sealq.OpenAndClaim(ctx, k, sealq.Compact(env), sealq.OpenOptions{Ctx: []string{"billing.invoices"}}, store, 0)
		if !errors.Is(err, sealq.ErrReplayed) {
			t.Errorf("%s: a Go consumer after a TypeScript completion: %v", c.alg, err)
		}
	}
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: cross tests must not be skipped)", msg)
	}
	t.Skip(msg)
}

// Many concurrent operations (batched into shared script calls) each get their own answer.
func TestConcurrentBatches(t *testing.T) {
	client, prefix := needRedis(t)
	ctx := context.Background()
	for _, batch := range []int{0, 1} {
		s, err := New(client, Options{Prefix: prefix + itoa(batch) + ":", Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		const n = 400
		var wg sync.WaitGroup
		claimed := make([]sealq.ClaimOutcome, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				claimed[i], errs[i] = s.Claim(ctx, sealq.ReplayKey{Ctx: "q", ID: "m" + itoa(i)}, time.Minute, time.Minute)
			}(i)
		}
		wg.Wait()
		for i := range claimed {
			if errs[i] != nil || claimed[i].Status != sealq.StatusClaimed {
				t.Fatalf("batch %d, op %d: %+v %v", batch, i, claimed[i], errs[i])
			}
		}
		// Completing them concurrently; then 50 racers on one id: exactly one claims it.
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if held, err := s.Complete(ctx, sealq.ReplayKey{Ctx: "q", ID: "m" + itoa(i)}, claimed[i].Token, time.Minute); !held || err != nil {
					t.Errorf("complete %d: %v %v", i, held, err)
				}
			}(i)
		}
		wg.Wait()
		var won atomic.Int32
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if o, err := s.Claim(ctx, sealq.ReplayKey{Ctx: "q", ID: "race"}, time.Minute, time.Minute); err == nil && o.Status == sealq.StatusClaimed {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("batch %d: %d racers claimed one id", batch, won.Load())
		}
		// Senders exit once the queue is empty (each finishes its loop after its last answer).
		idle := false
		for i := 0; i < 200 && !idle; i++ {
			s.mu.Lock()
			idle = s.senders == 0 && len(s.queue) == 0
			s.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
		if !idle {
			t.Error("senders remain after the work is done")
		}
	}
}
