package model

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RetryPolicy says how a provider retries a call that failed transiently: 408, 429, 5xx (529
// included) and transport errors (status 0, which covers timeouts). Both providers share it so
// that a 429 storm is handled the same way whichever API is behind it. The zero value is usable
// and means the defaults below.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts including the first (default 5). 1 disables retries.
	MaxAttempts int `json:"maxAttempts" yaml:"maxAttempts"`
	// BaseDelay is the back-off before the second attempt (default 500ms); it doubles each time.
	BaseDelay time.Duration `json:"baseDelay" yaml:"baseDelay"`
	// MaxDelay caps every single wait, Retry-After included (default 30s): a server asking for
	// longer is retried after MaxDelay, and the caller's context deadline bounds the whole.
	MaxDelay time.Duration `json:"maxDelay" yaml:"maxDelay"`

	// Sleep waits d or until ctx is done; nil means a real timer. Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error `json:"-" yaml:"-"`
	// Jitter returns a number in [0,1); nil means math/rand/v2. Tests inject a constant.
	Jitter func() float64 `json:"-" yaml:"-"`
	// OnRetry, when set, is told about every failed attempt that will be retried, e.g. for
	// metrics or logs.
	OnRetry func(attempt int, err error, wait time.Duration) `json:"-" yaml:"-"`
}

// Defaults of RetryPolicy.
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
)

// Validate reports a policy that cannot work, naming the field.
func (p RetryPolicy) Validate() error {
	var problems []string
	if p.MaxAttempts < 0 {
		problems = append(problems, "MaxAttempts must not be negative")
	}
	if p.BaseDelay < 0 {
		problems = append(problems, "BaseDelay must not be negative")
	}
	if p.MaxDelay < 0 {
		problems = append(problems, "MaxDelay must not be negative")
	}
	if p.BaseDelay > 0 && p.MaxDelay > 0 && p.BaseDelay > p.MaxDelay {
		problems = append(problems, "BaseDelay must not exceed MaxDelay")
	}
	if len(problems) > 0 {
		return fmt.Errorf("retry policy: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	if p.Jitter == nil {
		p.Jitter = rand.Float64
	}
	return p
}

// Backoff returns the wait before attempt+1 after attempt (1-based) failed with err: the
// server's Retry-After when it gave one, else an exponential back-off with "equal jitter" (half
// fixed, half random, so waits grow yet callers that failed together spread out), capped at
// MaxDelay.
func (p RetryPolicy) Backoff(attempt int, err error) time.Duration {
	p = p.withDefaults()
	var me *Error
	if errors.As(err, &me) && me.RetryAfter > 0 {
		return min(me.RetryAfter, p.MaxDelay)
	}
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return d/2 + time.Duration(p.Jitter()*float64(d/2))
}

// IsTransient reports whether a call that failed with err may succeed if tried again: an *Error
// whose status is retryable (408, 429, 5xx) or 0 (a transport failure or timeout) unless marked
// Permanent. 401 and 403 (a refused key) and other 4xx are not. Context cancellation is not
// transient: the caller gave up.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var me *Error
	if !errors.As(err, &me) {
		return false
	}
	if me.Permanent {
		return false
	}
	return me.Status == 0 || Retryable(me.Status)
}

// TransportError turns the error of an HTTP call that got no answer into an *Error of status 0,
// its text the cause whole ("transport: " and the client's error). It is Permanent — not
// retried — when the host name does not resolve (a DNS timeout aside) or a loopback address
// refuses the connection: nothing listens at the configured local URL, and five more tries
// would only make the run slower to say so.
func TransportError(err error) *Error {
	me := &Error{Message: "transport: " + err.Error()}
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns) && !dns.IsTimeout:
		me.Permanent = true
		me.Message += fmt.Sprintf(" (host %q does not resolve; not retried)", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &op) && isLoopback(op.Addr):
		me.Permanent = true
		me.Message += fmt.Sprintf(" (nothing listens at %s; not retried)", op.Addr)
	}
	return me
}

func isLoopback(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case nil:
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().IsLoopback()
}

// Retry calls fn until it succeeds, fails permanently, the attempts are used up or ctx is done.
// The error after the last attempt says how many were made and wraps fn's error, so
// errors.As(err, &*Error) still finds the API's status and message.
func Retry[T any](ctx context.Context, p RetryPolicy, fn func(ctx context.Context) (T, error)) (T, error) {
	p = p.withDefaults()
	var zero T
	for attempt := 1; ; attempt++ {
		v, err := fn(ctx)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%w (attempt %d: %w)", ctx.Err(), attempt, err)
		}
		if !IsTransient(err) {
			return zero, err
		}
		if attempt >= p.MaxAttempts {
			// The cause first, so that a line cut to fit a table still shows it.
			return zero, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := p.Backoff(attempt, err)
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, wait)
		}
		if serr := p.Sleep(ctx, wait); serr != nil {
			return zero, fmt.Errorf("%w (waiting to retry after attempt %d: %w)", serr, attempt, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ParseRetryAfter reads how long a server asked us to wait: `retry-after-ms` (milliseconds,
// sent by Anthropic and OpenAI) wins over `Retry-After`, which is either seconds or an HTTP
// date (RFC 9110 §10.2.3), measured from now. It returns 0 when neither says anything usable.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
