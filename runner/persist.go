package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
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

// AbandonRuns marks the runs a previous process of runnerID left `running` abandoned.
func (p storePersistence) AbandonRuns(ctx context.Context, runnerID string) (int, error) {
	return p.s.AbandonRuns(ctx, runnerID)
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

// AbandonRuns goes through POST /api/v1/internal/personas/abandon.
func (p httpPersistence) AbandonRuns(ctx context.Context, runnerID string) (int, error) {
	return p.c.AbandonRuns(ctx, runnerID)
}

func (p httpPersistence) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	return p.c.History(ctx, personaID, runs)
}

// retryPolicy retries transient persistence failures with capped exponential back-off and full
// jitter. The rows carry deterministic ids and inserts skip existing ids, so a retry after a
// write that did land is harmless.
type retryPolicy struct {
	attempts int // 0: until the context ends
	base     time.Duration
	max      time.Duration
}

var (
	// defaultRetry is for claims and releases: a few quick tries, the next tick tries again.
	defaultRetry = retryPolicy{attempts: 5, base: 200 * time.Millisecond, max: 5 * time.Second}
	// persistRetry is for a finished run's rows: every transient failure is tried again for as
	// long as the persist budget lasts (the context's deadline); then the run goes to the outbox.
	persistRetry = retryPolicy{base: 200 * time.Millisecond, max: 5 * time.Second}
)

func (p retryPolicy) do(ctx context.Context, f func(context.Context) error) error {
	delay := p.base
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !transient(err) || (p.attempts > 0 && attempt >= p.attempts) || ctx.Err() != nil {
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
			return fmt.Errorf("%w (gave up retrying after %d attempts: %w)", err, attempt, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(delay*2, p.max)
	}
}

// transient reports whether a failed persistence call may succeed when tried again. Only failures
// of known kinds are: a connection refused, reset or cut (the auth API or the database restarting),
// a timeout, an answer 408, 429 or 5xx of the auth API, a PostgreSQL error of the connection,
// serialisation, deadlock or shutdown classes, a busy SQLite. Never a 4xx answer otherwise
// (invalid rows, unknown personas, refused credentials), nor the end of the caller's context.
func transient(err error) bool {
	if err == nil {
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
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTimeout || dns.IsTemporary
	}
	for _, errno := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, io.ErrUnexpectedEOF, io.EOF} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true // dial, read or write on a connection that failed
	}
	// pgx: an error it marks safe to retry (nothing was sent), or a server error of a class that
	// passes (pgconn.PgError's SQLState), without importing the driver here.
	var safe interface{ SafeToRetry() bool }
	if errors.As(err, &safe) && safe.SafeToRetry() {
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		code := pg.SQLState()
		return strings.HasPrefix(code, "08") || code == "40001" || code == "40P01" || code == "53300" ||
			code == "57P01" || code == "57P02" || code == "57P03"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// A timeout of its own (a client's) was caught above as a net.Error; this is the
		// caller's context ending.
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY")
}
