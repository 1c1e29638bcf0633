package runner

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/retry"
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

// Retry policies of the runner's persistence (package retry: capped exponential back-off with
// jitter, at least the wait a failure asked for). The rows carry deterministic ids and inserts
// skip existing ids, so a retry after a write that did land is harmless.
var (
	// defaultRetry is for claims and releases: a few quick tries, the next tick tries again.
	defaultRetry = retry.Policy{Attempts: 5, Base: 200 * time.Millisecond, Max: 5 * time.Second}
	// persistRetry is for a finished run's rows: every transient failure is tried again for as
	// long as the persist budget lasts (the context's deadline); then the run goes to the outbox.
	persistRetry = retry.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second}
)

// transient reports whether a failed persistence call may succeed when tried again. Only failures
// of known kinds are: one its adapter marked retry.Temporary (the auth API's 408, 429 and 5xx
// answers, see authapi/persist), a connection refused, reset or cut (the auth API or the database
// restarting), a timeout, a PostgreSQL error of the connection, serialisation, deadlock or
// shutdown classes, a busy SQLite. Never an invalid row, an unknown persona or a conflict, nor
// the end of the caller's context.
func transient(err error) bool {
	if err == nil {
		return false
	}
	for _, permanent := range []error{persona.ErrInvalid, persona.ErrNotFound, persona.ErrConflict, persona.ErrNotPersona} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	if retry.IsTemporary(err) {
		return true
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
