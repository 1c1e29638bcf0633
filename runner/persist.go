package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/persona-runner/persona-runner/authapi"
	"github.com/persona-runner/persona-runner/persona"
)

// storePersistence writes to a persona.Store in the same process (the embedded `up`).
type storePersistence struct{ s persona.Store }

// NewStorePersistence returns the Persistence that uses store directly.
func NewStorePersistence(store persona.Store) Persistence { return storePersistence{store} }

func (p storePersistence) Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	return p.s.ClaimPersonas(ctx, runnerID, limit, lease)
}

func (p storePersistence) InsertActions(ctx context.Context, personaID string, rows []persona.Action) error {
	_, _, err := p.s.InsertActions(ctx, personaID, rows)
	return err
}

func (p storePersistence) InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) error {
	_, _, err := p.s.InsertFeedback(ctx, personaID, rows)
	return err
}

func (p storePersistence) RecordTick(ctx context.Context, t persona.Tick) error {
	return p.s.RecordTick(ctx, t)
}

// RecordRun writes the run's rows and tick record in one transaction (see RunRecorder).
func (p storePersistence) RecordRun(ctx context.Context, run persona.RunRecord) error {
	_, err := p.s.RecordRun(ctx, run)
	return err
}

func (p storePersistence) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	return p.s.History(ctx, personaID, runs)
}

// httpPersistence goes through the auth API's internal endpoints with the service key (the
// runner as a separate process, SPEC §4).
type httpPersistence struct{ c *authapi.Client }

// NewHTTPPersistence returns the Persistence that uses the auth API's internal endpoints through
// client, which must carry the service key.
func NewHTTPPersistence(client *authapi.Client) Persistence { return httpPersistence{client} }

func (p httpPersistence) Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	return p.c.Claim(ctx, runnerID, limit, lease)
}

func (p httpPersistence) InsertActions(ctx context.Context, personaID string, rows []persona.Action) error {
	_, err := p.c.PostActions(ctx, personaID, rows)
	return err
}

func (p httpPersistence) InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) error {
	_, err := p.c.PostFeedback(ctx, personaID, rows)
	return err
}

func (p httpPersistence) RecordTick(ctx context.Context, t persona.Tick) error {
	return p.c.PostTick(ctx, t)
}

func (p httpPersistence) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	return p.c.History(ctx, personaID, runs)
}

// retryPolicy retries transient persistence failures with capped exponential back-off and full
// jitter. The rows carry deterministic ids and inserts skip existing ids, so a retry after a
// write that did land is harmless.
type retryPolicy struct {
	attempts int
	base     time.Duration
	max      time.Duration
}

var defaultRetry = retryPolicy{attempts: 5, base: 200 * time.Millisecond, max: 5 * time.Second}

func (p retryPolicy) do(ctx context.Context, f func(context.Context) error) error {
	delay := p.base
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !transient(err) || attempt >= p.attempts || ctx.Err() != nil {
			return err
		}
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		var ae *authapi.Error
		if errors.As(err, &ae) && ae.RetryAfter > wait {
			wait = min(ae.RetryAfter, p.max)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, p.max)
	}
}

// transient reports whether a failed persistence call may succeed when tried again: not for
// invalid rows, unknown personas, conflicts or refused credentials, nor once the context is over.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for _, permanent := range []error{persona.ErrInvalid, persona.ErrNotFound, persona.ErrConflict, persona.ErrNotPersona} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	var ae *authapi.Error
	if errors.As(err, &ae) {
		return ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	return true
}
