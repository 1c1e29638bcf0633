package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// checkPersona returns ErrNotFound unless a persona row exists for id.
func checkPersona(ctx context.Context, t *tx, id string) error {
	var n int
	if err := t.QueryRowContext(ctx, `SELECT count(*) FROM personas WHERE user_id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("find persona: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("persona %q: %w", id, persona.ErrNotFound)
	}
	return nil
}

// InsertActions inserts action rows, skipping ids that exist, and marks the persona active when
// no lease holds it, in one transaction.
func (db *DB) InsertActions(ctx context.Context, personaID string, rows []persona.Action) (written, duplicates int, err error) {
	if err := persona.ValidateActionRows(rows); err != nil {
		return 0, 0, fmt.Errorf("insert actions: %w", err)
	}
	if len(rows) == 0 {
		return 0, 0, nil
	}
	err = db.write(ctx, func(t *tx) error {
		if err := checkPersona(ctx, t, personaID); err != nil {
			return err
		}
		if written, err = insertActions(ctx, t, personaID, rows); err != nil {
			return err
		}
		// A runner that records no ticks (the original) is only seen through its rows; one
		// that claimed the persona sets last_active_at with its tick record instead.
		_, err = t.ExecContext(ctx, `UPDATE personas SET last_active_at = ?1
			WHERE user_id = ?2 AND (lease_expires_at IS NULL OR lease_expires_at <= ?1)`, micro(t.now), personaID)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("insert actions: %w", err)
	}
	return written, len(rows) - written, nil
}

// insertActions inserts valid rows of a persona known to exist and returns the number written.
// The rows written (RETURNING skips the duplicates) are added to the rollups of migrations 7 and
// 12, which the transaction writes just before it commits (see rollups): a row trigger would
// cost an upsert, and an index update, per row.
func insertActions(ctx context.Context, t *tx, personaID string, rows []persona.Action) (int, error) {
	if t.sums == nil {
		t.sums = &rollups{}
	}
	sums := t.sums
	written := 0
	for start := 0; start < len(rows); start += rowChunk {
		chunk := rows[start:min(start+rowChunk, len(rows))]
		vals := make([]any, 0, len(chunk)*actionsInsert.cols)
		for _, a := range chunk {
			a = persona.NormalizeAction(personaID, a)
			if a.CreatedAt.IsZero() {
				a.CreatedAt = t.now
			}
			vals = append(vals, a.ID, a.PersonaID, a.TickID, a.ToolName, a.Module, a.InputHash, string(a.Result),
				a.ErrorMessage, nullInt(a.LatencyMs), a.Seq, micro(a.CreatedAt), string(a.ErrorClass), nullText(string(a.Arguments)),
				nullText(a.ResultPreview))
		}
		res, err := t.QueryContext(ctx, actionsInsert.sql(len(chunk))+
			` RETURNING tick_id, persona_id, tool_name, module, result, error_class, error_message, latency_ms, created_at`, vals...)
		if err != nil {
			return 0, fmt.Errorf("insert actions %d–%d: %w", start, start+len(chunk)-1, err)
		}
		for res.Next() {
			var (
				k          rollupKey
				class, msg string
				latency    sql.NullInt64
				created    int64
			)
			if err := res.Scan(&k.tick, &k.persona, &k.tool, &k.module, &k.result, &class, &msg, &latency, &created); err != nil {
				res.Close()
				return 0, fmt.Errorf("insert actions: %w", err)
			}
			k.infra = persona.Action{Result: persona.Result(k.result), ErrorClass: persona.ErrorClass(class), ErrorMessage: msg}.Infrastructure()
			sums.add(k, latency, created)
			written++
		}
		if err := res.Close(); err != nil {
			return 0, fmt.Errorf("insert actions: %w", err)
		}
		if err := res.Err(); err != nil {
			return 0, fmt.Errorf("insert actions: %w", err)
		}
	}
	return written, nil
}

// rollups are the rollup rows of the action rows one write transaction inserted: per run, tool,
// module, result and outage (persona_action_rollup, migration 7) and per UTC hour, tool, module
// and latency bucket (persona_action_hours, migration 12). A group commit's runs are summed
// together and written in a few multi-row upserts just before the transaction commits, so the
// rollups stay in the transaction of their rows; an upsert statement per run and key was a
// third of insertActions' time (10,000 personas, three tools a run: six statements a run).
type rollups struct {
	m     map[rollupKey]*rollupAcc
	order []rollupKey
	hours hourSums
}

type rollupKey struct {
	tick, persona, tool, module, result string
	infra                               bool
}

type rollupAcc struct{ calls, timed, first, last int64 }

func (r *rollups) add(k rollupKey, latency sql.NullInt64, created int64) {
	if r.m == nil {
		r.m = map[rollupKey]*rollupAcc{}
	}
	a := r.m[k]
	if a == nil {
		a = &rollupAcc{first: created, last: created}
		r.m[k] = a
		r.order = append(r.order, k)
	}
	a.calls++
	if latency.Valid {
		a.timed++
	}
	a.first, a.last = min(a.first, created), max(a.last, created)
	r.hours.add(k.tool, k.module, k.result, latency, created)
}

// write upserts the sums into both rollups.
func (r *rollups) write(ctx context.Context, t *tx) error {
	vals := make([]any, 0, len(r.order)*rollupUpsert.cols)
	for _, k := range r.order {
		a := r.m[k]
		vals = append(vals, k.tick, k.persona, k.tool, k.module, k.result, k.infra, a.calls, a.timed, a.first, a.last)
	}
	if err := execRows(ctx, t, rollupUpsert, vals); err != nil {
		return fmt.Errorf("action rollup: %w", err)
	}
	return r.hours.write(ctx, t)
}

var rollupUpsert = &multiInsert{head: `INSERT INTO persona_action_rollup (tick_id, persona_id, tool_name, module, result, infra,
	calls, timed, first_at, last_at) VALUES `, cols: 10, tail: ` ON CONFLICT (tick_id, tool_name, module, result, infra, persona_id) DO UPDATE SET
	calls = calls + excluded.calls, timed = timed + excluded.timed,
	first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)`}

// execRows runs stmt over vals (stmt.cols values a row, row after row) in statements of at most
// upsertChunk rows, and below that of a power of two rows, so that few statement texts are
// prepared (the writer keeps each one prepared).
func execRows(ctx context.Context, t *tx, stmt *multiInsert, vals []any) error {
	for n := len(vals) / stmt.cols; n > 0; {
		k := upsertChunk
		for k > n {
			k /= 2
		}
		if _, err := t.ExecContext(ctx, stmt.sql(k), vals[:k*stmt.cols]...); err != nil {
			return err
		}
		vals, n = vals[k*stmt.cols:], n-k
	}
	return nil
}

// upsertChunk is the most rows execRows writes in one statement (a power of two).
const upsertChunk = 64

var actionsInsert = &multiInsert{head: `INSERT INTO persona_actions (id, persona_id, tick_id, tool_name, module, input_hash, result,
		error_message, latency_ms, seq, created_at, error_class, arguments, result_preview) VALUES `, cols: 14, tail: onConflictID}

// nullInt stores a missing optional number as NULL.
func nullInt(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// nullText stores an empty optional text as NULL.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insertChunked inserts rows in multi-row statements of stmt, rowChunk rows each, and returns
// the number written: one statement per 100 rows is several times faster than one per row with
// this driver, and RowsAffected counts only the rows inserted (ON CONFLICT (id) DO NOTHING).
// args appends a row's values in the statement's column order.
func insertChunked[T any](ctx context.Context, t *tx, what string, stmt *multiInsert, rows []T, args func([]any, T) []any) (written int, err error) {
	for start := 0; start < len(rows); start += rowChunk {
		chunk := rows[start:min(start+rowChunk, len(rows))]
		vals := make([]any, 0, len(chunk)*stmt.cols)
		for _, r := range chunk {
			vals = args(vals, r)
		}
		res, err := t.ExecContext(ctx, stmt.sql(len(chunk)), vals...)
		if err != nil {
			return 0, fmt.Errorf("insert %s %d–%d: %w", what, start, start+len(chunk)-1, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		written += int(n)
	}
	return written, nil
}

// rowChunk is the number of rows per INSERT statement (at most 14 parameters each, well below
// SQLite's limit of 32766).
const rowChunk = 100

// multiInsert is an INSERT … VALUES statement of cols parameters a row followed by tail,
// built once for each number of rows.
type multiInsert struct {
	head  string // "INSERT INTO t (…) VALUES "
	cols  int
	tail  string   // " ON CONFLICT …"
	texts sync.Map // rows → statement text
}

// onConflictID is the tail of the inserts that skip the ids that exist.
const onConflictID = " ON CONFLICT (id) DO NOTHING"

func (m *multiInsert) sql(n int) string {
	if q, ok := m.texts.Load(n); ok {
		return q.(string)
	}
	row := "(" + strings.Repeat("?, ", m.cols-1) + "?)"
	var b strings.Builder
	b.WriteString(m.head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(m.tail)
	m.texts.Store(n, b.String())
	return b.String()
}

// InsertFeedback inserts feedback rows, skipping ids that exist, in one transaction.
func (db *DB) InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) (written, duplicates int, err error) {
	if err := persona.ValidateFeedbackRows(rows); err != nil {
		return 0, 0, fmt.Errorf("insert feedback: %w", err)
	}
	if len(rows) == 0 {
		return 0, 0, nil
	}
	err = db.write(ctx, func(t *tx) error {
		if err := checkPersona(ctx, t, personaID); err != nil {
			return err
		}
		written, err = insertFeedback(ctx, t, personaID, rows)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("insert feedback: %w", err)
	}
	return written, len(rows) - written, nil
}

// insertFeedback inserts valid rows of a persona known to exist and returns the number written.
func insertFeedback(ctx context.Context, t *tx, personaID string, rows []persona.Feedback) (int, error) {
	return insertChunked(ctx, t, "feedback", feedbackInsert, rows, func(args []any, fb persona.Feedback) []any {
		fb = persona.NormalizeFeedback(personaID, fb)
		if fb.CreatedAt.IsZero() {
			fb.CreatedAt = t.now
		}
		return append(args, fb.ID, fb.PersonaID, fb.TickID, fb.Module, fb.Rating, fb.Notes, micro(fb.CreatedAt))
	})
}

var feedbackInsert = &multiInsert{head: `INSERT INTO persona_feedback (id, persona_id, tick_id, module, rating, notes, created_at) VALUES `, cols: 7, tail: onConflictID}

// where builds a WHERE clause from optional filters.
type where struct {
	conds []string
	args  []any
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.conds = append(w.conds, col+" = ?")
		w.args = append(w.args, v)
	}
}

func (w *where) span(col string, since, until time.Time) {
	if !since.IsZero() {
		w.conds = append(w.conds, col+" >= ?")
		w.args = append(w.args, micro(since))
	}
	if !until.IsZero() {
		w.conds = append(w.conds, col+" < ?")
		w.args = append(w.args, micro(until))
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", n)
}

const actionCols = `id, persona_id, tick_id, tool_name, module, input_hash, result, error_message, latency_ms, seq, created_at,
	error_class, arguments, result_preview`

func queryActions(ctx context.Context, q queryer, query string, args ...any) ([]persona.Action, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []persona.Action{}
	for rows.Next() {
		var (
			a                  persona.Action
			result, class      string
			created            int64
			latency            sql.NullInt64
			arguments, preview sql.NullString
		)
		if err := rows.Scan(&a.ID, &a.PersonaID, &a.TickID, &a.ToolName, &a.Module, &a.InputHash, &result, &a.ErrorMessage,
			&latency, &a.Seq, &created, &class, &arguments, &preview); err != nil {
			return nil, err
		}
		a.Result, a.CreatedAt, a.ErrorClass = persona.Result(result), fromMicro(created), persona.ErrorClass(class)
		a.ResultPreview = preview.String
		if latency.Valid {
			a.LatencyMs = &latency.Int64
		}
		if arguments.Valid {
			a.Arguments = json.RawMessage(arguments.String)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Actions returns action rows matching q, oldest first.
func (db *DB) Actions(ctx context.Context, q persona.ActionQuery) ([]persona.Action, error) {
	var w where
	w.eq("persona_id", q.PersonaID)
	w.eq("tick_id", q.TickID)
	w.eq("module", q.Module)
	w.span("created_at", q.Since, q.Until)
	out, err := queryActions(ctx, db.r, `SELECT `+actionCols+` FROM persona_actions`+w.String()+
		` ORDER BY created_at, tick_id, seq, id`+limitClause(q.Limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("query actions: %w", err)
	}
	return out, nil
}

// RecentActions returns the persona's newest actions, newest first.
func (db *DB) RecentActions(ctx context.Context, personaID string, limit int) ([]persona.Action, error) {
	out, err := queryActions(ctx, db.r, `SELECT `+actionCols+` FROM persona_actions WHERE persona_id = ?
		ORDER BY created_at DESC, tick_id DESC, seq DESC, id DESC`+limitClause(limit), personaID)
	if err != nil {
		return nil, fmt.Errorf("recent actions of %q: %w", personaID, err)
	}
	return out, nil
}

const feedbackCols = `id, persona_id, tick_id, module, rating, notes, created_at`

func queryFeedback(ctx context.Context, q queryer, query string, args ...any) ([]persona.Feedback, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []persona.Feedback{}
	for rows.Next() {
		var (
			fb      persona.Feedback
			created int64
		)
		if err := rows.Scan(&fb.ID, &fb.PersonaID, &fb.TickID, &fb.Module, &fb.Rating, &fb.Notes, &created); err != nil {
			return nil, err
		}
		fb.CreatedAt = fromMicro(created)
		out = append(out, fb)
	}
	return out, rows.Err()
}

// Feedback returns feedback rows matching q, oldest first.
func (db *DB) Feedback(ctx context.Context, q persona.FeedbackQuery) ([]persona.Feedback, error) {
	var w where
	w.eq("persona_id", q.PersonaID)
	w.eq("tick_id", q.TickID)
	w.eq("module", q.Module)
	w.span("created_at", q.Since, q.Until)
	out, err := queryFeedback(ctx, db.r, `SELECT `+feedbackCols+` FROM persona_feedback`+w.String()+
		` ORDER BY created_at, tick_id, module, id`+limitClause(q.Limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("query feedback: %w", err)
	}
	return out, nil
}

// CostSince returns the summed cost of the runs started at or after since.
func (db *DB) CostSince(ctx context.Context, since time.Time) (float64, error) {
	var sum float64
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(cost_usd), 0) FROM persona_ticks WHERE started_at >= ?`, micro(since)).Scan(&sum); err != nil {
		return 0, fmt.Errorf("sum run costs: %w", err)
	}
	return sum, nil
}

// Ticks returns tick records matching q, newest first.
func (db *DB) Ticks(ctx context.Context, q persona.TickQuery) ([]persona.Tick, error) {
	var w where
	w.eq("persona_id", q.PersonaID)
	w.eq("status", string(q.Status))
	w.span("started_at", q.Since, q.Until)
	cols := tickCols
	if q.NoTranscript {
		cols = tickColsNoTranscript
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+cols+` FROM persona_ticks`+w.String()+
		` ORDER BY started_at DESC, tick_id DESC`+limitClause(q.Limit), w.args...)
	if err != nil {
		return nil, fmt.Errorf("query ticks: %w", err)
	}
	defer rows.Close()
	out := []persona.Tick{}
	for rows.Next() {
		tk, err := scanTick(rows)
		if err != nil {
			return nil, fmt.Errorf("query ticks: %w", err)
		}
		out = append(out, tk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query ticks: %w", err)
	}
	return out, nil
}

// FeedbackByModule returns the persona's average rating and count per module.
func (db *DB) FeedbackByModule(ctx context.Context, personaID string) ([]persona.ModuleRating, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT module, AVG(rating), COUNT(*) FROM persona_feedback
		WHERE persona_id = ? GROUP BY module ORDER BY module`, personaID)
	if err != nil {
		return nil, fmt.Errorf("feedback by module of %q: %w", personaID, err)
	}
	defer rows.Close()
	out := []persona.ModuleRating{}
	for rows.Next() {
		var m persona.ModuleRating
		if err := rows.Scan(&m.Module, &m.AvgRating, &m.Count); err != nil {
			return nil, fmt.Errorf("feedback by module of %q: %w", personaID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feedback by module of %q: %w", personaID, err)
	}
	return out, nil
}

// History returns the persona's last finished runs (not cancelled), newest first, with their rows.
func (db *DB) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	if runs <= 0 {
		runs = -1 // no limit
	}
	q := prepared{db}
	rows, err := q.QueryContext(ctx, `SELECT `+tickCols+` FROM persona_ticks
		WHERE persona_id = ? AND status IN ('ok', 'degraded', 'failed', 'timeout')
		ORDER BY started_at DESC, tick_id DESC LIMIT ?`, personaID, runs)
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", personaID, err)
	}
	out := []persona.RunHistory{}
	for rows.Next() {
		tk, err := scanTick(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("history of %q: %w", personaID, err)
		}
		out = append(out, persona.RunHistory{Tick: tk})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history of %q: %w", personaID, err)
	}
	for i := range out {
		id := out[i].Tick.TickID
		if out[i].Actions, err = queryActions(ctx, q, `SELECT `+actionCols+` FROM persona_actions
			WHERE persona_id = ? AND tick_id = ? ORDER BY seq, id`, personaID, id); err != nil {
			return nil, fmt.Errorf("history of %q: %w", personaID, err)
		}
		if out[i].Feedback, err = queryFeedback(ctx, q, `SELECT `+feedbackCols+` FROM persona_feedback
			WHERE persona_id = ? AND tick_id = ? ORDER BY module, id`, personaID, id); err != nil {
			return nil, fmt.Errorf("history of %q: %w", personaID, err)
		}
	}
	return out, nil
}
