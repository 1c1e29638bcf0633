package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// The dashboard's read queries (persona/stats.go): aggregates computed here, so that a page reads
// a few hundred rows whatever the size of the tables. Migration 6 adds the indexes they use.

// rowsFilter filters action or feedback rows (time column created_at) under alias a.
func rowsFilter(f persona.StatsFilter, alias string) *filter {
	w := &filter{}
	if !f.Since.IsZero() {
		w.add(alias+".created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.add(alias+".created_at < ?", f.Until)
	}
	if f.PersonaID != "" {
		w.add(alias+".persona_id = ?", f.PersonaID)
	}
	if f.Module != "" {
		w.add(alias+".module = ?", f.Module)
	}
	if f.Target != "" {
		w.add(alias+".tick_id IN (SELECT tick_id FROM auth.persona_ticks WHERE target = ?)", f.Target)
	}
	return w
}

// ticksFilter filters tick records (alias t); a module keeps the runs that made a call in it.
func ticksFilter(f persona.StatsFilter) *filter {
	w := &filter{}
	if !f.Since.IsZero() {
		w.add("t.started_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("t.started_at < ?", f.Until)
	}
	if f.PersonaID != "" {
		w.add("t.persona_id = ?", f.PersonaID)
	}
	if f.Target != "" {
		w.add("t.target = ?", f.Target)
	}
	if f.Module != "" {
		w.add("EXISTS (SELECT 1 FROM auth.persona_actions a WHERE a.tick_id = t.tick_id AND a.module = ?)", f.Module)
	}
	return w
}

// next adds a positional argument and returns its placeholder.
func (f *filter) next(arg any) string {
	f.args = append(f.args, arg)
	return fmt.Sprintf("$%d", len(f.args))
}

// RunsByDay counts runs per UTC day and status, with their tokens and cost.
func (db *DB) RunsByDay(ctx context.Context, f persona.StatsFilter) ([]persona.RunDay, error) {
	w := ticksFilter(f)
	rows, err := db.pool.Query(ctx, `SELECT date_trunc('day', t.started_at AT TIME ZONE 'UTC') AS day, t.status, count(*),
		sum(t.input_tokens)::bigint, sum(t.output_tokens)::bigint, sum(t.cost_usd)
		FROM auth.persona_ticks t`+w.where()+` GROUP BY 1, 2 ORDER BY 1, 2`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("runs by day: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.RunDay, error) {
		var (
			d      persona.RunDay
			status string
		)
		err := r.Scan(&d.Day, &status, &d.Runs, &d.InputTokens, &d.OutputTokens, &d.CostUSD)
		d.Day, d.Status = asUTC(d.Day), persona.TickStatus(status)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("runs by day: %w", err)
	}
	return out, nil
}

// asUTC reads a timestamp without time zone (scanned as UTC by pgx) as the UTC instant it is.
func asUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// RatingsByDay counts ratings per UTC day, module and value. Over every persona and target the
// window's whole UTC days come from the daily rollup of the ratings (migration 11), its partial
// first and last days from the ratings.
func (db *DB) RatingsByDay(ctx context.Context, f persona.StatsFilter) ([]persona.RatingDay, error) {
	if f.PersonaID != "" || f.Target != "" {
		return ratingsByDayRows(ctx, db.pool, f)
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	ds, de, edges := persona.WholeSpans(f.Since, f.Until, 24*time.Hour)
	rows, err := tx.Query(ctx, `SELECT day, module, rating, n FROM auth.persona_rating_days
		WHERE day >= $1 AND day < $2 AND ($3 = '' OR module = $3)`, ds, de, f.Module)
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.RatingDay, error) {
		var d persona.RatingDay
		err := r.Scan(&d.Day, &d.Module, &d.Rating, &d.Count)
		d.Day = d.Day.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	for _, e := range edges {
		if !e[0].Before(e[1]) {
			continue
		}
		ef := f
		ef.Since, ef.Until = e[0], e[1]
		part, err := ratingsByDayRows(ctx, tx, ef)
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	persona.SortRatingDays(out)
	return out, nil
}

// ratingsByDayRows is RatingsByDay counted from the ratings themselves.
func ratingsByDayRows(ctx context.Context, q querier, f persona.StatsFilter) ([]persona.RatingDay, error) {
	w := rowsFilter(f, "f")
	rows, err := q.Query(ctx, `SELECT date_trunc('day', f.created_at AT TIME ZONE 'UTC') AS day, f.module, f.rating, count(*)
		FROM auth.persona_feedback f`+w.where()+` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.RatingDay, error) {
		var d persona.RatingDay
		err := r.Scan(&d.Day, &d.Module, &d.Rating, &d.Count)
		d.Day = asUTC(d.Day)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	return out, nil
}

// ToolStats returns calls, errors and nearest-rank latency percentiles per tool, by tool name.
func (db *DB) ToolStats(ctx context.Context, f persona.StatsFilter) ([]persona.ToolStat, error) {
	if f.PersonaID == "" && f.Target == "" {
		return db.toolStatsHours(ctx, f)
	}
	w := rowsFilter(f, "a")
	rows, err := db.pool.Query(ctx, `SELECT a.tool_name, max(a.module), count(*), count(*) FILTER (WHERE a.result = 'error'),
		count(a.latency_ms),
		COALESCE(percentile_disc(0.5) WITHIN GROUP (ORDER BY a.latency_ms), 0)::bigint,
		COALESCE(percentile_disc(0.95) WITHIN GROUP (ORDER BY a.latency_ms), 0)::bigint,
		max(a.created_at)
		FROM auth.persona_actions a`+w.where()+` GROUP BY a.tool_name ORDER BY a.tool_name`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.ToolStat, error) {
		var s persona.ToolStat
		err := r.Scan(&s.Tool, &s.Module, &s.Calls, &s.Errors, &s.Timed, &s.P50Ms, &s.P95Ms, &s.LastUsed)
		s.LastUsed = utc(s.LastUsed)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	return out, nil
}

// ToolErrors returns the distinct error messages per tool, most frequent first, at most limit
// per tool.
func (db *DB) ToolErrors(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.ToolError, error) {
	w := rowsFilter(f, "a")
	w.conds = append(w.conds, "a.result = 'error'")
	lim := w.next(limit)
	rows, err := db.pool.Query(ctx, `SELECT tool_name, error_message, n, last FROM (
			SELECT a.tool_name, a.error_message, count(*) AS n, max(a.created_at) AS last,
				row_number() OVER (PARTITION BY a.tool_name ORDER BY count(*) DESC, max(a.created_at) DESC) AS k
			FROM auth.persona_actions a`+w.where()+` GROUP BY a.tool_name, a.error_message) e
		WHERE k <= `+lim+` ORDER BY tool_name, k`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("tool errors: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.ToolError, error) {
		var e persona.ToolError
		err := r.Scan(&e.Tool, &e.Message, &e.Count, &e.Last)
		e.Last = utc(e.Last)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("tool errors: %w", err)
	}
	return out, nil
}

// RecentNotes returns the newest ratings with their notes and the persona's email.
func (db *DB) RecentNotes(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.Note, error) {
	w := rowsFilter(f, "f")
	lim := w.next(limit)
	rows, err := db.pool.Query(ctx, `SELECT f.tick_id, f.persona_id, COALESCE(u.email, ''), f.module, f.rating, f.notes, f.created_at
		FROM auth.persona_feedback f LEFT JOIN auth.users u ON u.id = f.persona_id`+w.where()+`
		ORDER BY f.created_at DESC, f.id DESC LIMIT `+lim, w.args...)
	if err != nil {
		return nil, fmt.Errorf("recent notes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Note, error) {
		var n persona.Note
		err := r.Scan(&n.TickID, &n.PersonaID, &n.Email, &n.Module, &n.Rating, &n.Notes, &n.CreatedAt)
		n.CreatedAt = utc(n.CreatedAt)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("recent notes: %w", err)
	}
	return out, nil
}

const runRowCols = `t.tick_id, t.persona_id, t.runner_id, t.status, t.started_at, t.finished_at, t.tool_calls, t.errors,
	t.turns, t.input_tokens, t.output_tokens, t.cached_tokens, t.cost_usd, t.model, t.summary, t.error,
	COALESCE(u.email, ''), COALESCE(u.name, ''), t.target, t.server_name, t.server_version`

func scanRunRow(row pgx.Row, transcript **string) (persona.RunRow, error) {
	var (
		r      persona.RunRow
		status string
	)
	dest := []any{&r.TickID, &r.PersonaID, &r.RunnerID, &status, &r.StartedAt, &r.FinishedAt, &r.ToolCalls, &r.Errors,
		&r.Turns, &r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.CostUSD, &r.Model, &r.Summary, &r.Error,
		&r.Email, &r.Name, &r.Target, &r.ServerName, &r.ServerVersion}
	if transcript != nil {
		dest = append(dest, transcript)
	}
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	r.Status, r.StartedAt, r.FinishedAt = persona.TickStatus(status), utc(r.StartedAt), utcPtr(r.FinishedAt)
	return r, nil
}

// RecentRuns returns the newest runs (without transcripts), newest first.
func (db *DB) RecentRuns(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.RunRow, error) {
	w := ticksFilter(f)
	lim := w.next(limit)
	rows, err := db.pool.Query(ctx, `SELECT `+runRowCols+` FROM auth.persona_ticks t LEFT JOIN auth.users u ON u.id = t.persona_id`+
		w.where()+` ORDER BY t.started_at DESC, t.tick_id DESC LIMIT `+lim, w.args...)
	if err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.RunRow, error) { return scanRunRow(r, nil) })
	if err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	return out, nil
}

// Run returns one run with its transcript; ErrNotFound when there is none.
func (db *DB) Run(ctx context.Context, tickID string) (persona.RunRow, error) {
	var transcript *string
	r, err := scanRunRow(db.pool.QueryRow(ctx, `SELECT `+runRowCols+`, t.transcript::text
		FROM auth.persona_ticks t LEFT JOIN auth.users u ON u.id = t.persona_id WHERE t.tick_id = $1`, tickID), &transcript)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("run %q: %w", tickID, persona.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("run %q: %w", tickID, err)
	}
	if transcript != nil {
		r.Transcript = []byte(*transcript)
	}
	return r, nil
}

// Targets lists the distinct targets of the tick records, by name ("" for runs without one):
// one step of the target index per target (migration 11), not a pass over every run.
func (db *DB) Targets(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `WITH RECURSIVE t (v) AS (SELECT MIN(target) FROM auth.persona_ticks
		UNION ALL SELECT (SELECT MIN(target) FROM auth.persona_ticks WHERE target > t.v) FROM t WHERE t.v IS NOT NULL)
		SELECT v FROM t WHERE v IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return out, nil
}

// PersonaCards pages through the live personas by email (q.Limit ≤ 0: all), each with its last
// run and its ratings per module, and returns the number of personas q.Search matches.
func (db *DB) PersonaCards(ctx context.Context, q persona.CardQuery) ([]persona.PersonaCard, int, error) {
	w := &filter{conds: []string{"u.deleted_at IS NULL", "u.kind = 'persona'"}}
	if s := strings.TrimSpace(q.Search); s != "" {
		ph := w.next(strings.ToLower(s))
		w.conds = append(w.conds, "(strpos(lower(u.email), "+ph+") > 0 OR strpos(lower(u.name), "+ph+") > 0 OR strpos(lower(p.archetype), "+ph+") > 0)")
	}
	var total int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM auth.personas p JOIN auth.users u ON u.id = p.user_id`+w.where(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("persona cards: %w", err)
	}
	page := ""
	if q.Limit > 0 {
		page = " LIMIT " + w.next(q.Limit)
	}
	page += " OFFSET " + w.next(max(q.Offset, 0))
	rows, err := db.pool.Query(ctx, `SELECT `+personaCols+`, l.status, l.started_at
		FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
		LEFT JOIN LATERAL (SELECT t.status, t.started_at FROM auth.persona_ticks t WHERE t.persona_id = p.user_id
			ORDER BY t.started_at DESC LIMIT 1) l ON true`+w.where()+` ORDER BY u.email`+page, w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("persona cards: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.PersonaCard, error) {
		var (
			status *string
			last   *time.Time
		)
		p, err := scanPersona(scanFunc(func(dest ...any) error { return r.Scan(append(dest, &status, &last)...) }))
		c := persona.PersonaCard{Persona: p, LastRunAt: utcPtr(last)}
		if status != nil {
			c.LastStatus = persona.TickStatus(*status)
		}
		return c, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("persona cards: %w", err)
	}
	if len(out) == 0 {
		return out, total, nil
	}
	at := map[string]int{}
	ids := make([]string, len(out))
	for i, c := range out {
		at[c.UserID], ids[i] = i, c.UserID
	}
	rrows, err := db.pool.Query(ctx, `SELECT persona_id, module, avg(rating)::float8, count(*) FROM auth.persona_feedback
		WHERE persona_id = ANY($1) GROUP BY persona_id, module ORDER BY persona_id, module`, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("persona cards: ratings: %w", err)
	}
	_, err = pgx.CollectRows(rrows, func(r pgx.CollectableRow) (struct{}, error) {
		var (
			id string
			m  persona.ModuleRating
		)
		if err := r.Scan(&id, &m.Module, &m.AvgRating, &m.Count); err != nil {
			return struct{}{}, err
		}
		out[at[id]].Ratings = append(out[at[id]].Ratings, m)
		return struct{}{}, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("persona cards: ratings: %w", err)
	}
	return out, total, nil
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// NextDue returns up to limit live personas in the order they come due: by the earliest time
// their cadence and back-off allow the next run (the indexed column due_at; never-run personas
// first). Leases and weekdays are left to the caller (persona.NextDue).
func (db *DB) NextDue(ctx context.Context, limit int) ([]persona.Persona, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+personaCols+` FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
		WHERE u.deleted_at IS NULL AND u.kind = 'persona' ORDER BY p.due_at, p.user_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("next due: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Persona, error) { return scanPersona(r) })
	if err != nil {
		return nil, fmt.Errorf("next due: %w", err)
	}
	return out, nil
}

// toolStatsHours is ToolStats over every persona and target, in one repeatable-read
// transaction: the window's whole UTC hours from the hourly rollup (migration 11: per tool,
// module and latency bucket), its partial first and last hours from the rows; each percentile is
// located in its bucket by the counts, then read from the rows of that bucket alone (the latency
// index), so it is exact and reads a bucket, not half of every call.
func (db *DB) toolStatsHours(ctx context.Context, f persona.StatsFilter) ([]persona.ToolStat, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	hs, he, edges := persona.HourEdges(f.Since, f.Until)
	var h persona.ToolHours
	rows, err := tx.Query(ctx, `SELECT tool_name, max(module), bucket, sum(calls)::bigint, sum(errors)::bigint, max(last_at)
		FROM auth.persona_action_hours WHERE hour >= $1 AND hour < $2 AND ($3 = '' OR module = $3) GROUP BY tool_name, bucket`, hs, he, f.Module)
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	for rows.Next() {
		var (
			tool, module        string
			bucket, calls, errs int64
			last                time.Time
		)
		if err := rows.Scan(&tool, &module, &bucket, &calls, &errs, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("tool stats: %w", err)
		}
		h.AddHours(tool, module, bucket, calls, errs, last)
	}
	if rows.Close(); rows.Err() != nil {
		return nil, fmt.Errorf("tool stats: %w", rows.Err())
	}
	for _, e := range edges {
		if !e[0].Before(e[1]) {
			continue
		}
		rows, err := tx.Query(ctx, `SELECT tool_name, module, result, latency_ms, created_at FROM auth.persona_actions
			WHERE created_at >= $1 AND created_at < $2 AND ($3 = '' OR module = $3)`, e[0], e[1], f.Module)
		if err != nil {
			return nil, fmt.Errorf("tool stats: %w", err)
		}
		for rows.Next() {
			var (
				tool, module, result string
				latency              *int64
				at                   time.Time
			)
			if err := rows.Scan(&tool, &module, &result, &latency, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("tool stats: %w", err)
			}
			h.AddRow(tool, module, persona.Result(result), latency, at)
		}
		if rows.Close(); rows.Err() != nil {
			return nil, fmt.Errorf("tool stats: %w", rows.Err())
		}
	}
	since, until := edges[0][0], edges[len(edges)-1][1]
	out, err := h.Stats(f.NoPercentiles, func(tool string, lo, hi, offset int64) (int64, error) {
		var v int64
		err := tx.QueryRow(ctx, `SELECT latency_ms FROM auth.persona_actions
			WHERE tool_name = $1 AND latency_ms >= $2 AND latency_ms < $3 AND created_at >= $4 AND created_at < $5
				AND ($6 = '' OR module = $6)
			ORDER BY latency_ms LIMIT 1 OFFSET $7`, tool, lo, hi, since, until, f.Module, offset).Scan(&v)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	return out, nil
}
