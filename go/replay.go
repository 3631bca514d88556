package sealq

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// ReplayKey identifies a message to a replay store: the verified header's ctx and id.
type ReplayKey struct {
	Ctx string
	ID  string
}

// ClaimStatus is the outcome of ReplayStore.Claim.
type ClaimStatus int

const (
	// StatusClaimed: the caller now holds the message's lease (ClaimOutcome.Token).
	StatusClaimed ClaimStatus = iota
	// StatusCompleted: the message was processed to completion before: a replay.
	StatusCompleted
	// StatusInFlight: another consumer holds an unexpired lease on it.
	StatusInFlight
)

// ClaimOutcome is what Claim found.
type ClaimOutcome struct {
	Status ClaimStatus
	Token  string // the lease token, for StatusClaimed
}

// ReplayStore remembers messages by ReplayKey and moves each through claimed (leased) ->
// completed (SPEC §12). Every operation is atomic. An error means the store could not answer;
// OpenAndClaim reports it as ERR_REPLAY_STORE_UNAVAILABLE and nothing is processed.
type ReplayStore interface {
	// Claim takes a lease of length lease on key unless it is completed or leased by another
	// consumer. retain is how long the key must at least be remembered once completed.
	Claim(ctx context.Context, key ReplayKey, lease, retain time.Duration) (ClaimOutcome, error)
	// Complete marks key completed for at least retain. It reports whether token still held the
	// lease; the key is marked completed either way (the work was done).
	Complete(ctx context.Context, key ReplayKey, token string, retain time.Duration) (bool, error)
	// Release gives up a lease after a failed attempt, so a retry can claim the message again.
	// It reports false when token no longer held it.
	Release(ctx context.Context, key ReplayKey, token string) (bool, error)
	// Extend prolongs a held lease to lease from now. It reports false when token no longer held it.
	Extend(ctx context.Context, key ReplayKey, token string, lease time.Duration) (bool, error)
}

// DefaultMaxEntries bounds a MemoryReplayStore unless NewMemoryReplayStore is told otherwise.
const DefaultMaxEntries = 100_000

// MemoryReplayStore is the replay store for one process. It is bounded: when every entry still
// belongs to a message within its validity window, Claim fails (ERR_REPLAY_STORE_UNAVAILABLE)
// rather than forget one and allow a replay. Safe for concurrent use.
type MemoryReplayStore struct {
	mu        sync.Mutex
	entries   map[string]*memEntry
	max       int
	now       func() time.Time
	lastSweep time.Time
}

type memEntry struct {
	completed  bool
	token      string
	leaseUntil time.Time
	expiresAt  time.Time
}

// NewMemoryReplayStore makes a store of at most maxEntries keys (0: DefaultMaxEntries). now is
// its clock (nil: time.Now), for tests.
func NewMemoryReplayStore(maxEntries int, now func() time.Time) *MemoryReplayStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayStore{entries: map[string]*memEntry{}, max: maxEntries, now: now}
}

// Len returns the number of remembered keys.
func (s *MemoryReplayStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func memKey(k ReplayKey) string { return strconv.Itoa(utf16Len(k.Ctx)) + ":" + k.Ctx + ":" + k.ID }

func (s *MemoryReplayStore) live(k string, now time.Time) *memEntry {
	e := s.entries[k]
	if e != nil && !e.expiresAt.After(now) {
		delete(s.entries, k)
		return nil
	}
	return e
}

func (s *MemoryReplayStore) makeRoom(now time.Time) error {
	if len(s.entries) < s.max {
		return nil
	}
	if now.Sub(s.lastSweep) >= time.Second { // sweeping is O(n): at most once a second when full
		s.lastSweep = now
		for k, e := range s.entries {
			if !e.expiresAt.After(now) {
				delete(s.entries, k)
			}
		}
	}
	if len(s.entries) >= s.max {
		return newErr(CodeReplayStoreUnavailable, "the in-memory replay store is full ("+strconv.Itoa(s.max)+" ids still within their validity window): raise its size, shorten message validity, or use the Redis store")
	}
	return nil
}

// Claim implements ReplayStore.
func (s *MemoryReplayStore) Claim(_ context.Context, key ReplayKey, lease, retain time.Duration) (ClaimOutcome, error) {
	if lease <= 0 || retain <= 0 {
		return ClaimOutcome{}, invalidArg("lease and retain must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := memKey(key)
	e := s.live(k, now)
	if e != nil && e.completed {
		return ClaimOutcome{Status: StatusCompleted}, nil
	}
	if e != nil && e.leaseUntil.After(now) {
		return ClaimOutcome{Status: StatusInFlight}, nil
	}
	if e == nil {
		if err := s.makeRoom(now); err != nil {
			return ClaimOutcome{}, err
		}
	}
	token := randomID()
	s.entries[k] = &memEntry{token: token, leaseUntil: now.Add(lease), expiresAt: now.Add(max(retain, lease))}
	return ClaimOutcome{Status: StatusClaimed, Token: token}, nil
}

// Complete implements ReplayStore.
func (s *MemoryReplayStore) Complete(_ context.Context, key ReplayKey, token string, retain time.Duration) (bool, error) {
	if retain <= 0 {
		return false, invalidArg("retain must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := memKey(key)
	e := s.live(k, now)
	held := e != nil && !e.completed && e.token == token
	expires := now.Add(retain)
	if e == nil {
		if err := s.makeRoom(now); err != nil {
			return false, err
		}
	} else if e.expiresAt.After(expires) {
		expires = e.expiresAt
	}
	s.entries[k] = &memEntry{completed: true, token: token, expiresAt: expires}
	return held, nil
}

// Release implements ReplayStore.
func (s *MemoryReplayStore) Release(_ context.Context, key ReplayKey, token string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey(key)
	e := s.live(k, s.now())
	if e == nil || e.completed || e.token != token {
		return false, nil
	}
	delete(s.entries, k)
	return true, nil
}

// Extend implements ReplayStore.
func (s *MemoryReplayStore) Extend(_ context.Context, key ReplayKey, token string, lease time.Duration) (bool, error) {
	if lease <= 0 {
		return false, invalidArg("lease must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e := s.live(memKey(key), now)
	if e == nil || e.completed || e.token != token {
		return false, nil
	}
	e.leaseUntil = now.Add(lease)
	if e.leaseUntil.After(e.expiresAt) {
		e.expiresAt = e.leaseUntil
	}
	return true, nil
}
