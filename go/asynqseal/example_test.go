package asynqseal_test

import (
	"context"
	"log"
	"os"

	"github.com/hibiken/asynq"
	"sealq.dev/sealq"
	"sealq.dev/sealq/asynqseal"
	"sealq.dev/sealq/redisstore"
)

// The producer of docs/asynq.md's quick start (compiled, not run).
func ExampleNewTask() {
	k, err := sealq.ReadKeyringFile("producer-keyring.json") // sealq keygen --alg EdDSA --out producer-keyring.json
	if err != nil {
		log.Fatal(err)
	}
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:6379", Username: "app", Password: os.Getenv("APP_REDIS_PASSWORD")})
	defer client.Close()

	task, err := asynqseal.NewTask(k, "email:welcome", []byte(`{"to":"ada@example.com"}`), asynq.Queue("emails"), asynq.MaxRetry(10))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Enqueue(task); err != nil { // options go to NewTask, not here
		log.Fatal(err)
	}
}

// The worker of docs/asynq.md's quick start (compiled, not run).
func ExampleMiddleware() {
	k, err := sealq.ReadKeyringFile("public.json") // sealq public --keyring producer-keyring.json > public.json
	if err != nil {
		log.Fatal(err)
	}
	// The store connects as a Redis user queue writers do not have: redis://sealq-replay:…@127.0.0.1:6379
	replay, err := redisstore.Open(os.Getenv("REPLAY_REDIS_URL"), redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	queue := asynq.RedisClientOpt{Addr: "127.0.0.1:6379", Username: "app", Password: os.Getenv("APP_REDIS_PASSWORD")}
	mw, err := asynqseal.Middleware(asynqseal.Config{Keyring: k, Replay: replay, Queues: []string{"emails"}, QueueRedis: queue})
	if err != nil {
		log.Fatal(err)
	}
	mux := asynq.NewServeMux()
	mux.Use(mw)
	mux.HandleFunc("email:welcome", func(ctx context.Context, t *asynq.Task) error {
		h, _ := asynqseal.HeaderFrom(ctx) // verified: h.ID, h.Kid, h.Iat, h.Exp, h.Ctx (queue), h.Typ
		log.Printf("welcome mail, sealed by %s", h.Kid)
		return send(t.Payload()) // exactly the bytes that were sealed
	})
	srv := asynq.NewServer(queue, asynq.Config{
		Queues: map[string]int{"emails": 1},
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			log.Printf("task %s: %v", t.Type(), err) // "ERR_…: …" for what the middleware refused
		}),
	})
	log.Fatal(srv.Run(mux))
}

func send([]byte) error { return nil }
