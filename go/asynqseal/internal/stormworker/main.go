// Command stormworker is one Asynq server process of asynqseal's storm test: the sealq
// middleware in front of a handler that counts every completed task in a Redis hash. In doomed
// mode the handler announces the task and then hangs, so the test can SIGKILL the process in
// the middle of its tasks.
//
// The keyring (JWKS) comes from the environment variable SEALQ_STORM_KEYRING, never from the
// command line, where other users could read it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
	"sealq.dev/sealq/asynqseal"
	"sealq.dev/sealq/redisstore"
)

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	queue := flag.String("queue", "", "the queue to process")
	prefix := flag.String("prefix", "", "replay store key prefix")
	counts := flag.String("counts", "", "hash that counts each task's completed runs (field: the payload)")
	concurrency := flag.Int("concurrency", 8, "tasks processed at once")
	lease := flag.Duration("lease", 2*time.Second, "replay claim lease")
	doomed := flag.Bool("doomed", false, "announce every task in the list <counts>:doomed, then hang")
	flag.Parse()
	if err := run(*addr, *queue, *prefix, *counts, *concurrency, *lease, *doomed); err != nil {
		fmt.Fprintln(os.Stderr, "stormworker:", err)
		os.Exit(1)
	}
}

type quiet struct{}

func (quiet) Warn(...any) {}

func run(addr, queue, prefix, counts string, concurrency int, lease time.Duration, doomed bool) error {
	if queue == "" || prefix == "" || counts == "" {
		return errors.New("-queue, -prefix and -counts are required")
	}
	k, err := sealq.ParseKeyring([]byte(os.Getenv("SEALQ_STORM_KEYRING")))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	store, err := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	if err != nil {
		return err
	}
	// The storm runs on the shared test Redis, store and queue as one user, on purpose: the
	// isolation check is tested on a server of its own (isolation_test.go).
	mw, err := asynqseal.Middleware(asynqseal.Config{Keyring: k, Replay: store, Queues: []string{queue}, Lease: lease,
		QueueRedisClient: rdb, UnsafeSharedReplayStore: true, Logger: quiet{}})
	if err != nil {
		return err
	}
	mux := asynq.NewServeMux()
	mux.Use(mw)
	mux.HandleFunc("work", func(ctx context.Context, t *asynq.Task) error {
		if doomed {
			id, _ := asynq.GetTaskID(ctx)
			rdb.RPush(context.WithoutCancel(ctx), counts+":doomed", id)
			select {} // until SIGKILL
		}
		i, err := strconv.Atoi(string(t.Payload()))
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		// One task in 50 fails on its first run: Asynq retries it, and it completes once.
		if i%50 == 0 {
			first, err := rdb.HSetNX(ctx, counts+":failed", strconv.Itoa(i), 1).Result()
			if err != nil {
				return err
			}
			if first {
				return errors.New("transient failure")
			}
		}
		return rdb.HIncrBy(ctx, counts, strconv.Itoa(i), 1).Err()
	})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Queues:                   map[string]int{queue: 1},
		Concurrency:              concurrency,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond },
		TaskCheckInterval:        20 * time.Millisecond,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:          time.Second,
		LogLevel:                 asynq.FatalLevel,
	})
	return srv.Run(mux) // until SIGTERM
}
