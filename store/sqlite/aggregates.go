package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/internal/aggsql"
)

// The read models' aggregates (persona.ActionAggregates) over the rollup of migration 7; the SQL
// is shared with the PostgreSQL store (store/internal/aggsql).

var dialect = aggsql.Dialect{Time: func(t time.Time) any { return micro(t) }}

var _ persona.ActionAggregates = (*DB)(nil)

func (db *DB) each(ctx context.Context, what string, q aggsql.Query, scan func(*sql.Rows) error) error {
	rows, err := db.r.QueryContext(ctx, q.SQL, q.Args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// SpanCalls counts the rows of a span per tool, module and side, and per run and module, from
// one read of the span, grouped here (see ToolPersonaCounts).
func (db *DB) SpanCalls(ctx context.Context, s persona.SpanQuery) (persona.SpanCalls, error) {
	type toolKey struct {
		tool, module string
		side         int
	}
	type runKey struct{ tick, module string }
	tools := map[toolKey]*persona.ToolSpan{}
	runs := map[runKey]int{}
	var order []runKey
	names := interner{}
	var tick, tool, module, result sql.RawBytes
	var side, calls, timed int
	var infra bool
	err := db.each(ctx, "span calls", dialect.SpanRows(s, "tick_id, tool_name, module, side, result, infra, calls, timed", ""), func(r *sql.Rows) error {
		if err := r.Scan(&tick, &tool, &module, &side, &result, &infra, &calls, &timed); err != nil {
			return err
		}
		k := toolKey{names.of(tool), names.of(module), side}
		g := tools[k]
		if g == nil {
			g = &persona.ToolSpan{Tool: k.tool, Module: k.module, Side: side}
			tools[k] = g
		}
		g.Calls += calls
		g.Timed += timed
		switch {
		case string(result) == string(persona.ResultOK):
			g.OK += calls
		case infra:
			g.Infra += calls
		case string(result) == string(persona.ResultError):
			g.Errors += calls
		}
		rk := runKey{string(tick), k.module}
		if _, ok := runs[rk]; !ok {
			order = append(order, rk)
		}
		runs[rk] += calls
		return nil
	})
	if err != nil {
		return persona.SpanCalls{}, err
	}
	out := persona.SpanCalls{Tools: make([]persona.ToolSpan, 0, len(tools)), Runs: make([]persona.TickModuleCalls, len(order))}
	for _, g := range tools {
		out.Tools = append(out.Tools, *g)
	}
	sort.Slice(out.Tools, func(i, j int) bool {
		a, b := out.Tools[i], out.Tools[j]
		if a.Tool != b.Tool {
			return a.Tool < b.Tool
		}
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Side < b.Side
	})
	for i, k := range order {
		out.Runs[i] = persona.TickModuleCalls{TickID: k.tick, Module: k.module, Calls: runs[k]}
	}
	return out, nil
}

// ToolFacts reads the span once: the timed calls per target, tool and side (the runs' targets
// read once; a join to the tick records for each row, and SQLite's sort for the GROUP BY, took
// most of findings' time over a million rows), and the window's personas per tool, grouped
// here (SQLite's COUNT(DISTINCT) sorts every row first), with the successful ones' ids.
func (db *DB) ToolFacts(ctx context.Context, s persona.SpanQuery) (persona.ToolFacts, error) {
	targets := map[string]string{} // tick id → target, of the runs whose target a row takes
	names := interner{}
	var tick, target sql.RawBytes
	err := db.each(ctx, "run targets", dialect.TickTargets(s.TicksSince, s.TicksUntil), func(r *sql.Rows) error {
		if err := r.Scan(&tick, &target); err != nil {
			return err
		}
		targets[string(tick)] = names.of(target)
		return nil
	})
	if err != nil {
		return persona.ToolFacts{}, err
	}
	type key struct {
		target, tool string
		side         int
	}
	type sets struct{ any, ok map[string]bool }
	sums := map[key]int{}
	people := map[string]*sets{}
	var tool, who, result sql.RawBytes
	var side, timed int
	var infra bool
	err = db.each(ctx, "tool facts", dialect.SpanRows(s, "tick_id, tool_name, side, timed, persona_id, infra, result", ""), func(r *sql.Rows) error {
		if err := r.Scan(&tick, &tool, &side, &timed, &who, &infra, &result); err != nil {
			return err
		}
		name := names.of(tool)
		if timed > 0 {
			sums[key{targets[string(tick)], name, side}] += timed
		}
		if side != 1 {
			return nil
		}
		g := people[name]
		if g == nil {
			g = &sets{any: map[string]bool{}, ok: map[string]bool{}}
			people[name] = g
		}
		if !infra {
			g.any[names.of(who)] = true
		}
		if string(result) == string(persona.ResultOK) {
			g.ok[names.of(who)] = true
		}
		return nil
	})
	if err != nil {
		return persona.ToolFacts{}, err
	}
	out := persona.ToolFacts{Timed: make([]persona.TargetTimed, 0, len(sums)), Personas: make([]persona.ToolPersonas, 0, len(people)),
		OK: make(map[string][]string, len(people))}
	for k, n := range sums {
		out.Timed = append(out.Timed, persona.TargetTimed{Target: k.target, Tool: k.tool, Side: k.side, Timed: n})
	}
	sort.Slice(out.Timed, func(i, j int) bool {
		a, b := out.Timed[i], out.Timed[j]
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Tool != b.Tool {
			return a.Tool < b.Tool
		}
		return a.Side < b.Side
	})
	for t, g := range people {
		out.Personas = append(out.Personas, persona.ToolPersonas{Tool: t, Side: 1, Personas: len(g.any), OKPersonas: len(g.ok)})
		ok := make([]string, 0, len(g.ok))
		for id := range g.ok {
			ok = append(ok, id)
		}
		sort.Strings(ok)
		out.OK[t] = ok
	}
	sort.Slice(out.Personas, func(i, j int) bool { return out.Personas[i].Tool < out.Personas[j].Tool })
	return out, nil
}

// interner keeps one string per distinct value scanned as raw bytes, so a scan of many rows
// allocates once per value, not once per row.
type interner map[string]string

func (n interner) of(b []byte) string {
	if s, ok := n[string(b)]; ok {
		return s
	}
	s := string(b)
	n[s] = s
	return s
}

// OKPersonas lists the personas with a successful call of tool.
func (db *DB) OKPersonas(ctx context.Context, s persona.SpanQuery, tool string) ([]string, error) {
	out := []string{}
	err := db.each(ctx, "ok personas", dialect.OKPersonas(s, tool), func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	return out, err
}

// LatencyFromTop returns a latency rank counted from the largest.
func (db *DB) LatencyFromTop(ctx context.Context, l persona.LatencyQuery) (int64, bool, error) {
	q := dialect.LatencyFromTop(l)
	var ms int64
	switch err := db.r.QueryRowContext(ctx, q.SQL, q.Args...).Scan(&ms); err {
	case nil:
		return ms, true, nil
	case sql.ErrNoRows:
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("latency rank: %w", err)
	}
}

// ActionRows returns the raw rows that match f, oldest first.
func (db *DB) ActionRows(ctx context.Context, f persona.RowFilter) ([]persona.Action, error) {
	q := dialect.ActionRows(f, aggsql.ActionRowCols(f.NoArguments))
	out, err := queryActions(ctx, db.r, q.SQL, q.Args...)
	if err != nil {
		return nil, fmt.Errorf("action rows: %w", err)
	}
	return out, nil
}

// ToolRuns returns the newest runs that used a tool.
func (db *DB) ToolRuns(ctx context.Context, t persona.ToolRunsQuery) ([]string, error) {
	out := []string{}
	err := db.each(ctx, "tool runs", dialect.ToolRuns(t), func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	return out, err
}

// ToolOKIn reports whether tool has a successful call in [since, until).
func (db *DB) ToolOKIn(ctx context.Context, tool string, since, until time.Time) (bool, error) {
	found := false
	err := db.each(ctx, "tool ok", dialect.ToolOKIn(tool, since, until), func(*sql.Rows) error {
		found = true
		return nil
	})
	return found, err
}

// ActionArguments returns the arguments of the rows ids.
func (db *DB) ActionArguments(ctx context.Context, ids []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if len(ids) == 0 {
		return out, nil
	}
	err := db.each(ctx, "action arguments", dialect.ActionArguments(ids), func(r *sql.Rows) error {
		var id, args string
		if err := r.Scan(&id, &args); err != nil {
			return err
		}
		out[id] = json.RawMessage(args)
		return nil
	})
	return out, err
}

// PersonaNames lists the personas with their names only.
func (db *DB) PersonaNames(ctx context.Context) ([]persona.PersonaSummary, error) {
	out := []persona.PersonaSummary{}
	err := db.each(ctx, "persona names", dialect.PersonaNames(), func(r *sql.Rows) error {
		var p persona.PersonaSummary
		if err := r.Scan(&p.UserID, &p.Email, &p.Name, &p.Archetype, &p.LastError); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// RunFacts returns the window's tick records with the columns the findings read.
func (db *DB) RunFacts(ctx context.Context, since, until time.Time) ([]persona.Tick, error) {
	out := []persona.Tick{}
	err := db.each(ctx, "run facts", dialect.RunFacts(since, until), func(r *sql.Rows) error {
		var (
			t       persona.Tick
			status  string
			started int64
		)
		if err := r.Scan(&t.TickID, &t.PersonaID, &status, &started, &t.Error, &t.Target, &t.ServerVersion); err != nil {
			return err
		}
		t.Status, t.StartedAt = persona.TickStatus(status), fromMicro(started)
		out = append(out, t)
		return nil
	})
	return out, err
}

// LastNotes returns each module's newest notes in the window.
func (db *DB) LastNotes(ctx context.Context, modules []string, since, until time.Time) (map[string]string, error) {
	out := make(map[string]string, len(modules))
	if len(modules) == 0 {
		return out, nil
	}
	err := db.each(ctx, "last notes", dialect.LastNotes(modules, since, until), func(r *sql.Rows) error {
		var m, n string
		if err := r.Scan(&m, &n); err != nil {
			return err
		}
		out[m] = n
		return nil
	})
	return out, err
}

// RatingCounts counts the ratings per module, side and value.
func (db *DB) RatingCounts(ctx context.Context, s persona.SpanQuery) ([]persona.RatingCount, error) {
	out := []persona.RatingCount{}
	err := db.each(ctx, "rating counts", dialect.RatingCounts(s), func(r *sql.Rows) error {
		var c persona.RatingCount
		if err := r.Scan(&c.Module, &c.Side, &c.Rating, &c.Count); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}
