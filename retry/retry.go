// Package retry is the retry policy of the runner's persistence: capped exponential back-off with
// jitter, and the typed error by which an adapter says that a failure is worth another try (and how
// long its source asked to wait). Adapters classify their own failures (an HTTP client its status
// codes, a store its driver's errors); the caller only asks IsTemporary.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Error marks Err as worth trying again. After is the wait its source asked for (an HTTP
// Retry-After), zero when it asked for none.
type Error struct {
	Err   error
	After time.Duration
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Temporary marks err as worth trying again after at least after (0: the policy's back-off).
// A nil err stays nil.
func Temporary(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, After: after}
}

// IsTemporary reports whether err, or an error it wraps, was marked Temporary.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Waiter is an error that carries the wait its source asked for (an HTTP Retry-After), for
// errors of adapters with a type of their own (model.Error).
type Waiter interface{ RetryWait() time.Duration }

// After is the wait the source of err asked for, zero when none: an Error's After, else a
// Waiter's.
func After(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.After
	}
	var w Waiter
	if errors.As(err, &w) {
		return w.RetryWait()
	}
	return 0
}

// Policy retries a failed call with capped exponential back-off and "equal jitter" (half the
// delay fixed, half random, so waits grow yet callers that failed together spread out). It is
// the one retry policy: the runner's persistence and the model providers use it alike.
type Policy struct {
	// Attempts is the number of attempts including the first; 0 means until the context ends.
	Attempts int `json:"attempts" yaml:"attempts"`
	// Base is the delay after the first failure; it doubles after each one, up to Max.
	Base time.Duration `json:"base" yaml:"base"`
	// Max caps every single wait, a source's Retry-After included: a server asking for longer is
	// retried after Max, and the caller's context bounds the whole.
	Max time.Duration `json:"max" yaml:"max"`

	// Sleep waits d or until ctx ends; nil means a real timer. Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error `json:"-" yaml:"-"`
	// Jitter returns a number in [0,1); nil means math/rand/v2. Tests inject a constant.
	Jitter func() float64 `json:"-" yaml:"-"`
	// OnRetry, when set, is told about every failed attempt that will be retried, e.g. for
	// metrics or logs.
	OnRetry func(attempt int, err error, wait time.Duration) `json:"-" yaml:"-"`
}

// Validate reports a policy that cannot work, naming the field.
func (p Policy) Validate() error {
	var problems []string
	if p.Attempts < 0 {
		problems = append(problems, "Attempts must not be negative")
	}
	if p.Base < 0 {
		problems = append(problems, "Base must not be negative")
	}
	if p.Max < 0 {
		problems = append(problems, "Max must not be negative")
	}
	if p.Base > 0 && p.Max > 0 && p.Base > p.Max {
		problems = append(problems, "Base must not exceed Max")
	}
	if len(problems) > 0 {
		return fmt.Errorf("retry policy: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Backoff is the wait after attempt (1-based) failed with err: what err's source asked for
// (After) when it asked, capped at Max; else Base doubled per earlier attempt, capped at Max,
// half of it fixed and half random.
func (p Policy) Backoff(attempt int, err error) time.Duration {
	if after := After(err); after > 0 {
		return min(after, p.Max)
	}
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	jitter := p.Jitter
	if jitter == nil {
		jitter = rand.Float64
	}
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// Do calls f until it succeeds, fails in a way transient does not accept, the attempts are used
// up or ctx ends. The error after the last attempt says how many were made; the error after
// retrying until ctx ended says so too and wraps both f's error and the context's cause.
func (p Policy) Do(ctx context.Context, transient func(error) bool, f func(context.Context) error) error {
	_, err := Value(ctx, p, transient, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// Value is Do for a call that returns a value.
func Value[T any](ctx context.Context, p Policy, transient func(error) bool, f func(context.Context) (T, error)) (T, error) {
	sleep := p.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for attempt := 1; ; attempt++ {
		v, err := f(ctx)
		if err == nil || !transient(err) {
			return v, err
		}
		if ctx.Err() != nil {
			if errors.Is(err, ctx.Err()) {
				return v, err
			}
			// The caller gave up: the error says so (errors.Is finds the context's error).
			return v, fmt.Errorf("%w (attempt %d: %w)", err, attempt, context.Cause(ctx))
		}
		if p.Attempts > 0 && attempt >= p.Attempts {
			// The cause first, so that a line cut to fit a table still shows it.
			return v, fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := p.Backoff(attempt, err)
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, wait)
		}
		if serr := sleep(ctx, wait); serr != nil {
			return v, fmt.Errorf("%w (gave up retrying after %d attempts: %w)", err, attempt, serr)
		}
	}
}

// sleepCtx waits d or until ctx ends, returning the context's cause.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
