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

// After is the wait the source of err asked for, zero when none.
func After(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.After
	}
	return 0
}

// Policy retries a failed call with capped exponential back-off and "equal jitter" (half the
// delay fixed, half random), waiting at least what the failure asked for (After), at most Max.
type Policy struct {
	// Attempts is the number of attempts including the first; 0 means until the context ends.
	Attempts int
	// Base is the delay after the first failure; it doubles after each one, up to Max.
	Base, Max time.Duration
}

// Do calls f until it succeeds, fails in a way transient does not accept, the attempts are used
// up or ctx ends. The error after retrying until ctx ended says how many attempts were made and
// wraps both f's error and the context's cause.
func (p Policy) Do(ctx context.Context, transient func(error) bool, f func(context.Context) error) error {
	delay := p.Base
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !transient(err) || (p.Attempts > 0 && attempt >= p.Attempts) || ctx.Err() != nil {
			return err
		}
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		if after := After(err); after > wait {
			wait = min(after, p.Max)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying after %d attempts: %w)", err, attempt, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(delay*2, p.Max)
	}
}
