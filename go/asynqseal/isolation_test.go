package asynqseal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"sealq.dev/sealq"
	"sealq.dev/sealq/internal/ownredis"
	"sealq.dev/sealq/redisstore"
)

// The replay store must live where queue writers cannot write. On a redis-server of the test's
// own with ACL users: with a store user and a queue user the attack (the queue's credentials
// delete a completed record, then enqueue the task again) fails and the task runs once; with one
// user for both, Middleware reports it, refuses it in production, and runs with a warning when
// the user opts out.

const (
	isoStorePW  = "store-secret-pw"
	isoAppPW    = "app-secret-pw"
	isoSharedPW = "shared-secret-pw"
)

// warnings records what the middleware warns about.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) Warn(args ...any) {
	w.mu.Lock()
	w.list = append(w.list, fmt.Sprint(args...))
	w.mu.Unlock()
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// isoServer is a redis-server with docs/redis.md's users: sealq-replay (the store's keys only),
// app (Asynq's keys and channels, nothing dangerous) and shared (every key: the unsafe setup).
func isoServer(t *testing.T) *ownredis.Server {
	t.Helper()
	s := ownredis.Start(t)
	s.ACL(t, "sealq-replay", "on", ">"+isoStorePW, "resetkeys", "~sealq:r:*", "resetchannels", "-@all", "+eval", "+evalsha", "+get", "+set", "+pttl", "+pexpire", "+del", "+info", "+ping")
	s.ACL(t, "app", "on", ">"+isoAppPW, "resetkeys", "~asynq:*", "resetchannels", "&asynq:*", "+@all", "-@dangerous", "+info")
	s.ACL(t, "shared", "on", ">"+isoSharedPW, "resetkeys", "~*", "allchannels", "+@all", "-@dangerous", "+info")
	return s
}

func asynqAs(s *ownredis.Server, user, pw string) asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.Addr, Username: user, Password: pw}
}

func isoStore(t *testing.T, s *ownredis.Server, user, pw string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.New(s.Client(t, user, pw), redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// isoQueue runs an asynq.Server on queue q with mw, as the queue's user; it counts handler runs.
type isoQueue struct {
	t      *testing.T
	q      string
	runs   atomic.Int32
	client *asynq.Client
	insp   *asynq.Inspector
}

func runQueue(t *testing.T, conn asynq.RedisClientOpt, q string, mw asynq.MiddlewareFunc) *isoQueue {
	t.Helper()
	iq := &isoQueue{t: t, q: q, client: asynq.NewClient(conn), insp: asynq.NewInspector(conn)}
	t.Cleanup(func() { _ = iq.client.Close(); _ = iq.insp.Close() })
	mux := asynq.NewServeMux()
	mux.Use(mw)
	mux.HandleFunc("welcome", func(context.Context, *asynq.Task) error {
		iq.runs.Add(1)
		return nil
	})
	srv := asynq.NewServer(conn, asynq.Config{
		Queues: map[string]int{q: 1}, Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond,
		ShutdownTimeout: time.Second, LogLevel: asynq.FatalLevel,
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return iq
}

func (iq *isoQueue) enqueue(task *asynq.Task) string {
	iq.t.Helper()
	info, err := iq.client.Enqueue(task, asynq.Queue(iq.q), asynq.Retention(time.Hour), asynq.MaxRetry(0))
	if err != nil {
		iq.t.Fatal(err)
	}
	return info.ID
}

func (iq *isoQueue) settled(id string) *asynq.TaskInfo {
	iq.t.Helper()
	var last *asynq.TaskInfo
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if info, err := iq.insp.GetTaskInfo(iq.q, id); err == nil {
			last = info
			if info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived {
				return info
			}
		}
	}
	iq.t.Fatalf("task %s did not settle within a minute; last seen %+v", id, last)
	return nil
}

// replayAttack is what the holder of the queue's credentials does after a task completed: read
// its message, delete its completed record, and enqueue the same sealed task again. It returns
// the new task's id and the deletion's error.
func replayAttack(t *testing.T, iq *isoQueue, intruder *ownredis.Server, user, pw string, store *redisstore.Store, k *sealq.Keyring, id string) (string, error) {
	t.Helper()
	info, err := iq.insp.GetTaskInfo(iq.q, id)
	if err != nil {
		t.Fatal(err)
	}
	task := asynq.NewTaskWithHeaders(info.Type, info.Payload, info.Headers)
	record := store.KeyOf(sealq.ReplayKey{Ctx: iq.q, ID: sealID(t, k, task, iq.q)})
	if v, _ := intruder.Admin.Get(context.Background(), record).Result(); v != "1" {
		t.Fatalf("the completed record %s is %q, want 1", record, v)
	}
	delErr := intruder.Client(t, user, pw).Del(context.Background(), record).Err()
	return iq.enqueue(task), delErr
}

func TestIsolationSafeSetupRunsAndTheReplayAttackFails(t *testing.T) {
	srv := isoServer(t)
	k := hsKeyring(t, "iso")
	store := isoStore(t, srv, "sealq-replay", isoStorePW)
	app := asynqAs(srv, "app", isoAppPW)
	log := &warnings{}
	mw, err := Middleware(Config{Keyring: k, Replay: store, Queues: []string{"emails"}, QueueRedis: app, Environment: "production", Logger: log})
	if err != nil {
		t.Fatalf("safe setup refused: %v", err)
	}
	if w := log.all(); len(w) != 0 {
		t.Fatalf("safe setup warned: %q", w)
	}
	iq := runQueue(t, app, "emails", mw)
	task, err := NewTask(k, "welcome", []byte(`{"to":"ada@example.com"}`), asynq.Queue("emails"))
	if err != nil {
		t.Fatal(err)
	}
	if info := iq.settled(iq.enqueue(task)); info.State != asynq.TaskStateCompleted {
		t.Fatalf("the task was not completed: %v %q", info.State, info.LastErr)
	}

	again, delErr := replayAttack(t, iq, srv, "app", isoAppPW, store, k, iq.firstID(t))
	if delErr == nil || !strings.HasPrefix(delErr.Error(), "NOPERM") {
		t.Fatalf("the queue's user deleted the completed record: %v", delErr)
	}
	if info := iq.settled(again); info.State != asynq.TaskStateArchived || Code(info.LastErr) != sealq.CodeReplayed {
		t.Fatalf("the re-enqueued task: want archived as ERR_REPLAYED, got %v %q", info.State, info.LastErr)
	}
	if n := iq.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times, want 1", n)
	}
}

// firstID is the id of the queue's one completed task.
func (iq *isoQueue) firstID(t *testing.T) string {
	t.Helper()
	done, err := iq.insp.ListCompletedTasks(iq.q)
	if err != nil || len(done) != 1 {
		t.Fatalf("completed tasks: %v %v", done, err)
	}
	return done[0].ID
}

func TestIsolationUnsafeSetupIsRefusedInProductionAndRunsOnlyWhenOptedOut(t *testing.T) {
	srv := isoServer(t)
	k := hsKeyring(t, "iso")
	store := isoStore(t, srv, "shared", isoSharedPW)
	shared := asynqAs(srv, "shared", isoSharedPW)
	cfg := func(log *warnings) Config {
		return Config{Keyring: k, Replay: store, Queues: []string{"emails"}, QueueRedis: shared, Logger: log}
	}

	// Production, no opt-out: refused, saying why and how to fix it.
	refused := cfg(&warnings{})
	refused.Environment = "production"
	_, err := Middleware(refused)
	var e *sealq.Error
	if !errors.Is(err, sealq.ErrStoreNotIsolated) || !errors.As(err, &e) || e.Code != "ERR_STORE_NOT_ISOLATED" {
		t.Fatalf("want ERR_STORE_NOT_ISOLATED, got %v", err)
	}
	for _, want := range []string{`asynqseal middleware on queue "emails": the replay store is not isolated`, `the queue's Redis user "shared" may run DEL, UNLINK, SET`,
		"ACL SETUSER sealq-replay", "UnsafeSharedReplayStore"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), isoSharedPW) {
		t.Fatal("the error shows the password")
	}

	// NODE_ENV=production counts when Environment is empty; an explicit Environment wins.
	t.Setenv("NODE_ENV", "production")
	if _, err := Middleware(cfg(&warnings{})); !errors.Is(err, sealq.ErrStoreNotIsolated) {
		t.Fatalf("NODE_ENV=production: want refused, got %v", err)
	}
	dev := cfg(&warnings{})
	dev.Environment = "development"
	if _, err := Middleware(dev); err != nil {
		t.Fatalf("Environment development: want a warning, got %v", err)
	}
	if w := dev.Logger.(*warnings).all(); len(w) != 1 || !strings.Contains(w[0], "would refuse to run") {
		t.Fatalf("Environment development: want one warning, got %q", w)
	}

	// The explicit opt-out, in production: runs, warns once.
	optedOut := cfg(&warnings{})
	optedOut.Environment, optedOut.UnsafeSharedReplayStore = "production", true
	mw, err := Middleware(optedOut)
	if err != nil {
		t.Fatalf("opted out: %v", err)
	}
	if w := optedOut.Logger.(*warnings).all(); len(w) != 1 || !strings.Contains(w[0], "Running anyway: Config.UnsafeSharedReplayStore is set") || strings.Contains(w[0], isoSharedPW) {
		t.Fatalf("opted out: want one warning, got %q", w)
	}

	// And this is why: the queue's credentials delete the record and the task runs a second time.
	iq := runQueue(t, shared, "emails", mw)
	task, _ := NewTask(k, "welcome", []byte(`{"to":"ada@example.com"}`), asynq.Queue("emails"))
	if info := iq.settled(iq.enqueue(task)); info.State != asynq.TaskStateCompleted {
		t.Fatalf("the task was not completed: %v %q", info.State, info.LastErr)
	}
	again, delErr := replayAttack(t, iq, srv, "shared", isoSharedPW, store, k, iq.firstID(t))
	if delErr != nil {
		t.Fatalf("delete as the shared user: %v", delErr)
	}
	if info := iq.settled(again); info.State != asynq.TaskStateCompleted || iq.runs.Load() != 2 {
		t.Fatalf("the unsafe setup should let the replay run (that is the attack): %v, %d runs", info.State, iq.runs.Load())
	}
}

func TestIsolationWithoutAQueueConnectionOrACheck(t *testing.T) {
	srv := isoServer(t)
	k := hsKeyring(t, "iso")
	store := isoStore(t, srv, "sealq-replay", isoStorePW)

	// The store's check cannot show isolation without the queue's connection.
	_, err := Middleware(Config{Keyring: k, Replay: store, Environment: "production", Logger: &warnings{}})
	if !errors.Is(err, sealq.ErrStoreNotIsolated) || !strings.Contains(err.Error(), "not known") || !strings.Contains(err.Error(), `queue "default"`) {
		t.Fatalf("no queue connection: %v", err)
	}
	// A go-redis client (asynq.NewServerFromRedisClient) serves as well as a RedisConnOpt.
	if _, err := Middleware(Config{Keyring: k, Replay: store, QueueRedisClient: srv.Client(t, "app", isoAppPW), Environment: "production"}); err != nil {
		t.Fatalf("QueueRedisClient: %v", err)
	}
	both := Config{Keyring: k, Replay: store, QueueRedis: asynqAs(srv, "app", isoAppPW), QueueRedisClient: srv.Client(t, "app", isoAppPW)}
	if _, err := Middleware(both); !errors.Is(err, sealq.ErrInvalidArgument) {
		t.Fatalf("both queue connections: %v", err)
	}

	// In memory: isolated by construction. A store without a check: a warning, never a refusal.
	log := &warnings{}
	if _, err := Middleware(Config{Keyring: k, Replay: sealq.NewMemoryReplayStore(0, nil), Environment: "production", Logger: log}); err != nil || len(log.all()) != 0 {
		t.Fatalf("memory store: %v %q", err, log.all())
	}
	if _, err := Middleware(Config{Keyring: k, Replay: &faultyStore{ReplayStore: sealq.NewMemoryReplayStore(0, nil)}, Environment: "production", Logger: log}); err != nil {
		t.Fatal(err)
	}
	if w := log.all(); len(w) != 1 || !strings.Contains(w[0], "has no isolation check") {
		t.Fatalf("a store without a check: %q", w)
	}
}
