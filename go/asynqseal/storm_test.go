package asynqseal

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
)

const (
	stormTasks   = 2000
	stormCopies  = 3 // every sealed task is enqueued this many times, under different task ids
	stormWorkers = 3
	doomedConc   = 4
)

// Several Asynq server processes, every sealed task enqueued three times in random order, one
// task in fifty failing once, and one worker killed (SIGKILL) in the middle of its tasks: every
// task's handler completes exactly once, and every extra copy is archived as ERR_REPLAYED.
func TestE2EStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("the storm runs child processes; skipped with -short")
	}
	e := newEnv(t)
	ctx := context.Background()
	q := e.queue("storm")
	counts := e.name + ":counts"
	jwks := hsJWKS("storm")
	k := parseKeyring(t, jwks)

	bin := filepath.Join(t.TempDir(), "stormworker")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/stormworker").CombinedOutput(); err != nil {
		t.Fatalf("building the storm worker: %v\n%s", err, out)
	}
	start := func(doomed bool) *exec.Cmd {
		args := []string{"-queue", q, "-prefix", e.prefix, "-counts", counts, "-redis", redisAddr}
		if doomed {
			args = append(args, "-doomed", "-concurrency", strconv.Itoa(doomedConc))
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SEALQ_STORM_KEYRING="+jwks)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		})
		return cmd
	}

	doomed := start(true)
	for range stormWorkers {
		start(false)
	}

	type delivery struct{ task *asynq.Task }
	var all []delivery
	for i := range stormTasks {
		task, err := NewTask(k, "work", []byte(strconv.Itoa(i)), asynq.Queue(q), asynq.MaxRetry(1000), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		for range stormCopies {
			all = append(all, delivery{task})
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, d := range all {
		if _, err := e.client.Enqueue(d.task); err != nil {
			t.Fatal(err)
		}
	}

	// The doomed worker is in the middle of its tasks: kill it, no clean-up.
	until(t, "the doomed worker to start its tasks", func() bool {
		return e.rdb.LLen(ctx, counts+":doomed").Val() >= doomedConc
	})
	_ = doomed.Process.Kill()
	_ = doomed.Wait()
	// Asynq recovers a dead worker's tasks once their lease (30s) is 30s past, checking every
	// minute. Instead of waiting for that, the leases are moved into the past, and a replacement
	// worker, whose recoverer runs as it starts, picks the tasks up.
	dead := e.rdb.LRange(ctx, counts+":doomed", 0, -1).Val()
	past := float64(time.Now().Add(-2 * time.Minute).Unix())
	for _, id := range dead {
		e.rdb.ZAddXX(ctx, "asynq:{"+q+"}:lease", redis.Z{Score: past, Member: id})
	}
	start(false)

	total := stormTasks * stormCopies
	var info *asynq.QueueInfo
	until(t, "every task to settle", func() bool {
		var err error
		info, err = e.insp.GetQueueInfo(q)
		return err == nil && info.Completed+info.Archived == total && info.Pending+info.Active+info.Scheduled+info.Retry == 0
	})

	runs := e.rdb.HGetAll(ctx, counts).Val()
	if len(runs) != stormTasks {
		t.Fatalf("%d of %d tasks completed", len(runs), stormTasks)
	}
	for i, n := range runs {
		if n != "1" {
			t.Errorf("task %s completed %s times", i, n)
		}
	}
	if info.Completed != stormTasks || info.Archived != total-stormTasks {
		t.Fatalf("completed %d, archived %d", info.Completed, info.Archived)
	}
	codes := map[string]int{}
	for page := 1; ; page++ {
		list, err := e.insp.ListArchivedTasks(q, asynq.PageSize(1000), asynq.Page(page))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			codes[Code(a.LastErr)]++
		}
		if len(list) < 1000 {
			break
		}
	}
	if codes[sealq.CodeReplayed] != total-stormTasks || len(codes) != 1 {
		t.Fatalf("archived codes %v", codes)
	}
	if failed := int(e.rdb.HLen(ctx, counts+":failed").Val()); failed != stormTasks/50 {
		t.Fatalf("%d tasks failed once, want %d", failed, stormTasks/50)
	}
	// The killed worker's own tasks were recovered and settled like the others.
	for _, id := range dead {
		if ti, err := e.insp.GetTaskInfo(q, id); err != nil || (ti.State != asynq.TaskStateCompleted && ti.State != asynq.TaskStateArchived) {
			t.Fatalf("the killed worker's task %s: %v %v", id, ti, err)
		}
	}
	t.Logf("%d tasks x %d copies, %d worker processes, one killed holding %d tasks", stormTasks, stormCopies, stormWorkers+2, len(dead))
}

// until polls cond; it fails the test after two minutes (a limit for a hung run, not a speed
// assertion).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}
