package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"sealq.dev/sealq"
	"sealq.dev/sealq/internal/ownredis"
)

// The isolation check on a redis-server of the test's own with ACL users, as docs/redis.md gives
// them: a store user limited to the store's prefix, a queue user (Asynq's keys) without it, and
// one user for everything (the unsafe setup).

const (
	storePW  = "store-secret-pw"
	appPW    = "app-secret-pw"
	sharedPW = "shared-secret-pw"
)

func aclServer(t *testing.T) *ownredis.Server {
	t.Helper()
	s := ownredis.Start(t)
	s.ACL(t, "sealq-replay", "on", ">"+storePW, "resetkeys", "~sealq:r:*", "resetchannels", "-@all", "+eval", "+evalsha", "+get", "+set", "+pttl", "+pexpire", "+del", "+info", "+ping")
	s.ACL(t, "app", "on", ">"+appPW, "resetkeys", "~asynq:*", "resetchannels", "&asynq:*", "+@all", "-@dangerous", "+info")
	s.ACL(t, "shared", "on", ">"+sharedPW, "resetkeys", "~*", "allchannels", "+@all", "-@dangerous", "+info")
	return s
}

func storeOn(t *testing.T, c redis.UniversalClient) *Store {
	t.Helper()
	s, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantNoSecrets(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, pw := range []string{storePW, appPW, sharedPW, "nope-pw"} {
			if strings.Contains(s, pw) {
				t.Fatalf("%s shows a password: %s", what, s)
			}
		}
	}
}

func TestIsolationACLUsers(t *testing.T) {
	srv := aclServer(t)
	ctx := context.Background()
	store := storeOn(t, srv.Client(t, "sealq-replay", storePW))

	// Safe: the queue's user may not touch the store's keys nor the server.
	rep, err := store.CheckIsolation(ctx, srv.Client(t, "app", appPW))
	if err != nil || !rep.Isolated || rep.By != "acl" || rep.QueueUser != "app" || len(rep.Problems) != 0 {
		t.Fatalf("store user and queue user: want isolated by acl, got %+v, %v", rep, err)
	}

	// The store user as the store works under exactly that ACL: claim, complete, and the queue's
	// user cannot erase the completed record by any means.
	key := sealq.ReplayKey{Ctx: "emails", ID: "AAAAAAAAAAAAAAAAAAAAAA"}
	c, err := store.Claim(ctx, key, time.Minute, time.Hour)
	if err != nil || c.Status != sealq.StatusClaimed {
		t.Fatalf("claim as the store's user: %+v %v", c, err)
	}
	if ok, err := store.Complete(ctx, key, c.Token, time.Hour); !ok || err != nil {
		t.Fatalf("complete as the store's user: %v %v", ok, err)
	}
	intruder := srv.Client(t, "app", appPW)
	rk := store.KeyOf(key)
	for _, args := range [][]any{
		{"DEL", rk}, {"UNLINK", rk}, {"PEXPIRE", rk, 1}, {"SET", rk, "x"}, {"RENAME", rk, "asynq:stolen"},
		{"EVAL", "return redis.call('DEL', KEYS[1])", 1, rk}, {"EVAL", "return redis.call('DEL', '" + rk + "')", 0}, {"FLUSHALL"},
	} {
		if err := intruder.Do(ctx, args...).Err(); err == nil || !(strings.HasPrefix(err.Error(), "NOPERM") || strings.Contains(err.Error(), "can't access")) {
			t.Fatalf("the queue's user ran %v: %v", args, err)
		}
	}
	if v, _ := srv.Admin.Get(ctx, rk).Result(); v != "1" {
		t.Fatalf("the completed record is %q after the attack, want 1", v)
	}
	if got, _ := store.Claim(ctx, key, time.Minute, time.Hour); got.Status != sealq.StatusCompleted {
		t.Fatalf("the message is %v after the attack, want completed", got.Status)
	}
}

func TestIsolationOneUserIsReportedAndNothingIsExecuted(t *testing.T) {
	srv := aclServer(t)
	ctx := context.Background()
	if err := srv.Admin.Set(ctx, "canary", "still here", 0).Err(); err != nil {
		t.Fatal(err)
	}
	store := storeOn(t, srv.Client(t, "shared", sharedPW))
	rep, err := store.CheckIsolation(ctx, srv.Client(t, "shared", sharedPW))
	if rep.Isolated || rep.By != "" || rep.QueueUser != "shared" {
		t.Fatalf("one user for store and queue: want not isolated, got %+v", rep)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), `the queue's Redis user "shared" may run DEL, UNLINK, SET, GETDEL`) ||
		!strings.Contains(strings.Join(rep.Problems, "\n"), "EVAL, EVALSHA") {
		t.Fatalf("problems do not say what the queue may do: %q", rep.Problems)
	}
	var e *sealq.Error
	if !errors.Is(err, sealq.ErrStoreNotIsolated) || !errors.As(err, &e) || e.Code != "ERR_STORE_NOT_ISOLATED" {
		t.Fatalf("want ERR_STORE_NOT_ISOLATED, got %v", err)
	}
	for _, want := range []string{"ACL SETUSER sealq-replay on >PASSWORD resetkeys ~sealq:r:*", "separate Redis", "docs/redis.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error does not say %q: %v", want, err)
		}
	}
	wantNoSecrets(t, "the error", err.Error(), fmt.Sprintf("%+v", rep))

	// The default user may do anything, FLUSHALL included: reported, and never executed.
	all, _ := store.CheckIsolation(ctx, srv.Client(t, "", ""))
	if !strings.Contains(strings.Join(all.Problems, "\n"), "may run FLUSHALL, FLUSHDB, SWAPDB, CONFIG SET, ACL SETUSER, ACL DELUSER, REPLICAOF") {
		t.Fatalf("server-wide commands not reported: %q", all.Problems)
	}
	if v, _ := srv.Admin.Get(ctx, "canary").Result(); v != "still here" {
		t.Fatalf("a key vanished: the check executed something (canary = %q)", v)
	}
	if err := srv.Admin.Do(ctx, "ACL", "GETUSER", "sealq-isolation-check").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("ACL SETUSER was executed: %v", err)
	}
	if n, _ := srv.Admin.DBSize(ctx).Result(); n != 1 {
		t.Fatalf("the check left %d keys, want only the canary (its marker is released)", n)
	}

	// The store's own client as the queue's: not isolated without asking Redis.
	c := srv.Client(t, "shared", sharedPW)
	same := storeOn(t, c)
	if rep, err := same.CheckIsolation(ctx, c); rep.Isolated || !strings.Contains(rep.Problems[0], "the queue's own go-redis client") || err == nil {
		t.Fatalf("same client: %+v %v", rep, err)
	}
}

func TestIsolationQueueOnAnotherDatabaseIsNotIsolated(t *testing.T) {
	// ACL key patterns span databases: the queue's user on database 0 reaches the store on 2.
	srv := aclServer(t)
	store := storeOn(t, redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "shared", Password: sharedPW, DB: 2}))
	t.Cleanup(func() { _ = store.Client().Close() })
	rep, err := store.CheckIsolation(context.Background(), srv.Client(t, "shared", sharedPW))
	if rep.Isolated || err == nil {
		t.Fatalf("want not isolated, got %+v", rep)
	}
}

func TestIsolationSeparateServer(t *testing.T) {
	a, b := ownredis.Start(t), ownredis.Start(t)
	store := storeOn(t, a.Admin)
	rep, err := store.CheckIsolation(context.Background(), b.Admin)
	if err != nil || !rep.Isolated || rep.By != "separate-server" || rep.QueueUser != "default" {
		t.Fatalf("separate server: want isolated, got %+v %v", rep, err)
	}
}

func TestIsolationUnknownOrUnreachableQueue(t *testing.T) {
	srv := aclServer(t)
	ctx := context.Background()
	store := storeOn(t, srv.Client(t, "sealq-replay", storePW))
	if rep, err := store.CheckIsolation(ctx, nil); rep.Isolated || !strings.Contains(rep.Problems[0], "not known") || !errors.Is(err, sealq.ErrStoreNotIsolated) {
		t.Fatalf("no queue connection: %+v %v", rep, err)
	}
	down := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", ownredis.FreePort(t)), Username: "app", Password: "nope-pw"})
	defer down.Close()
	rep, err := store.CheckIsolation(ctx, down)
	if rep.Isolated || err == nil || !strings.HasPrefix(rep.Problems[0], "the check could not run: ") {
		t.Fatalf("unreachable queue Redis: want not isolated, got %+v", rep)
	}
	wantNoSecrets(t, "the report", err.Error(), fmt.Sprintf("%+v", rep))

	wrong := srv.Client(t, "app", "nope-pw")
	rep, err = store.CheckIsolation(ctx, wrong)
	if rep.Isolated || err == nil {
		t.Fatalf("wrong password: want not isolated, got %+v", rep)
	}
	wantNoSecrets(t, "the report", err.Error(), fmt.Sprintf("%+v", rep))

	// A deadline that has passed: not isolated, says so.
	past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if rep, _ := store.CheckIsolation(past, srv.Client(t, "app", appPW)); rep.Isolated || !strings.Contains(rep.Problems[0], "did not finish in time") {
		t.Fatalf("expired context: %+v", rep)
	}
}

// Redis Cluster: ACLs are per node, so every master is checked; one node whose queue user may
// write the store's keys is reported.
func TestIsolationClusterChecksEveryMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a three-master cluster")
	}
	dir := t.TempDir()
	var nodes []*ownredis.Server
	var addrs []string
	for i := range 3 {
		n := ownredis.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i), "--dir", dir)
		nodes, addrs = append(nodes, n), append(addrs, n.Addr)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		skipOrFail(t, "redis-cli is not installed (it comes with redis-server): it creates the test cluster")
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, n := range nodes {
		n.ACL(t, "sealq-replay", "on", ">"+storePW, "resetkeys", "~sealq:r:*", "resetchannels", "-@all", "+eval", "+evalsha", "+get", "+set", "+pttl", "+pexpire", "+del", "+info", "+ping", "+cluster|slots", "+cluster|info")
		n.ACL(t, "app", "on", ">"+appPW, "resetkeys", "~asynq:*", "resetchannels", "&asynq:*", "+@all", "-@dangerous", "+info")
		for i := 0; ; i++ {
			if info, _ := n.Admin.ClusterInfo(ctx).Result(); strings.Contains(info, "cluster_state:ok") {
				break
			}
			if i > 200 {
				t.Fatal("the test cluster did not become ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	cluster := func(user, pw string) *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: user, Password: pw})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	store := storeOn(t, cluster("sealq-replay", storePW))
	queue := cluster("app", appPW)
	rep, err := store.CheckIsolation(ctx, queue)
	if err != nil || !rep.Isolated || rep.By != "acl" || rep.QueueUser != "app" {
		t.Fatalf("cluster, store user and queue user: want isolated by acl, got %+v %v", rep, err)
	}

	// One node where the queue's user was given the store's keys too.
	nodes[1].ACL(t, "app", "~sealq:r:*")
	rep, err = store.CheckIsolation(ctx, queue)
	if rep.Isolated || !errors.Is(err, sealq.ErrStoreNotIsolated) || !strings.Contains(strings.Join(rep.Problems, "\n"), `"app" may run DEL, UNLINK, SET`) {
		t.Fatalf("one misconfigured node: want not isolated, got %+v %v", rep, err)
	}
}
