package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// dueSelect reads due candidates. CROSS JOIN keeps personas as the outer loop so SQLite walks a
// due order index and stops at the limit instead of sorting every row. The conditions on kind,
// deletion, lease and back-off are SPEC §6; the weekday part is judged in Go because SQLite has
// no time zone database.
const dueSelect = `SELECT p.user_id, u.email, p.archetype, p.system_prompt, p.module_mix, p.tick_cadence, p.timezone,
	p.last_active_at, p.target, p.secrets,
	COALESCE((SELECT m.space_id FROM members m JOIN spaces s ON s.id = m.space_id
		WHERE m.user_id = p.user_id AND m.role = 'owner' AND s.type = 'personal' ORDER BY s.created_at LIMIT 1), '')
	FROM personas p CROSS JOIN users u ON u.id = p.user_id
	WHERE u.kind = 'persona' AND u.deleted_at IS NULL
	AND (p.lease_expires_at IS NULL OR p.lease_expires_at <= ?1)
	AND (p.next_due_at IS NULL OR p.next_due_at <= ?1)
	AND `

// weekdayZones lists the time zones of weekday personas, one index seek per zone (a skip scan of
// personas_due_weekdays_idx), however many personas share a zone.
const weekdayZones = `WITH RECURSIVE z(tz) AS (
		SELECT (SELECT min(timezone) FROM personas WHERE tick_cadence = 'weekdays')
		UNION ALL
		SELECT (SELECT min(timezone) FROM personas WHERE tick_cadence = 'weekdays' AND timezone > z.tz) FROM z WHERE z.tz IS NOT NULL)
	SELECT tz FROM z WHERE tz IS NOT NULL`

// dueQuery is the due query of one phase over hourly and daily personas and the weekday personas
// of zones (bound from parameter ?first on): one arm per index range, each already in due order,
// merged by SQLite's ordered UNION ALL (co-routines: it reads one row ahead per arm and stops
// when the caller stops). Never-run personas come first (by user id), then the rest by
// last_active_at, user id; a zone where it is the weekend has no arm, so its weekday personas
// are never read (issue 12.8: a weekend read every one of them).
func dueQuery(neverRun bool, zones, first int) string {
	other, weekday := `p.last_active_at IS NULL`, `p.last_active_at IS NULL`
	if !neverRun {
		other = `p.last_active_at <= ?2 AND (p.tick_cadence = 'hourly' OR p.last_active_at <= ?3)`
		weekday = `p.last_active_at <= ?3`
	}
	var b strings.Builder
	b.WriteString(dueSelect + `p.tick_cadence <> 'weekdays' AND ` + other)
	for i := range zones {
		fmt.Fprintf(&b, "\n\tUNION ALL %sp.tick_cadence = 'weekdays' AND p.timezone = ?%d AND %s", dueSelect, first+i, weekday)
	}
	b.WriteString("\n\tORDER BY 8, 1")
	return b.String()
}

// due returns up to limit (≤ 0: all) personas due at now, in due order.
func due(ctx context.Context, q queryer, now time.Time, limit int) ([]persona.DuePersona, error) {
	zones, err := weekdayZonesAt(ctx, q, now)
	if err != nil {
		return nil, err
	}
	out := []persona.DuePersona{}
	hourCut := micro(now.Add(-persona.Hourly.Period()))
	dayCut := micro(now.Add(-persona.Daily.Period()))
	for _, phase := range []struct {
		neverRun bool
		args     []any
	}{
		{true, []any{micro(now)}},
		{false, []any{micro(now), hourCut, dayCut}},
	} {
		if limit > 0 && len(out) >= limit {
			break
		}
		args := phase.args
		for _, z := range zones {
			args = append(args, z)
		}
		out, err = scanDue(ctx, q, dueQuery(phase.neverRun, len(zones), len(phase.args)+1), args, now, limit, out)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// weekdayZonesAt returns the time zones of weekday personas where now is a weekday.
func weekdayZonesAt(ctx context.Context, q queryer, now time.Time) ([]string, error) {
	rows, err := q.QueryContext(ctx, weekdayZones)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var zones []string
	for rows.Next() {
		var tz string
		if err := rows.Scan(&tz); err != nil {
			return nil, err
		}
		if persona.IsWeekday(now, tz) {
			zones = append(zones, tz)
		}
	}
	return zones, rows.Err()
}

func scanDue(ctx context.Context, q queryer, query string, args []any, now time.Time, limit int, out []persona.DuePersona) ([]persona.DuePersona, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d                     persona.DuePersona
			mix, cadence, secrets string
			last                  sql.NullInt64
		)
		if err := rows.Scan(&d.UserID, &d.Email, &d.Archetype, &d.SystemPrompt, &mix, &cadence, &d.Timezone, &last,
			&d.Target, &secrets, &d.PersonalSpaceID); err != nil {
			return nil, err
		}
		var err error
		if d.Secrets, err = persona.DecodeSecrets([]byte(secrets)); err != nil {
			return nil, fmt.Errorf("persona %s: %w", d.UserID, err)
		}
		d.TickCadence = persona.Cadence(cadence)
		if d.TickCadence == persona.Weekdays && !persona.IsWeekday(now, d.Timezone) {
			continue
		}
		if err := json.Unmarshal([]byte(mix), &d.ModuleMix); err != nil {
			return nil, fmt.Errorf("decode module_mix of %s: %w", d.UserID, err)
		}
		d.LastActiveAt = ptrTime(last)
		out = append(out, d)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, rows.Err()
}

// DuePersonas returns up to limit personas due now, in due order, and the store's time.
func (db *DB) DuePersonas(ctx context.Context, limit int) ([]persona.DuePersona, time.Time, error) {
	now := db.clock()
	out, err := due(ctx, prepared{db}, now, limit)
	if err != nil {
		return nil, now, fmt.Errorf("due personas: %w", err)
	}
	return out, now, nil
}

// ClaimPersonas leases up to limit due personas to runnerID. The select and the update run in one
// write transaction on the single writer connection (BEGIN IMMEDIATE), so claims never overlap.
func (db *DB) ClaimPersonas(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	var es persona.FieldErrors
	if strings.TrimSpace(runnerID) == "" {
		es.Add("runnerId", "is required")
	}
	if lease <= 0 {
		es.Add("leaseSeconds", "must be positive")
	}
	if err := es.Err(); err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	var out []persona.DuePersona
	err := db.write(ctx, func(t *tx) error {
		list, err := due(ctx, t, t.now, limit)
		if err != nil {
			return err
		}
		exp := t.now.Add(lease)
		for i := range list {
			if _, err := t.ExecContext(ctx, `UPDATE personas SET lease_owner = ?, lease_expires_at = ? WHERE user_id = ?`,
				runnerID, micro(exp), list[i].UserID); err != nil {
				return err
			}
			e := exp
			list[i].LeaseExpiresAt = &e
			// A run of it still `running` lost its runner: the lease it held ran out.
			if _, err := t.ExecContext(ctx, `UPDATE persona_ticks SET status = 'abandoned', finished_at = ?1,
				error = 'abandoned: the lease of runner ' || runner_id || ' ran out before the run finished (found when runner ' || ?2 || ' claimed the persona)'
				WHERE persona_id = ?3 AND status = 'running'`, micro(t.now), runnerID, list[i].UserID); err != nil {
				return err
			}
		}
		out = list
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	return out, nil
}

// RecordTick upserts a tick record and, on a terminal status, releases the lease and updates the
// persona's schedule. The schedule changes only when the record becomes terminal, so a retried
// request (the runner retries transient failures) never counts a failure twice.
func (db *DB) RecordTick(ctx context.Context, tk persona.Tick) error {
	if err := persona.ValidateTick(tk); err != nil {
		return fmt.Errorf("record tick %q: %w", tk.TickID, err)
	}
	// A run without rows: the run writer's group commit takes it with the runs and records
	// waiting at that moment (the runner records every run `running` at its start, and starts
	// come in bursts: a commit of its own per record was a sixth of the runner's CPU per run).
	// It returns once the record is committed, as before.
	if _, err := db.groupWrite(ctx, persona.RunRecord{Tick: persona.NormalizeTick(tk)}); err != nil {
		return fmt.Errorf("record tick %q: %w", tk.TickID, err)
	}
	return nil
}

// tickState is what recording a tick needs to know of the persona and of the record before it.
type tickState struct {
	cadence, owner string
	failures       int
	leaseExp       sql.NullInt64
	exists         bool  // the record exists (of this persona)
	wasTerminal    bool  // the record exists with a terminal status
	startedAt      int64 // the record's started_at, when it exists
}

// checkTick reads the persona and the tick record as it stands (one statement), and refuses a
// record of an unknown persona (ErrNotFound) or one whose tick id belongs to another persona. It
// writes nothing.
func checkTick(ctx context.Context, t *tx, tk persona.Tick) (tickState, error) {
	var (
		st                      tickState
		prevPersona, prevStatus sql.NullString
		prevStarted             sql.NullInt64
	)
	err := t.QueryRowContext(ctx, `SELECT p.tick_cadence, COALESCE(p.lease_owner, ''), p.lease_expires_at, p.failure_count,
			k.persona_id, k.status, k.started_at
		FROM personas p LEFT JOIN persona_ticks k ON k.tick_id = ?2 WHERE p.user_id = ?1`, tk.PersonaID, tk.TickID).
		Scan(&st.cadence, &st.owner, &st.leaseExp, &st.failures, &prevPersona, &prevStatus, &prevStarted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, fmt.Errorf("persona %q: %w", tk.PersonaID, persona.ErrNotFound)
	case err != nil:
		return st, fmt.Errorf("read persona and tick: %w", err)
	case prevPersona.Valid && prevPersona.String != tk.PersonaID:
		return st, &persona.FieldError{Field: "tickId", Message: "belongs to another persona"}
	}
	st.exists, st.startedAt = prevPersona.Valid, prevStarted.Int64
	st.wasTerminal = prevStatus.Valid && prevStatus.String != string(persona.TickRunning)
	return st, nil
}

// writeTick upserts the record checked by checkTick and, when it is terminal, releases the lease
// and updates the schedule, in one UPDATE of the persona's row.
func writeTick(ctx context.Context, t *tx, tk persona.Tick, st tickState) error {
	terminal := tk.Status != persona.TickRunning
	if tk.StartedAt.IsZero() {
		tk.StartedAt = t.now
	}
	if terminal && tk.FinishedAt == nil {
		f := t.now
		tk.FinishedAt = &f
	}
	var transcript any
	if len(tk.Transcript) > 0 {
		transcript = string(tk.Transcript)
	}
	// The final record of a run the runner recorded `running` keeps its started_at: the
	// statement that leaves started_at out of its SET list leaves the two indexes on it alone
	// (SQLite rewrites an index entry whenever a column of it is set, to the same value or not).
	upsert := tickUpsert
	if st.exists && st.startedAt == micro(tk.StartedAt) {
		upsert = tickUpsertSameStart
	}
	if _, err := t.ExecContext(ctx, upsert,
		tk.TickID, tk.PersonaID, tk.RunnerID, string(tk.Status), micro(tk.StartedAt), nullMicro(tk.FinishedAt),
		tk.ToolCalls, tk.Errors, tk.Turns, tk.InputTokens, tk.OutputTokens, tk.CachedTokens, tk.CostUSD,
		tk.Model, tk.Summary, tk.Error, transcript, tk.Target, tk.ServerName, tk.ServerVersion, tk.Stage); err != nil {
		return fmt.Errorf("upsert tick: %w", err)
	}
	if !terminal {
		return nil
	}
	// The lease is released when this runner holds it or it has run out; a live lease of
	// another runner (which claimed after ours expired) stays. The schedule changes only when
	// the record becomes terminal, so a retried request never counts a failure twice.
	var (
		sets []string
		args []any
	)
	if st.owner == "" || st.owner == tk.RunnerID || !st.leaseExp.Valid || st.leaseExp.Int64 <= micro(t.now) {
		sets = append(sets, `lease_owner = NULL, lease_expires_at = NULL`)
	}
	switch {
	case st.wasTerminal:
	case tk.Status.Completed():
		sets = append(sets, `last_active_at = ?, next_due_at = NULL, failure_count = 0, last_error = ''`)
		args = append(args, micro(*tk.FinishedAt))
	case tk.Status.Failure():
		failures := st.failures + 1
		msg := tk.Error
		if msg == "" {
			msg = string(tk.Status)
		}
		sets = append(sets, `next_due_at = ?, failure_count = ?, last_error = ?`)
		args = append(args, micro(t.now.Add(persona.Backoff(persona.Cadence(st.cadence), failures))), failures,
			persona.Truncate(msg, persona.MaxErrorMessage))
	}
	if len(sets) == 0 {
		return nil
	}
	// At most a handful of statement texts, each prepared once.
	if _, err := t.ExecContext(ctx, `UPDATE personas SET `+strings.Join(sets, ", ")+` WHERE user_id = ?`, append(args, tk.PersonaID)...); err != nil {
		return fmt.Errorf("update schedule: %w", err)
	}
	return nil
}

// tickUpsert writes a tick record whole; tickUpsertSameStart is the same for a record whose
// started_at is unchanged.
const (
	tickUpsertHead = `INSERT INTO persona_ticks (tick_id, persona_id, runner_id, status, started_at, finished_at,
			tool_calls, errors, turns, input_tokens, output_tokens, cached_tokens, cost_usd, model, summary, error, transcript,
			target, server_name, server_version, stage)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tick_id) DO UPDATE SET runner_id = excluded.runner_id, status = excluded.status,`
	tickUpsertTail = ` finished_at = excluded.finished_at, tool_calls = excluded.tool_calls,
			errors = excluded.errors, turns = excluded.turns, input_tokens = excluded.input_tokens,
			output_tokens = excluded.output_tokens, cached_tokens = excluded.cached_tokens, cost_usd = excluded.cost_usd,
			model = excluded.model, summary = excluded.summary, error = excluded.error, transcript = excluded.transcript,
			target = excluded.target, server_name = excluded.server_name, server_version = excluded.server_version,
			stage = excluded.stage`
	tickUpsert          = tickUpsertHead + ` started_at = excluded.started_at,` + tickUpsertTail
	tickUpsertSameStart = tickUpsertHead + tickUpsertTail
)

const tickCols = `tick_id, persona_id, runner_id, status, started_at, finished_at, tool_calls, errors, turns,
	input_tokens, output_tokens, cached_tokens, cost_usd, model, summary, error, transcript, target, server_name, server_version,
	stage`

// tickColsNoTranscript is tickCols with NULL for the transcript (TickQuery.NoTranscript).
var tickColsNoTranscript = strings.Replace(tickCols, "transcript", "NULL", 1)

func scanTick(row scanner) (persona.Tick, error) {
	var (
		tk         persona.Tick
		status     string
		started    int64
		finished   sql.NullInt64
		transcript sql.NullString
	)
	err := row.Scan(&tk.TickID, &tk.PersonaID, &tk.RunnerID, &status, &started, &finished, &tk.ToolCalls, &tk.Errors, &tk.Turns,
		&tk.InputTokens, &tk.OutputTokens, &tk.CachedTokens, &tk.CostUSD, &tk.Model, &tk.Summary, &tk.Error, &transcript,
		&tk.Target, &tk.ServerName, &tk.ServerVersion, &tk.Stage)
	if err != nil {
		return tk, err
	}
	tk.Status = persona.TickStatus(status)
	tk.StartedAt, tk.FinishedAt = fromMicro(started), ptrTime(finished)
	if transcript.Valid {
		tk.Transcript = json.RawMessage(transcript.String)
	}
	return tk, nil
}

// Tick returns one tick record.
func (db *DB) Tick(ctx context.Context, tickID string) (persona.Tick, error) {
	tk, err := scanTick(db.r.QueryRowContext(ctx, `SELECT `+tickCols+` FROM persona_ticks WHERE tick_id = ?`, tickID))
	if errors.Is(err, sql.ErrNoRows) {
		return tk, fmt.Errorf("tick %q: %w", tickID, persona.ErrNotFound)
	}
	if err != nil {
		return tk, fmt.Errorf("get tick %q: %w", tickID, err)
	}
	return tk, nil
}

// AbandonRuns marks the running records of runnerID abandoned and releases its leases (see
// persona.Store).
func (db *DB) AbandonRuns(ctx context.Context, runnerID string) (int, error) {
	if strings.TrimSpace(runnerID) == "" {
		return 0, fmt.Errorf("abandon runs: %w", &persona.FieldError{Field: "runnerId", Message: "is required"})
	}
	var n int64
	err := db.write(ctx, func(t *tx) error {
		res, err := t.ExecContext(ctx, `UPDATE persona_ticks SET status = 'abandoned', finished_at = ?1,
			error = 'abandoned: runner ' || runner_id || ' ended without finishing the run (found at its restart)'
			WHERE runner_id = ?2 AND status = 'running'`, micro(t.now), runnerID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = t.ExecContext(ctx, `UPDATE personas SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ?`, runnerID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("abandon runs of %q: %w", runnerID, err)
	}
	return int(n), nil
}
