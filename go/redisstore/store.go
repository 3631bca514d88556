// Package redisstore is the Redis replay store for sealq (sealq.ReplayStore) on go-redis v9:
// the same key layout, record values and Lua script as the TypeScript store (sealq/redis), so
// TypeScript and Go consumers of one context can share one store: a message completed by
// either is a replay to both.
//
// Key: prefix + "{" + len16(ctx) + ":" + esc(ctx) + ":" + esc(id) + "}", where len16 is the
// length of ctx in UTF-16 code units and esc replaces "%", "{" and "}" by "%25", "%7B", "%7D".
// The whole (ctx, id) pair is the Redis Cluster hash tag.
//
// Operations of concurrent messages issued while earlier script calls are in flight go out
// together, as one call of the same script (Options.Batch), so a busy worker makes far fewer
// round trips than operations; an idle store sends each operation at once, from the caller's
// goroutine.
//
// The store must live where queue writers cannot write (its own Redis ACL user, or a separate
// Redis): Store.CheckIsolation shows whether it does, as the TypeScript store's check.
//
// The store fails closed: Redis unreachable, erroring or slower than the timeout is
// ERR_REPLAY_STORE_UNAVAILABLE (retryable) and the message is not processed.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
)

// Defaults, the same as the TypeScript store's.
const (
	DefaultPrefix      = "sealq:r:"
	DefaultTimeout     = 2 * time.Second
	DefaultExtraRetain = 60 * time.Second
	DefaultBatch       = 256
)

// Options configure a Store. Zero values mean the defaults.
type Options struct {
	// Prefix of every key (default "sealq:r:"); it may not contain "{" or "}". Consumers that
	// share a store must use the same prefix.
	Prefix string
	// Timeout of one operation (default 2s); slower is ERR_REPLAY_STORE_UNAVAILABLE.
	Timeout time.Duration
	// ExtraRetain is kept on top of the retention the core asks for, to cover clock differences
	// between consumers (default 60s; negative for none).
	ExtraRetain time.Duration
	// Batch is the most operations per script call (default 256): operations of concurrent
	// messages issued while earlier calls are in flight go out together, one round trip for
	// many. 1 sends each operation on its own; on Redis Cluster (a ClusterClient) it is always 1,
	// since the keys of one call must share a slot.
	Batch int
}

// Store is a sealq.ReplayStore in Redis (standalone, Sentinel or Cluster through
// redis.UniversalClient), safe for concurrent use.
type Store struct {
	client    redis.UniversalClient
	owned     bool
	mu        sync.Mutex
	queue     []*op // operations waiting for a sender
	senders   int
	batch     atomic.Int32 // most operations per script call
	prefix    string
	timeout   time.Duration
	extra     time.Duration
	tokenBase string
	tokens    atomic.Uint64
}

var script = redis.NewScript(Script)

var _ sealq.ReplayStore = (*Store)(nil)

// New makes a store on a client you own (Close leaves it open).
func New(client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, invalid("redisstore.New needs a go-redis client")
	}
	s := &Store{client: client, prefix: o.Prefix, timeout: o.Timeout, extra: o.ExtraRetain}
	switch {
	case o.Batch == 0:
		s.batch.Store(DefaultBatch)
	case o.Batch < 0 || o.Batch > 10_000:
		return nil, invalid("Batch must be 1 to 10000 (0 for the default 256)")
	default:
		s.batch.Store(int32(o.Batch))
	}
	if _, ok := client.(*redis.ClusterClient); ok {
		s.batch.Store(1)
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if strings.ContainsAny(s.prefix, "{}") {
		return nil, invalid(`Prefix may not contain "{" or "}": a hash tag in the prefix would put every message key in one Redis Cluster slot`)
	}
	switch {
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	case s.timeout < time.Millisecond:
		return nil, invalid("Timeout must be at least 1ms (0 for the default 2s)")
	}
	switch {
	case s.extra == 0:
		s.extra = DefaultExtraRetain
	case s.extra < 0:
		s.extra = 0
	}
	// Lease tokens only need to be unique: 128 random bits per store and a counter.
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redisstore: the system's random source failed: %w", err)
	}
	s.tokenBase = base64.RawURLEncoding.EncodeToString(b[:]) + "."
	return s, nil
}

// Open makes a store with its own client from a redis:// or rediss:// URL; Close closes it.
// The URL's password never appears in errors or in String.
func Open(url string, o Options) (*Store, error) {
	if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") && !strings.HasPrefix(url, "unix://") {
		return nil, invalid("the Redis URL must start with redis://, rediss:// or unix://")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		// go-redis's parse errors may quote the URL, password included: say only what to check.
		return nil, invalid("the Redis URL could not be parsed: check its form, like redis://user:password@host:6379/0")
	}
	s, err := New(redis.NewClient(opt), o)
	if err != nil {
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Client returns the go-redis client the store talks through.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Close closes the client if Open created it.
func (s *Store) Close() error {
	if s.owned {
		return s.client.Close()
	}
	return nil
}

// KeyOf returns the Redis key that remembers key.
func (s *Store) KeyOf(key sealq.ReplayKey) string {
	return s.prefix + "{" + strconv.Itoa(utf16Len(key.Ctx)) + ":" + escapeTag(key.Ctx) + ":" + escapeTag(key.ID) + "}"
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

var tagEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

func escapeTag(s string) string {
	if !strings.ContainsAny(s, "%{}") {
		return s
	}
	return tagEscaper.Replace(s)
}

// ms rounds a duration up to whole milliseconds, as the TypeScript store does.
func ms(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

var what = map[string]string{"c": "claim the message", "d": "mark the message completed", "r": "release the message", "e": "extend the lease"}

func (s *Store) call(ctx context.Context, code string, key sealq.ReplayKey, value string, d int64) (int64, error) {
	o := &op{code: code, key: s.KeyOf(key), value: value, ms: strconv.FormatInt(d, 10), done: make(chan opResult, 1)}
	if s.batch.Load() == 1 {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		s.run(ctx, []*op{o})
		r := <-o.done
		return r.r, r.err
	}
	if s.submit(o) {
		// A free sender slot: the caller sends, its own operation and whatever else is queued,
		// without a goroutine to hand over to and wake up again.
		s.lead(ctx, o)
		select {
		case r := <-o.done:
			return r.r, r.err
		default: // another sender took it: wait for that one
		}
	}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case r := <-o.done:
		return r.r, r.err
	case <-timer.C:
		if o.settled.CompareAndSwap(false, true) {
			return 0, unavailable(code, "no answer within "+s.timeout.String())
		}
	case <-ctx.Done():
		if o.settled.CompareAndSwap(false, true) {
			return 0, &sealq.Error{Code: sealq.CodeReplayStoreUnavailable, Message: "Redis replay store could not " + what[code] + ": " + ctx.Err().Error() + "; the message can be retried", Err: ctx.Err()}
		}
	}
	r := <-o.done // settled by the sender meanwhile
	return r.r, r.err
}

// op is one operation of the script: its key and ARGV triple, and where its result goes.
type op struct {
	code, key, value, ms string
	done                 chan opResult // buffered: the sender never waits
	settled              atomic.Bool   // answered, timed out or cancelled: whichever comes first
}

type opResult struct {
	r   int64
	err error
}

func (o *op) settle(r int64, err error) {
	if o.settled.CompareAndSwap(false, true) {
		o.done <- opResult{r, err}
	}
}

// maxSenders bounds the script calls in flight at once; operations issued meanwhile wait and go
// out together in the next call.
const maxSenders = 4

// submit queues an operation and reports whether a sender slot was free: the caller then sends
// (lead). Operations queued while every slot is taken wait and go out together in the next call.
func (s *Store) submit(o *op) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, o)
	if s.senders < maxSenders {
		s.senders++
		return true
	}
	return false
}

// take removes the next chunk of the queue (operations already timed out or cancelled are left
// out: never sent late). With an empty queue it gives up the caller's sender slot.
func (s *Store) take() ([]*op, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue), int(s.batch.Load()))
	if n == 0 {
		s.senders--
		return nil, false
	}
	chunk := make([]*op, 0, n)
	for _, o := range s.queue[:n] {
		if !o.settled.Load() {
			chunk = append(chunk, o)
		}
	}
	s.queue = append(s.queue[:0], s.queue[n:]...)
	return chunk, true
}

// lead sends from the queue in the caller's goroutine until the caller's own operation is
// answered; what is still queued then is handed, with the sender slot, to a goroutine. A call of
// the caller's operation alone runs under the caller's context.
func (s *Store) lead(ctx context.Context, own *op) {
	for {
		chunk, ok := s.take()
		if !ok {
			return
		}
		base := context.Background()
		if len(chunk) == 1 && chunk[0] == own {
			base = ctx
		}
		if len(chunk) > 0 {
			rctx, cancel := context.WithTimeout(base, s.timeout)
			s.run(rctx, chunk)
			cancel()
		}
		if own.settled.Load() {
			s.mu.Lock()
			more := len(s.queue) > 0
			if !more {
				s.senders--
			}
			s.mu.Unlock()
			if more {
				go s.send()
			}
			return
		}
	}
}

// send is a sender goroutine: it sends until the queue is empty. An idle store holds none.
func (s *Store) send() {
	for {
		chunk, ok := s.take()
		if !ok {
			return
		}
		if len(chunk) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			s.run(ctx, chunk)
			cancel()
		}
	}
}

// run sends one script call for a chunk of operations (one key each) and settles every one.
// A server that refuses keys of several slots in one call (a proxy in front of a cluster) is
// detected: the store then sends one operation per call.
func (s *Store) run(ctx context.Context, chunk []*op) {
	keys := make([]string, len(chunk))
	args := make([]any, 0, 3*len(chunk))
	for i, o := range chunk {
		keys[i] = o.key
		args = append(args, o.code, o.value, o.ms)
	}
	res, err := script.Run(ctx, s.client, keys, args...).Result()
	if err != nil {
		if len(chunk) > 1 && crossSlot(err) {
			s.batch.Store(1)
			for _, o := range chunk {
				s.run(ctx, []*op{o})
			}
			return
		}
		reason := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "no answer within " + s.timeout.String()
		}
		for _, o := range chunk {
			o.settle(0, &sealq.Error{Code: sealq.CodeReplayStoreUnavailable, Message: "Redis replay store could not " + what[o.code] + ": " + reason + "; the message can be retried", Err: err})
		}
		return
	}
	list, ok := res.([]any)
	if !ok || len(list) != len(chunk) {
		for _, o := range chunk {
			o.settle(0, unavailable(o.code, "unexpected reply from the replay script"))
		}
		return
	}
	for i, o := range chunk {
		r, ok := list[i].(int64)
		switch {
		case !ok:
			o.settle(0, unavailable(o.code, "unexpected reply from the replay script"))
		case r < 0:
			o.settle(0, unavailable(o.code, "key "+strconv.Quote(truncate(o.key, 300))+" holds a value that is not a sealq replay record; remove it or use another prefix"))
		default:
			o.settle(r, nil)
		}
	}
}

func crossSlot(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "crossslot") || strings.Contains(m, "cross slot") || strings.Contains(m, "same slot")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func unavailable(code, reason string) error {
	return &sealq.Error{Code: sealq.CodeReplayStoreUnavailable, Message: "Redis replay store could not " + what[code] + ": " + reason + "; the message can be retried"}
}

func invalid(msg string) error {
	return &sealq.Error{Code: sealq.CodeInvalidArgument, Message: msg}
}

func positive(d time.Duration, name string) error {
	if d <= 0 {
		return invalid(name + " must be positive")
	}
	return nil
}

// Claim implements sealq.ReplayStore.
func (s *Store) Claim(ctx context.Context, key sealq.ReplayKey, lease, retain time.Duration) (sealq.ClaimOutcome, error) {
	if err := positive(lease, "lease"); err != nil {
		return sealq.ClaimOutcome{}, err
	}
	if err := positive(retain, "retain"); err != nil {
		return sealq.ClaimOutcome{}, err
	}
	token := s.tokenBase + strconv.FormatUint(s.tokens.Add(1), 36)
	r, err := s.call(ctx, "c", key, "l"+token, ms(lease))
	if err != nil {
		return sealq.ClaimOutcome{}, err
	}
	switch r {
	case 0:
		return sealq.ClaimOutcome{Status: sealq.StatusClaimed, Token: token}, nil
	case 2:
		return sealq.ClaimOutcome{Status: sealq.StatusInFlight}, nil
	}
	return sealq.ClaimOutcome{Status: sealq.StatusCompleted}, nil
}

// Complete implements sealq.ReplayStore. The key is kept for retain plus ExtraRetain.
func (s *Store) Complete(ctx context.Context, key sealq.ReplayKey, token string, retain time.Duration) (bool, error) {
	if err := positive(retain, "retain"); err != nil {
		return false, err
	}
	r, err := s.call(ctx, "d", key, "l"+token, ms(retain)+ms(s.extra))
	return r == 1, err
}

// Release implements sealq.ReplayStore.
func (s *Store) Release(ctx context.Context, key sealq.ReplayKey, token string) (bool, error) {
	r, err := s.call(ctx, "r", key, "l"+token, 0)
	return r == 1, err
}

// Extend implements sealq.ReplayStore.
func (s *Store) Extend(ctx context.Context, key sealq.ReplayKey, token string, lease time.Duration) (bool, error) {
	if err := positive(lease, "lease"); err != nil {
		return false, err
	}
	r, err := s.call(ctx, "e", key, "l"+token, ms(lease))
	return r == 1, err
}

// CheckServer reads the server's settings and returns what would weaken replay protection (an
// eviction policy that may drop remembered ids before they expire). Empty when all is well.
func (s *Store) CheckServer(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	info, err := s.client.Info(ctx, "memory").Result()
	if err != nil {
		return nil, &sealq.Error{Code: sealq.CodeReplayStoreUnavailable, Message: "could not read the Redis server's settings: " + err.Error(), Err: err}
	}
	for _, line := range strings.Split(info, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok && p != "noeviction" {
			return []string{"maxmemory-policy is " + p + ": under memory pressure Redis may evict remembered message ids and allow replays; use noeviction (writes then fail, and the store fails closed)"}, nil
		}
	}
	return nil, nil
}

// String names the server and prefix, never a password.
func (s *Store) String() string {
	if s == nil {
		return "redisstore.Store(nil)"
	}
	where := "redis"
	switch c := s.client.(type) {
	case *redis.Client:
		o := c.Options()
		where = o.Network + "://" + o.Addr + "/" + strconv.Itoa(o.DB)
	case *redis.ClusterClient:
		where = "cluster " + strings.Join(c.Options().Addrs, ",")
	case *redis.Ring:
		where = "ring"
	}
	return "redisstore.Store{" + where + ", prefix " + strconv.Quote(s.prefix) + "}"
}

// GoString is String.
func (s *Store) GoString() string { return s.String() }

// Format prints String for every verb, so no verb reaches the client's options (and password).
func (s *Store) Format(f fmt.State, verb rune) {
	str := s.String()
	if verb == 'q' {
		str = strconv.Quote(str)
	}
	_, _ = f.Write([]byte(str))
}
