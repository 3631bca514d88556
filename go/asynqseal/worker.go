package asynqseal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
)

// DefaultMaxAge is the worker's MaxAge unless Config says otherwise: how long a task sealed
// without an expiry stays valid. It is longer than the core's 24 hours because Asynq retries a
// task for about three weeks under its defaults; tasks sealed by this package or sealq/asynq
// carry their own expiry and are not affected.
const DefaultMaxAge = sealq.DefaultMaxValidity

// Config configures the worker middleware.
type Config struct {
	// Keyring holds the keys tasks may be sealed with (public keys suffice). Required.
	Keyring *sealq.Keyring
	// Replay remembers which tasks ran to completion, shared by every server of the queues
	// (redisstore.Store; sealq.NewMemoryReplayStore for a single process). Required.
	Replay sealq.ReplayStore
	// Queues are the queues this server processes: the keys of asynq.Config.Queues. Empty:
	// "default", as asynq's own default. A task whose message names another queue was moved
	// here (Asynq reports the queue written in the task's message, not the list it was taken
	// from) and is rejected with ERR_CONTEXT_MISMATCH.
	Queues []string
	// Types, if not empty, are the only task types accepted; others are ERR_TYPE_MISMATCH.
	// Every task's seal must match its own type in any case.
	Types []string
	// Lease is how long a claim keeps other workers off a task; the middleware extends it while
	// the handler runs. Zero: 30s.
	Lease time.Duration
	// MaxAge is how long a task sealed without an expiry stays valid. Zero: DefaultMaxAge (30 days).
	MaxAge time.Duration
	// ClockSkew tolerated between producer and worker clocks. Zero: 60s.
	ClockSkew time.Duration
	// MaxValidity bounds a task's signed validity window (exp - iat). Zero: 30 days.
	MaxValidity time.Duration
	// MaxPayloadBytes bounds a task's payload. Zero: 1 MiB.
	MaxPayloadBytes int
	// Now is the clock tasks are checked against; nil for time.Now. For tests.
	Now func() time.Time

	// QueueRedis is the connection queue writers use: the asynq.RedisConnOpt given to
	// asynq.NewServer (or the producers', if they connect with other credentials). Middleware
	// checks with it that those credentials cannot change the replay store's records
	// (redisstore.Store.CheckIsolation): the store must live where queue writers cannot write.
	QueueRedis asynq.RedisConnOpt
	// QueueRedisClient is QueueRedis for a server made with asynq.NewServerFromRedisClient: that
	// client. Give at most one of the two; with neither, the check cannot show isolation.
	QueueRedisClient redis.UniversalClient
	// UnsafeSharedReplayStore runs the middleware even though the replay store is not shown to be
	// isolated from the queue (it then warns). Without it such a store is refused in production.
	UnsafeSharedReplayStore bool
	// Environment "production" makes Middleware refuse (ERR_STORE_NOT_ISOLATED) a replay store
	// that is not shown to be isolated from the queue; other values only warn. Empty: the
	// environment variable NODE_ENV decides, as for the TypeScript adapters.
	Environment string
	// Logger receives the isolation check's warnings (asynq.Logger fits). Nil: the standard log
	// package (stderr).
	Logger Logger
}

// Format prints the Config without what may hold a password (QueueRedis, QueueRedisClient are
// named by type only) for every verb; the keyring prints itself without key material.
func (c Config) Format(f fmt.State, verb rune) {
	typeOf := func(v any) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprintf("%T", v)
	}
	fmt.Fprintf(f, "asynqseal.Config{Keyring: %v, Replay: %v, Queues: %q, Types: %q, Lease: %v, MaxAge: %v, ClockSkew: %v, MaxValidity: %v, MaxPayloadBytes: %d, QueueRedis: %s, QueueRedisClient: %s, UnsafeSharedReplayStore: %t, Environment: %q}",
		c.Keyring, c.Replay, c.Queues, c.Types, c.Lease, c.MaxAge, c.ClockSkew, c.MaxValidity, c.MaxPayloadBytes,
		typeOf(c.QueueRedis), typeOf(c.QueueRedisClient), c.UnsafeSharedReplayStore, c.Environment)
}

type headerKey struct{}

// queueName is asynq.GetQueueName; unit tests replace it, having no asynq server to run them.
var queueName = asynq.GetQueueName

// HeaderFrom returns the verified seal header of the task being handled: its id, issue and
// expiry times, key id, queue (Ctx) and type (Typ). It is set by the middleware for the handler.
func HeaderFrom(ctx context.Context) (sealq.Header, bool) {
	h, ok := ctx.Value(headerKey{}).(*sealq.Header)
	if !ok {
		return sealq.Header{}, false
	}
	return *h, true
}

// Middleware returns the asynq middleware that opens every task before its handler runs:
//
//	mux.Use(mw)
//
// For each task it verifies the seal in the task's "sealq" header against the payload, with
// the task's queue as context and its type as type, claims the task in the replay store, runs
// the handler (the task's Payload is the verified payload; HeaderFrom gives the verified header),
// and then records the completion, or releases the claim when the handler fails so that
// Asynq's retry can run it again.
//
// A task that does not verify (unsigned, tampered, forged, unknown key, moved to another queue,
// renamed, expired, already completed, ...) never reaches the handler: the middleware returns
// an error wrapping asynq.SkipRetry whose text is "CODE: message", so Asynq archives the task at
// once with that as its last error. A task another worker is running (ERR_IN_FLIGHT), a replay
// store that cannot answer (ERR_REPLAY_STORE_UNAVAILABLE) and a task not valid yet
// (ERR_NOT_YET_VALID: a scheduled task moved to pending early, or a producer clock ahead) are
// returned as plain errors: Asynq retries them. A handler that succeeded but whose completion
// could not be recorded is archived as ERR_COMPLETION_NOT_RECORDED, since a retry would run it
// twice.
//
// Before returning, Middleware checks that the replay store lives where queue writers cannot
// write (Config.QueueRedis against the store; up to 10s). A store not shown to be isolated is
// refused in production with ERR_STORE_NOT_ISOLATED (errors.Is(err, sealq.ErrStoreNotIsolated)),
// unless Config.UnsafeSharedReplayStore is set; elsewhere it is reported once through
// Config.Logger. A sealq.MemoryReplayStore is isolated by construction.
func Middleware(cfg Config) (asynq.MiddlewareFunc, error) {
	w, err := newWorker(cfg)
	if err != nil {
		return nil, err
	}
	// Before any task: a store the queue's writers can change protects nothing.
	if err := enforceIsolation(&cfg); err != nil {
		return nil, err
	}
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			return w.process(ctx, t, next)
		})
	}, nil
}

type worker struct {
	cfg    Config
	queues map[string]bool
	types  map[string]bool
	lease  time.Duration
	opts   sealq.OpenOptions
}

func newWorker(cfg Config) (*worker, error) {
	if cfg.Keyring == nil {
		return nil, invalidArg("asynqseal.Middleware needs Config.Keyring: the keys tasks may be sealed with")
	}
	if cfg.Replay == nil {
		return nil, invalidArg("asynqseal.Middleware needs Config.Replay: a replay store shared by every server of these queues (sealq.NewMemoryReplayStore for a single process)")
	}
	w := &worker{cfg: cfg, queues: map[string]bool{}, lease: cfg.Lease}
	if len(cfg.Queues) == 0 {
		w.queues[asynqDefaultQueue] = true
	}
	for _, q := range cfg.Queues {
		w.queues[q] = true
	}
	if len(cfg.Types) > 0 {
		w.types = map[string]bool{}
		for _, typ := range cfg.Types {
			w.types[typ] = true
		}
	}
	if w.lease == 0 {
		w.lease = sealq.DefaultLease
	}
	if w.lease < time.Millisecond {
		return nil, invalidArg("Lease must be at least 1ms (0 for the default 30s)")
	}
	w.opts = sealq.OpenOptions{MaxAge: cfg.MaxAge, ClockSkew: cfg.ClockSkew, MaxValidity: cfg.MaxValidity, MaxPayloadBytes: cfg.MaxPayloadBytes}
	if w.opts.MaxAge == 0 {
		w.opts.MaxAge = DefaultMaxAge
	}
	// Options the core refuses are found now, not task by task.
	probe := w.opts
	probe.Ctx = []string{"probe"}
	if _, err := sealq.OpenDetached(cfg.Keyring, "", nil, probe); sealq.CodeOf(err) != sealq.CodeMalformed {
		return nil, err
	}
	return w, nil
}

func (w *worker) process(ctx context.Context, t *asynq.Task, next asynq.Handler) error {
	// Asynq reports the queue named in the task's message. A task moved to another queue with
	// its message unchanged still names its own queue, so only a queue this server serves counts.
	queue, _ := queueName(ctx)
	if !w.queues[queue] {
		return reject(&sealq.Error{Code: sealq.CodeContextMismatch, Message: "task names queue " + quote(queue) + ", which this server does not process: it was moved here from another queue"})
	}
	if w.types != nil && !w.types[t.Type()] {
		return reject(&sealq.Error{Code: sealq.CodeTypeMismatch, Message: "task type " + quote(t.Type()) + " is not one this worker accepts"})
	}
	o := w.opts
	o.Ctx = []string{queue}
	o.Typ = []string{t.Type()}
	if w.cfg.Now != nil {
		o.Now = w.cfg.Now()
	}
	c, err := sealq.OpenAndClaim(ctx, w.cfg.Keyring, sealq.Detached(t.Headers()[HeaderName], t.Payload()), o, w.cfg.Replay, w.lease)
	if err != nil {
		return verdict(err)
	}
	// Store calls after the handler must run even when the task's context has ended (timeout,
	// deadline): the claim is ours to settle.
	settle := context.WithoutCancel(ctx)
	stop := w.keepLease(settle, c)
	defer func() {
		if r := recover(); r != nil {
			stop()
			_ = c.Release(settle)
			panic(r) // asynq recovers it, records it and retries the task
		}
	}()
	herr := next.ProcessTask(context.WithValue(ctx, headerKey{}, &c.Header), t)
	stop()
	if herr != nil {
		_ = c.Release(settle) // if the store cannot answer, the lease lapses on its own
		return herr
	}
	if cerr := c.Complete(settle); cerr != nil {
		return verdict(cerr)
	}
	return nil
}

// keepLease extends the claim every third of the lease while the handler runs. Most handlers
// finish long before the first extension is due, so it is one timer, not a goroutine per task.
func (w *worker) keepLease(ctx context.Context, c *sealq.Claimed) (stop func()) {
	every := max(w.lease/3, time.Millisecond)
	var mu sync.Mutex
	stopped := false
	var timer *time.Timer
	mu.Lock() // the callback reads timer under mu: it may fire before AfterFunc returns
	defer mu.Unlock()
	timer = time.AfterFunc(every, func() {
		if ok, err := c.Extend(ctx, 0); err == nil && !ok {
			return // lost: nothing more to keep
		}
		mu.Lock()
		if !stopped {
			timer.Reset(every)
		}
		mu.Unlock()
	})
	return func() {
		mu.Lock()
		stopped = true
		timer.Stop()
		mu.Unlock()
	}
}

// verdict turns an error from the core into what Asynq should do with the task.
func verdict(err error) error {
	var e *sealq.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code {
	case sealq.CodeInFlight, sealq.CodeReplayStoreUnavailable, sealq.CodeNotYetValid:
		return e // retried by Asynq
	case sealq.CodeCompletionNotRecorded:
		return reject(e)
	}
	if e.Rejection() {
		return reject(e)
	}
	return e // a usage error is the worker's problem, not the task's: keep the task
}

// Rejection is the error the middleware returns for a task it will not run. Its text is the
// sealq error's "CODE: message", which Asynq stores as the archived task's last error; it wraps
// both the *sealq.Error (errors.Is(err, sealq.ErrExpired), errors.As) and asynq.SkipRetry.
type Rejection struct {
	Err *sealq.Error
}

func (r *Rejection) Error() string { return r.Err.Error() }

// Unwrap gives errors.Is and errors.As both the sealq error and asynq.SkipRetry.
func (r *Rejection) Unwrap() []error { return []error{r.Err, asynq.SkipRetry} }

func reject(e *sealq.Error) error { return &Rejection{Err: e} }

// Code returns the sealq code at the start of an archived task's last error
// (asynq.TaskInfo.LastErr), or "" when the task was not rejected by the middleware.
func Code(lastErr string) string {
	i := 0
	for i < len(lastErr) && (lastErr[i] == '_' || (lastErr[i] >= 'A' && lastErr[i] <= 'Z')) {
		i++
	}
	if i <= len("ERR_") || lastErr[:4] != "ERR_" {
		return ""
	}
	if i == len(lastErr) || lastErr[i] == ':' {
		return lastErr[:i]
	}
	return ""
}

func quote(s string) string {
	if len(s) > 256 {
		return strconv.Quote(s[:256]) + "…"
	}
	return strconv.Quote(s)
}
