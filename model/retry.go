package model

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/persona-runner/persona-runner/retry"
)

// Defaults of the providers' retry policy (RetryDefaults).
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
)

// RetryDefaults is how a provider retries a call that failed transiently (408, 429, 5xx, 529
// included, and transport errors): the one retry policy (retry.Policy) with the providers'
// defaults for what p leaves zero — 5 attempts, 500ms doubling, each wait at most 30s. Both
// providers share it so that a 429 storm is handled the same way whichever API is behind it.
func RetryDefaults(p retry.Policy) retry.Policy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultMaxAttempts
	}
	if p.Base <= 0 {
		p.Base = DefaultBaseDelay
	}
	if p.Max <= 0 {
		p.Max = DefaultMaxDelay
	}
	return p
}

// RetryWait is the wait the server asked for (Retry-After): retry.After reads it.
func (e *Error) RetryWait() time.Duration { return e.RetryAfter }

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

// Retry calls fn under p (RetryDefaults) until it succeeds, fails permanently (IsTransient),
// the attempts are used up or ctx is done. The error after the last attempt says how many were
// made and wraps fn's error, so errors.As(err, &*Error) still finds the API's status and message.
func Retry[T any](ctx context.Context, p retry.Policy, fn func(ctx context.Context) (T, error)) (T, error) {
	return retry.Value(ctx, RetryDefaults(p), IsTransient, fn)
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
