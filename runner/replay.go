package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/persona-runner/persona-runner/persona"
)

// errNoOutbox is keep's error when the runner has no outbox configured.
var errNoOutbox = errors.New("no outbox is configured (RUNNER_OUTBOX)")

// keep puts a finished run the store did not take into the outbox.
func (r *Runner) keep(email string, rec persona.RunRecord) error {
	if r.outbox == nil {
		return errNoOutbox
	}
	if err := r.outbox.put(email, rec); err != nil {
		return err
	}
	r.metrics.outboxKept.Inc()
	r.setOutboxGauges()
	return nil
}

func (r *Runner) setOutboxGauges() {
	pending, failed := r.outbox.depth()
	r.metrics.outboxRuns.Set(float64(pending))
	r.metrics.outboxFailed.Set(float64(failed))
}

// OutboxDepth returns how many finished runs wait in the outbox for the store, and how many the
// store refused for good on replay (kept in the outbox's failed/ directory). Both are 0 without
// an outbox.
func (r *Runner) OutboxDepth() (pending, failed int) {
	if r.outbox == nil {
		return 0, 0
	}
	return r.outbox.depth()
}

// ReplayOutbox writes the runs waiting in the outbox, oldest first, until the store fails to take
// one for a transient reason (it is still away: the rest wait for the next replay). A run the
// store refuses for good moves to failed/ and is logged. It returns how many runs were written.
// Ticks call it before claiming, so a persona's kept run lands (and releases its lease) before the
// persona could be claimed again.
func (r *Runner) ReplayOutbox(ctx context.Context) (int, error) {
	if r.outbox == nil {
		return 0, nil
	}
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	defer r.setOutboxGauges()
	names, err := r.outbox.names()
	if err != nil {
		return 0, err
	}
	written := 0
	for _, name := range names {
		if ctx.Err() != nil {
			return written, ctx.Err()
		}
		e, err := r.outbox.read(name)
		if err != nil {
			r.log.Error("outbox entry unreadable; left in place", "err", err)
			continue
		}
		rec := e.record()
		wctx, cancel := context.WithTimeout(ctx, r.persistTimeout)
		err = r.writeRun(wctx, r.retry, e.Email, &rec)
		cancel()
		switch {
		case err == nil:
			if err := r.outbox.done(e); err != nil {
				return written, err
			}
			written++
			r.metrics.outboxReplayed.Inc()
			r.log.Info("outbox: run written", "persona", e.Email, "tick", e.Tick.TickID, "status", rec.Tick.Status)
		case errors.Is(err, errUnsaved):
			return written, fmt.Errorf("outbox: the store still does not take runs: %w", err)
		case errors.Is(err, errTickRefused):
			if ferr := r.outbox.fail(e); ferr != nil {
				return written, ferr
			}
			r.log.Error("outbox: the store refuses the run; moved to failed/", "persona", e.Email, "tick", e.Tick.TickID, "dir", r.outbox.dir, "err", err)
		default:
			// Written, but the store refused some rows for good: the tick record says which.
			if derr := r.outbox.done(e); derr != nil {
				return written, derr
			}
			written++
			r.log.Error("outbox: run written without the rows the store refused", "persona", e.Email, "tick", e.Tick.TickID, "err", err)
		}
	}
	return written, nil
}

// replayFor is for a persona claimed while a run of it waits in the outbox: the outbox is
// replayed, which releases the lease when the run lands; when it does not, the persona is
// released with a cancelled record. It is not run either way: it ran already.
func (r *Runner) replayFor(ctx context.Context, p persona.DuePersona) {
	if _, err := r.ReplayOutbox(ctx); err != nil {
		r.log.Warn("outbox replay stopped", "err", err)
	}
	if r.outbox.holds(p.UserID) {
		r.release(ctx, p, "not started: a finished run of this persona still waits in the runner's outbox")
	}
}
