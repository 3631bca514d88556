package asynqseal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"sealq.dev/sealq"
)

// These tests call the middleware directly. Asynq puts the task's queue in the context it passes
// to handlers, through a context key of its own; here queueName reads a test key instead. The
// end-to-end tests run the same middleware in a real asynq.Server.
type testQueueKey struct{}

func init() {
	real := queueName
	queueName = func(ctx context.Context) (string, bool) {
		if q, ok := ctx.Value(testQueueKey{}).(string); ok {
			return q, true
		}
		return real(ctx)
	}
}

func onQueue(q string) context.Context {
	return context.WithValue(context.Background(), testQueueKey{}, q)
}

type recorder struct {
	runs    atomic.Int32
	headers []sealq.Header
	payload []byte
	fail    func(n int32) error
}

func (r *recorder) ProcessTask(ctx context.Context, t *asynq.Task) error {
	n := r.runs.Add(1)
	h, ok := HeaderFrom(ctx)
	if !ok {
		return errors.New("no verified header in the handler's context")
	}
	r.headers = append(r.headers, h)
	r.payload = t.Payload()
	if r.fail != nil {
		return r.fail(n)
	}
	return nil
}

func mustMiddleware(t *testing.T, cfg Config) asynq.MiddlewareFunc {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = &warnings{} // wrapped stores have no isolation check: a warning, not the subject here
	}
	mw, err := Middleware(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mw
}

// archived asserts that err makes Asynq archive the task with the given code as its last error.
func archived(t *testing.T, err error, code string) {
	t.Helper()
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("want %s archived (SkipRetry), got %v", code, err)
	}
	if got := Code(err.Error()); got != code || !strings.HasPrefix(err.Error(), code+": ") {
		t.Fatalf("want last error %q..., got %q", code+": ", err.Error())
	}
	var e *sealq.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("errors.As: %v", err)
	}
}

// retried asserts that err makes Asynq retry the task, with the given code.
func retried(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil || errors.Is(err, asynq.SkipRetry) || sealq.CodeOf(err) != code {
		t.Fatalf("want %s retried, got %v", code, err)
	}
}

func TestMiddlewareRunsAVerifiedTaskOnce(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := sealq.NewMemoryReplayStore(0, nil)
	h := &recorder{}
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store, Queues: []string{"critical", "default"}})
	task, err := NewTask(k, "email:welcome", []byte(`{"to":"ada"}`), asynq.Queue("critical"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mw(h).ProcessTask(onQueue("critical"), task); err != nil {
		t.Fatal(err)
	}
	if h.runs.Load() != 1 || string(h.payload) != `{"to":"ada"}` || h.headers[0].Ctx != "critical" || h.headers[0].Typ != "email:welcome" {
		t.Fatalf("runs %d, payload %q, header %+v", h.runs.Load(), h.payload, h.headers)
	}
	// The same task again (re-enqueued under another task id, or redelivered after completing).
	archived(t, mw(h).ProcessTask(onQueue("critical"), task), sealq.CodeReplayed)
	if h.runs.Load() != 1 {
		t.Fatal("a replay reached the handler")
	}
}

func TestMiddlewareRejectsWithoutRunningTheHandler(t *testing.T) {
	k := hsKeyring(t, "p1")
	other := hsKeyring(t, "intruder")
	store := sealq.NewMemoryReplayStore(0, nil)
	h := &recorder{}
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store, Queues: []string{"default", "low"}})
	good, _ := NewTask(k, "t", []byte("payload"))
	forged, _ := NewTask(other, "t", []byte("payload"))
	low, _ := NewTask(k, "t", []byte("payload"), asynq.Queue("low"))
	seal := good.Headers()[HeaderName]
	cases := []struct {
		name  string
		queue string
		task  *asynq.Task
		code  string
	}{
		{"unsigned", "default", asynq.NewTask("t", []byte("payload")), sealq.CodeMalformed},
		{"payload changed", "default", asynq.NewTaskWithHeaders("t", []byte("pAyload"), map[string]string{HeaderName: seal}), sealq.CodeSignatureInvalid},
		{"type changed", "default", asynq.NewTaskWithHeaders("t2", []byte("payload"), map[string]string{HeaderName: seal}), sealq.CodeTypeMismatch},
		{"unknown key", "default", forged, sealq.CodeKeyUnknown},
		{"sealed for another queue", "default", low, sealq.CodeContextMismatch},
		{"a queue this server does not process", "elsewhere", good, sealq.CodeContextMismatch},
		{"seal header garbage", "default", asynq.NewTaskWithHeaders("t", []byte("payload"), map[string]string{HeaderName: "sealq1.x..y"}), sealq.CodeMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			archived(t, mw(h).ProcessTask(onQueue(c.queue), c.task), c.code)
		})
	}
	if h.runs.Load() != 0 {
		t.Fatalf("the handler ran %d times", h.runs.Load())
	}
	// Types restricts further.
	mw = mustMiddleware(t, Config{Keyring: k, Replay: store, Types: []string{"other"}})
	archived(t, mw(h).ProcessTask(onQueue("default"), good), sealq.CodeTypeMismatch)
}

func TestAFailedHandlerIsRetriedAndCompletesOnce(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := sealq.NewMemoryReplayStore(0, nil)
	boom := errors.New("smtp down")
	h := &recorder{fail: func(n int32) error {
		if n == 1 {
			return boom
		}
		return nil
	}}
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store})
	task, _ := NewTask(k, "t", []byte("x"))
	if err := mw(h).ProcessTask(onQueue("default"), task); !errors.Is(err, boom) || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("the handler's error is returned as it is: %v", err)
	}
	if err := mw(h).ProcessTask(onQueue("default"), task); err != nil {
		t.Fatalf("retry: %v", err)
	}
	archived(t, mw(h).ProcessTask(onQueue("default"), task), sealq.CodeReplayed)
	if h.runs.Load() != 2 {
		t.Fatalf("runs %d", h.runs.Load())
	}
}

func TestInFlightAndUnavailableStoreAreRetried(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := sealq.NewMemoryReplayStore(0, nil)
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store})
	task, _ := NewTask(k, "t", []byte("x"))
	m := openTask(t, k, task, "default", time.Now())
	if _, err := store.Claim(context.Background(), sealq.ReplayKey{Ctx: "default", ID: m.Header.ID}, time.Hour, time.Hour); err != nil {
		t.Fatal(err)
	}
	h := &recorder{}
	retried(t, mw(h).ProcessTask(onQueue("default"), task), sealq.CodeInFlight)

	down := mustMiddleware(t, Config{Keyring: k, Replay: &faultyStore{ReplayStore: store, claim: errors.New("connection refused")}})
	task2, _ := NewTask(k, "t", []byte("x"))
	retried(t, down(h).ProcessTask(onQueue("default"), task2), sealq.CodeReplayStoreUnavailable)
	if h.runs.Load() != 0 {
		t.Fatal("the handler ran")
	}
}

func TestCompletionNotRecordedIsArchived(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := &faultyStore{ReplayStore: sealq.NewMemoryReplayStore(0, nil), complete: errors.New("READONLY")}
	// A short lease: Complete retries until the lease ends, then gives up.
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store, Lease: 100 * time.Millisecond})
	task, _ := NewTask(k, "t", []byte("x"))
	h := &recorder{}
	archived(t, mw(h).ProcessTask(onQueue("default"), task), sealq.CodeCompletionNotRecorded)
	if h.runs.Load() != 1 {
		t.Fatal("the handler should have run once")
	}
}

func TestTheLeaseIsExtendedWhileTheHandlerRuns(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := &faultyStore{ReplayStore: sealq.NewMemoryReplayStore(0, nil)}
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store, Lease: 30 * time.Millisecond})
	task, _ := NewTask(k, "t", []byte("x"))
	h := asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		// Wait (without a time limit) until the lease was extended twice.
		for store.extends.Load() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err := mw(h).ProcessTask(onQueue("default"), task); err != nil {
		t.Fatal(err)
	}
	n := store.extends.Load()
	time.Sleep(50 * time.Millisecond)
	if store.extends.Load() != n {
		t.Fatal("the lease is still being extended after the handler returned")
	}
}

func TestAPanickingHandlerReleasesItsClaim(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := &faultyStore{ReplayStore: sealq.NewMemoryReplayStore(0, nil)}
	mw := mustMiddleware(t, Config{Keyring: k, Replay: store})
	task, _ := NewTask(k, "t", []byte("x"))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		_ = mw(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { panic("bug") })).ProcessTask(onQueue("default"), task)
	}()
	if store.releases.Load() != 1 {
		t.Fatal("the claim was not released")
	}
	// So the retry runs at once instead of waiting for the lease to lapse.
	h := &recorder{}
	if err := mw(h).ProcessTask(onQueue("default"), task); err != nil || h.runs.Load() != 1 {
		t.Fatalf("retry after a panic: %v", err)
	}
}

// A task retried late in Asynq's retry window is still valid under the defaults; after the
// window (plus the grace) it is archived as expired. The clocks are moved, nothing sleeps.
func TestRetriedLateInTheRetryWindow(t *testing.T) {
	k := hsKeyring(t, "p1")
	sealer := Sealer{Keyring: k, Now: fixedClock(t0)}
	task, err := sealer.NewTask("report", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	window := RetryWindow(25, 30*time.Minute) // about 21 days
	for _, c := range []struct {
		after time.Duration
		code  string
	}{
		{time.Hour, ""},
		{window, ""},
		{window + DefaultGrace - 2*time.Minute, ""},
		{window + DefaultGrace + 2*time.Minute, sealq.CodeExpired},
	} {
		now := t0.Add(c.after)
		store := sealq.NewMemoryReplayStore(0, func() time.Time { return now })
		mw := mustMiddleware(t, Config{Keyring: k, Replay: store, Now: func() time.Time { return now }})
		h := &recorder{}
		err := mw(h).ProcessTask(onQueue("default"), task)
		if c.code == "" && (err != nil || h.runs.Load() != 1) {
			t.Fatalf("retried %v after sealing: %v", c.after, err)
		}
		if c.code != "" {
			archived(t, err, c.code)
		}
	}
}

func TestNotYetValidIsRetried(t *testing.T) {
	k := hsKeyring(t, "p1")
	task, _ := NewTask(k, "t", []byte("x"), asynq.ProcessIn(time.Hour))
	mw := mustMiddleware(t, Config{Keyring: k, Replay: sealq.NewMemoryReplayStore(0, nil)})
	h := &recorder{}
	retried(t, mw(h).ProcessTask(onQueue("default"), task), sealq.CodeNotYetValid)
	later := mustMiddleware(t, Config{Keyring: k, Replay: sealq.NewMemoryReplayStore(0, nil), Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err := later(h).ProcessTask(onQueue("default"), task); err != nil || h.runs.Load() != 1 {
		t.Fatalf("at its due time: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	k := hsKeyring(t, "p1")
	store := sealq.NewMemoryReplayStore(0, nil)
	for name, cfg := range map[string]Config{
		"no keyring":       {Replay: store},
		"no replay store":  {Keyring: k},
		"negative MaxAge":  {Keyring: k, Replay: store, MaxAge: -time.Second},
		"negative Lease":   {Keyring: k, Replay: store, Lease: -time.Second},
		"negative payload": {Keyring: k, Replay: store, MaxPayloadBytes: -1},
	} {
		if _, err := Middleware(cfg); !errors.Is(err, sealq.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"ERR_EXPIRED: message expired": "ERR_EXPIRED",
		"ERR_MALFORMED":                "ERR_MALFORMED",
		"smtp down":                    "",
		"ERR_: x":                      "",
		"ERR_X y":                      "",
		"":                             "",
	} {
		if got := Code(in); got != want {
			t.Errorf("Code(%q) = %q, want %q", in, got, want)
		}
	}
}

// faultyStore wraps a store, failing the operations told to and counting some calls.
type faultyStore struct {
	sealq.ReplayStore
	claim, complete   error
	extends, releases atomic.Int32
}

func (s *faultyStore) Claim(ctx context.Context, k sealq.ReplayKey, lease, retain time.Duration) (sealq.ClaimOutcome, error) {
	if s.claim != nil {
		return sealq.ClaimOutcome{}, s.claim
	}
	return s.ReplayStore.Claim(ctx, k, lease, retain)
}

func (s *faultyStore) Complete(ctx context.Context, k sealq.ReplayKey, token string, retain time.Duration) (bool, error) {
	if s.complete != nil {
		return false, s.complete
	}
	return s.ReplayStore.Complete(ctx, k, token, retain)
}

func (s *faultyStore) Extend(ctx context.Context, k sealq.ReplayKey, token string, lease time.Duration) (bool, error) {
	s.extends.Add(1)
	return s.ReplayStore.Extend(ctx, k, token, lease)
}

func (s *faultyStore) Release(ctx context.Context, k sealq.ReplayKey, token string) (bool, error) {
	s.releases.Add(1)
	return s.ReplayStore.Release(ctx, k, token)
}

// Nothing the middleware or the producer shows holds the key's secret.
func TestNoSecretInOutput(t *testing.T) {
	jwks := hsJWKS("s1")
	secret := jwks[strings.Index(jwks, `"k":"`)+5 : strings.LastIndex(jwks, `"`)]
	k := parseKeyring(t, jwks)
	store := sealq.NewMemoryReplayStore(0, nil)
	cfg := Config{Keyring: k, Replay: store, QueueRedis: asynq.RedisClientOpt{Addr: "127.0.0.1:6379", Username: "app", Password: secret}}
	mw := mustMiddleware(t, cfg)
	task, _ := NewTask(k, "t", []byte("x"))
	tampered := asynq.NewTaskWithHeaders("t", []byte("y"), task.Headers())
	err := mw(&recorder{}).ProcessTask(onQueue("default"), tampered)
	s := &Sealer{Keyring: k}
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg),
		fmt.Sprintf("%v %+v %#v", s, s, s),
		err.Error(), fmt.Sprintf("%+v %#v", err, err),
	} {
		if strings.Contains(out, secret) {
			t.Fatalf("the secret appears in %q", out)
		}
	}
}
