package asynqseal

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"sealq.dev/sealq"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// openTask verifies a task's seal the way the worker does, for ctx queue.
func openTask(t *testing.T, k *sealq.Keyring, task *asynq.Task, queue string, now time.Time) *sealq.Opened {
	t.Helper()
	m, err := sealq.OpenDetached(k, task.Headers()[HeaderName], task.Payload(), sealq.OpenOptions{Ctx: []string{queue}, Typ: []string{task.Type()}, Now: now})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return m
}

func TestNewTaskSealsIntoTheHeaderAndKeepsThePayload(t *testing.T) {
	k := hsKeyring(t, "p1")
	payload := []byte(`{"to":"ada@example.com"}`)
	task, err := NewTask(k, "email:welcome", payload, asynq.MaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(task.Payload(), payload) || task.Type() != "email:welcome" {
		t.Fatalf("payload or type changed: %q %q", task.Payload(), task.Type())
	}
	if len(task.Headers()) != 1 || task.Headers()[HeaderName] == "" {
		t.Fatalf("headers: %v", task.Headers())
	}
	m := openTask(t, k, task, "default", time.Now())
	if m.Header.Ctx != "default" || m.Header.Typ != "email:welcome" || m.Header.Exp == nil || m.Header.Nbf != nil {
		t.Fatalf("header: %+v", m.Header)
	}
}

func TestQueueIsTheLastQueueOption(t *testing.T) {
	k := hsKeyring(t, "p1")
	task, err := NewTask(k, "t", []byte("x"), asynq.Queue("low"), asynq.Timeout(time.Minute), asynq.Queue("critical"))
	if err != nil {
		t.Fatal(err)
	}
	if got := openTask(t, k, task, "critical", time.Now()).Header.Ctx; got != "critical" {
		t.Fatalf("ctx %q", got)
	}
	_, err = sealq.OpenDetached(k, task.Headers()[HeaderName], task.Payload(), sealq.OpenOptions{Ctx: []string{"low"}})
	if !errors.Is(err, sealq.ErrContextMismatch) {
		t.Fatalf("opened on another queue: %v", err)
	}
}

func TestDefaultExpiryCoversAsynqsRetryWindow(t *testing.T) {
	k := hsKeyring(t, "p1")
	s := Sealer{Keyring: k, Now: fixedClock(t0)}
	cases := []struct {
		name string
		opts []asynq.Option
		want time.Duration // exp - iat
	}{
		{"asynq defaults (25 retries, 30 min timeout)", nil, RetryWindow(25, 30*time.Minute) + DefaultGrace},
		{"3 retries of 1 minute", []asynq.Option{asynq.MaxRetry(3), asynq.Timeout(time.Minute)}, RetryWindow(3, time.Minute) + DefaultGrace},
		{"no retries", []asynq.Option{asynq.MaxRetry(0), asynq.Timeout(10 * time.Second)}, 10*time.Second + DefaultGrace},
		{"a deadline before the window ends", []asynq.Option{asynq.Deadline(t0.Add(2 * time.Hour))}, 2 * time.Hour},
	}
	for _, c := range cases {
		task, err := s.NewTask("t", []byte("x"), c.opts...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := openTask(t, k, task, "default", t0)
		if got := time.Duration(*m.Header.Exp-m.Header.Iat) * time.Millisecond; got != c.want {
			t.Errorf("%s: exp - iat = %v, want %v", c.name, got, c.want)
		}
	}
	// Asynq's default window is about three weeks and fits the workers' 30-day MaxValidity.
	if w := RetryWindow(25, 30*time.Minute); w < 20*24*time.Hour || w+DefaultGrace > sealq.DefaultMaxValidity {
		t.Fatalf("RetryWindow(25, 30m) = %v", w)
	}
	// The sum of asynq.DefaultRetryDelayFunc's largest delays for n = 0..24, plus 26 attempts of 30 min.
	if w := RetryWindow(25, 30*time.Minute); w != (1_772_820+26*1800)*time.Second {
		t.Fatalf("RetryWindow(25, 30m) = %v", w)
	}
}

func TestScheduledTasksAreNotValidBeforeTheirDueTime(t *testing.T) {
	k := hsKeyring(t, "p1")
	s := Sealer{Keyring: k, Now: fixedClock(t0)}
	for _, opt := range []asynq.Option{asynq.ProcessIn(time.Hour), asynq.ProcessAt(t0.Add(time.Hour))} {
		task, err := s.NewTask("t", []byte("x"), opt, asynq.MaxRetry(2), asynq.Timeout(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		_, err = sealq.OpenDetached(k, task.Headers()[HeaderName], task.Payload(), sealq.OpenOptions{Ctx: []string{"default"}, Now: t0.Add(30 * time.Minute)})
		if !errors.Is(err, sealq.ErrNotYetValid) {
			t.Fatalf("%v: opened early: %v", opt, err)
		}
		m := openTask(t, k, task, "default", t0.Add(time.Hour))
		if *m.Header.Nbf != t0.Add(time.Hour).UnixMilli() || *m.Header.Exp != t0.Add(time.Hour+RetryWindow(2, time.Minute)+DefaultGrace).UnixMilli() {
			t.Fatalf("%v: header %+v", opt, m.Header)
		}
	}
}

func TestExpiryIsCappedAtMaxValidity(t *testing.T) {
	k := hsKeyring(t, "p1")
	s := Sealer{Keyring: k, Now: fixedClock(t0)}
	// Due in 20 days with 25 retries: the window would end after 30 days; it is cut there.
	task, err := s.NewTask("t", []byte("x"), asynq.ProcessIn(20*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m := openTask(t, k, task, "default", t0.Add(20*24*time.Hour))
	if *m.Header.Exp != t0.Add(sealq.DefaultMaxValidity).UnixMilli() {
		t.Fatalf("exp %v", time.UnixMilli(*m.Header.Exp).UTC())
	}
	// Due after MaxValidity: no seal a worker would accept exists.
	_, err = s.NewTask("t", []byte("x"), asynq.ProcessIn(31*24*time.Hour))
	if !errors.Is(err, sealq.ErrInvalidArgument) {
		t.Fatalf("sealed beyond MaxValidity: %v", err)
	}
	// An explicit ExpiresIn is taken as given, and refused when too long.
	s.ExpiresIn = time.Hour
	task, err = s.NewTask("t", []byte("x"), asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m := openTask(t, k, task, "default", t0.Add(time.Hour)); *m.Header.Exp != t0.Add(2*time.Hour).UnixMilli() {
		t.Fatalf("exp %d", *m.Header.Exp)
	}
	s.ExpiresIn = 40 * 24 * time.Hour
	if _, err = s.NewTask("t", []byte("x")); !errors.Is(err, sealq.ErrInvalidArgument) {
		t.Fatalf("ExpiresIn beyond MaxValidity: %v", err)
	}
}

func TestRefusedTasks(t *testing.T) {
	k := hsKeyring(t, "p1")
	s := Sealer{Keyring: k}
	if _, err := s.NewTask("t", []byte("x"), asynq.Group("g")); !errors.Is(err, sealq.ErrInvalidArgument) {
		t.Fatalf("Group: %v", err)
	}
	if _, err := s.NewTaskWithHeaders("t", []byte("x"), map[string]string{"sealq": "forged"}); !errors.Is(err, sealq.ErrInvalidArgument) {
		t.Fatalf("a header named sealq: %v", err)
	}
	if _, err := s.NewTask("", []byte("x")); !errors.Is(err, sealq.ErrInvalidArgument) {
		t.Fatalf("no type: %v", err)
	}
	task, err := s.NewTaskWithHeaders("t", []byte("x"), map[string]string{"trace": "abc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if task.Headers()["trace"] != "abc" || task.Headers()[HeaderName] == "" {
		t.Fatalf("headers %v", task.Headers())
	}
}
