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
