package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// InsertActions inserts action rows with ON CONFLICT DO NOTHING. The whole batch is one INSERT
// over unnest'ed column arrays, joined with the persona row so an unknown persona writes nothing
// even when every id exists already (ids derive from the tick, not the persona): one statement,
// so one implicit transaction and one round trip whatever the batch size. The same statement
// marks the persona active (last_active_at) when no lease holds it: a runner that records no
// ticks (the original) is only seen through its rows, one that claimed the persona sets
// last_active_at with its tick record instead.
func (db *DB) InsertActions(ctx context.Context, personaID string, rows []persona.Action) (written, duplicates int, err error) {
	if err := persona.ValidateActionRows(rows); err != nil {
		return 0, 0, fmt.Errorf("insert actions: %w", err)
	}
	if len(rows) == 0 {
		return 0, 0, nil
	}
	written, err = insertActions(ctx, db.pool, personaID, rows, db.clock(), true)
	if err != nil {
		return 0, 0, fmt.Errorf("insert actions: %w", err)
	}
	return written, len(rows) - written, nil
}

// insertActions is InsertActions' statement for valid rows, on the pool or in a transaction;
// markActive sets last_active_at = now when the persona is not leased.
func insertActions(ctx context.Context, q querier, personaID string, rows []persona.Action, now time.Time, markActive bool) (written int, err error) {
	n := len(rows)
	ids, ticks, tools, modules, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	results, msgs, classes := make([]string, n), make([]string, n), make([]string, n)
	arguments, previews := make([]*string, n), make([]*string, n)
	latencies, seqs := make([]*int64, n), make([]int32, n)
	created := make([]time.Time, n)
	for i, a := range rows {
		a = persona.NormalizeAction(personaID, a)
		ids[i], ticks[i], tools[i], modules[i], hashes[i] = a.ID, a.TickID, a.ToolName, a.Module, a.InputHash
		results[i], msgs[i], latencies[i], seqs[i] = string(a.Result), a.ErrorMessage, a.LatencyMs, int32(a.Seq)
		created[i], classes[i] = orNow(a.CreatedAt, now), string(a.ErrorClass)
		arguments[i], previews[i] = optText(string(a.Arguments)), optText(a.ResultPreview)
	}
	var found bool
	err = q.QueryRow(ctx, `WITH p AS (
			SELECT user_id FROM auth.personas WHERE user_id = $1 FOR KEY SHARE
		), ins AS (
			INSERT INTO auth.persona_actions
				(id, persona_id, tick_id, tool_name, module, input_hash, result, error_message, latency_ms, seq, created_at,
				error_class, arguments, result_preview)
			SELECT r.id, p.user_id, r.tick_id, r.tool_name, r.module, r.input_hash, r.result, r.error_message,
				r.latency_ms, r.seq, r.created_at, r.error_class, r.arguments, r.result_preview
			FROM p, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$9::bigint[], $10::int[], $11::timestamptz[], $12::text[], $13::text[], $14::text[])
				AS r(id, tick_id, tool_name, module, input_hash, result, error_message, latency_ms, seq, created_at,
					error_class, arguments, result_preview)
			ON CONFLICT (id) DO NOTHING
			RETURNING 1
		), active AS (
			UPDATE auth.personas SET last_active_at = $15
			WHERE $16 AND user_id = $1
			AND (lease_owner IS NULL OR lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at <= $15)
		)
		SELECT EXISTS (SELECT 1 FROM p), (SELECT count(*) FROM ins)`,
		personaID, ids, ticks, tools, modules, hashes, results, msgs, latencies, seqs, created,
		classes, arguments, previews, now, markActive).Scan(&found, &written)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("persona %q: %w", personaID, persona.ErrNotFound)
	}
	return written, nil
}

// optText stores an empty optional text as NULL.
func optText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// InsertFeedback inserts feedback rows with ON CONFLICT DO NOTHING in one statement, like
// InsertActions.
func (db *DB) InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) (written, duplicates int, err error) {
	if err := persona.ValidateFeedbackRows(rows); err != nil {
		return 0, 0, fmt.Errorf("insert feedback: %w", err)
	}
	if len(rows) == 0 {
		return 0, 0, nil
	}
	written, err = insertFeedback(ctx, db.pool, personaID, rows, db.clock())
	if err != nil {
		return 0, 0, fmt.Errorf("insert feedback: %w", err)
	}
	return written, len(rows) - written, nil
}

// insertFeedback is InsertFeedback's statement for valid rows, on the pool or in a transaction.
func insertFeedback(ctx context.Context, q querier, personaID string, rows []persona.Feedback, now time.Time) (written int, err error) {
	n := len(rows)
	ids, ticks, modules, notes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ratings := make([]int16, n)
	created := make([]time.Time, n)
	for i, fb := range rows {
		fb = persona.NormalizeFeedback(personaID, fb)
		ids[i], ticks[i], modules[i], notes[i] = fb.ID, fb.TickID, fb.Module, fb.Notes
		ratings[i], created[i] = int16(fb.Rating), orNow(fb.CreatedAt, now)
	}
	var found bool
	err = q.QueryRow(ctx, `WITH p AS (
			SELECT user_id FROM auth.personas WHERE user_id = $1 FOR KEY SHARE
		), ins AS (
			INSERT INTO auth.persona_feedback (id, persona_id, tick_id, module, rating, notes, created_at)
			SELECT r.id, p.user_id, r.tick_id, r.module, r.rating, r.notes, r.created_at
			FROM p, unnest($2::text[], $3::text[], $4::text[], $5::smallint[], $6::text[], $7::timestamptz[])
				AS r(id, tick_id, module, rating, notes, created_at)
			ON CONFLICT (id) DO NOTHING
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM p), (SELECT count(*) FROM ins)`,
		personaID, ids, ticks, modules, ratings, notes, created).Scan(&found, &written)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("persona %q: %w", personaID, persona.ErrNotFound)
	}
	return written, nil
}

// prepareTick fills a valid record's times and normalises it.
func prepareTick(t persona.Tick, now time.Time) persona.Tick {
	t.StartedAt = orNow(t.StartedAt, now)
	if t.Status != persona.TickRunning && t.FinishedAt == nil {
		// A terminal record without an end time ended when it was recorded.
		t.FinishedAt = &now
	}
	return persona.NormalizeTick(t)
}

// recordTick is RecordTick's transaction for a prepared record.
func recordTick(ctx context.Context, tx pgx.Tx, t persona.Tick, now time.Time) error {
	var cadence string
	var failures int
	err := tx.QueryRow(ctx, `SELECT tick_cadence, failure_count FROM auth.personas WHERE user_id = $1 FOR UPDATE`,
		t.PersonaID).Scan(&cadence, &failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("persona %q: %w", t.PersonaID, persona.ErrNotFound)
	}
	if err != nil {
		return err
	}
	var prevPersona, prevStatus string
	err = tx.QueryRow(ctx, `SELECT persona_id, status FROM auth.persona_ticks WHERE tick_id = $1 FOR UPDATE`,
		t.TickID).Scan(&prevPersona, &prevStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return err
	}
	if prevPersona != "" && prevPersona != t.PersonaID {
		return &persona.FieldError{Field: "tickId", Message: "belongs to another persona"}
	}
	var transcript any
	if len(t.Transcript) > 0 {
		transcript = string(t.Transcript)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO auth.persona_ticks (tick_id, persona_id, runner_id, status, started_at,
			finished_at, tool_calls, errors, turns, input_tokens, output_tokens, cached_tokens, cost_usd, model,
			summary, error, transcript, target, server_name, server_version, stage)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::json, $18, $19, $20, $21)
		ON CONFLICT (tick_id) DO UPDATE SET runner_id = excluded.runner_id, status = excluded.status,
			started_at = excluded.started_at, finished_at = excluded.finished_at,
			tool_calls = excluded.tool_calls, errors = excluded.errors, turns = excluded.turns,
			input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
			cached_tokens = excluded.cached_tokens, cost_usd = excluded.cost_usd, model = excluded.model,
			summary = excluded.summary, error = excluded.error, transcript = excluded.transcript,
			target = excluded.target, server_name = excluded.server_name, server_version = excluded.server_version,
			stage = excluded.stage`,
		t.TickID, t.PersonaID, t.RunnerID, string(t.Status), t.StartedAt, t.FinishedAt, t.ToolCalls, t.Errors,
		t.Turns, t.InputTokens, t.OutputTokens, t.CachedTokens, t.CostUSD, t.Model, t.Summary, t.Error,
		transcript, t.Target, t.ServerName, t.ServerVersion, t.Stage); err != nil {
		return err
	}
	if t.Status == persona.TickRunning {
		return nil
	}
	// Release the lease when this runner holds it or it has expired; a lease another runner
	// took over after ours expired stays with that runner.
	if _, err := tx.Exec(ctx, `UPDATE auth.personas SET lease_owner = NULL, lease_expires_at = NULL
		WHERE user_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at IS NULL OR lease_expires_at <= $3)`,
		t.PersonaID, t.RunnerID, now); err != nil {
		return err
	}
	if prevStatus != "" && prevStatus != string(persona.TickRunning) {
		return nil
	}
	switch {
	case t.Status.Completed():
		_, err = tx.Exec(ctx, `UPDATE auth.personas SET last_active_at = $2, next_due_at = NULL, failure_count = 0,
			last_error = '' WHERE user_id = $1`, t.PersonaID, *t.FinishedAt)
	case t.Status.Failure():
		failures++
		next := now.Add(persona.Backoff(persona.Cadence(cadence), failures))
		msg := t.Error
		if msg == "" {
			msg = string(t.Status)
		}
		_, err = tx.Exec(ctx, `UPDATE auth.personas SET failure_count = $2, last_error = $3, next_due_at = $4
			WHERE user_id = $1`, t.PersonaID, failures, persona.Truncate(msg, persona.MaxErrorMessage), next)
	}
	return err
}

const tickCols = `tick_id, persona_id, runner_id, status, started_at, finished_at, tool_calls, errors, turns,
	input_tokens, output_tokens, cached_tokens, cost_usd, model, summary, error, transcript::text, target, server_name,
	server_version, stage`

// tickColsNoTranscript is tickCols with NULL for the transcript (TickQuery.NoTranscript).
var tickColsNoTranscript = strings.Replace(tickCols, "transcript::text", "NULL::text", 1)

func scanTick(row pgx.Row) (persona.Tick, error) {
	var t persona.Tick
	var status string
	var transcript *string
	err := row.Scan(&t.TickID, &t.PersonaID, &t.RunnerID, &status, &t.StartedAt, &t.FinishedAt, &t.ToolCalls,
		&t.Errors, &t.Turns, &t.InputTokens, &t.OutputTokens, &t.CachedTokens, &t.CostUSD, &t.Model, &t.Summary,
		&t.Error, &transcript, &t.Target, &t.ServerName, &t.ServerVersion, &t.Stage)
	if err != nil {
		return persona.Tick{}, err
	}
	t.Status = persona.TickStatus(status)
	t.StartedAt, t.FinishedAt = utc(t.StartedAt), utcPtr(t.FinishedAt)
	if transcript != nil {
		t.Transcript = []byte(*transcript)
	}
	return t, nil
}

// filter builds a WHERE clause from optional conditions with numbered parameters.
type filter struct {
	conds []string
	args  []any
}

func (f *filter) add(cond string, arg any) {
	f.args = append(f.args, arg)
	f.conds = append(f.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(f.args))))
}

func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

func (f *filter) limit(n int) string {
	if n <= 0 {
		return ""
	}
	f.args = append(f.args, n)
	return fmt.Sprintf(" LIMIT $%d", len(f.args))
}

const actionCols = `id, persona_id, tick_id, tool_name, module, input_hash, result, error_message, latency_ms, seq, created_at,
	error_class, arguments, result_preview`

func scanAction(r pgx.CollectableRow) (persona.Action, error) {
	var a persona.Action
	var result, class string
	var latency *int64
	var arguments, preview *string
	err := r.Scan(&a.ID, &a.PersonaID, &a.TickID, &a.ToolName, &a.Module, &a.InputHash, &result, &a.ErrorMessage,
		&latency, &a.Seq, &a.CreatedAt, &class, &arguments, &preview)
	a.Result, a.CreatedAt, a.ErrorClass = persona.Result(result), utc(a.CreatedAt), persona.ErrorClass(class)
	a.LatencyMs = latency
	if arguments != nil {
		a.Arguments = json.RawMessage(*arguments)
	}
	if preview != nil {
		a.ResultPreview = *preview
	}
	return a, err
}

const feedbackCols = `id, persona_id, tick_id, module, rating, notes, created_at`

func scanFeedback(r pgx.CollectableRow) (persona.Feedback, error) {
	var fb persona.Feedback
	err := r.Scan(&fb.ID, &fb.PersonaID, &fb.TickID, &fb.Module, &fb.Rating, &fb.Notes, &fb.CreatedAt)
	fb.CreatedAt = utc(fb.CreatedAt)
	return fb, err
}

// Actions returns action rows matching q, oldest first.
func (db *DB) Actions(ctx context.Context, q persona.ActionQuery) ([]persona.Action, error) {
	var f filter
	if q.PersonaID != "" {
		f.add("persona_id = ?", q.PersonaID)
	}
	if q.TickID != "" {
		f.add("tick_id = ?", q.TickID)
	}
	if q.Module != "" {
		f.add("module = ?", q.Module)
	}
	if !q.Since.IsZero() {
		f.add("created_at >= ?", q.Since)
	}
	if !q.Until.IsZero() {
		f.add("created_at < ?", q.Until)
	}
	sql := `SELECT ` + actionCols + ` FROM auth.persona_actions` + f.where() + ` ORDER BY created_at, tick_id, seq, id` + f.limit(q.Limit)
	rows, err := db.pool.Query(ctx, sql, f.args...)
	if err != nil {
		return nil, fmt.Errorf("actions: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanAction)
	if err != nil {
		return nil, fmt.Errorf("actions: %w", err)
	}
	return out, nil
}

// Feedback returns feedback rows matching q, oldest first.
func (db *DB) Feedback(ctx context.Context, q persona.FeedbackQuery) ([]persona.Feedback, error) {
	var f filter
	if q.PersonaID != "" {
		f.add("persona_id = ?", q.PersonaID)
	}
	if q.TickID != "" {
		f.add("tick_id = ?", q.TickID)
	}
	if q.Module != "" {
		f.add("module = ?", q.Module)
	}
	if !q.Since.IsZero() {
		f.add("created_at >= ?", q.Since)
	}
	if !q.Until.IsZero() {
		f.add("created_at < ?", q.Until)
	}
	sql := `SELECT ` + feedbackCols + ` FROM auth.persona_feedback` + f.where() + ` ORDER BY created_at, tick_id, module, id` + f.limit(q.Limit)
	rows, err := db.pool.Query(ctx, sql, f.args...)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanFeedback)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	return out, nil
}

// CostSince returns the summed cost of the runs started at or after since.
func (db *DB) CostSince(ctx context.Context, since time.Time) (float64, error) {
	var sum float64
	if err := db.pool.QueryRow(ctx, `SELECT COALESCE(SUM(cost_usd), 0)::double precision FROM auth.persona_ticks WHERE started_at >= $1`, since).Scan(&sum); err != nil {
		return 0, fmt.Errorf("sum run costs: %w", err)
	}
	return sum, nil
}

// Ticks returns tick records matching q, newest first.
func (db *DB) Ticks(ctx context.Context, q persona.TickQuery) ([]persona.Tick, error) {
	var f filter
	if q.PersonaID != "" {
		f.add("persona_id = ?", q.PersonaID)
	}
	if q.Status != "" {
		f.add("status = ?", string(q.Status))
	}
	if !q.Since.IsZero() {
		f.add("started_at >= ?", q.Since)
	}
	if !q.Until.IsZero() {
		f.add("started_at < ?", q.Until)
	}
	cols := tickCols
	if q.NoTranscript {
		cols = tickColsNoTranscript
	}
	sql := `SELECT ` + cols + ` FROM auth.persona_ticks` + f.where() + ` ORDER BY started_at DESC, tick_id DESC` + f.limit(q.Limit)
	rows, err := db.pool.Query(ctx, sql, f.args...)
	if err != nil {
		return nil, fmt.Errorf("ticks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Tick, error) { return scanTick(r) })
	if err != nil {
		return nil, fmt.Errorf("ticks: %w", err)
	}
	return out, nil
}

// RecentActions returns the persona's newest actions, newest first.
func (db *DB) RecentActions(ctx context.Context, personaID string, limit int) ([]persona.Action, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+actionCols+` FROM auth.persona_actions WHERE persona_id = $1
		ORDER BY created_at DESC, tick_id DESC, seq DESC, id DESC LIMIT $2`, personaID, limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("recent actions: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanAction)
	if err != nil {
		return nil, fmt.Errorf("recent actions: %w", err)
	}
	return out, nil
}

// FeedbackByModule returns the persona's average rating and count per module.
func (db *DB) FeedbackByModule(ctx context.Context, personaID string) ([]persona.ModuleRating, error) {
	rows, err := db.pool.Query(ctx, `SELECT module, avg(rating)::float8, count(*) FROM auth.persona_feedback
		WHERE persona_id = $1 GROUP BY module ORDER BY module`, personaID)
	if err != nil {
		return nil, fmt.Errorf("feedback by module: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.ModuleRating, error) {
		var m persona.ModuleRating
		err := r.Scan(&m.Module, &m.AvgRating, &m.Count)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("feedback by module: %w", err)
	}
	return out, nil
}

// History returns the persona's last finished runs (not cancelled, not running), newest first,
// with their actions (by seq) and feedback (by module).
func (db *DB) History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+tickCols+` FROM auth.persona_ticks
		WHERE persona_id = $1 AND status IN ('ok', 'degraded', 'failed', 'timeout')
		ORDER BY started_at DESC, tick_id DESC LIMIT $2`, personaID, limitArg(runs))
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	ticks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.Tick, error) { return scanTick(r) })
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	out := make([]persona.RunHistory, len(ticks))
	ids := make([]string, len(ticks))
	index := make(map[string]int, len(ticks))
	for i, t := range ticks {
		out[i].Tick = t
		ids[i], index[t.TickID] = t.TickID, i
	}
	if len(ticks) == 0 {
		return out, nil
	}
	rows, err = db.pool.Query(ctx, `SELECT `+actionCols+` FROM auth.persona_actions
		WHERE persona_id = $1 AND tick_id = ANY($2) ORDER BY seq, created_at, id`, personaID, ids)
	if err != nil {
		return nil, fmt.Errorf("history: actions: %w", err)
	}
	actions, err := pgx.CollectRows(rows, scanAction)
	if err != nil {
		return nil, fmt.Errorf("history: actions: %w", err)
	}
	for _, a := range actions {
		i := index[a.TickID]
		out[i].Actions = append(out[i].Actions, a)
	}
	rows, err = db.pool.Query(ctx, `SELECT `+feedbackCols+` FROM auth.persona_feedback
		WHERE persona_id = $1 AND tick_id = ANY($2) ORDER BY module, id`, personaID, ids)
	if err != nil {
		return nil, fmt.Errorf("history: feedback: %w", err)
	}
	feedback, err := pgx.CollectRows(rows, scanFeedback)
	if err != nil {
		return nil, fmt.Errorf("history: feedback: %w", err)
	}
	for _, fb := range feedback {
		i := index[fb.TickID]
		out[i].Feedback = append(out[i].Feedback, fb)
	}
	return out, nil
}
