package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/retry"
)

func TestTemporary(t *testing.T) {
	base := errors.New("503 Service Unavailable")
	err := fmt.Errorf("claim: %w", retry.Temporary(base, 3*time.Second))
	if !retry.IsTemporary(err) || retry.After(err) != 3*time.Second || !errors.Is(err, base) || err.Error() != "claim: 503 Service Unavailable" {
		t.Errorf("wrapped temporary: %v %v %v", retry.IsTemporary(err), retry.After(err), err)
	}
	if retry.IsTemporary(base) || retry.After(base) != 0 || retry.Temporary(nil, time.Second) != nil {
		t.Error("an unmarked error is temporary, or nil was marked")
	}
}

func TestPolicyDo(t *testing.T) {
	p := retry.Policy{Attempts: 4, Base: time.Microsecond, Max: 4 * time.Microsecond}
	temporary := errors.New("temporary")
	isTemp := func(err error) bool { return errors.Is(err, temporary) }

	calls := 0
	err := p.Do(context.Background(), isTemp, func(context.Context) error {
		calls++
		if calls < 3 {
			return temporary
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("two transient failures then success: %v after %d calls", err, calls)
	}

	calls = 0
	err = p.Do(context.Background(), isTemp, func(context.Context) error { calls++; return temporary })
	if !errors.Is(err, temporary) || calls != 4 {
		t.Errorf("always transient: %v after %d calls; want 4", err, calls)
	}

	calls = 0
	permanent := errors.New("400 invalid")
	err = p.Do(context.Background(), isTemp, func(context.Context) error { calls++; return permanent })
	if err != permanent || calls != 1 {
		t.Errorf("permanent: %v after %d calls; want 1", err, calls)
	}

	// Attempts 0 retries until the context ends; the error says so and wraps the cause.
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("persist budget spent")
	calls = 0
	err = retry.Policy{Base: time.Microsecond, Max: time.Microsecond}.Do(ctx, isTemp, func(context.Context) error {
		calls++
		if calls == 5 {
			cancel(stop)
		}
		return temporary
	})
	if !errors.Is(err, temporary) || calls != 5 {
		t.Errorf("until the context ends: %v after %d calls", err, calls)
	}
}

// TestBackoff: Base doubling to Max, half fixed and half jitter; a source's wait (After, or a
// Waiter's) is what it asked, capped at Max.
func TestBackoff(t *testing.T) {
	t.Parallel()
	p := retry.Policy{Base: time.Second, Max: 10 * time.Second, Jitter: func() float64 { return 0 }}
	var got []time.Duration
	for attempt := 1; attempt <= 6; attempt++ {
		got = append(got, p.Backoff(attempt, errors.New("x")))
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("back-offs %v, want %v", got, want)
	}
	if d := p.Backoff(1, retry.Temporary(errors.New("429"), 3*time.Second)); d != 3*time.Second {
		t.Errorf("Retry-After 3s waits %v", d)
	}
	if d := p.Backoff(1, waiter(time.Hour)); d != 10*time.Second {
		t.Errorf("a Waiter asking an hour waits %v, want the 10s cap", d)
	}
	if d := p.Backoff(4, retry.Temporary(errors.New("429"), time.Millisecond)); d != time.Millisecond {
		t.Errorf("a Retry-After shorter than the back-off waits %v, want what the server asked", d)
	}
}

type waiter time.Duration

func (w waiter) Error() string            { return "slow down" }
func (w waiter) RetryWait() time.Duration { return time.Duration(w) }

// TestValueGivesUpSaying: Value returns the call's value, tells OnRetry of each retry, and says
// how many attempts it made when they are used up.
func TestValueGivesUpSaying(t *testing.T) {
	t.Parallel()
	var waits []time.Duration
	p := retry.Policy{Attempts: 3, Base: time.Second, Max: time.Second,
		Sleep:   func(context.Context, time.Duration) error { return nil },
		OnRetry: func(_ int, _ error, d time.Duration) { waits = append(waits, d) }}
	boom := errors.New("503")
	calls := 0
	v, err := retry.Value(t.Context(), p, func(error) bool { return true }, func(context.Context) (int, error) {
		calls++
		return calls, boom
	})
	if !errors.Is(err, boom) || err.Error() != "503 (gave up after 3 attempts)" || v != 3 || len(waits) != 2 {
		t.Errorf("Value = %d, %v; %d waits", v, err, len(waits))
	}
}
