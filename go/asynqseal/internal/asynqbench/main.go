// Command asynqbench measures Asynq end to end, plain or sealed, for bench/asynq.bench.ts: one
// run of n tasks of a given size through a fresh queue. The driver starts an Asynq server
// process (the worker), waits until it is up, then starts a producer process; the figure runs
// from the producer's first enqueue to the worker's last handled task, so sealing, opening,
// claiming and completing are all inside it. It prints {"ops":n,"ms":elapsed} and deletes the
// run's keys.
//
// Redis comes from SEALQ_BENCH_REDIS_URL (default redis://127.0.0.1:6379): the environment, not
// the command line, because the URL may hold a password. The driver hands the producer and the
// worker a fresh HS256 keyring the same way (SEALQ_BENCH_KEYRING).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
	"sealq.dev/sealq/asynqseal"
	"sealq.dev/sealq/redisstore"
)

type params struct {
	role        string
	sealed      bool
	n           int
	size        int
	concurrency int
	producers   int
	queue       string
	prefix      string
	cpuprofile  string
}

func main() {
	var p params
	flag.StringVar(&p.role, "role", "driver", "driver, worker or producer")
	flag.BoolVar(&p.sealed, "sealed", false, "seal the tasks (HS256) and open them with the asynqseal middleware and the Redis replay store")
	flag.IntVar(&p.n, "n", 20000, "tasks")
	flag.IntVar(&p.size, "size", 1024, "payload bytes")
	flag.IntVar(&p.concurrency, "concurrency", 50, "the worker's asynq.Config.Concurrency")
	flag.IntVar(&p.producers, "producers", 16, "goroutines enqueueing at once in the producer")
	flag.StringVar(&p.queue, "queue", "", "(worker, producer) the queue")
	flag.StringVar(&p.prefix, "prefix", "", "(worker) replay store prefix")
	flag.StringVar(&p.cpuprofile, "cpuprofile", "", "(worker) write the worker's CPU profile to this file")
	flag.Parse()
	var err error
	switch p.role {
	case "driver":
		err = drive(p)
	case "worker":
		err = work(p)
	case "producer":
		err = produce(p)
	default:
		err = errors.New("-role must be driver, worker or producer")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "asynqbench:", err)
		os.Exit(1)
	}
}

func redisURL() string {
	if u := os.Getenv("SEALQ_BENCH_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

func redisClient(poolSize int) (*redis.Client, error) {
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		return nil, errors.New("SEALQ_BENCH_REDIS_URL could not be parsed")
	}
	if poolSize > 0 {
		opt.PoolSize = poolSize
	}
	return redis.NewClient(opt), nil
}

func asynqConn() (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(redisURL())
	if err != nil {
		return nil, errors.New("SEALQ_BENCH_REDIS_URL could not be parsed")
	}
	return opt, nil
}

func drive(p params) error {
	id := make([]byte, 4)
	secret := make([]byte, 32)
	_, _ = rand.Read(id)
	_, _ = rand.Read(secret)
	name := fmt.Sprintf("sealq-bench-asynq-%d-%s", os.Getpid(), hex.EncodeToString(id))
	jwks := `{"keys":[{"kty":"oct","kid":"bench","alg":"HS256","status":"primary","k":"` + base64.RawURLEncoding.EncodeToString(secret) + `"}]}`
	rdb, err := redisClient(0)
	if err != nil {
		return err
	}
	defer rdb.Close()
	defer cleanup(rdb, name)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := func(role string) (*exec.Cmd, *bufio.Scanner, error) {
		cmd := exec.Command(self, "-role", role, "-sealed="+strconv.FormatBool(p.sealed), "-n", strconv.Itoa(p.n), "-size", strconv.Itoa(p.size),
			"-concurrency", strconv.Itoa(p.concurrency), "-producers", strconv.Itoa(p.producers), "-queue", name, "-prefix", name+":r:")
		if role == "worker" && p.cpuprofile != "" {
			cmd.Args = append(cmd.Args, "-cpuprofile", p.cpuprofile)
		}
		cmd.Env = append(os.Environ(), "SEALQ_BENCH_KEYRING="+jwks)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		return cmd, bufio.NewScanner(out), nil
	}
	// expect reads the child's next line, "<word> <unix ns>".
	expect := func(s *bufio.Scanner, word string) (int64, error) {
		if !s.Scan() {
			return 0, fmt.Errorf("a child process ended before saying %q", word)
		}
		f := strings.Fields(s.Text())
		if len(f) != 2 || f[0] != word {
			return 0, fmt.Errorf("unexpected line from a child process: %q", s.Text())
		}
		return strconv.ParseInt(f[1], 10, 64)
	}

	redisCPU0 := redisCPU(rdb)
	worker, wout, err := child("worker")
	if err != nil {
		return err
	}
	defer worker.Wait()
	defer worker.Process.Kill()
	if _, err := expect(wout, "ready"); err != nil {
		return err
	}
	producer, pout, err := child("producer")
	if err != nil {
		return err
	}
	start, err := expect(pout, "start")
	if err != nil {
		return err
	}
	if err := producer.Wait(); err != nil {
		return fmt.Errorf("producer: %w", err)
	}

	end, err := expect(wout, "done")
	if err != nil {
		return err
	}
	if err := worker.Wait(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	// CPU time of each process, for reading the figure (who was busy). Redis's is the whole
	// server's, other clients included.
	fmt.Printf(`{"ops":%d,"ms":%.3f,"producerCpuMs":%.1f,"workerCpuMs":%.1f,"redisCpuMs":%.1f}`+"\n",
		p.n, float64(end-start)/1e6, cpuMs(producer), cpuMs(worker), redisCPU(rdb)-redisCPU0)
	return nil
}

// redisCPU is the Redis server's CPU time so far (user + system), in ms.
func redisCPU(rdb *redis.Client) float64 {
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f * 1000
		}
	}
	return total
}

func cpuMs(c *exec.Cmd) float64 {
	return float64(c.ProcessState.UserTime()+c.ProcessState.SystemTime()) / 1e6
}

// cleanup deletes the run's queue and replay records.
func cleanup(rdb *redis.Client, name string) {
	ctx := context.Background()
	rdb.SRem(ctx, "asynq:queues", name)
	for _, pattern := range []string{"asynq:{" + name + "}:*", name + ":r:*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 1000 {
				rdb.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			rdb.Unlink(ctx, keys...)
		}
	}
}

func keyring() (*sealq.Keyring, error) {
	return sealq.ParseKeyring([]byte(os.Getenv("SEALQ_BENCH_KEYRING")))
}

type quiet struct{}

func (quiet) Warn(...any) {}

func work(p params) error {
	conn, err := asynqConn()
	if err != nil {
		return err
	}
	var handled atomic.Int64
	finished := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc("order", func(context.Context, *asynq.Task) error {
		if handled.Add(1) == int64(p.n) {
			fmt.Printf("done %d\n", time.Now().UnixNano())
			close(finished)
		}
		return nil
	})
	if p.sealed {
		k, err := keyring()
		if err != nil {
			return err
		}
		rdb, err := redisClient(p.concurrency)
		if err != nil {
			return err
		}
		defer rdb.Close()
		store, err := redisstore.New(rdb, redisstore.Options{Prefix: p.prefix})
		if err != nil {
			return err
		}
		// The bench runs store and queue as one Redis user, on purpose (the check's warning is
		// silenced; it runs before the timed part).
		mw, err := asynqseal.Middleware(asynqseal.Config{Keyring: k, Replay: store, Queues: []string{p.queue},
			QueueRedis: conn, UnsafeSharedReplayStore: true, Logger: quiet{}})
		if err != nil {
			return err
		}
		mux.Use(mw)
	}
	srv := asynq.NewServer(conn, asynq.Config{
		Queues:      map[string]int{p.queue: 1},
		Concurrency: p.concurrency,
		// Polls an empty queue every 10ms instead of every second, so the run does not start late.
		TaskCheckInterval: 10 * time.Millisecond,
		ShutdownTimeout:   time.Second,
		LogLevel:          asynq.ErrorLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(_ context.Context, _ *asynq.Task, err error) {
			fmt.Fprintln(os.Stderr, "asynqbench: a task failed, the figure would measure a failing path:", err)
			os.Exit(1)
		}),
	})
	if err := srv.Start(mux); err != nil {
		return err
	}
	if p.cpuprofile != "" {
		f, err := os.Create(p.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("ready %d\n", time.Now().UnixNano())
	<-finished
	srv.Shutdown()
	return nil
}

// payload is a 1 KiB-like JSON order, padded to size bytes.
func payload(i, size int) []byte {
	b := fmt.Appendf(nil, `{"orderId":"ord_%08d","customer":"cus_7F2Q","items":[{"sku":"A-100","qty":2},{"sku":"B-220","qty":1}],"note":"`, i)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, '"', '}')
}

func produce(p params) error {
	conn, err := asynqConn()
	if err != nil {
		return err
	}
	client := asynq.NewClient(conn)
	defer client.Close()
	var sealer *asynqseal.Sealer
	if p.sealed {
		k, err := keyring()
		if err != nil {
			return err
		}
		sealer = &asynqseal.Sealer{Keyring: k, ContentType: "application/json"}
	}
	payloads := make([][]byte, p.n)
	for i := range payloads {
		payloads[i] = payload(i, p.size)
	}
	if err := client.Ping(); err != nil {
		return err
	}
	fmt.Printf("start %d\n", time.Now().UnixNano())
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, p.producers)
	for range p.producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= p.n {
					return
				}
				var task *asynq.Task
				if sealer != nil {
					var err error
					if task, err = sealer.NewTask("order", payloads[i], asynq.Queue(p.queue)); err != nil {
						errs <- err
						return
					}
				} else {
					task = asynq.NewTask("order", payloads[i], asynq.Queue(p.queue))
				}
				if _, err := client.Enqueue(task); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
