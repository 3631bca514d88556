// Package ownredis starts a redis-server of a test's own, as a child process on a free port of
// 127.0.0.1, for tests that reconfigure Redis (ACL users): they never touch the shared server.
// Without redis-server the test is skipped with a message saying what to install, except with
// CI=true, where it fails.
package ownredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server; Admin is a client as its default user (no password).
type Server struct {
	Addr  string
	Port  int
	Admin *redis.Client
}

// FreePort returns a local TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// Start starts a redis-server (no persistence; args appended) and stops it when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not installed (apt-get install redis-server); this test starts one of its own"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: integration tests must not be skipped)", msg)
		}
		t.Skip(msg)
	}
	port := FreePort(t)
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server did not start: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port}
	s.Admin = redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	t.Cleanup(func() {
		_ = s.Admin.Close()
		_ = cmd.Process.Kill()
		<-exited
	})
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.Admin.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s
		}
		select {
		case <-exited:
			t.Fatalf("redis-server on port %d exited before answering", port)
		default:
		}
		if i >= 100 {
			t.Fatalf("redis-server on port %d did not answer: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ACL runs ACL SETUSER name rules... as the administrator.
func (s *Server) ACL(t testing.TB, name string, rules ...string) {
	t.Helper()
	args := []any{"ACL", "SETUSER", name}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := s.Admin.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER %s: %v", name, err)
	}
}

// Client is a go-redis client of the server as user (password pw), closed when the test ends.
func (s *Server) Client(t testing.TB, user, pw string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: user, Password: pw})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// String names the server.
func (s *Server) String() string { return fmt.Sprintf("redis-server on %s", s.Addr) }
