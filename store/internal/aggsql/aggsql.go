// Package aggsql writes the SQL of persona.ActionAggregates once for both stores: SQLite (times
// as Unix microseconds, booleans as 0/1) and PostgreSQL (timestamptz, boolean), whose texts
// differ only in the schema prefix and the placeholders ("?" here, "$n" after Rebind).
//
// The counts come from the rollup (sqlite 00007, postgres 00009): one row per run, tool, module,
// result, infra and persona, with the span [first_at, last_at] of its calls. A rollup row whose
// calls all lie on one side of every bound of a query is used as it is; the few that straddle a
// bound (a run in progress at the cut) are counted again from their raw rows.
package aggsql

import (
	"fmt"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// Dialect is what differs between the stores.
type Dialect struct {
	Schema string              // "" or "auth."
	Time   func(time.Time) any // a time as the driver binds it
	// Arrays: the straddling runs are matched as "= ANY (ARRAY(…))" (PostgreSQL: computed once,
	// then looked up by the tick index whatever the planner's estimates), else "IN (…)".
	Arrays bool
}

// in is "col IN (sub)" or "col NOT IN (sub)" in the dialect's best form.
func (d Dialect) in(col, sub string, not bool) string {
	switch {
	case d.Arrays && not:
		return col + " <> ALL (ARRAY(" + sub + "))"
	case d.Arrays:
		return col + " = ANY (ARRAY(" + sub + "))"
	case not:
		return col + " NOT IN (" + sub + ")"
	}
	return col + " IN (" + sub + ")"
}

// far stands for an open bound.
var far = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Query is a statement and its arguments, "?" placeholders in order.
type Query struct {
	SQL  string
	Args []any
}

func (q *Query) arg(v any) string {
	q.Args = append(q.Args, v)
	return "?"
}

// Rebind numbers the placeholders $1, $2, … (PostgreSQL).
func Rebind(sql string) string {
	var b strings.Builder
	n := 0
	for _, r := range sql {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Infra is the SQL of persona.Action.Infrastructure over the columns of alias a ("" or "a.").
func Infra(a string) string {
	return fmt.Sprintf("(%sresult = 'error' AND (%serror_class = 'transport' OR substr(%serror_message, 1, 11) = 'transport: '))", a, a, a)
}

func bound(t time.Time, open time.Time) time.Time {
	if t.IsZero() {
		return open
	}
	return t
}

// span is the WITH clause "s" (after "straddling") of the rows of q: tick_id, persona_id, tool_name, module, result,
// infra, side, calls, timed, last_at (the newest row's time).
func (d Dialect) span(q *Query, s persona.SpanQuery) string {
	since, until := bound(s.Since, time.Unix(0, 0).UTC()), bound(s.Until, far)
	cut := bound(s.Cut, far)
	mod := ""
	p := func(t time.Time) string { return q.arg(d.Time(t)) }
	// whole: the rollup row lies inside [since, until) on one side of the cut.
	whole := func(r string) string {
		return fmt.Sprintf("(%sfirst_at >= %s AND %slast_at < %s AND (%slast_at < %s OR %sfirst_at >= %s))",
			r, p(since), r, p(until), r, p(cut), r, p(cut))
	}
	// A run with a rollup row that straddles a bound is counted from its raw rows altogether;
	// every other run from its rollup rows.
	// They are found once (a materialized CTE) for both branches.
	straddling := `SELECT r.tick_id FROM ` + d.Schema + `persona_action_rollup r WHERE r.last_at >= ` + p(since) +
		` AND r.first_at < ` + p(until) + ` AND NOT ` + whole("r.")
	head := "WITH straddling AS MATERIALIZED (" + straddling + "), "
	first := `SELECT tick_id, persona_id, tool_name, module, result, infra,
			CASE WHEN first_at >= ` + p(cut) + ` THEN 1 ELSE 0 END AS side, calls, timed, last_at
		FROM ` + d.Schema + `persona_action_rollup WHERE last_at >= ` + p(since) + ` AND ` + whole("") +
		` AND ` + d.in("tick_id", "SELECT tick_id FROM straddling", true)
	if s.Module != "" {
		mod = " AND module = " + q.arg(s.Module)
	}
	first += mod
	second := `SELECT a.tick_id, a.persona_id, a.tool_name, a.module, a.result, ` + Infra("a.") + `,
			CASE WHEN a.created_at >= ` + p(cut) + ` THEN 1 ELSE 0 END, 1, CASE WHEN a.latency_ms IS NOT NULL THEN 1 ELSE 0 END, a.created_at
		FROM ` + d.Schema + `persona_actions a
		WHERE ` + d.in("a.tick_id", "SELECT tick_id FROM straddling", false) + ` AND a.created_at >= ` + p(since) + ` AND a.created_at < ` + p(until)
	if s.Module != "" {
		second += " AND a.module = " + q.arg(s.Module)
	}
	return head + "s AS (" + first + " UNION ALL " + second + ") "
}

// targetOf is the SQL of a row's target: its run's, when the run's tick record started in
// [since, until), else ”. tick is the column holding the row's tick id.
func (d Dialect) targetOf(q *Query, tick string, since, until time.Time) string {
	return "COALESCE((SELECT t.target FROM " + d.Schema + "persona_ticks t WHERE t.tick_id = " + tick +
		" AND t.started_at >= " + q.arg(d.Time(bound(since, time.Unix(0, 0).UTC()))) + " AND t.started_at < " + q.arg(d.Time(bound(until, far))) + "), '')"
}

// ActionSpans: tool, module, side, calls, ok, errors, infra, timed.
func (d Dialect) ActionSpans(s persona.SpanQuery) Query {
	var q Query
	q.SQL = d.span(&q, s) + `SELECT tool_name, module, side, SUM(calls),
		SUM(CASE WHEN result = 'ok' THEN calls ELSE 0 END),
		SUM(CASE WHEN result = 'error' AND NOT infra THEN calls ELSE 0 END),
		SUM(CASE WHEN infra THEN calls ELSE 0 END), SUM(timed)
		FROM s GROUP BY tool_name, module, side`
	return q
}

// ToolPersonaCounts: tool, side, personas, ok personas.
func (d Dialect) ToolPersonaCounts(s persona.SpanQuery) Query {
	var q Query
	q.SQL = d.span(&q, s) + `SELECT tool_name, side, COUNT(DISTINCT CASE WHEN NOT infra THEN persona_id END),
		COUNT(DISTINCT CASE WHEN result = 'ok' THEN persona_id END)
		FROM s GROUP BY tool_name, side`
	return q
}

// OKPersonas: persona_id.
func (d Dialect) OKPersonas(s persona.SpanQuery, tool string) Query {
	var q Query
	q.SQL = d.span(&q, s) + `SELECT DISTINCT persona_id FROM s WHERE result = 'ok' AND tool_name = ` + q.arg(tool)
	return q
}

// TimedByTarget: target, tool, side, timed. The target is targetOf's, as a join (PostgreSQL
// hashes the window's tick records instead of looking each row's up).
func (d Dialect) TimedByTarget(s persona.SpanQuery) Query {
	var q Query
	head := d.span(&q, s)
	q.SQL = head + `SELECT COALESCE(t.target, ''), s.tool_name, s.side, SUM(s.timed) FROM s LEFT JOIN ` + d.Schema + `persona_ticks t
		ON t.tick_id = s.tick_id AND t.started_at >= ` + q.arg(d.Time(bound(s.TicksSince, time.Unix(0, 0).UTC()))) +
		` AND t.started_at < ` + q.arg(d.Time(bound(s.TicksUntil, far))) + `
		WHERE s.timed > 0 GROUP BY COALESCE(t.target, ''), s.tool_name, s.side`
	return q
}

// SpanRows: the columns cols of the span's rows (tick_id, persona_id, tool_name, module,
// result, infra, side, calls, timed, last_at), where cond holds ("" for every row): for a store
// that groups them itself (SQLite's sorter is slower at grouping text than a Go map).
func (d Dialect) SpanRows(s persona.SpanQuery, cols, cond string) Query {
	var q Query
	q.SQL = d.span(&q, s) + `SELECT ` + cols + ` FROM s`
	if cond != "" {
		q.SQL += ` WHERE ` + cond
	}
	return q
}

// TickTargets: tick_id, target of the tick records started in [since, until) that have a
// target (targetOf's runs).
func (d Dialect) TickTargets(since, until time.Time) Query {
	var q Query
	q.SQL = `SELECT t.tick_id, t.target FROM ` + d.Schema + `persona_ticks t WHERE t.started_at >= ` + q.arg(d.Time(bound(since, time.Unix(0, 0).UTC()))) +
		` AND t.started_at < ` + q.arg(d.Time(bound(until, far))) + ` AND t.target <> ''`
	return q
}

// ToolOKIn: one row when tool has a successful call in [since, until).
func (d Dialect) ToolOKIn(tool string, since, until time.Time) Query {
	var q Query
	q.SQL = `SELECT 1 FROM ` + d.Schema + `persona_actions a WHERE a.tool_name = ` + q.arg(tool) +
		` AND a.created_at >= ` + q.arg(d.Time(bound(since, time.Unix(0, 0).UTC()))) +
		` AND a.created_at < ` + q.arg(d.Time(bound(until, far))) + ` AND a.result = 'ok' LIMIT 1`
	return q
}

// ActionArguments: id, arguments of the rows ids that have arguments.
func (d Dialect) ActionArguments(ids []string) Query {
	var q Query
	marks := make([]string, len(ids))
	for i, id := range ids {
		marks[i] = q.arg(id)
	}
	q.SQL = `SELECT a.id, a.arguments FROM ` + d.Schema + `persona_actions a WHERE a.arguments IS NOT NULL AND a.id IN (` + strings.Join(marks, ", ") + `)`
	return q
}

// PersonaNames: user_id, email, name, archetype, last_error of the personas ListPersonas lists,
// by email.
func (d Dialect) PersonaNames() Query {
	return Query{SQL: `SELECT p.user_id, u.email, u.name, p.archetype, p.last_error FROM ` + d.Schema + `personas p
		JOIN ` + d.Schema + `users u ON u.id = p.user_id
		WHERE u.deleted_at IS NULL AND u.kind = 'persona' ORDER BY u.email`}
}

// RunFacts: tick_id, persona_id, status, started_at, error, target, server_version of the tick
// records started in [since, until), newest first (as Ticks orders them).
func (d Dialect) RunFacts(since, until time.Time) Query {
	var q Query
	q.SQL = `SELECT t.tick_id, t.persona_id, t.status, t.started_at, t.error, t.target, t.server_version FROM ` + d.Schema + `persona_ticks t
		WHERE t.started_at >= ` + q.arg(d.Time(bound(since, time.Unix(0, 0).UTC()))) + ` AND t.started_at < ` + q.arg(d.Time(bound(until, far))) + `
		ORDER BY t.started_at DESC, t.tick_id DESC`
	return q
}

// LastNotes: module, notes of each module's newest feedback row of [since, until) with notes, in
// Feedback's order (created_at, tick_id, module, id): one index seek per module.
func (d Dialect) LastNotes(modules []string, since, until time.Time) Query {
	var q Query
	arms := make([]string, len(modules))
	for i, m := range modules {
		arms[i] = `SELECT * FROM (SELECT f.module, f.notes FROM ` + d.Schema + `persona_feedback f WHERE f.module = ` + q.arg(m) +
			` AND f.created_at >= ` + q.arg(d.Time(bound(since, time.Unix(0, 0).UTC()))) + ` AND f.created_at < ` + q.arg(d.Time(bound(until, far))) +
			` AND f.notes <> '' ORDER BY f.created_at DESC, f.tick_id DESC, f.id DESC LIMIT 1) n` + fmt.Sprint(i)
	}
	q.SQL = strings.Join(arms, " UNION ALL ")
	return q
}

// RatingCounts: module, side, rating, count.
func (d Dialect) RatingCounts(s persona.SpanQuery) Query {
	var q Query
	q.SQL = `SELECT f.module, CASE WHEN f.created_at >= ` + q.arg(d.Time(bound(s.Cut, far))) + ` THEN 1 ELSE 0 END, f.rating, COUNT(*)
		FROM ` + d.Schema + `persona_feedback f WHERE f.created_at >= ` + q.arg(d.Time(bound(s.Since, time.Unix(0, 0).UTC()))) +
		` AND f.created_at < ` + q.arg(d.Time(bound(s.Until, far))) + ` GROUP BY 1, 2, 3`
	return q
}

// ActionRowCols are the columns ActionRows reads (as the stores scan an action): with
// noArguments, NULL for the arguments and the result preview.
func ActionRowCols(noArguments bool) string {
	cols := "a.id, a.persona_id, a.tick_id, a.tool_name, a.module, a.input_hash, a.result, a.error_message, a.latency_ms, a.seq, a.created_at, a.error_class, "
	if noArguments {
		return cols + "NULL, NULL"
	}
	return cols + "a.arguments, a.result_preview"
}

// LatencyFromTop: latency_ms.
func (d Dialect) LatencyFromTop(l persona.LatencyQuery) Query {
	var q Query
	q.SQL = `SELECT a.latency_ms FROM ` + d.Schema + `persona_actions a WHERE a.tool_name = ` + q.arg(l.Tool) +
		` AND a.latency_ms IS NOT NULL AND a.created_at >= ` + q.arg(d.Time(bound(l.Since, time.Unix(0, 0).UTC()))) +
		` AND a.created_at < ` + q.arg(d.Time(bound(l.Until, far)))
	if l.Module != "" {
		q.SQL += " AND a.module = " + q.arg(l.Module)
	}
	if l.HasTarget {
		q.SQL += " AND " + d.targetOf(&q, "a.tick_id", l.TicksSince, l.TicksUntil) + " = " + q.arg(l.Target)
	}
	q.SQL += " ORDER BY a.latency_ms DESC LIMIT 1 OFFSET " + q.arg(l.Offset)
	return q
}

// ActionRows: the columns cols of the matching rows, oldest first.
func (d Dialect) ActionRows(f persona.RowFilter, cols string) Query {
	var q Query
	var conds []string
	if !f.Since.IsZero() {
		conds = append(conds, "a.created_at >= "+q.arg(d.Time(f.Since)))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "a.created_at < "+q.arg(d.Time(f.Until)))
	}
	if f.Module != "" {
		conds = append(conds, "a.module = "+q.arg(f.Module))
	}
	if f.Tool != "" {
		conds = append(conds, "a.tool_name = "+q.arg(f.Tool))
	}
	if f.ErrorsOnly {
		conds = append(conds, "a.result = 'error'")
	}
	if f.NotInfra {
		conds = append(conds, "NOT "+Infra("a."))
	}
	if f.Timed {
		conds = append(conds, "a.latency_ms IS NOT NULL")
	}
	if f.MinLatency != nil {
		conds = append(conds, "a.latency_ms >= "+q.arg(*f.MinLatency))
	}
	if f.HasTarget {
		conds = append(conds, d.targetOf(&q, "a.tick_id", f.TicksSince, f.TicksUntil)+" = "+q.arg(f.Target))
	}
	q.SQL = "SELECT " + cols + " FROM " + d.Schema + "persona_actions a"
	if len(conds) > 0 {
		q.SQL += " WHERE " + strings.Join(conds, " AND ")
	}
	q.SQL += " ORDER BY a.created_at, a.tick_id, a.seq, a.id"
	if f.Limit > 0 {
		q.SQL += " LIMIT " + q.arg(f.Limit)
	}
	return q
}

// ToolRuns: tick_id, newest first.
func (d Dialect) ToolRuns(r persona.ToolRunsQuery) Query {
	var q Query
	q.SQL = `SELECT t.tick_id FROM ` + d.Schema + `persona_ticks t
		WHERE t.started_at >= ` + q.arg(d.Time(bound(r.TicksSince, time.Unix(0, 0).UTC()))) +
		` AND t.started_at < ` + q.arg(d.Time(bound(r.TicksUntil, far))) +
		` AND t.started_at > ` + q.arg(d.Time(bound(r.After, time.Unix(0, 0).UTC()))) +
		` AND EXISTS (SELECT 1 FROM ` + d.Schema + `persona_actions a WHERE a.tick_id = t.tick_id AND a.tool_name = ` + q.arg(r.Tool) +
		` AND a.created_at >= ` + q.arg(d.Time(bound(r.Since, time.Unix(0, 0).UTC()))) +
		` AND a.created_at < ` + q.arg(d.Time(bound(r.Until, far))) + `)
		ORDER BY t.started_at DESC, t.tick_id DESC LIMIT ` + q.arg(max(r.Limit, 1))
	return q
}

// TickModuleCalls: tick_id, module, calls.
func (d Dialect) TickModuleCalls(s persona.SpanQuery) Query {
	var q Query
	q.SQL = d.span(&q, s) + `SELECT tick_id, module, SUM(calls) FROM s GROUP BY tick_id, module`
	return q
}

// ToolTotals (the dashboard's tool statistics without their percentiles): tool, module (the
// greatest), calls, errors (every failed call), timed, the newest call's time; by tool name.
func (d Dialect) ToolTotals(s persona.SpanQuery) Query {
	var q Query
	q.SQL = d.span(&q, s) + `SELECT tool_name, MAX(module), SUM(calls), SUM(CASE WHEN result = 'error' THEN calls ELSE 0 END),
		SUM(timed), MAX(last_at) FROM s GROUP BY tool_name ORDER BY tool_name`
	return q
}

// Ranks are the 0-based ranks from the top of the nearest-rank p50 and p95 of n latencies (the
// rank ceil(n·p) from the bottom, as PostgreSQL's percentile_disc).
func Ranks(n int) (p50, p95 int) {
	return n - (n*50+99)/100, n - (n*95+99)/100
}
