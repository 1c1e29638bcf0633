package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/persona-runner/persona-runner/persona"
)

// Group commit. Every write goes through the one writer connection, and a commit costs more
// than a run's rows (WAL frames for every page touched). The runner's workers finish their runs
// in bursts, so RecordRun calls are handed to one run writer goroutine, which writes every call
// waiting at that moment (up to maxRunBatch) in one transaction, each run inside a savepoint of
// its own: a run that is refused (unknown persona, another persona's tick id) is rolled back to
// its savepoint and gets its error, and the others are committed. A call that finds the writer
// idle is written at once, alone, so nothing waits for a batch to fill.

// maxRunBatch bounds the runs written in one transaction, so that other writers (claims) wait
// for one batch at most a few milliseconds.
const maxRunBatch = 64

// errClosed is returned by RecordRun after Close.
var errClosed = errors.New("sqlite store is closed")

type runRequest struct {
	ctx  context.Context
	run  persona.RunRecord // validated, tick normalised
	out  persona.RunWritten
	err  error
	done chan struct{} // closed by the run writer when out and err are set
}

func (db *DB) runWriter() {
	for {
		var first *runRequest
		select {
		case first = <-db.runs:
		case <-db.closing:
			return
		}
		batch := []*runRequest{first}
	more:
		for len(batch) < maxRunBatch {
			select {
			case r := <-db.runs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		db.writeRuns(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// RecordRun writes a run's actions, feedback and tick record in one transaction, which it may
// share with other runs' (see above); the run is written whole or not at all either way.
func (db *DB) RecordRun(ctx context.Context, run persona.RunRecord) (persona.RunWritten, error) {
	if err := persona.ValidateRun(run); err != nil {
		return persona.RunWritten{}, fmt.Errorf("record run %q: %w", run.Tick.TickID, err)
	}
	run.Tick = persona.NormalizeTick(run.Tick)
	req := &runRequest{ctx: ctx, run: run, done: make(chan struct{})}
	select {
	case db.runs <- req:
	case <-ctx.Done():
		return persona.RunWritten{}, fmt.Errorf("record run %q: %w", run.Tick.TickID, ctx.Err())
	case <-db.closing:
		return persona.RunWritten{}, fmt.Errorf("record run %q: %w", run.Tick.TickID, errClosed)
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		// The batch may still write the run; its rows and record are idempotent.
		return persona.RunWritten{}, fmt.Errorf("record run %q: %w", run.Tick.TickID, ctx.Err())
	}
	if req.err != nil {
		return persona.RunWritten{}, fmt.Errorf("record run %q: %w", run.Tick.TickID, req.err)
	}
	return req.out, nil
}

// writeRuns writes a batch of runs and sets every request's outcome.
func (db *DB) writeRuns(batch []*runRequest) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // the caller has gone already
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		r := live[0]
		r.err = db.write(r.ctx, func(t *tx) error {
			var err error
			r.out, err = writeRun(r.ctx, t, r.run)
			return err
		})
		if r.err != nil {
			r.out = persona.RunWritten{}
		}
		return
	}
	// The batch serves several callers, so no one caller's context may cut it short.
	ctx := context.Background()
	err := db.write(ctx, func(t *tx) error {
		for _, r := range live {
			if _, err := t.ExecContext(ctx, `SAVEPOINT run`); err != nil {
				return err
			}
			if r.out, r.err = writeRun(ctx, t, r.run); r.err != nil {
				if _, err := t.ExecContext(ctx, `ROLLBACK TO run`); err != nil {
					return err
				}
			}
			if _, err := t.ExecContext(ctx, `RELEASE run`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Nothing of the batch was written.
		for _, r := range live {
			r.out = persona.RunWritten{}
			if r.err == nil {
				r.err = err
			}
		}
	}
}

// writeRun writes one valid run inside t; on error it returns no counts. The tick goes first: it reads the persona row
// (ErrNotFound) and the tick's owner (a tick id of another persona) before any row is written.
func writeRun(ctx context.Context, t *tx, run persona.RunRecord) (persona.RunWritten, error) {
	var out persona.RunWritten
	if err := recordTick(ctx, t, run.Tick); err != nil {
		return out, err
	}
	var err error
	if out.Actions, err = insertActions(ctx, t, run.Tick.PersonaID, run.Actions); err != nil {
		return persona.RunWritten{}, err
	}
	if out.Feedback, err = insertFeedback(ctx, t, run.Tick.PersonaID, run.Feedback); err != nil {
		return persona.RunWritten{}, err
	}
	out.ActionDuplicates, out.FeedbackDuplicates = len(run.Actions)-out.Actions, len(run.Feedback)-out.Feedback
	return out, nil
}
