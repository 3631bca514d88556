package asynqseal

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"sealq.dev/sealq"
)

// The middleware's own CPU per task, without Redis: open (HS256, 1 KiB), claim and complete in
// the memory store, the lease timer, the header in the context. The end-to-end figure is
// bench/asynq.bench.ts.
func BenchmarkMiddlewareMemoryStore(b *testing.B) {
	k := hsKeyring(b, "bench")
	payload := make([]byte, 1024)
	tasks := make([]*asynq.Task, b.N)
	for i := range tasks {
		t, err := NewTask(k, "order", payload)
		if err != nil {
			b.Fatal(err)
		}
		tasks[i] = t
	}
	mw, err := Middleware(Config{Keyring: k, Replay: sealq.NewMemoryReplayStore(b.N+1, nil)})
	if err != nil {
		b.Fatal(err)
	}
	h := mw(asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }))
	ctx := onQueue("default")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := h.ProcessTask(ctx, tasks[i]); err != nil {
			b.Fatal(err)
		}
	}
}
