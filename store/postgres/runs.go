package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// RecordRun writes a run's actions, feedback and tick record in one transaction. The tick goes
// first: it locks the persona row (ErrNotFound) and checks the tick's owner before any row is
// written.
func (db *DB) RecordRun(ctx context.Context, run persona.RunRecord) (persona.RunWritten, error) {
	var out persona.RunWritten
	if err := persona.ValidateRun(run); err != nil {
		return out, fmt.Errorf("record run %q: %w", run.Tick.TickID, err)
	}
	now := db.clock()
	t := prepareTick(run.Tick, now)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordTick(ctx, tx, t, now); err != nil {
			return err
		}
		var err error
		if len(run.Actions) > 0 {
			if out.Actions, err = insertActions(ctx, tx, t.PersonaID, run.Actions, now, false); err != nil {
				return fmt.Errorf("insert actions: %w", err)
			}
		}
		if len(run.Feedback) > 0 {
			if out.Feedback, err = insertFeedback(ctx, tx, t.PersonaID, run.Feedback, now); err != nil {
				return fmt.Errorf("insert feedback: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return persona.RunWritten{}, fmt.Errorf("record run %q: %w", t.TickID, err)
	}
	out.ActionDuplicates, out.FeedbackDuplicates = len(run.Actions)-out.Actions, len(run.Feedback)-out.Feedback
	return out, nil
}
