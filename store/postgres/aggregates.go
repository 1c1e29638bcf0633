package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/internal/aggsql"
)

// The read models' aggregates (persona.ActionAggregates) over the rollup of migration 9; the SQL
// is shared with the SQLite store (store/internal/aggsql).

var dialect = aggsql.Dialect{Schema: "auth.", Time: func(t time.Time) any { return t }, Arrays: true}

var _ persona.ActionAggregates = (*DB)(nil)

func collect[T any](ctx context.Context, db *DB, what string, q aggsql.Query, scan func(pgx.CollectableRow) (T, error)) ([]T, error) {
	rows, err := db.pool.Query(ctx, aggsql.Rebind(q.SQL), q.Args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// SpanCalls counts the rows of a span per tool, module and side, and per run and module.
func (db *DB) SpanCalls(ctx context.Context, s persona.SpanQuery) (persona.SpanCalls, error) {
	tools, err := db.actionSpans(ctx, s)
	if err != nil {
		return persona.SpanCalls{}, err
	}
	runs, err := db.tickModuleCalls(ctx, s)
	return persona.SpanCalls{Tools: tools, Runs: runs}, err
}

func (db *DB) actionSpans(ctx context.Context, s persona.SpanQuery) ([]persona.ToolSpan, error) {
	return collect(ctx, db, "action spans", dialect.ActionSpans(s), func(r pgx.CollectableRow) (persona.ToolSpan, error) {
		var t persona.ToolSpan
		err := r.Scan(&t.Tool, &t.Module, &t.Side, &t.Calls, &t.OK, &t.Errors, &t.Infra, &t.Timed)
		return t, err
	})
}

// ToolFacts counts the timed calls per target, tool and side, and the window's personas per
// tool: two statements (PostgreSQL joins and counts distinct values itself); OK is left to
// OKPersonas.
func (db *DB) ToolFacts(ctx context.Context, s persona.SpanQuery) (persona.ToolFacts, error) {
	timed, err := db.timedByTarget(ctx, s)
	if err != nil {
		return persona.ToolFacts{}, err
	}
	people, err := db.toolPersonaCounts(ctx, persona.SpanQuery{Since: s.Cut, Until: s.Until, Module: s.Module})
	for i := range people {
		people[i].Side = 1
	}
	return persona.ToolFacts{Timed: timed, Personas: people}, err
}

func (db *DB) toolPersonaCounts(ctx context.Context, s persona.SpanQuery) ([]persona.ToolPersonas, error) {
	return collect(ctx, db, "tool personas", dialect.ToolPersonaCounts(s), func(r pgx.CollectableRow) (persona.ToolPersonas, error) {
		var t persona.ToolPersonas
		err := r.Scan(&t.Tool, &t.Side, &t.Personas, &t.OKPersonas)
		return t, err
	})
}

// OKPersonas lists the personas with a successful call of tool.
func (db *DB) OKPersonas(ctx context.Context, s persona.SpanQuery, tool string) ([]string, error) {
	return collect(ctx, db, "ok personas", dialect.OKPersonas(s, tool), pgx.RowTo[string])
}

func (db *DB) timedByTarget(ctx context.Context, s persona.SpanQuery) ([]persona.TargetTimed, error) {
	return collect(ctx, db, "timed calls", dialect.TimedByTarget(s), func(r pgx.CollectableRow) (persona.TargetTimed, error) {
		var t persona.TargetTimed
		err := r.Scan(&t.Target, &t.Tool, &t.Side, &t.Timed)
		return t, err
	})
}

// LatencyFromTop returns a latency rank counted from the largest.
func (db *DB) LatencyFromTop(ctx context.Context, l persona.LatencyQuery) (int64, bool, error) {
	q := dialect.LatencyFromTop(l)
	var ms int64
	err := db.pool.QueryRow(ctx, aggsql.Rebind(q.SQL), q.Args...).Scan(&ms)
	switch {
	case err == nil:
		return ms, true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("latency rank: %w", err)
	}
}

// ActionRows returns the raw rows that match f, oldest first.
func (db *DB) ActionRows(ctx context.Context, f persona.RowFilter) ([]persona.Action, error) {
	q := dialect.ActionRows(f, aggsql.ActionRowCols(f.NoArguments))
	return collect(ctx, db, "action rows", q, scanAction)
}

// ToolRuns returns the newest runs that used a tool.
func (db *DB) ToolRuns(ctx context.Context, t persona.ToolRunsQuery) ([]string, error) {
	return collect(ctx, db, "tool runs", dialect.ToolRuns(t), pgx.RowTo[string])
}

func (db *DB) tickModuleCalls(ctx context.Context, s persona.SpanQuery) ([]persona.TickModuleCalls, error) {
	return collect(ctx, db, "run module calls", dialect.TickModuleCalls(s), func(r pgx.CollectableRow) (persona.TickModuleCalls, error) {
		var t persona.TickModuleCalls
		err := r.Scan(&t.TickID, &t.Module, &t.Calls)
		return t, err
	})
}

// ToolOKIn reports whether tool has a successful call in [since, until).
func (db *DB) ToolOKIn(ctx context.Context, tool string, since, until time.Time) (bool, error) {
	rows, err := collect(ctx, db, "tool ok", dialect.ToolOKIn(tool, since, until), pgx.RowTo[int32])
	return len(rows) > 0, err
}

// ActionArguments returns the arguments of the rows ids.
func (db *DB) ActionArguments(ctx context.Context, ids []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if len(ids) == 0 {
		return out, nil
	}
	type arg struct {
		id, args string
	}
	rows, err := collect(ctx, db, "action arguments", dialect.ActionArguments(ids), func(r pgx.CollectableRow) (arg, error) {
		var a arg
		err := r.Scan(&a.id, &a.args)
		return a, err
	})
	for _, a := range rows {
		out[a.id] = json.RawMessage(a.args)
	}
	return out, err
}

// PersonaNames lists the personas with their names only.
func (db *DB) PersonaNames(ctx context.Context) ([]persona.PersonaSummary, error) {
	return collect(ctx, db, "persona names", dialect.PersonaNames(), func(r pgx.CollectableRow) (persona.PersonaSummary, error) {
		var p persona.PersonaSummary
		err := r.Scan(&p.UserID, &p.Email, &p.Name, &p.Archetype, &p.LastError)
		return p, err
	})
}

// RunFacts returns the window's tick records with the columns the findings read.
func (db *DB) RunFacts(ctx context.Context, since, until time.Time) ([]persona.Tick, error) {
	return collect(ctx, db, "run facts", dialect.RunFacts(since, until), func(r pgx.CollectableRow) (persona.Tick, error) {
		var t persona.Tick
		var status string
		err := r.Scan(&t.TickID, &t.PersonaID, &status, &t.StartedAt, &t.Error, &t.Target, &t.ServerVersion)
		t.Status, t.StartedAt = persona.TickStatus(status), utc(t.StartedAt)
		return t, err
	})
}

// LastNotes returns each module's newest notes in the window.
func (db *DB) LastNotes(ctx context.Context, modules []string, since, until time.Time) (map[string]string, error) {
	out := make(map[string]string, len(modules))
	if len(modules) == 0 {
		return out, nil
	}
	type note struct{ module, notes string }
	rows, err := collect(ctx, db, "last notes", dialect.LastNotes(modules, since, until), func(r pgx.CollectableRow) (note, error) {
		var n note
		err := r.Scan(&n.module, &n.notes)
		return n, err
	})
	for _, n := range rows {
		out[n.module] = n.notes
	}
	return out, err
}

// RatingCounts counts the ratings per module, side and value.
func (db *DB) RatingCounts(ctx context.Context, s persona.SpanQuery) ([]persona.RatingCount, error) {
	return collect(ctx, db, "rating counts", dialect.RatingCounts(s), func(r pgx.CollectableRow) (persona.RatingCount, error) {
		var c persona.RatingCount
		err := r.Scan(&c.Module, &c.Side, &c.Rating, &c.Count)
		return c, err
	})
}
