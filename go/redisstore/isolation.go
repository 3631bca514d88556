package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
)

// The start-up check that the store lives where queue writers cannot write, the same check as
// the TypeScript store's (src/replay/isolation.ts; docs/redis.md, "Isolating the replay store"),
// so a Go and a TypeScript consumer of one store judge it alike.
//
// Mechanism: on a connection of its own made with the queue's credentials, the check opens a
// transaction (MULTI), queues every command that could erase or rewrite a store record (DEL,
// UNLINK, SET, EXPIRE, RENAME, EVAL, ... on a key under the store's prefix) and every
// server-wide one that could (FLUSHALL, SWAPDB, CONFIG SET, ACL SETUSER, REPLICAOF, ...), and
// then discards the transaction: nothing is ever executed. Redis checks ACL permissions when it
// queues a command, so each answer is QUEUED (the queue's user may run it) or NOPERM (it may
// not). No administrative command is needed (ACL DRYRUN would need ACL rights the store and queue
// users should not have); it works on Redis 6 and later, standalone, Sentinel and Cluster (every
// master).
//
// If the queue's user may run any of them, the check asks whether the queue's connection reaches
// the store's data at all: the store writes a marker record (a lease of the context
// "sealq.isolation-check" that lapses by itself), and the queue's connection looks for it. Not
// found: the store is on a separate Redis, which is isolated too. Found, or no way to tell: not
// isolated.

// DefaultIsolationCheckTimeout bounds CheckIsolation when its context has no deadline.
const DefaultIsolationCheckTimeout = 10 * time.Second

// IsolationReport is what CheckIsolation found.
type IsolationReport struct {
	// Isolated is true only when the check showed that the queue's credentials cannot change
	// the store's records.
	Isolated bool
	// By says how it is isolated: "acl" (the queue's Redis user may not write the store's keys)
	// or "separate-server" (the queue's connection does not reach the store's data). Empty when
	// not isolated.
	By string
	// QueueUser is the queue connection's Redis user, when the check could learn it.
	QueueUser string
	// Problems say what the queue's credentials may do to the store, or why the check could not
	// tell; empty when isolated.
	Problems []string
}

// isolationMarkerCtx is the replay context of the check's marker record: no queue's messages use it.
const isolationMarkerCtx = "sealq.isolation-check"

type probeCmd struct {
	name string
	args func(k, k2 string) []any
}

// keyCommands erase or rewrite one key: run against a store key k (k2: another one in the same slot).
var keyCommands = []probeCmd{
	{"DEL", func(k, _ string) []any { return []any{"DEL", k} }},
	{"UNLINK", func(k, _ string) []any { return []any{"UNLINK", k} }},
	{"SET", func(k, _ string) []any { return []any{"SET", k, "1"} }},
	{"GETDEL", func(k, _ string) []any { return []any{"GETDEL", k} }},
	{"GETEX", func(k, _ string) []any { return []any{"GETEX", k, "PERSIST"} }},
	{"EXPIRE", func(k, _ string) []any { return []any{"EXPIRE", k, 1} }},
	{"PEXPIRE", func(k, _ string) []any { return []any{"PEXPIRE", k, 1} }},
	{"EXPIREAT", func(k, _ string) []any { return []any{"EXPIREAT", k, 1} }},
	{"PEXPIREAT", func(k, _ string) []any { return []any{"PEXPIREAT", k, 1} }},
	{"PERSIST", func(k, _ string) []any { return []any{"PERSIST", k} }},
	{"RENAME", func(k, k2 string) []any { return []any{"RENAME", k2, k} }},
	{"RENAMENX", func(k, k2 string) []any { return []any{"RENAMENX", k2, k} }},
	{"COPY", func(k, k2 string) []any { return []any{"COPY", k2, k, "REPLACE"} }},
	{"MOVE", func(k, _ string) []any { return []any{"MOVE", k, 1} }},
	{"RESTORE", func(k, _ string) []any { return []any{"RESTORE", k, 0, "x", "REPLACE"} }},
	{"MIGRATE", func(k, _ string) []any { return []any{"MIGRATE", "127.0.0.1", 1, k, 0, 1} }},
	{"APPEND", func(k, _ string) []any { return []any{"APPEND", k, "x"} }},
	{"HSET", func(k, _ string) []any { return []any{"HSET", k, "f", "v"} }},
	{"EVAL", func(k, _ string) []any { return []any{"EVAL", "return 1", 1, k} }},
	{"EVALSHA", func(k, _ string) []any { return []any{"EVALSHA", script.Hash(), 1, k, "r", "x", 0} }},
	{"FCALL", func(k, _ string) []any { return []any{"FCALL", "sealq_isolation_check", 1, k} }},
}

// serverCommands erase the store or hand the server to someone else. Never executed (see above).
var serverCommands = []struct {
	name string
	args []any
}{
	{"FLUSHALL", []any{"FLUSHALL"}},
	{"FLUSHDB", []any{"FLUSHDB"}},
	{"SWAPDB", []any{"SWAPDB", 0, 0}},
	{"CONFIG SET", []any{"CONFIG", "SET", "maxmemory-policy", "noeviction"}},
	{"ACL SETUSER", []any{"ACL", "SETUSER", "sealq-isolation-check"}},
	{"ACL DELUSER", []any{"ACL", "DELUSER", "sealq-isolation-check"}},
	{"REPLICAOF", []any{"REPLICAOF", "NO", "ONE"}},
	{"SLAVEOF", []any{"SLAVEOF", "NO", "ONE"}},
	{"FAILOVER", []any{"FAILOVER", "ABORT"}},
	{"DEBUG", []any{"DEBUG", "SLEEP", 0}},
	{"MODULE LOAD", []any{"MODULE", "LOAD", "sealq-isolation-check.so"}},
}

type verdict int

const (
	unclear verdict = iota
	allowed
	denied
)

var (
	// Refused before any ACL check, for every user: not on this server, or disabled in its configuration.
	refusedForAll = regexp.MustCompile(`(?i)^ERR unknown (command|subcommand)`)
	disabledCmd   = regexp.MustCompile(`^ERR (DEBUG|MODULE) command not allowed`)
	// Redis checks ACLs before cluster routing: a redirect means the user may run it.
	redirected = regexp.MustCompile(`^(MOVED|ASK|CROSSSLOT|CLUSTERDOWN|TRYAGAIN)\b`)
)

func clip(s string) string { return truncate(s, 200) }

// isReply tells a server's error reply (the command was refused) from a failure to talk to the
// server at all (dial, authentication, timeout).
func isReply(err error) bool {
	m := err.Error()
	return strings.HasPrefix(m, "NOPERM") || strings.HasPrefix(m, "ERR ")
}

func judge(c *redis.Cmd) (verdict, string) {
	if err := c.Err(); err != nil {
		m := clip(err.Error())
		switch {
		case strings.HasPrefix(m, "NOPERM"), refusedForAll.MatchString(m), disabledCmd.MatchString(m):
			return denied, ""
		case redirected.MatchString(m):
			return allowed, ""
		}
		return unclear, m
	}
	if v, ok := c.Val().(string); ok && v == "QUEUED" {
		return allowed, ""
	}
	return unclear, clip(fmt.Sprint(c.Val()))
}

type probeResult struct {
	user                     string
	onKeys, onServer, unsure []string
	failed                   string
}

// probe queues every command in a transaction on conn, then discards it; it reads whether each
// was allowed.
func probe(ctx context.Context, conn *redis.Conn, k, k2 string) (probeResult, error) {
	var out probeResult
	if u, err := conn.Do(ctx, "ACL", "WHOAMI").Text(); err == nil {
		out.user = u
	}
	if err := conn.Do(ctx, "MULTI").Err(); err != nil {
		if !isReply(err) {
			return out, err // no connection at all (unreachable, wrong password): the check could not run
		}
		out.failed = "the queue's connection may not run MULTI (" + clip(err.Error()) + "), which the check needs: allow MULTI and DISCARD"
		return out, nil
	}
	// Nothing more is sent unless the server queues commands now: a proxy that passed MULTI on
	// without transaction semantics would otherwise run them.
	canary := conn.Do(ctx, "PING")
	if v, _ := canary.Val().(string); canary.Err() != nil || v != "QUEUED" {
		got := fmt.Sprint(canary.Val())
		if canary.Err() != nil {
			got = canary.Err().Error()
		}
		_ = conn.Close() // the connection is never used again
		out.failed = "the queue's connection does not behave like a Redis transaction after MULTI (PING answered " + strconv.Quote(truncate(got, 60)) + ")"
		return out, nil
	}
	keyCmds := make([]*redis.Cmd, len(keyCommands))
	serverCmds := make([]*redis.Cmd, len(serverCommands))
	_, _ = conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range keyCommands {
			keyCmds[i] = p.Do(ctx, c.args(k, k2)...)
		}
		for i, c := range serverCommands {
			serverCmds[i] = p.Do(ctx, c.args...)
		}
		return nil
	}) // each command's own answer is read below
	_ = conn.Do(ctx, "DISCARD").Err()
	for i, c := range keyCmds {
		switch v, why := judge(c); v {
		case allowed:
			out.onKeys = append(out.onKeys, keyCommands[i].name)
		case unclear:
			out.unsure = append(out.unsure, keyCommands[i].name+" ("+why+")")
		}
	}
	for i, c := range serverCmds {
		switch v, why := judge(c); v {
		case allowed:
			out.onServer = append(out.onServer, serverCommands[i].name)
		case unclear:
			out.unsure = append(out.unsure, serverCommands[i].name+" ("+why+")")
		}
	}
	return out, nil
}

// probeOptions make a client of the check's own from the queue's: its address and credentials,
// one connection that is never retried or resent (a command resent on a new connection would run
// outside the transaction).
func probeOptions(o *redis.Options) *redis.Options {
	p := &redis.Options{
		Network: o.Network, Addr: o.Addr, Dialer: o.Dialer, OnConnect: o.OnConnect, TLSConfig: o.TLSConfig,
		Protocol: o.Protocol, Username: o.Username, Password: o.Password,
		CredentialsProvider: o.CredentialsProvider, CredentialsProviderContext: o.CredentialsProviderContext,
		StreamingCredentialsProvider: o.StreamingCredentialsProvider,
		DB:                           o.DB, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		ContextTimeoutEnabled: true, MaxRetries: -1, PoolSize: 1, MaxIdleConns: 1, DisableIdentity: true, DialerRetries: 1,
	}
	if p.DialTimeout == 0 {
		p.DialTimeout = 5 * time.Second
	}
	return p
}

type probeConn struct {
	client *redis.Client
	conn   *redis.Conn
	db     int
}

// connect makes connections of the check's own with the queue's credentials: one, or one per
// master of a Cluster (ACLs are per node).
func connect(ctx context.Context, queue redis.UniversalClient) ([]probeConn, error) {
	var opts []*redis.Options
	switch q := queue.(type) {
	case *redis.Client:
		opts = append(opts, q.Options())
	case *redis.ClusterClient:
		var mu sync.Mutex // called concurrently, once per master
		err := q.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
			mu.Lock()
			opts = append(opts, c.Options())
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(opts) == 0 {
			return nil, errors.New("the queue's Redis Cluster lists no masters")
		}
	case *redis.Ring:
		var mu sync.Mutex
		err := q.ForEachShard(ctx, func(_ context.Context, c *redis.Client) error {
			mu.Lock()
			opts = append(opts, c.Options())
			mu.Unlock()
			return nil
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the queue's client is a %T; the check knows *redis.Client, *redis.ClusterClient and *redis.Ring", queue)
	}
	conns := make([]probeConn, 0, len(opts))
	for _, o := range opts {
		c := redis.NewClient(probeOptions(o))
		conns = append(conns, probeConn{client: c, conn: c.Conn(), db: o.DB})
	}
	return conns, nil
}

func closeAll(conns []probeConn) {
	for _, c := range conns {
		_ = c.conn.Close() // also ends any transaction still open: nothing was executed
		_ = c.client.Close()
	}
}

func dbOf(c redis.UniversalClient) int {
	if rc, ok := c.(*redis.Client); ok {
		return rc.Options().DB
	}
	return 0
}

func markerID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// reachesStore says whether the queue's connections see the store's data: the store writes a
// marker record (a lease that lapses by itself) and each connection looks it up in the store's
// database. "yes", "no", or why it could not tell.
func (s *Store) reachesStore(ctx context.Context, conns []probeConn) string {
	marker := sealq.ReplayKey{Ctx: isolationMarkerCtx, ID: markerID()}
	claimed, err := s.Claim(ctx, marker, 30*time.Second, 30*time.Second)
	if err != nil || claimed.Status != sealq.StatusClaimed {
		return "the store did not accept the check's marker record"
	}
	defer func() { _, _ = s.Release(context.WithoutCancel(ctx), marker, claimed.Token) }() // it lapses by itself anyway
	key := s.KeyOf(marker)
	storeDB := dbOf(s.client)
	var unsure []string
	for _, c := range conns {
		if c.db != storeDB {
			if err := c.conn.Do(ctx, "SELECT", storeDB).Err(); err != nil {
				unsure = append(unsure, clip(err.Error()))
				continue
			}
		}
		err := c.conn.Do(ctx, "GET", key).Err()
		switch {
		case err == nil:
			return "yes"
		case errors.Is(err, redis.Nil):
		case redirected.MatchString(err.Error()) && (strings.HasPrefix(err.Error(), "MOVED") || strings.HasPrefix(err.Error(), "ASK")):
			// another master holds the marker
		default:
			unsure = append(unsure, clip(err.Error()))
		}
	}
	if len(unsure) == 0 {
		return "no"
	}
	return "could not tell whether the queue's connection reaches the store's Redis: looking up a store key answered " + strings.Join(unsure, "; ")
}

func (s *Store) checkIsolation(ctx context.Context, queue redis.UniversalClient) (IsolationReport, error) {
	conns, err := connect(ctx, queue)
	defer closeAll(conns)
	if err != nil {
		return IsolationReport{}, err
	}
	// Keys under the store's prefix, in the store's key format (k2 shares k's hash tag, so its slot).
	k := s.KeyOf(sealq.ReplayKey{Ctx: isolationMarkerCtx, ID: markerID()})
	var user, failed []string
	var onKeys, onServer, unsure []string
	for _, c := range conns {
		r, err := probe(ctx, c.conn, k, k+":2")
		if err != nil {
			return IsolationReport{}, err
		}
		if r.user != "" {
			user = append(user, r.user)
		}
		if r.failed != "" {
			failed = append(failed, r.failed)
		}
		onKeys, onServer, unsure = union(onKeys, r.onKeys), union(onServer, r.onServer), union(unsure, r.unsure)
	}
	rep := IsolationReport{}
	if len(user) > 0 {
		rep.QueueUser = user[0]
	}
	if len(failed) == 0 && len(onKeys) == 0 && len(onServer) == 0 && len(unsure) == 0 {
		rep.Isolated, rep.By = true, "acl"
		return rep, nil
	}
	reach := s.reachesStore(ctx, conns)
	if reach == "no" {
		rep.Isolated, rep.By = true, "separate-server"
		return rep, nil
	}
	who := "the queue's Redis user"
	if rep.QueueUser != "" {
		who = "the queue's Redis user " + strconv.Quote(rep.QueueUser)
	}
	rep.Problems = append(rep.Problems, failed...)
	if len(onKeys) > 0 {
		rep.Problems = append(rep.Problems, who+" may run "+strings.Join(onKeys, ", ")+" on the store's keys (prefix "+strconv.Quote(s.prefix)+")")
	}
	if len(onServer) > 0 {
		rep.Problems = append(rep.Problems, who+" may run "+strings.Join(onServer, ", ")+" on the store's server")
	}
	if len(unsure) > 0 {
		rep.Problems = append(rep.Problems, "could not tell whether "+who+" may run "+strings.Join(unsure, ", "))
	}
	if reach != "yes" {
		rep.Problems = append(rep.Problems, reach)
	}
	return rep, nil
}

// union appends the members of b not in a, keeping the order.
func union(a, b []string) []string {
	for _, x := range b {
		found := false
		for _, y := range a {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			a = append(a, x)
		}
	}
	return a
}

// CheckIsolation checks that the queue's credentials cannot change this store's records (see
// the top of this file for how). queue is what queue writers connect with: the go-redis client
// of the producers or workers (for Asynq, the client its RedisConnOpt makes). Nothing is executed
// with the queue's credentials; the check uses connections of its own and closes them.
//
// It always returns what it found. The error is nil when the store is isolated, and otherwise
// an *sealq.Error with code ERR_STORE_NOT_ISOLATED (errors.Is(err, sealq.ErrStoreNotIsolated))
// whose message says what the queue's credentials may do and how to fix it. An unreachable
// server or a check that cannot tell is not isolated. Without a deadline on ctx the check is
// bounded by DefaultIsolationCheckTimeout.
func (s *Store) CheckIsolation(ctx context.Context, queue redis.UniversalClient) (IsolationReport, error) {
	rep := s.isolationReport(ctx, queue)
	if rep.Isolated {
		return rep, nil
	}
	return rep, &sealq.Error{Code: sealq.CodeStoreNotIsolated, Message: IsolationMessage(rep, s.prefix)}
}

func (s *Store) isolationReport(ctx context.Context, queue redis.UniversalClient) IsolationReport {
	if queue == nil {
		return IsolationReport{Problems: []string{"the queue's Redis connection is not known, so nothing shows that queue writers cannot change the store's records"}}
	}
	if queue == s.client {
		return IsolationReport{Problems: []string{"the store uses the queue's own go-redis client, so the queue's credentials write the store's records"}}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultIsolationCheckTimeout)
		defer cancel()
	}
	rep, err := s.checkIsolation(ctx, queue)
	if ctx.Err() != nil && !rep.Isolated {
		return IsolationReport{Problems: []string{"the check did not finish in time (" + ctx.Err().Error() + ")"}}
	}
	if err != nil {
		return IsolationReport{Problems: []string{"the check could not run: " + clip(err.Error())}}
	}
	return rep
}

// IsolationMessage is why a store is not isolated and how to fix it: the text of
// ERR_STORE_NOT_ISOLATED, as the TypeScript store's (with Asynq's keys as the queue's). prefix is the store's key prefix.
func IsolationMessage(rep IsolationReport, prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	what := "the check did not show it isolated"
	if len(rep.Problems) > 0 {
		what = strings.Join(rep.Problems, "; ")
	}
	return "the replay store is not isolated from the queue: " + what + ". Whoever holds the queue's Redis credentials can then delete a message's " +
		"completed record and add the message again, and it runs twice. Fix: give the store a Redis ACL user of its own limited to its keys " +
		"(ACL SETUSER sealq-replay on >PASSWORD resetkeys ~" + prefix + "* resetchannels -@all +eval +evalsha +get +set +pttl +pexpire +del +info +ping) " +
		"and queue users whose key patterns do not match " + prefix + "* (ACL key patterns only allow: list the queue's own prefixes, e.g. " +
		"~asynq:* +@all -@dangerous +info); or put the store on a separate Redis with its own password. See docs/redis.md, \"Isolating the replay store\""
}
