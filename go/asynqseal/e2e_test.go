package asynqseal

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"google.golang.org/protobuf/encoding/protowire"
	"sealq.dev/sealq"
)

// runLog records what reached the handlers.
type runLog struct {
	mu   sync.Mutex
	runs map[string]int // asynq task id -> runs
	seen []sealq.Header
}

func (l *runLog) handler(fail func(ctx context.Context, id string, n int) error) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		h, ok := HeaderFrom(ctx)
		if !ok {
			return errors.New("no verified header")
		}
		l.mu.Lock()
		if l.runs == nil {
			l.runs = map[string]int{}
		}
		l.runs[id]++
		n := l.runs[id]
		l.seen = append(l.seen, h)
		l.mu.Unlock()
		if fail != nil {
			return fail(ctx, id, n)
		}
		return nil
	}
}

func (l *runLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

func (l *runLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.runs {
		n += c
	}
	return n
}

func TestE2EGoProducerToGoWorker(t *testing.T) {
	e := newEnv(t)
	k := hsKeyring(t, "e2e")
	q := e.queue("main")
	var log runLog
	var payloads sync.Map
	mux := asynq.NewServeMux()
	h := log.handler(nil)
	mux.HandleFunc("email:welcome", func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		payloads.Store(id, string(t.Payload()))
		return h(ctx, t)
	})
	mux.HandleFunc("report", h)
	e.serve(Config{Keyring: k, Replay: e.store, Queues: []string{q}}, []string{q}, mux, nil)

	task, err := NewTask(k, "email:welcome", []byte(`{"to":"ada@example.com"}`), asynq.Queue(q), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	e.wantCompleted(q, info.ID)
	if p, _ := payloads.Load(info.ID); p != `{"to":"ada@example.com"}` || log.count(info.ID) != 1 {
		t.Fatalf("payload %v, runs %d", p, log.count(info.ID))
	}
	if h := log.seen[0]; h.Ctx != q || h.Typ != "email:welcome" || h.Kid != "e2e" || h.ID != sealID(t, k, task, q) {
		t.Fatalf("header %+v", h)
	}

	// A scheduled task runs once it is due.
	later, err := NewTask(k, "report", []byte("monthly"), asynq.Queue(q), asynq.ProcessIn(300*time.Millisecond), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	info, err = e.client.Enqueue(later)
	if err != nil {
		t.Fatal(err)
	}
	e.wantCompleted(q, info.ID)

	// Unique: asynq hashes queue, type and payload, not headers; the seals differ, the
	// duplicate is still refused.
	u1, _ := NewTask(k, "report", []byte("same"), asynq.Queue(q), asynq.Unique(time.Hour), asynq.Retention(time.Hour))
	u2, _ := NewTask(k, "report", []byte("same"), asynq.Queue(q), asynq.Unique(time.Hour), asynq.Retention(time.Hour))
	if u1.Headers()[HeaderName] == u2.Headers()[HeaderName] {
		t.Fatal("two tasks share a seal")
	}
	first, err := e.client.Enqueue(u1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Enqueue(u2); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("second unique task: want ErrDuplicateTask, got %v", err)
	}
	e.wantCompleted(q, first.ID)
}

func TestE2EAttacksAreArchivedAndNeverReachTheHandler(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := hsKeyring(t, "e2e")
	intruder := hsKeyring(t, "intruder")
	q, q2, q3 := e.queue("main"), e.queue("other"), e.queue("elsewhere")
	var log runLog
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", log.handler(nil))
	mux.HandleFunc("admin:delete", log.handler(nil))

	// Each attack is prepared while no server runs, on tasks still pending.
	enqueue := func(task *asynq.Task, err error) *asynq.TaskInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		info, err := e.client.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	taskKey := func(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }
	msgOf := func(queue, id string) []byte {
		b, err := e.rdb.HGet(ctx, taskKey(queue, id), "msg").Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rewrite := func(queue, id string, field protowire.Number, v string) {
		msg, err := setBytesField(msgOf(queue, id), field, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		e.rdb.HSet(ctx, taskKey(queue, id), "msg", msg)
	}
	// writePending puts a task message into a queue as asynq's enqueue script does.
	writePending := func(queue, id string, msg []byte) {
		e.rdb.SAdd(ctx, "asynq:queues", queue)
		e.rdb.HSet(ctx, taskKey(queue, id), "msg", msg, "state", "pending", "pending_since", time.Now().UnixNano())
		e.rdb.LPush(ctx, "asynq:{"+queue+"}:pending", id)
	}
	// move takes a pending task out of its queue and puts it into another one.
	move := func(from, to, id string, msg []byte) {
		e.rdb.LRem(ctx, "asynq:{"+from+"}:pending", 0, id)
		e.rdb.Del(ctx, taskKey(from, id))
		writePending(to, id, msg)
	}

	tampered := enqueue(NewTask(k, "t", []byte(`{"amount":10}`), asynq.Queue(q)))
	rewrite(q, tampered.ID, fieldPayload, `{"amount":10000}`)

	forgedID := uuid.NewString()
	forgedTask, _ := NewTask(intruder, "t", []byte(`{"amount":1}`), asynq.Queue(q))
	writePending(q, forgedID, newTaskMsg(forgedID, q, "t", forgedTask.Payload(), forgedTask.Headers()))

	renamed := enqueue(NewTask(k, "t", []byte(`{"user":7}`), asynq.Queue(q)))
	rewrite(q, renamed.ID, fieldType, "admin:delete")

	// Moved, its message saying the new queue (so Asynq can archive it there).
	moved := enqueue(NewTask(k, "t", []byte(`{"n":1}`), asynq.Queue(q)))
	msg, err := setBytesField(msgOf(q, moved.ID), fieldQueue, []byte(q2))
	if err != nil {
		t.Fatal(err)
	}
	move(q, q2, moved.ID, msg)

	// Moved as it is: its message still names q, and Asynq hands the worker that name.
	movedAsIs := enqueue(NewTask(k, "t", []byte(`{"n":2}`), asynq.Queue(q)))
	move(q, q3, movedAsIs.ID, msgOf(q, movedAsIs.ID))

	unsigned := enqueue(asynq.NewTask("t", []byte(`{"amount":5}`), asynq.Queue(q)), nil)

	legit := enqueue(NewTask(k, "t", []byte(`{"n":3}`), asynq.Queue(q), asynq.Retention(time.Hour)))

	cfg := Config{Keyring: k, Replay: e.store, Queues: []string{q, q2}}
	e.serve(cfg, []string{q, q2}, mux, nil)
	var q3errs sync.Map
	cfg3 := cfg
	cfg3.Queues = []string{q3}
	mux3 := asynq.NewServeMux()
	mux3.HandleFunc("t", log.handler(nil))
	e.serve(cfg3, []string{q3}, mux3, func(task *asynq.Task, err error) { q3errs.Store(sealq.CodeOf(err), true) })

	e.wantArchived(q, tampered.ID, sealq.CodeSignatureInvalid)
	e.wantArchived(q, forgedID, sealq.CodeKeyUnknown)
	e.wantArchived(q, renamed.ID, sealq.CodeTypeMismatch)
	e.wantArchived(q2, moved.ID, sealq.CodeContextMismatch)
	e.wantArchived(q, unsigned.ID, sealq.CodeMalformed)
	e.wantCompleted(q, legit.ID)

	// The completed task's message, enqueued again under a new task id.
	replayID := uuid.NewString()
	replayMsg, err := setBytesField(msgOf(q, legit.ID), fieldID, []byte(replayID))
	if err != nil {
		t.Fatal(err)
	}
	writePending(q, replayID, replayMsg)
	e.wantArchived(q, replayID, sealq.CodeReplayed)

	// The task moved as it is cannot be archived by Asynq (its message names the queue it left),
	// but the worker refused it.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := q3errs.Load(sealq.CodeContextMismatch); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task moved to another queue as it is was not rejected")
		}
	}

	if log.total() != 1 || log.count(legit.ID) != 1 {
		t.Fatalf("handlers ran %v; only the legitimate task may run, once", log.runs)
	}
}

func TestE2EAFailedHandlerIsRetriedAndCompletesOnce(t *testing.T) {
	e := newEnv(t)
	k := hsKeyring(t, "e2e")
	q := e.queue("retry")
	var log runLog
	var completions atomic.Int32
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", log.handler(func(_ context.Context, _ string, n int) error {
		if n == 1 {
			return errors.New("transient failure")
		}
		completions.Add(1)
		return nil
	}))
	e.serve(Config{Keyring: k, Replay: e.store, Queues: []string{q}}, []string{q}, mux, nil)
	info, err := e.client.Enqueue(mustTask(t)(NewTask(k, "t", []byte("x"), asynq.Queue(q), asynq.Retention(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	done := e.wantCompleted(q, info.ID)
	if log.count(info.ID) != 2 || completions.Load() != 1 || done.Retried != 1 {
		t.Fatalf("runs %d, completions %d, retried %d", log.count(info.ID), completions.Load(), done.Retried)
	}
}

// Asynq retries a task for about three weeks under its defaults. The worker's clock jumps ahead
// between attempts (nothing sleeps): three weeks later the retry still runs; after the retry
// window and the grace it is archived as expired.
func TestE2ERetriedWeeksLater(t *testing.T) {
	e := newEnv(t)
	k := hsKeyring(t, "e2e")
	q := e.queue("late")
	var offset, jump atomic.Int64
	var log runLog
	mux := asynq.NewServeMux()
	mux.HandleFunc("t", log.handler(func(_ context.Context, _ string, n int) error {
		if n == 1 {
			offset.Store(jump.Load())
			return errors.New("down for weeks")
		}
		return nil
	}))
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	e.serve(Config{Keyring: k, Replay: e.store, Queues: []string{q}, Now: now}, []string{q}, mux, nil)

	window := RetryWindow(25, 30*time.Minute)
	jump.Store(int64(window)) // about 21 days
	info, err := e.client.Enqueue(mustTask(t)(NewTask(k, "t", []byte("a"), asynq.Queue(q), asynq.Retention(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	e.wantCompleted(q, info.ID)

	offset.Store(0)
	jump.Store(int64(window + DefaultGrace + 2*time.Minute))
	info, err = e.client.Enqueue(mustTask(t)(NewTask(k, "t", []byte("b"), asynq.Queue(q))))
	if err != nil {
		t.Fatal(err)
	}
	e.wantArchived(q, info.ID, sealq.CodeExpired)
	if log.count(info.ID) != 1 {
		t.Fatalf("the expired retry ran: %d runs", log.count(info.ID))
	}
}

func mustTask(t testing.TB) func(*asynq.Task, error) *asynq.Task {
	return func(task *asynq.Task, err error) *asynq.Task {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
}
