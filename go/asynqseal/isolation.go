package asynqseal

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
	"sealq.dev/sealq/redisstore"
)

// What Middleware does with the replay store's isolation check, as the TypeScript adapters do
// (src/replay/isolation-policy.ts): in production refuse a store that queue writers can change,
// unless the user opted out; elsewhere warn once.

// Logger receives the middleware's warnings. asynq.Logger satisfies it, so the logger given to
// asynq.Config can be given here too.
type Logger interface {
	Warn(args ...any)
}

type stdLogger struct{}

func (stdLogger) Warn(args ...any) { log.Print(fmt.Sprint(args...)) }

// IsolationChecker is a replay store that can show whether the queue's credentials can change
// its records: *redisstore.Store.
type IsolationChecker interface {
	CheckIsolation(ctx context.Context, queue redis.UniversalClient) (redisstore.IsolationReport, error)
}

// production is the TypeScript rule (NODE_ENV=production) unless Config.Environment says.
func (c *Config) production() bool {
	if c.Environment != "" {
		return c.Environment == "production"
	}
	return os.Getenv("NODE_ENV") == "production"
}

// queueClient is the queue writers' connection for the check, and what closes it.
func (c *Config) queueClient() (redis.UniversalClient, func(), error) {
	switch {
	case c.QueueRedis != nil && c.QueueRedisClient != nil:
		return nil, nil, invalidArg("give Config.QueueRedis or Config.QueueRedisClient, not both")
	case c.QueueRedisClient != nil:
		return c.QueueRedisClient, func() {}, nil
	case c.QueueRedis != nil:
		made := c.QueueRedis.MakeRedisClient()
		uc, ok := made.(redis.UniversalClient)
		if !ok {
			return nil, nil, invalidArg(fmt.Sprintf("Config.QueueRedis made a %T, not a go-redis client", made))
		}
		return uc, func() { _ = uc.Close() }, nil
	}
	return nil, func() {}, nil // not known: the store's check says so
}

// enforceIsolation runs the replay store's isolation check against the queue's connection. It
// returns nil when the store is isolated, or when it is not but this is not production or the
// user opted out (then it warns), and ERR_STORE_NOT_ISOLATED otherwise.
func enforceIsolation(cfg *Config) error {
	logger := cfg.Logger
	if logger == nil {
		logger = stdLogger{}
	}
	queues := append([]string(nil), cfg.Queues...)
	if len(queues) == 0 {
		queues = []string{asynqDefaultQueue}
	}
	sort.Strings(queues)
	for i, q := range queues {
		queues[i] = quote(q)
	}
	who := "asynqseal middleware on queue " + strings.Join(queues, ", ")
	var text string
	switch st := cfg.Replay.(type) {
	case *sealq.MemoryReplayStore:
		return nil // in the process: nobody else can write it
	case IsolationChecker:
		queue, done, err := cfg.queueClient()
		if err != nil {
			return err
		}
		_, err = st.CheckIsolation(context.Background(), queue) // bounded by the store's default timeout
		done()
		if err == nil {
			return nil
		}
		var e *sealq.Error
		if !errors.As(err, &e) {
			e = &sealq.Error{Message: "the replay store is not isolated from the queue: the check failed: " + err.Error()}
		}
		text = who + ": " + e.Message
	default:
		logger.Warn(who + ": the replay store has no isolation check (CheckIsolation), so sealq cannot show that queue writers cannot change its records; make sure they cannot")
		return nil
	}
	if cfg.UnsafeSharedReplayStore {
		logger.Warn(text + ". Running anyway: Config.UnsafeSharedReplayStore is set.")
		return nil
	}
	if cfg.production() {
		return &sealq.Error{Code: sealq.CodeStoreNotIsolated, Message: text + ". In production (Config.Environment \"production\", or NODE_ENV=production) sealq refuses to run so; to run anyway, set Config.UnsafeSharedReplayStore."}
	}
	logger.Warn(text + ". In production (Config.Environment \"production\", or NODE_ENV=production) sealq would refuse to run.")
	return nil
}

// Compile-time check that the Redis store has the check Middleware looks for.
var _ IsolationChecker = (*redisstore.Store)(nil)

// asynq.Logger is a Logger.
var _ Logger = asynq.Logger(nil)
