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
// waiting at that moment (up to maxRunBatch) in one transaction. A call that finds the writer
// idle is written at once, alone, so nothing waits for a batch to fill.
//
// A run is refused (unknown persona, another persona's tick id) by reads made before any of its
// writes, so a refused run leaves nothing to undo and the others of the batch go on; no
// savepoint is needed (one per run cost a statement journal of every page it touched). A write
// that fails after that (the disk, not the input) rolls the whole batch back, and its runs are
// then written one transaction each, so that one run's trouble is its own.
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
	out, err := db.groupWrite(ctx, run)
	if err != nil {
		return out, fmt.Errorf("record run %q: %w", run.Tick.TickID, err)
	}
	return out, nil
}

// groupWrite hands a valid, normalised run (or a lone tick record: a run without rows) to the
// run writer and waits until its transaction committed or failed.
func (db *DB) groupWrite(ctx context.Context, run persona.RunRecord) (persona.RunWritten, error) {
	req := &runRequest{ctx: ctx, run: run, done: make(chan struct{})}
	select {
	case db.runs <- req:
	case <-ctx.Done():
		return persona.RunWritten{}, ctx.Err()
	case <-db.closing:
		return persona.RunWritten{}, errClosed
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		// The batch may still write the run; its rows and record are idempotent.
		return persona.RunWritten{}, ctx.Err()
	}
	if req.err != nil {
		return persona.RunWritten{}, req.err
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
	if len(live) > 1 {
		// The batch serves several callers, so no one caller's context may cut it short.
		ctx := context.Background()
		err := db.write(ctx, func(t *tx) error {
			for _, r := range live {
				var wrote bool
				if r.out, wrote, r.err = writeRun(ctx, t, r.run); r.err != nil && wrote {
					return r.err
				}
			}
			return nil
		})
		if err == nil {
			return
		}
		// Nothing of the batch was written: each run on its own.
	}
	for _, r := range live {
		r.err = db.write(r.ctx, func(t *tx) error {
			var err error
			r.out, _, err = writeRun(r.ctx, t, r.run)
			return err
		})
		if r.err != nil {
			r.out = persona.RunWritten{}
		}
	}
}

// writeRun writes one valid run inside t; on error it returns no counts, and wrote says whether
// it had written anything before the error. The tick is read first: the persona row (ErrNotFound)
// and the tick's owner (a tick id of another persona) refuse a run before any row is written.
func writeRun(ctx context.Context, t *tx, run persona.RunRecord) (out persona.RunWritten, wrote bool, err error) {
	st, err := checkTick(ctx, t, run.Tick)
	if err != nil {
		return out, false, err
	}
	if err := writeTick(ctx, t, run.Tick, st); err != nil {
		return out, true, err
	}
	if out.Actions, err = insertActions(ctx, t, run.Tick.PersonaID, run.Actions); err != nil {
		return persona.RunWritten{}, true, err
	}
	if out.Feedback, err = insertFeedback(ctx, t, run.Tick.PersonaID, run.Feedback); err != nil {
		return persona.RunWritten{}, true, err
	}
	out.ActionDuplicates, out.FeedbackDuplicates = len(run.Actions)-out.Actions, len(run.Feedback)-out.Feedback
	return out, true, nil
}
