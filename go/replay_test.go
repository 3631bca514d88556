package sealq

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemoryReplayStore(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.UnixMilli(testNow)}
	s := NewMemoryReplayStore(2, c.now)
	key := ReplayKey{Ctx: "q", ID: "m1"}
	out, err := s.Claim(ctx, key, time.Second, time.Minute)
	if err != nil || out.Status != StatusClaimed || out.Token == "" {
		t.Fatalf("claim: %v %v", out, err)
	}
	if o, _ := s.Claim(ctx, key, time.Second, time.Minute); o.Status != StatusInFlight {
		t.Errorf("second claim while leased: %v", o.Status)
	}
	if ok, _ := s.Extend(ctx, key, "other", time.Second); ok {
		t.Error("extend with another token")
	}
	if ok, _ := s.Extend(ctx, key, out.Token, 5*time.Second); !ok {
		t.Error("extend")
	}
	c.advance(2 * time.Second)
	if o, _ := s.Claim(ctx, key, time.Second, time.Minute); o.Status != StatusInFlight {
		t.Error("the extended lease still holds")
	}
	c.advance(4 * time.Second)
	out2, _ := s.Claim(ctx, key, time.Second, time.Minute)
	if out2.Status != StatusClaimed {
		t.Fatal("an expired lease can be taken over")
	}
	if ok, _ := s.Release(ctx, key, out.Token); ok {
		t.Error("release with the lost token")
	}
	if held, _ := s.Complete(ctx, key, out.Token, time.Minute); held {
		t.Error("complete with a lost lease reports false")
	}
	if o, _ := s.Claim(ctx, key, time.Second, time.Minute); o.Status != StatusCompleted {
		t.Error("completed even by the lost lease: the work was done")
	}
	// Release lets a retry claim again.
	k2 := ReplayKey{Ctx: "q", ID: "m2"}
	o2, _ := s.Claim(ctx, k2, time.Second, time.Minute)
	if ok, _ := s.Release(ctx, k2, o2.Token); !ok {
		t.Error("release")
	}
	o2, _ = s.Claim(ctx, k2, time.Second, time.Minute)
	if o2.Status != StatusClaimed {
		t.Error("claim after release")
	}
	// Full of live entries: fails closed.
	_, err = s.Claim(ctx, ReplayKey{Ctx: "q", ID: "m3"}, time.Second, time.Minute)
	wantCode(t, err, CodeReplayStoreUnavailable, "a full store")
	// Once the retention has passed, entries are swept and the id is forgotten.
	c.advance(2 * time.Minute)
	if o, err := s.Claim(ctx, ReplayKey{Ctx: "q", ID: "m3"}, time.Second, time.Minute); err != nil || o.Status != StatusClaimed {
		t.Errorf("after the sweep: %v %v", o, err)
	}
	// ctx and id are kept apart: ("a:b", "c") is not ("a", "b:c").
	s2 := NewMemoryReplayStore(0, nil)
	s2.Claim(ctx, ReplayKey{Ctx: "a:b", ID: "c"}, time.Second, time.Minute)
	if o, _ := s2.Claim(ctx, ReplayKey{Ctx: "a", ID: "b:c"}, time.Second, time.Minute); o.Status != StatusClaimed {
		t.Error("replay keys collide")
	}
}

// failingStore fails the operations named in fail.
type failingStore struct {
	*MemoryReplayStore
	fail     map[string]bool
	retains  []time.Duration
	complete atomic.Int32
}

var errDown = errors.New("store down")

func (f *failingStore) Claim(ctx context.Context, k ReplayKey, lease, retain time.Duration) (ClaimOutcome, error) {
	f.retains = append(f.retains, retain)
	if f.fail["claim"] {
		return ClaimOutcome{}, errDown
	}
	return f.MemoryReplayStore.Claim(ctx, k, lease, retain)
}

func (f *failingStore) Complete(ctx context.Context, k ReplayKey, token string, retain time.Duration) (bool, error) {
	f.complete.Add(1)
	if f.fail["complete"] {
		return false, errDown
	}
	return f.MemoryReplayStore.Complete(ctx, k, token, retain)
}

func (f *failingStore) Release(ctx context.Context, k ReplayKey, token string) (bool, error) {
	if f.fail["release"] {
		return false, errDown
	}
	return f.MemoryReplayStore.Release(ctx, k, token)
}

func TestOpenAndClaim(t *testing.T) {
	ctx := context.Background()
	k := testKeyring(t, "hs256")
	now := time.UnixMilli(testNow)
	env, _ := Seal(k, []byte("job"), SealOptions{Ctx: "q", Now: now, ExpiresIn: time.Hour})
	o := OpenOptions{Ctx: []string{"q"}, Now: now.Add(10 * time.Minute)}
	store := &failingStore{MemoryReplayStore: NewMemoryReplayStore(0, nil), fail: map[string]bool{}}

	c, err := OpenAndClaim(ctx, k, Compact(env), o, store, 0)
	if err != nil {
		t.Fatal(err)
	}
	// retain = validUntil (exp + skew) + skew - now = 60m + 2m - 10m.
	if want := 52 * time.Minute; store.retains[0] != want {
		t.Errorf("retain %v, want %v", store.retains[0], want)
	}
	_, err = OpenAndClaim(ctx, k, Compact(env), o, store, 0)
	wantCode(t, err, CodeInFlight, "while claimed")
	var e *Error
	if !errors.As(err, &e) || !e.Retryable() {
		t.Error("ERR_IN_FLIGHT is retryable")
	}
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// The same message in another carrier is the same message.
	seal, body, _ := ToDetached(Compact(env), 0)
	c, err = OpenAndClaim(ctx, k, Detached(seal, body), o, store, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Extend(ctx, 0); !ok || err != nil {
		t.Errorf("extend: %v %v", ok, err)
	}
	if err := c.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	obj, _ := ToObject(Compact(env), 0)
	_, err = OpenAndClaim(ctx, k, Object(obj), o, store, 0)
	wantCode(t, err, CodeReplayed, "after completion")
	if errors.As(err, &e) && e.Retryable() {
		t.Error("ERR_REPLAYED is not retryable")
	}
	// A minimum retention of 1s near the end of the validity window.
	env2, _ := Seal(k, nil, SealOptions{Ctx: "q", Now: now, ExpiresIn: time.Minute})
	o2 := OpenOptions{Ctx: []string{"q"}, Now: now.Add(59*time.Second + 500*time.Millisecond), ClockSkew: NoClockSkew}
	if _, err := OpenAndClaim(ctx, k, Compact(env2), o2, store, 0); err != nil {
		t.Fatal(err)
	}
	if got := store.retains[len(store.retains)-1]; got != time.Second {
		t.Errorf("retain %v, want the 1s floor", got)
	}
	// A rejection never reaches the store.
	n := len(store.retains)
	_, err = OpenAndClaim(ctx, k, Compact(env), OpenOptions{Ctx: []string{"other"}, Now: now}, store, 0)
	wantCode(t, err, CodeContextMismatch, "wrong ctx")
	if len(store.retains) != n {
		t.Error("a rejected message was claimed")
	}
	_, err = OpenAndClaim(ctx, k, Compact(env), o, nil, 0)
	wantCode(t, err, CodeInvalidArgument, "no store")
	_, err = OpenAndClaim(ctx, k, Compact(env), o, store, -time.Second)
	wantCode(t, err, CodeInvalidArgument, "negative lease")
}

func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	k := testKeyring(t, "hs256")
	env, _ := Seal(k, nil, SealOptions{Ctx: "q"})
	o := OpenOptions{Ctx: []string{"q"}}
	store := &failingStore{MemoryReplayStore: NewMemoryReplayStore(0, nil), fail: map[string]bool{"claim": true}}
	_, err := OpenAndClaim(ctx, k, Compact(env), o, store, 0)
	wantCode(t, err, CodeReplayStoreUnavailable, "claim fails")
	var e *Error
	if !errors.As(err, &e) || !e.Retryable() || !errors.Is(err, errDown) {
		t.Errorf("store failure is retryable and keeps its cause: %v", err)
	}
	// Completion that cannot be recorded within the lease: not retryable, the work was done.
	store.fail = map[string]bool{"complete": true, "release": true}
	c, err := OpenAndClaim(ctx, k, Compact(env), o, store, 120*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Complete(ctx)
	wantCode(t, err, CodeCompletionNotRecorded, "complete fails")
	if !errors.As(err, &e) || e.Retryable() || e.Rejection() {
		t.Errorf("ERR_COMPLETION_NOT_RECORDED is neither retryable nor a rejection: %v", err)
	}
	if store.complete.Load() < 2 {
		t.Errorf("complete was tried %d times: it retries while the lease holds", store.complete.Load())
	}
	wantCode(t, c.Release(ctx), CodeReplayStoreUnavailable, "release fails")
	// A cancelled context ends the retries at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	env2, _ := Seal(k, nil, SealOptions{Ctx: "q"})
	c, _ = OpenAndClaim(ctx, k, Compact(env2), o, store, time.Hour)
	wantCode(t, c.Complete(cctx), CodeCompletionNotRecorded, "cancelled context")
}

func TestOpenOnce(t *testing.T) {
	ctx := context.Background()
	k := testKeyring(t, "hs256")
	env, _ := Seal(k, []byte("job"), SealOptions{Ctx: "q"})
	store := NewMemoryReplayStore(0, nil)
	o := OpenOptions{Ctx: []string{"q"}}
	runs := 0
	fail := errors.New("handler failed")
	h := func(_ context.Context, m *Opened) error {
		runs++
		if runs == 1 {
			return fail
		}
		return nil
	}
	if err := OpenOnce(ctx, k, Compact(env), o, store, 0, h); !errors.Is(err, fail) {
		t.Fatalf("handler error passes through: %v", err)
	}
	if err := OpenOnce(ctx, k, Compact(env), o, store, 0, h); err != nil {
		t.Fatalf("retry after a failure: %v", err)
	}
	wantCode(t, OpenOnce(ctx, k, Compact(env), o, store, 0, h), CodeReplayed, "third delivery")
	if runs != 2 {
		t.Errorf("handler ran %d times", runs)
	}
	// Many consumers racing for one message: exactly one runs it.
	env2, _ := Seal(k, []byte("job"), SealOptions{Ctx: "q"})
	var ran atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = OpenOnce(ctx, k, Compact(env2), o, store, 0, func(context.Context, *Opened) error {
				ran.Add(1)
				return nil
			})
		}()
	}
	wg.Wait()
	if ran.Load() != 1 {
		t.Errorf("%d consumers ran the message", ran.Load())
	}
}
