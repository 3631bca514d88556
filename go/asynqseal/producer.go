package asynqseal

import (
	"math"
	"reflect"
	"time"

	"github.com/hibiken/asynq"
	"sealq.dev/sealq"
)

// HeaderName is the task header that holds the seal: the detached compact envelope of the
// headers carrier. The task's payload is the sealed payload itself, unchanged.
const HeaderName = sealq.HeaderName

// DefaultGrace is added to a task's retry window when the Sealer computes its expiry: time for a
// backlog or workers that are down to catch up.
const DefaultGrace = 24 * time.Hour

// Asynq's own defaults (client.go), which the expiry follows when the options do not say.
const (
	asynqDefaultMaxRetry = 25
	asynqDefaultTimeout  = 30 * time.Minute
	asynqDefaultQueue    = "default"
)

// A Sealer makes sealed Asynq tasks. The zero value of every field but Keyring is a default;
// a Sealer is safe for concurrent use once configured.
type Sealer struct {
	// Keyring signs with its primary key. Required.
	Keyring *sealq.Keyring
	// ContentType is signed as the payload's content type (ct), such as "application/json";
	// "" for none.
	ContentType string
	// ExpiresIn is how long after its due time (now, or the ProcessAt / ProcessIn option) a task
	// may still run. Zero: the task's retry window (RetryWindow) plus Grace, capped so that the
	// task is valid for at most MaxValidity after it is sealed.
	ExpiresIn time.Duration
	// Grace is added to the retry window when the expiry is computed. Zero: DefaultGrace (24h).
	Grace time.Duration
	// MaxValidity bounds how long a task is valid after it is sealed (exp - iat). Zero: 30 days,
	// the workers' default; workers reject longer windows (ERR_VALIDITY_TOO_LONG).
	MaxValidity time.Duration
	// MaxPayloadBytes bounds the payload. Zero: 1 MiB. Workers must allow as much.
	MaxPayloadBytes int
	// Now is the clock; nil for time.Now. For tests.
	Now func() time.Time
}

// NewTask is asynq.NewTask, sealed with the keyring's primary key under the defaults of Sealer:
// the context is the task's queue (the asynq.Queue option, "default" without one), the type is
// typ, and the payload stays the caller's bytes; the seal rides in the task header "sealq".
//
// Give the options here, not to Client.Enqueue: the queue, due time, retry count and timeout
// the seal was computed for are those known now. A task enqueued into another queue than the
// one it was sealed for is rejected by the workers (ERR_CONTEXT_MISMATCH).
func NewTask(k *sealq.Keyring, typ string, payload []byte, opts ...asynq.Option) (*asynq.Task, error) {
	s := Sealer{Keyring: k}
	return s.NewTaskWithHeaders(typ, payload, nil, opts...)
}

// NewTask returns a sealed task; see the package function NewTask.
func (s *Sealer) NewTask(typ string, payload []byte, opts ...asynq.Option) (*asynq.Task, error) {
	return s.NewTaskWithHeaders(typ, payload, nil, opts...)
}

// NewTaskWithHeaders is NewTask with headers of the caller's own next to the seal. Those headers
// are not signed: a worker must not trust them. A header named "sealq" is refused.
func (s *Sealer) NewTaskWithHeaders(typ string, payload []byte, headers map[string]string, opts ...asynq.Option) (*asynq.Task, error) {
	if _, taken := headers[HeaderName]; taken {
		return nil, invalidArg(`the header "` + HeaderName + `" is where the seal goes; use another name for your own header`)
	}
	so, err := s.sealOptions(typ, opts)
	if err != nil {
		return nil, err
	}
	seal, err := sealq.SealDetached(s.Keyring, payload, so)
	if err != nil {
		return nil, err
	}
	h := make(map[string]string, len(headers)+1)
	for k, v := range headers {
		h[k] = v
	}
	h[HeaderName] = seal
	return asynq.NewTaskWithHeaders(typ, payload, h, opts...), nil
}

// The option types asynq itself acts on. asynq reads options by their concrete type, so an
// Option of another type that merely reports the same Type() is ignored here as it is there.
var (
	queueOptType     = reflect.TypeOf(asynq.Queue("q"))
	retryOptType     = reflect.TypeOf(asynq.MaxRetry(0))
	timeoutOptType   = reflect.TypeOf(asynq.Timeout(0))
	deadlineOptType  = reflect.TypeOf(asynq.Deadline(time.Time{}))
	processAtOptType = reflect.TypeOf(asynq.ProcessAt(time.Time{}))
	processInOptType = reflect.TypeOf(asynq.ProcessIn(0))
	groupOptType     = reflect.TypeOf(asynq.Group("g"))
)

// taskPlan is what asynq will do with a task, read from its options the way asynq's
// composeOptions reads them: the last option of a kind wins.
type taskPlan struct {
	queue    string
	maxRetry int
	timeout  time.Duration
	deadline time.Time
	due      time.Time // zero: now
}

func planOf(opts []asynq.Option, now time.Time) (taskPlan, error) {
	p := taskPlan{queue: asynqDefaultQueue, maxRetry: asynqDefaultMaxRetry}
	for _, o := range opts {
		if o == nil {
			continue
		}
		switch reflect.TypeOf(o) {
		case queueOptType:
			p.queue = o.Value().(string)
		case retryOptType:
			p.maxRetry = o.Value().(int)
		case timeoutOptType:
			p.timeout = o.Value().(time.Duration)
		case deadlineOptType:
			p.deadline = o.Value().(time.Time)
		case processAtOptType:
			p.due = o.Value().(time.Time)
		case processInOptType:
			p.due = now.Add(o.Value().(time.Duration))
		case groupOptType:
			// The aggregator makes a new task on the server from a group's tasks: that task
			// carries no seal, so every worker would reject it.
			return p, invalidArg("asynq.Group cannot be used with sealed tasks: the aggregated task Asynq builds on the server is not sealed, and workers would reject it")
		}
	}
	if p.timeout == 0 && p.deadline.IsZero() {
		p.timeout = asynqDefaultTimeout // as Client.Enqueue
	}
	return p, nil
}

func (s *Sealer) sealOptions(typ string, opts []asynq.Option) (sealq.SealOptions, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	p, err := planOf(opts, now)
	if err != nil {
		return sealq.SealOptions{}, err
	}
	so := sealq.SealOptions{
		Ctx:             p.queue,
		Typ:             typ,
		Ct:              s.ContentType,
		Now:             now,
		MaxValidity:     s.MaxValidity,
		MaxPayloadBytes: s.MaxPayloadBytes,
	}
	if typ == "" {
		return so, invalidArg("a task needs a type")
	}
	due := now
	if p.due.After(now) {
		// Someone who can write to Redis could move a scheduled task to pending early; the
		// worker then waits for this instant (ERR_NOT_YET_VALID is retried, not archived).
		due = p.due
		so.NotBefore = p.due
	}
	maxValidity := s.MaxValidity
	if maxValidity == 0 {
		maxValidity = sealq.DefaultMaxValidity
	}
	if s.ExpiresIn != 0 {
		if s.ExpiresIn < 0 {
			return so, invalidArg("ExpiresIn must not be negative (0 for the default)")
		}
		so.ExpiresAt = due.Add(s.ExpiresIn)
		return so, nil
	}
	grace := s.Grace
	if grace == 0 {
		grace = DefaultGrace
	} else if grace < 0 {
		return so, invalidArg("Grace must not be negative (0 for the default " + DefaultGrace.String() + ")")
	}
	exp := due.Add(RetryWindow(p.maxRetry, p.timeout) + grace)
	if !p.deadline.IsZero() && p.deadline.Before(exp) && p.deadline.After(due) {
		exp = p.deadline // asynq does not let an attempt run past its deadline
	}
	if limit := now.Add(maxValidity); exp.After(limit) {
		if !limit.After(due) {
			return so, invalidArg("the task is due " + due.Sub(now).Round(time.Second).String() + " from now, beyond MaxValidity (" + maxValidity.String() + "): raise MaxValidity here and in every worker, or schedule it later")
		}
		exp = limit
	}
	so.ExpiresAt = exp
	return so, nil
}

// RetryWindow is how long Asynq may keep retrying a task that fails every attempt, under its
// default retry delay (asynq.DefaultRetryDelayFunc: n^4 + 15 + rand(30)*(n+1) seconds after
// the n-th failure, taken at its largest) with maxRetry retries, each attempt running for up to
// attemptTimeout. With Asynq's defaults (25 retries, 30 minute timeout) it is about 21 days.
// A server with its own RetryDelayFunc needs Sealer.ExpiresIn instead.
func RetryWindow(maxRetry int, attemptTimeout time.Duration) time.Duration {
	if maxRetry < 0 {
		maxRetry = 0
	}
	var s float64
	for n := 0; n < maxRetry && s < maxWindowSeconds; n++ {
		f := float64(n)
		s += f*f*f*f + 15 + 29*(f+1)
	}
	s += float64(maxRetry+1) * attemptTimeout.Seconds()
	if s > maxWindowSeconds {
		s = maxWindowSeconds
	}
	return time.Duration(math.Ceil(s)) * time.Second
}

// maxWindowSeconds keeps RetryWindow inside time.Duration; any expiry this far out is capped by
// MaxValidity anyway.
const maxWindowSeconds = 100 * 365 * 24 * 3600

func invalidArg(msg string) error {
	return &sealq.Error{Code: sealq.CodeInvalidArgument, Message: msg}
}
