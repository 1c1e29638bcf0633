package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/retry"
)

// Store is the part of the store the runner uses in the same process (the embedded `up`): the
// persona.Store methods of the same names, with their errors. store/sqlite and store/postgres
// implement it.
type Store interface {
	ClaimPersonas(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error)
	InsertActions(ctx context.Context, personaID string, rows []persona.Action) (written, duplicates int, err error)
	InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) (written, duplicates int, err error)
	RecordTick(ctx context.Context, t persona.Tick) error
	RecordRun(ctx context.Context, run persona.RunRecord) (persona.RunWritten, error)
	AbandonRuns(ctx context.Context, runnerID string) (int, error)
	History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error)
	CostSince(ctx context.Context, since time.Time) (float64, error)
}

// storePersistence writes to a Store in the same process (the embedded `up`).
type storePersistence struct{ s Store }

// NewStorePersistence returns the Persistence that uses store directly.
func NewStorePersistence(store Store) Persistence { return storePersistence{store} }

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

// writeRun writes a run in one call when the persistence is a RunRecorder; otherwise, or when that
// fails for good, it writes the actions (chunks of ≤500), the feedback (≤100) and then the tick
// record, which releases the lease. Rows carry deterministic ids, so retries cannot duplicate
// them. Transient failures are retried by policy; when they outlast ctx, writeRun stops and
// returns an error matching errUnsaved, having written no tick record, so the lease holds until
// the run is replayed from the outbox. When rows are refused for good, the tick record says so
// (status failed, so the store backs the persona off) and is still written. The error names what
// was not written, without a stage prefix.
func (r *Runner) writeRun(ctx context.Context, policy retry.Policy, email string, rec *persona.RunRecord) error {
	unsaved := func(what string, err error) error {
		return fmt.Errorf("%s not written: %w (%w)", what, err, errUnsaved)
	}
	personaID := rec.Tick.PersonaID
	if rr, ok := r.store.(RunRecorder); ok {
		err := policy.Do(ctx, transient, func(ctx context.Context) error { return rr.RecordRun(ctx, *rec) })
		if err == nil {
			return nil
		}
		if transient(err) || ctx.Err() != nil {
			return unsaved("run", err)
		}
		// Nothing of it was written: the separate writes below name the part that fails and
		// still record the tick (as failed) when the rows cannot be written.
		r.log.Warn("writing the run in one transaction failed; writing its parts", "persona", email, "tick", rec.Tick.TickID, "err", err)
	}
	var errs []string
	actions, fb := rec.Actions, rec.Feedback
	for i := 0; i < len(actions); i += persona.MaxActionsPerBatch {
		chunk := actions[i:min(i+persona.MaxActionsPerBatch, len(actions))]
		if err := policy.Do(ctx, transient, func(ctx context.Context) error { return r.store.InsertActions(ctx, personaID, chunk) }); err != nil {
			what := fmt.Sprintf("actions %d–%d of %d", i+1, len(actions), len(actions))
			if transient(err) || ctx.Err() != nil {
				return unsaved(what, err)
			}
			errs = append(errs, fmt.Sprintf("%s not written: %v", what, err))
			break
		}
	}
	for i := 0; i < len(fb); i += persona.MaxFeedbackPerBatch {
		chunk := fb[i:min(i+persona.MaxFeedbackPerBatch, len(fb))]
		if err := policy.Do(ctx, transient, func(ctx context.Context) error { return r.store.InsertFeedback(ctx, personaID, chunk) }); err != nil {
			what := fmt.Sprintf("feedback %d–%d of %d", i+1, len(fb), len(fb))
			if transient(err) || ctx.Err() != nil {
				return unsaved(what, err)
			}
			errs = append(errs, fmt.Sprintf("%s not written: %v", what, err))
			break
		}
	}
	tick := &rec.Tick
	if len(errs) > 0 {
		if tick.Status.Completed() {
			tick.Status = persona.TickFailed
		}
		tick.Stage = stagePersist
		tick.Error = cleanText(strings.Trim(stagePersist+": "+strings.Join(errs, "; ")+"; "+tick.Error, "; "), 2000)
	}
	if err := policy.Do(ctx, transient, func(ctx context.Context) error { return r.store.RecordTick(ctx, *tick) }); err != nil {
		if transient(err) || ctx.Err() != nil {
			return unsaved("tick record", err)
		}
		errs = append(errs, fmt.Sprintf("tick record not written: %v", err))
		return fmt.Errorf("%s%w", strings.Join(errs, "; "), errTickRefused)
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(errs, "; "))
}
