package asynqseal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
	"sealq.dev/sealq/redisstore"
)

// The end-to-end tests use the shared Redis on 127.0.0.1:6379, with queue names and replay-store
// prefixes of their own, deleted afterwards. Without Redis they are skipped, except with CI=true.
const redisAddr = "127.0.0.1:6379"

const redisStart = `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`

func needRedis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		msg := fmt.Sprintf("Redis is not reachable on %s (%v); start it with: %s", redisAddr, err, redisStart)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: integration tests must not be skipped)", msg)
		}
		t.Skip(msg)
	}
	return c
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%x-%s", prefix, os.Getpid(), time.Now().UnixNano()&0xffffff, hex.EncodeToString(b))
}

// env is one test's slice of Redis: its queues, its replay-store prefix, a client and an inspector.
type env struct {
	t      testing.TB
	rdb    *redis.Client
	name   string
	prefix string
	store  *redisstore.Store
	client *asynq.Client
	insp   *asynq.Inspector

	mu     sync.Mutex
	queues []string
}

func newEnv(t testing.TB) *env {
	rdb := needRedis(t)
	e := &env{t: t, rdb: rdb, name: uniqueName("sealq-go")}
	e.prefix = e.name + ":r:"
	var err error
	if e.store, err = redisstore.New(rdb, redisstore.Options{Prefix: e.prefix}); err != nil {
		t.Fatal(err)
	}
	e.client = asynq.NewClientFromRedisClient(rdb)
	e.insp = asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(e.cleanup)
	return e
}

// queue returns a queue name of this test's own.
func (e *env) queue(suffix string) string {
	q := e.name + "-" + suffix
	e.mu.Lock()
	e.queues = append(e.queues, q)
	e.mu.Unlock()
	return q
}

func (e *env) cleanup() {
	ctx := context.Background()
	e.mu.Lock()
	patterns := []string{e.prefix + "*", e.name + ":*"}
	for _, q := range e.queues {
		patterns = append(patterns, "asynq:{"+q+"}:*")
		e.rdb.SRem(ctx, "asynq:queues", q)
	}
	e.mu.Unlock()
	for _, p := range patterns {
		deleteMatching(ctx, e.rdb, p)
	}
	_ = e.rdb.Close()
}

func deleteMatching(ctx context.Context, rdb *redis.Client, pattern string) {
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Unlink(ctx, batch...)
	}
}

// quickRetries: the tests do not wait for Asynq's real backoff.
func quickRetries(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond }

// serve starts an asynq.Server on queues with the sealq middleware in front of mux, and stops it
// when the test ends. errs, if not nil, receives every error Asynq's ErrorHandler sees.
func (e *env) serve(cfg Config, queues []string, mux *asynq.ServeMux, errs func(*asynq.Task, error)) *asynq.Server {
	e.t.Helper()
	// These tests share one Redis user between store and queue on purpose; the isolation check
	// has tests of its own on a server with ACL users (isolation_test.go).
	if cfg.QueueRedis == nil && cfg.QueueRedisClient == nil {
		cfg.QueueRedisClient, cfg.UnsafeSharedReplayStore = e.rdb, true
	}
	if cfg.Logger == nil {
		cfg.Logger = &warnings{}
	}
	mw, err := Middleware(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	mux.Use(mw) // it wraps asynq's NotFound handler too: a task of an unknown type is opened first
	qs := map[string]int{}
	for _, q := range queues {
		qs[q] = 1
	}
	acfg := asynq.Config{
		Queues:                   qs,
		Concurrency:              4,
		RetryDelayFunc:           quickRetries,
		TaskCheckInterval:        50 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          2 * time.Second,
		LogLevel:                 asynq.FatalLevel,
	}
	if errs != nil {
		acfg.ErrorHandler = asynq.ErrorHandlerFunc(func(_ context.Context, task *asynq.Task, err error) { errs(task, err) })
	}
	srv := asynq.NewServerFromRedisClient(e.rdb, acfg)
	if err := srv.Start(mux); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(srv.Shutdown)
	return srv
}

// settled waits until a task is completed or archived, and returns it.
func (e *env) settled(queue, id string) *asynq.TaskInfo {
	e.t.Helper()
	var last *asynq.TaskInfo
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, err := e.insp.GetTaskInfo(queue, id)
		if err != nil {
			continue
		}
		last = info
		if info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived {
			return info
		}
	}
	e.t.Fatalf("task %s in %s did not settle within a minute; last seen %+v", id, queue, last)
	return nil
}

// wantArchived asserts that a task was archived with code as its last error.
func (e *env) wantArchived(queue, id, code string) *asynq.TaskInfo {
	e.t.Helper()
	info := e.settled(queue, id)
	if info.State != asynq.TaskStateArchived || Code(info.LastErr) != code || !strings.HasPrefix(info.LastErr, code+": ") {
		e.t.Fatalf("task %s: want archived with %s, got %v %q", id, code, info.State, info.LastErr)
	}
	return info
}

func (e *env) wantCompleted(queue, id string) *asynq.TaskInfo {
	e.t.Helper()
	info := e.settled(queue, id)
	if info.State != asynq.TaskStateCompleted {
		e.t.Fatalf("task %s: want completed, got %v %q", id, info.State, info.LastErr)
	}
	return info
}

// sealID returns the seal's message id of a sealed task (what the replay store records).
func sealID(t testing.TB, k *sealq.Keyring, task *asynq.Task, queue string) string {
	t.Helper()
	m, err := sealq.OpenDetached(k, task.Headers()[HeaderName], task.Payload(), sealq.OpenOptions{Ctx: []string{queue}})
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.ID
}
