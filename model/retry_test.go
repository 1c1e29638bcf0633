package model_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/retry"
)

// recorder is an injected sleep that records the waits instead of sleeping.
type recorder struct{ waits []time.Duration }

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func policy(r *recorder) retry.Policy {
	return retry.Policy{Attempts: 4, Base: time.Second, Max: 10 * time.Second,
		Sleep: r.sleep, Jitter: func() float64 { return 1 }}
}

// failing returns a call that fails with errs in turn and then succeeds.
func failing(errs ...error) (func(context.Context) (string, error), *int) {
	calls := 0
	return func(context.Context) (string, error) {
		calls++
		if calls <= len(errs) {
			return "", errs[calls-1]
		}
		return "ok", nil
	}, &calls
}

func TestRetryBacksOffAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var rec recorder
	fn, calls := failing(
		&model.Error{Status: 500, Message: "boom"},
		&model.Error{Status: 429, Message: "slow down", RetryAfter: 7 * time.Second},
		&model.Error{Status: 0, Message: "connection reset"},
	)
	got, err := model.Retry(t.Context(), policy(&rec), fn)
	if err != nil || got != "ok" || *calls != 4 {
		t.Fatalf("Retry = %q, %v after %d calls", got, err, *calls)
	}
	// Jitter 1 means the full back-off: 1s, then Retry-After 7s, then 4s (third back-off).
	if d := cmp.Diff([]time.Duration{time.Second, 7 * time.Second, 4 * time.Second}, rec.waits); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
}

func TestRetryGivesUp(t *testing.T) {
	t.Parallel()
	var rec recorder
	e := &model.Error{Status: 529, Message: "overloaded"}
	fn, calls := failing(e, e, e, e, e)
	_, err := model.Retry(t.Context(), policy(&rec), fn)
	var me *model.Error
	if !errors.As(err, &me) || me.Status != 529 || *calls != 4 || !strings.Contains(err.Error(), "overloaded (gave up after 4 attempts)") {
		t.Fatalf("err = %v after %d calls", err, *calls)
	}
	if len(rec.waits) != 3 {
		t.Errorf("waited %d times, want 3", len(rec.waits))
	}
}

func TestRetryStopsOnPermanentErrorAndCancel(t *testing.T) {
	t.Parallel()
	var rec recorder
	fn, calls := failing(&model.Error{Status: 400, Message: "bad request"})
	if _, err := model.Retry(t.Context(), policy(&rec), fn); err == nil || *calls != 1 || len(rec.waits) != 0 {
		t.Errorf("400: err %v, %d calls, %d waits", err, *calls, len(rec.waits))
	}
	plain, calls := failing(errors.New("encode request"))
	if _, err := model.Retry(t.Context(), policy(&rec), plain); err == nil || *calls != 1 {
		t.Errorf("plain error: err %v, %d calls", err, *calls)
	}

	ctx, cancel := context.WithCancel(t.Context())
	p := policy(&rec)
	p.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	fn, calls = failing(&model.Error{Status: 503, Message: "unavailable"})
	_, err := model.Retry(ctx, p, fn)
	if !errors.Is(err, context.Canceled) || *calls != 1 {
		t.Errorf("cancelled: err %v, %d calls", err, *calls)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": "Sat, 01 Mar 2025 12:00:20 GMT"}, 20 * time.Second},
		{"date in the past", map[string]string{"Retry-After": "Sat, 01 Mar 2025 11:00:00 GMT"}, 0},
		{"ms wins", map[string]string{"Retry-After": "3", "retry-after-ms": "250"}, 250 * time.Millisecond},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-4"}, 0},
		{"none", nil, 0},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := model.ParseRetryAfter(h, now); got != tc.want {
			t.Errorf("%s: ParseRetryAfter = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()
	if err := (retry.Policy{}).Validate(); err != nil {
		t.Errorf("zero policy: %v", err)
	}
	err := retry.Policy{Attempts: -1, Base: time.Minute, Max: time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "Attempts") || !strings.Contains(err.Error(), "Base must not exceed Max") {
		t.Errorf("Validate = %v", err)
	}
}

// TestRetryDefaults: a zero policy is the providers' defaults, 5 attempts from 500ms to 30s;
// what a policy sets stays.
func TestRetryDefaults(t *testing.T) {
	t.Parallel()
	got := model.RetryDefaults(retry.Policy{Base: time.Second})
	if got.Attempts != 5 || got.Base != time.Second || got.Max != 30*time.Second {
		t.Errorf("RetryDefaults = %+v", got)
	}
}

// TestRetryStopsWhenTheCallerGivesUp: a transient failure after the caller's context ended is
// not retried, and the error still matches the context's (the runner tells a timeout by it).
func TestRetryStopsWhenTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	var rec recorder
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	fn, calls := failing(&model.Error{Status: 0, Message: "transport: timeout"})
	_, err := model.Retry(ctx, policy(&rec), fn)
	if !errors.Is(err, context.DeadlineExceeded) || *calls != 1 || len(rec.waits) != 0 {
		t.Errorf("err %v after %d calls, %d waits", err, *calls, len(rec.waits))
	}
}
