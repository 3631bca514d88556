package sealq

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"
)

// Claimed is a verified message whose replay key this consumer holds a lease on. Call Complete
// when processing succeeded, Release when it failed (so a retry can claim it again).
type Claimed struct {
	Opened
	store    ReplayStore
	key      ReplayKey
	token    string
	lease    time.Duration
	leaseEnd atomic.Int64 // unix ns
	retain   func() time.Duration
}

// Key returns the message's replay key.
func (c *Claimed) Key() ReplayKey { return c.key }

// OpenAndClaim opens an envelope (any carrier) and claims it in the replay store for lease
// (0: DefaultLease). A completed message is ERR_REPLAYED; one another consumer holds is
// ERR_IN_FLIGHT (retryable); a store that cannot answer is ERR_REPLAY_STORE_UNAVAILABLE
// (retryable): nothing is ever passed through.
func OpenAndClaim(ctx context.Context, k *Keyring, env Envelope, o OpenOptions, store ReplayStore, lease time.Duration) (*Claimed, error) {
	if store == nil {
		return nil, invalidArg("OpenAndClaim needs a replay store")
	}
	if lease == 0 {
		lease = DefaultLease
	}
	if lease < time.Millisecond {
		return nil, invalidArg("lease must be at least 1ms (0 for the default 30s)")
	}
	p, err := checkOpenOptions(k, &o)
	if err != nil {
		return nil, err
	}
	m, err := openEnvelope(k, env, &o)
	if err != nil {
		return nil, err
	}
	key := ReplayKey{Ctx: m.Header.Ctx, ID: m.Header.ID}
	// ValidUntil already holds one skew for this consumer's clock; one more covers a consumer
	// whose clock runs behind and would still accept the message after the store forgot it.
	skew := time.Duration(p.skew) * time.Millisecond
	fixedNow := o.Now
	retain := func() time.Duration {
		now := fixedNow
		if now.IsZero() {
			now = time.Now()
		}
		return max(time.Second, m.ValidUntil.Add(skew).Sub(now))
	}
	out, serr := store.Claim(ctx, key, lease, retain())
	if serr != nil {
		return nil, storeErr("claim the message", serr)
	}
	switch out.Status {
	case StatusCompleted:
		return nil, newErr(CodeReplayed, "message "+quote(key.ID)+" on ctx "+quote(key.Ctx)+" was already processed: replay rejected")
	case StatusInFlight:
		return nil, newErr(CodeInFlight, "message "+quote(key.ID)+" on ctx "+quote(key.Ctx)+" is being processed by another consumer: retry later")
	case StatusClaimed:
	default:
		return nil, storeErr("claim the message", errors.New("unknown claim status "+strconv.Itoa(int(out.Status))))
	}
	c := &Claimed{Opened: *m, store: store, key: key, token: out.Token, lease: lease, retain: retain}
	c.leaseEnd.Store(time.Now().Add(lease).UnixNano())
	return c, nil
}

func storeErr(what string, err error) *Error {
	var e *Error
	if errors.As(err, &e) && e.Code == CodeReplayStoreUnavailable {
		return e
	}
	return &Error{Code: CodeReplayStoreUnavailable, Message: "replay store failed to " + what + ": " + err.Error() + "; the message was not processed and can be retried", Err: err}
}

// Complete records that processing succeeded, so the message is never processed again. The work
// is done, so it does not give up early: it retries with backoff while the lease still keeps
// other consumers off the message (a store restarting, a failover). If it cannot record the
// completion before the lease ends (or ctx ends), it returns ERR_COMPLETION_NOT_RECORDED: not
// retryable, because a retry would do the work again; an operator decides. ctx bounds every
// store call: pass one that outlives the handler's own deadline.
func (c *Claimed) Complete(ctx context.Context) error {
	wait := 50 * time.Millisecond
	for {
		_, err := c.store.Complete(ctx, c.key, c.token, c.retain())
		if err == nil {
			return nil
		}
		deadline := time.Unix(0, c.leaseEnd.Load())
		if time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return &Error{Code: CodeCompletionNotRecorded, Message: "message " + quote(c.key.ID) + " on ctx " + quote(c.key.Ctx) + " was processed, but the replay store could not record its completion (" + err.Error() + "); a redelivery may process it again: check whether its work was done before retrying it", Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
}

// Release gives the message up after a failed attempt, so a retry (redelivery) can claim it.
func (c *Claimed) Release(ctx context.Context) error {
	if _, err := c.store.Release(ctx, c.key, c.token); err != nil {
		return storeErr("release the message", err)
	}
	return nil
}

// Extend keeps the lease for a long-running job: lease from now (0: the lease of the claim). It
// reports false when the lease was already lost.
func (c *Claimed) Extend(ctx context.Context, lease time.Duration) (bool, error) {
	if lease == 0 {
		lease = c.lease
	}
	if lease < time.Millisecond {
		return false, invalidArg("lease must be at least 1ms")
	}
	ok, err := c.store.Extend(ctx, c.key, c.token, lease)
	if err != nil {
		return false, storeErr("extend the lease", err)
	}
	if ok {
		c.leaseEnd.Store(time.Now().Add(lease).UnixNano())
	}
	return ok, nil
}

// OpenOnce opens and claims an envelope, runs handler, then completes the claim when handler
// succeeds or releases it when handler fails (returning handler's error, so the queue's own
// retry applies). A message is processed to completion at most once.
func OpenOnce(ctx context.Context, k *Keyring, env Envelope, o OpenOptions, store ReplayStore, lease time.Duration, handler func(context.Context, *Opened) error) error {
	c, err := OpenAndClaim(ctx, k, env, o, store, lease)
	if err != nil {
		return err
	}
	if herr := handler(ctx, &c.Opened); herr != nil {
		_ = c.Release(ctx) // the lease expires anyway; the handler's error matters more
		return herr
	}
	return c.Complete(ctx)
}
