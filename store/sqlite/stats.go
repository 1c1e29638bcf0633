package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// The dashboard's read queries (persona/stats.go): aggregates computed here, so that a page reads
// a few hundred rows whatever the size of the tables. Migration 4 adds the indexes they use.

const dayMicros = 86_400_000_000

// rowsWhere filters action or feedback rows (time column created_at).
func rowsWhere(f persona.StatsFilter) *where {
	w := &where{}
	w.span("created_at", f.Since, f.Until)
	w.eq("persona_id", f.PersonaID)
	w.eq("module", f.Module)
	if f.Target != "" {
		w.conds = append(w.conds, "tick_id IN (SELECT tick_id FROM persona_ticks WHERE target = ?)")
		w.args = append(w.args, f.Target)
	}
	return w
}

// ticksWhere filters tick records (alias t); a module keeps the runs that made a call in it.
func ticksWhere(f persona.StatsFilter) *where {
	w := &where{}
	w.span("t.started_at", f.Since, f.Until)
	w.eq("t.persona_id", f.PersonaID)
	w.eq("t.target", f.Target)
	if f.Module != "" {
		w.conds = append(w.conds, "EXISTS (SELECT 1 FROM persona_actions a WHERE a.tick_id = t.tick_id AND a.module = ?)")
		w.args = append(w.args, f.Module)
	}
	return w
}

// RunsByDay counts runs per UTC day and status, with their tokens and cost.
func (db *DB) RunsByDay(ctx context.Context, f persona.StatsFilter) ([]persona.RunDay, error) {
	w := ticksWhere(f)
	rows, err := db.r.QueryContext(ctx, `SELECT t.started_at / `+fmt.Sprint(dayMicros)+` AS day, t.status, COUNT(*),
		SUM(t.input_tokens), SUM(t.output_tokens), SUM(t.cost_usd)
		FROM persona_ticks t`+w.String()+` GROUP BY day, t.status ORDER BY day, t.status`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("runs by day: %w", err)
	}
	defer rows.Close()
	out := []persona.RunDay{}
	for rows.Next() {
		var (
			d      persona.RunDay
			day    int64
			status string
		)
		if err := rows.Scan(&day, &status, &d.Runs, &d.InputTokens, &d.OutputTokens, &d.CostUSD); err != nil {
			return nil, fmt.Errorf("runs by day: %w", err)
		}
		d.Day, d.Status = fromMicro(day*dayMicros), persona.TickStatus(status)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runs by day: %w", err)
	}
	return out, nil
}

// RatingsByDay counts ratings per UTC day, module and value. Over every persona and target the
// window's whole UTC days come from the daily rollup of the ratings (migration 12), its partial
// first and last days from the ratings.
func (db *DB) RatingsByDay(ctx context.Context, f persona.StatsFilter) ([]persona.RatingDay, error) {
	if f.PersonaID != "" || f.Target != "" {
		return ratingsByDayRows(ctx, db.r, f)
	}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	defer tx.Rollback()
	ds, de, edges := persona.WholeSpans(f.Since, f.Until, 24*time.Hour)
	args := []any{micro(ds), micro(de)}
	mod := ""
	if f.Module != "" {
		mod, args = " AND module = ?", append(args, f.Module)
	}
	rows, err := tx.QueryContext(ctx, `SELECT day, module, rating, n FROM persona_rating_days WHERE day >= ? AND day < ?`+mod, args...)
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	out := []persona.RatingDay{}
	for rows.Next() {
		var (
			d   persona.RatingDay
			day int64
		)
		if err := rows.Scan(&day, &d.Module, &d.Rating, &d.Count); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ratings by day: %w", err)
		}
		d.Day = fromMicro(day)
		out = append(out, d)
	}
	if err := rows.Close(); err != nil {
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

// querier is a connection pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ratingsByDayRows is RatingsByDay counted from the ratings themselves.
func ratingsByDayRows(ctx context.Context, q querier, f persona.StatsFilter) ([]persona.RatingDay, error) {
	w := rowsWhere(f)
	rows, err := q.QueryContext(ctx, `SELECT created_at / `+fmt.Sprint(dayMicros)+` AS day, module, rating, COUNT(*)
		FROM persona_feedback`+w.String()+` GROUP BY day, module, rating ORDER BY day, module, rating`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	defer rows.Close()
	out := []persona.RatingDay{}
	for rows.Next() {
		var (
			d   persona.RatingDay
			day int64
		)
		if err := rows.Scan(&day, &d.Module, &d.Rating, &d.Count); err != nil {
			return nil, fmt.Errorf("ratings by day: %w", err)
		}
		d.Day = fromMicro(day * dayMicros)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ratings by day: %w", err)
	}
	return out, nil
}

// ToolStats returns calls, errors and nearest-rank latency percentiles per tool, by tool name.
func (db *DB) ToolStats(ctx context.Context, f persona.StatsFilter) ([]persona.ToolStat, error) {
	if f.PersonaID == "" && f.Target == "" {
		return db.toolStatsHours(ctx, f)
	}
	w := rowsWhere(f)
	// SQLite has no percentile aggregate: each tool's known latencies are ranked, and the rows at
	// the ranks ceil(n·p) are picked (nearest rank, as PostgreSQL's percentile_disc).
	rows, err := db.r.QueryContext(ctx, `WITH a AS (SELECT tool_name, module, result, latency_ms, created_at
			FROM persona_actions`+w.String()+`),
		r AS (SELECT tool_name, latency_ms,
			ROW_NUMBER() OVER (PARTITION BY tool_name ORDER BY latency_ms) AS rn,
			COUNT(*) OVER (PARTITION BY tool_name) AS n
			FROM a WHERE latency_ms IS NOT NULL),
		p AS (SELECT tool_name,
			MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN latency_ms END) AS p50,
			MAX(CASE WHEN rn = (n * 95 + 99) / 100 THEN latency_ms END) AS p95
			FROM r GROUP BY tool_name)
		SELECT a.tool_name, MAX(a.module), COUNT(*), SUM(a.result = 'error'), COUNT(a.latency_ms), COALESCE(p.p50, 0), COALESCE(p.p95, 0), MAX(a.created_at)
		FROM a LEFT JOIN p ON p.tool_name = a.tool_name
		GROUP BY a.tool_name ORDER BY a.tool_name`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	defer rows.Close()
	out := []persona.ToolStat{}
	for rows.Next() {
		var (
			s    persona.ToolStat
			last int64
		)
		if err := rows.Scan(&s.Tool, &s.Module, &s.Calls, &s.Errors, &s.Timed, &s.P50Ms, &s.P95Ms, &last); err != nil {
			return nil, fmt.Errorf("tool stats: %w", err)
		}
		s.LastUsed = fromMicro(last)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	return out, nil
}

// ToolErrors returns the distinct error messages per tool, most frequent first, at most limit
// per tool.
func (db *DB) ToolErrors(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.ToolError, error) {
	w := rowsWhere(f)
	w.conds = append(w.conds, "result = 'error'")
	rows, err := db.r.QueryContext(ctx, `SELECT tool_name, error_message, n, last FROM (
			SELECT tool_name, error_message, COUNT(*) AS n, MAX(created_at) AS last,
				ROW_NUMBER() OVER (PARTITION BY tool_name ORDER BY COUNT(*) DESC, MAX(created_at) DESC) AS k
			FROM persona_actions`+w.String()+` GROUP BY tool_name, error_message)
		WHERE k <= ? ORDER BY tool_name, k`, append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("tool errors: %w", err)
	}
	defer rows.Close()
	out := []persona.ToolError{}
	for rows.Next() {
		var (
			e    persona.ToolError
			last int64
		)
		if err := rows.Scan(&e.Tool, &e.Message, &e.Count, &last); err != nil {
			return nil, fmt.Errorf("tool errors: %w", err)
		}
		e.Last = fromMicro(last)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tool errors: %w", err)
	}
	return out, nil
}

// RecentNotes returns the newest ratings with their notes and the persona's email.
func (db *DB) RecentNotes(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.Note, error) {
	w := rowsWhere(f)
	for i, c := range w.conds {
		w.conds[i] = "f." + c
	}
	rows, err := db.r.QueryContext(ctx, `SELECT f.tick_id, f.persona_id, COALESCE(u.email, ''), f.module, f.rating, f.notes, f.created_at
		FROM persona_feedback f LEFT JOIN users u ON u.id = f.persona_id`+w.String()+`
		ORDER BY f.created_at DESC, f.id DESC LIMIT ?`, append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("recent notes: %w", err)
	}
	defer rows.Close()
	out := []persona.Note{}
	for rows.Next() {
		var (
			n  persona.Note
			at int64
		)
		if err := rows.Scan(&n.TickID, &n.PersonaID, &n.Email, &n.Module, &n.Rating, &n.Notes, &at); err != nil {
			return nil, fmt.Errorf("recent notes: %w", err)
		}
		n.CreatedAt = fromMicro(at)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent notes: %w", err)
	}
	return out, nil
}

const runRowCols = `t.tick_id, t.persona_id, t.runner_id, t.status, t.started_at, t.finished_at, t.tool_calls, t.errors,
	t.turns, t.input_tokens, t.output_tokens, t.cached_tokens, t.cost_usd, t.model, t.summary, t.error,
	COALESCE(u.email, ''), COALESCE(u.name, ''), t.target, t.server_name, t.server_version`

func scanRunRow(row scanner, transcript *sql.NullString) (persona.RunRow, error) {
	var (
		r        persona.RunRow
		status   string
		started  int64
		finished sql.NullInt64
	)
	dest := []any{&r.TickID, &r.PersonaID, &r.RunnerID, &status, &started, &finished, &r.ToolCalls, &r.Errors, &r.Turns,
		&r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.CostUSD, &r.Model, &r.Summary, &r.Error,
		&r.Email, &r.Name, &r.Target, &r.ServerName, &r.ServerVersion}
	if transcript != nil {
		dest = append(dest, transcript)
	}
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	r.Status, r.StartedAt, r.FinishedAt = persona.TickStatus(status), fromMicro(started), ptrTime(finished)
	return r, nil
}

// RecentRuns returns the newest runs (without transcripts), newest first.
func (db *DB) RecentRuns(ctx context.Context, f persona.StatsFilter, limit int) ([]persona.RunRow, error) {
	w := ticksWhere(f)
	rows, err := db.r.QueryContext(ctx, `SELECT `+runRowCols+` FROM persona_ticks t LEFT JOIN users u ON u.id = t.persona_id`+
		w.String()+` ORDER BY t.started_at DESC, t.tick_id DESC LIMIT ?`, append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	defer rows.Close()
	out := []persona.RunRow{}
	for rows.Next() {
		r, err := scanRunRow(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("recent runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent runs: %w", err)
	}
	return out, nil
}

// Run returns one run with its transcript; ErrNotFound when there is none.
func (db *DB) Run(ctx context.Context, tickID string) (persona.RunRow, error) {
	var transcript sql.NullString
	r, err := scanRunRow(db.r.QueryRowContext(ctx, `SELECT `+runRowCols+`, t.transcript
		FROM persona_ticks t LEFT JOIN users u ON u.id = t.persona_id WHERE t.tick_id = ?`, tickID), &transcript)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("run %q: %w", tickID, persona.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("run %q: %w", tickID, err)
	}
	if transcript.Valid {
		r.Transcript = []byte(transcript.String)
	}
	return r, nil
}

// Targets lists the distinct targets of the tick records, by name ("" for runs without one):
// one step of the target index per target (migration 12), not a pass over every run.
func (db *DB) Targets(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `WITH RECURSIVE t (v) AS (SELECT MIN(target) FROM persona_ticks
		UNION ALL SELECT (SELECT MIN(target) FROM persona_ticks WHERE target > t.v) FROM t WHERE t.v IS NOT NULL)
		SELECT v FROM t WHERE v IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("targets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PersonaCards pages through the live personas by email (q.Limit ≤ 0: all), each with its last
// run and its ratings per module, and returns the number of personas q.Search matches.
func (db *DB) PersonaCards(ctx context.Context, q persona.CardQuery) ([]persona.PersonaCard, int, error) {
	w := &where{conds: []string{"u.deleted_at IS NULL", "u.kind = 'persona'"}}
	if s := strings.TrimSpace(q.Search); s != "" {
		w.conds = append(w.conds, "(instr(lower(u.email), ?) > 0 OR instr(lower(u.name), ?) > 0 OR instr(lower(p.archetype), ?) > 0)")
		s = strings.ToLower(s)
		w.args = append(w.args, s, s, s)
	}
	var total int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM personas p JOIN users u ON u.id = p.user_id`+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("persona cards: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+personaCols+`,
		(SELECT t.status FROM persona_ticks t WHERE t.persona_id = p.user_id ORDER BY t.started_at DESC LIMIT 1),
		(SELECT t.started_at FROM persona_ticks t WHERE t.persona_id = p.user_id ORDER BY t.started_at DESC LIMIT 1)
		FROM personas p JOIN users u ON u.id = p.user_id`+w.String()+` ORDER BY u.email LIMIT ? OFFSET ?`,
		append(w.args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("persona cards: %w", err)
	}
	defer rows.Close()
	out := []persona.PersonaCard{}
	for rows.Next() {
		var (
			status sql.NullString
			last   sql.NullInt64
		)
		p, err := scanPersona(scanFunc(func(dest ...any) error { return rows.Scan(append(dest, &status, &last)...) }))
		if err != nil {
			return nil, 0, fmt.Errorf("persona cards: %w", err)
		}
		out = append(out, persona.PersonaCard{Persona: p, LastStatus: persona.TickStatus(status.String), LastRunAt: ptrTime(last)})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("persona cards: %w", err)
	}
	rows.Close()
	if err := db.cardRatings(ctx, out); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// cardRatings fills the cards' ratings per module, in one query.
func (db *DB) cardRatings(ctx context.Context, cards []persona.PersonaCard) error {
	if len(cards) == 0 {
		return nil
	}
	at := map[string]int{}
	args := make([]any, len(cards))
	for i, c := range cards {
		at[c.UserID], args[i] = i, c.UserID
	}
	rows, err := db.r.QueryContext(ctx, `SELECT persona_id, module, AVG(rating), COUNT(*) FROM persona_feedback
		WHERE persona_id IN (?`+strings.Repeat(", ?", len(cards)-1)+`) GROUP BY persona_id, module ORDER BY persona_id, module`, args...)
	if err != nil {
		return fmt.Errorf("persona cards: ratings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			m  persona.ModuleRating
		)
		if err := rows.Scan(&id, &m.Module, &m.AvgRating, &m.Count); err != nil {
			return fmt.Errorf("persona cards: ratings: %w", err)
		}
		cards[at[id]].Ratings = append(cards[at[id]].Ratings, m)
	}
	return rows.Err()
}

// NextDue returns up to limit live personas in the order they come due: by the earliest time
// their cadence and back-off allow the next run (never-run personas first). Leases and
// weekdays are left to the caller (persona.NextDue).
func (db *DB) NextDue(ctx context.Context, limit int) ([]persona.Persona, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+personaCols+` FROM personas p JOIN users u ON u.id = p.user_id
		WHERE u.deleted_at IS NULL AND u.kind = 'persona'
		ORDER BY MAX(COALESCE(p.last_active_at + CASE p.tick_cadence WHEN 'hourly' THEN 3600000000 ELSE 86400000000 END, 0),
			COALESCE(p.next_due_at, 0)), p.user_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("next due: %w", err)
	}
	defer rows.Close()
	out := []persona.Persona{}
	for rows.Next() {
		p, err := scanPersona(rows)
		if err != nil {
			return nil, fmt.Errorf("next due: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const hourMicros = 3_600_000_000

// hourKey and hourSums collect a batch's written rows per UTC hour, tool, module and latency
// bucket for the hourly rollup (migration 12), which insertActions writes in its transaction.
type hourKey struct {
	hour         int64
	tool, module string
	bucket       int64
}

type hourSums struct {
	m     map[hourKey]*[3]int64 // calls, errors, newest
	order []hourKey
}

func (h *hourSums) add(tool, module, result string, latency sql.NullInt64, created int64) {
	k := hourKey{hour: created / hourMicros * hourMicros, tool: tool, module: module, bucket: -1}
	if latency.Valid {
		k.bucket, _ = persona.LatencyBucket(latency.Int64)
	}
	if h.m == nil {
		h.m = map[hourKey]*[3]int64{}
	}
	a := h.m[k]
	if a == nil {
		a = &[3]int64{0, 0, created}
		h.m[k] = a
		h.order = append(h.order, k)
	}
	a[0]++
	if result == string(persona.ResultError) {
		a[1]++
	}
	a[2] = max(a[2], created)
}

func (h *hourSums) write(ctx context.Context, t *tx) error {
	vals := make([]any, 0, len(h.order)*hoursUpsert.cols)
	for _, k := range h.order {
		a := h.m[k]
		vals = append(vals, k.hour, k.tool, k.module, k.bucket, a[0], a[1], a[2])
	}
	if err := execRows(ctx, t, hoursUpsert, vals); err != nil {
		return fmt.Errorf("hourly rollup: %w", err)
	}
	return nil
}

var hoursUpsert = &multiInsert{head: `INSERT INTO persona_action_hours (hour, tool_name, module, bucket, calls, errors, last_at) VALUES `,
	cols: 7, tail: ` ON CONFLICT (hour, tool_name, module, bucket) DO UPDATE SET
	calls = calls + excluded.calls, errors = errors + excluded.errors, last_at = max(last_at, excluded.last_at)`}

// toolStatsHours is ToolStats over every persona and target, in one read transaction: the
// window's whole UTC hours from the hourly rollup (migration 12: per tool, module and latency
// bucket), its partial first and last hours from the rows; each percentile is located in its
// bucket by the counts, then read from the rows of that bucket alone (the latency index), so it
// is exact and reads a bucket, not half of every call.
func (db *DB) toolStatsHours(ctx context.Context, f persona.StatsFilter) ([]persona.ToolStat, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	defer tx.Rollback()
	hs, he, edges := persona.HourEdges(f.Since, f.Until)
	mod, modArg := "", []any{}
	if f.Module != "" {
		mod, modArg = " AND module = ?", []any{f.Module}
	}
	var h persona.ToolHours
	rows, err := tx.QueryContext(ctx, `SELECT tool_name, MAX(module), bucket, SUM(calls), SUM(errors), MAX(last_at)
		FROM persona_action_hours WHERE hour >= ? AND hour < ?`+mod+` GROUP BY tool_name, bucket`, append([]any{micro(hs), micro(he)}, modArg...)...)
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	for rows.Next() {
		var (
			tool, module              string
			bucket, calls, errs, last int64
		)
		if err := rows.Scan(&tool, &module, &bucket, &calls, &errs, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("tool stats: %w", err)
		}
		h.AddHours(tool, module, bucket, calls, errs, fromMicro(last))
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	for _, e := range edges {
		if !e[0].Before(e[1]) {
			continue
		}
		rows, err := tx.QueryContext(ctx, `SELECT tool_name, module, result, latency_ms, created_at FROM persona_actions
			WHERE created_at >= ? AND created_at < ?`+mod, append([]any{micro(e[0]), micro(e[1])}, modArg...)...)
		if err != nil {
			return nil, fmt.Errorf("tool stats: %w", err)
		}
		for rows.Next() {
			var (
				tool, module, result string
				latency              sql.NullInt64
				at                   int64
			)
			if err := rows.Scan(&tool, &module, &result, &latency, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("tool stats: %w", err)
			}
			var l *int64
			if latency.Valid {
				l = &latency.Int64
			}
			h.AddRow(tool, module, persona.Result(result), l, fromMicro(at))
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("tool stats: %w", err)
		}
	}
	since, until := edges[0][0], edges[len(edges)-1][1]
	out, err := h.Stats(f.NoPercentiles, func(tool string, lo, hi, offset int64) (int64, error) {
		var v int64
		err := tx.QueryRowContext(ctx, `SELECT latency_ms FROM persona_actions
			WHERE tool_name = ? AND latency_ms >= ? AND latency_ms < ? AND created_at >= ? AND created_at < ?`+mod+`
			ORDER BY latency_ms LIMIT 1 OFFSET ?`, append(append([]any{tool, lo, hi, micro(since), micro(until)}, modArg...), offset)...).Scan(&v)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("tool stats: %w", err)
	}
	return out, nil
}
