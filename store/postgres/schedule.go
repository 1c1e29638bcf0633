package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
)

// dueWhere is the due rule of SPEC §6 as a SQL condition over auth.personas p joined with
// auth.users u, with the store's clock as $1. A weekday is judged in the persona's own time zone.
// The cadence periods are written in hours, not days, so they are exact durations like
// persona.Cadence.Period and never stretch across a daylight-saving change. The first condition
// repeats the cadence and back-off rules through the indexed column due_at (migration 2), so the
// planner can find the due personas by range when few are due.
const dueWhere = `p.due_at <= $1 AND u.kind = 'persona' AND u.deleted_at IS NULL
	AND (p.lease_owner IS NULL OR p.lease_owner = '' OR p.lease_expires_at IS NULL OR p.lease_expires_at <= $1)
	AND (p.next_due_at IS NULL OR p.next_due_at <= $1)
	AND (p.last_active_at IS NULL
		OR p.last_active_at <= $1 - CASE p.tick_cadence WHEN 'hourly' THEN interval '1 hour' ELSE interval '24 hours' END)
	AND (p.tick_cadence <> 'weekdays' OR extract(isodow FROM $1::timestamptz AT TIME ZONE p.timezone) < 6)`

// dueOrder is the due order: never run first, then the longest idle, ties by user id. It matches
// the index personas_due_order_idx, so a limited query reads only the first matching rows.
const dueOrder = `p.last_active_at ASC NULLS FIRST, p.user_id`

// personalSpace selects the persona's personal space id (” when it has none).
const personalSpace = `COALESCE((SELECT s.id FROM auth.members m JOIN auth.spaces s ON s.id = m.space_id
	WHERE m.user_id = p.user_id AND s.type = 'personal' ORDER BY s.created_at, s.id LIMIT 1), '')`

const dueCols = `p.user_id, u.email, p.archetype, p.system_prompt, p.module_mix, p.tick_cadence, p.timezone,
	p.last_active_at, p.target, p.secrets, ` + personalSpace

func scanDue(row pgx.Row, lease bool) (persona.DuePersona, error) {
	var d persona.DuePersona
	var cadence string
	var secrets []byte
	dest := []any{&d.UserID, &d.Email, &d.Archetype, &d.SystemPrompt, &d.ModuleMix, &cadence, &d.Timezone,
		&d.LastActiveAt, &d.Target, &secrets, &d.PersonalSpaceID}
	if lease {
		dest = append(dest, &d.LeaseExpiresAt)
	}
	if err := row.Scan(dest...); err != nil {
		return persona.DuePersona{}, err
	}
	var err error
	if d.Secrets, err = persona.DecodeSecrets(secrets); err != nil {
		return persona.DuePersona{}, fmt.Errorf("persona %s: %w", d.UserID, err)
	}
	d.TickCadence = persona.Cadence(cadence)
	d.LastActiveAt, d.LeaseExpiresAt = utcPtr(d.LastActiveAt), utcPtr(d.LeaseExpiresAt)
	return d, nil
}

// dueSQL lists due personas: $1 now, $2 limit (NULL for none).
func dueSQL(where string) string {
	return `SELECT ` + dueCols + `
	FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
	WHERE ` + where + `
	ORDER BY ` + dueOrder + `
	LIMIT $2`
}

// noWeekdays is added to dueWhere while no persona of cadence weekdays can be due: it is
// Saturday or Sunday in each of their time zones. The partial indexes of migration 13 then skip
// them all; without it a weekend read every weekday persona (their due_at had passed on Friday)
// only to drop it on the weekday test: 0.12–0.37 s over 100k personas.
const noWeekdays = ` AND p.tick_cadence <> 'weekdays'`

// The statements for a time when a weekday persona may be due, and for one when none may.
var (
	dueAnyDay    = dueSQL(dueWhere)
	dueWeekend   = dueSQL(dueWhere + noWeekdays)
	claimAnyDay  = claimSQL(dueWhere)
	claimWeekend = claimSQL(dueWhere + noWeekdays)
)

// weekdayZonesSQL lists the time zones of the personas of cadence weekdays where $1 is a Monday
// to Friday: the zones are walked one index step each (personas_weekday_zone_idx), not read
// persona by persona.
const weekdayZonesSQL = `WITH RECURSIVE z(tz) AS (
		SELECT min(timezone) FROM auth.personas WHERE tick_cadence = 'weekdays'
		UNION ALL
		SELECT (SELECT min(timezone) FROM auth.personas WHERE tick_cadence = 'weekdays' AND timezone > z.tz)
		FROM z WHERE z.tz IS NOT NULL
	)
	SELECT EXISTS (SELECT 1 FROM z WHERE z.tz IS NOT NULL AND extract(isodow FROM $1::timestamptz AT TIME ZONE z.tz) < 6)`

// weekdayDue reports whether a persona of cadence weekdays may be due at now: surely when it is
// a weekday in every zone (local times lie between UTC−12 and UTC+14), else when it is in the
// zone of one of them.
func (db *DB) weekdayDue(ctx context.Context, now time.Time) (bool, error) {
	weekend := func(d time.Weekday) bool { return d == time.Saturday || d == time.Sunday }
	if !weekend(now.UTC().Add(-12*time.Hour).Weekday()) && !weekend(now.UTC().Add(14*time.Hour).Weekday()) {
		return true, nil
	}
	var some bool
	err := db.pool.QueryRow(ctx, weekdayZonesSQL, now).Scan(&some)
	return some, err
}

// claimSQL leases due personas: $1 now, $2 limit, $3 runner id, $4 lease end.
func claimSQL(where string) string {
	return `WITH due AS (
		SELECT p.user_id FROM auth.personas p JOIN auth.users u ON u.id = p.user_id
		WHERE ` + where + `
		ORDER BY ` + dueOrder + `
		LIMIT $2
		FOR UPDATE OF p SKIP LOCKED
	)
	, claimed AS (
	UPDATE auth.personas p SET lease_owner = $3, lease_expires_at = $4
	FROM due, auth.users u
	WHERE p.user_id = due.user_id AND u.id = p.user_id
	RETURNING ` + dueCols + `, p.lease_expires_at
	), abandoned AS (
	UPDATE auth.persona_ticks t SET status = 'abandoned', finished_at = $1,
		error = 'abandoned: the lease of runner ' || t.runner_id || ' ran out before the run finished (found when runner ' || $3::text || ' claimed the persona)'
	FROM due WHERE t.persona_id = due.user_id AND t.status = 'running'
	)
	SELECT * FROM claimed`
}

// DuePersonas returns up to limit personas due now, in due order, with the time of the query.
func (db *DB) DuePersonas(ctx context.Context, limit int) ([]persona.DuePersona, time.Time, error) {
	now := db.clock()
	q := dueAnyDay
	if some, err := db.weekdayDue(ctx, now); err != nil {
		return nil, now, fmt.Errorf("due personas: %w", err)
	} else if !some {
		q = dueWeekend
	}
	rows, err := db.pool.Query(ctx, q, now, limitArg(limit))
	if err != nil {
		return nil, now, fmt.Errorf("due personas: %w", err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.DuePersona, error) { return scanDue(r, false) })
	if err != nil {
		return nil, now, fmt.Errorf("due personas: %w", err)
	}
	return due, now, nil
}

// ClaimPersonas leases up to limit due personas to runnerID in one statement. FOR UPDATE SKIP
// LOCKED lets concurrent claimers pass over each other's rows instead of waiting, and PostgreSQL
// re-checks the due condition on a row another claimer changed and committed meanwhile, so a
// persona is never leased twice while its lease holds. limit ≤ 0 claims every due persona.
func (db *DB) ClaimPersonas(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error) {
	var es persona.FieldErrors
	if runnerID == "" {
		es.Add("runnerId", "is required")
	}
	if lease <= 0 {
		es.Add("leaseSeconds", "must be positive")
	}
	if err := es.Err(); err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	now := db.clock()
	until := now.Add(lease)
	q := claimAnyDay
	if some, err := db.weekdayDue(ctx, now); err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	} else if !some {
		q = claimWeekend
	}
	rows, err := db.pool.Query(ctx, q, now, limitArg(limit), runnerID, until)
	if err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (persona.DuePersona, error) { return scanDue(r, true) })
	if err != nil {
		return nil, fmt.Errorf("claim personas: %w", err)
	}
	// RETURNING has no order of its own; restore the due order.
	sort.Slice(claimed, func(i, j int) bool {
		a, b := claimed[i].LastActiveAt, claimed[j].LastActiveAt
		switch {
		case a == nil && b != nil:
			return true
		case a != nil && b == nil:
			return false
		case a != nil && b != nil && !a.Equal(*b):
			return a.Before(*b)
		}
		return claimed[i].UserID < claimed[j].UserID
	})
	return claimed, nil
}

// AbandonRuns marks the running records of runnerID abandoned and releases its leases (see
// persona.Store), in one statement.
func (db *DB) AbandonRuns(ctx context.Context, runnerID string) (int, error) {
	if strings.TrimSpace(runnerID) == "" || strings.ContainsRune(runnerID, 0) || !utf8.ValidString(runnerID) {
		return 0, fmt.Errorf("abandon runs: %w", &persona.FieldError{Field: "runnerId", Message: "is required, as valid text"})
	}
	var n int
	err := db.pool.QueryRow(ctx, `WITH abandoned AS (
		UPDATE auth.persona_ticks SET status = 'abandoned', finished_at = $1,
			error = 'abandoned: runner ' || runner_id || ' ended without finishing the run (found at its restart)'
		WHERE runner_id = $2 AND status = 'running' RETURNING 1
	), released AS (
		UPDATE auth.personas SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $2
	)
	SELECT count(*) FROM abandoned`, db.clock(), runnerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("abandon runs of %q: %w", runnerID, err)
	}
	return n, nil
}

// RecordTick upserts a tick record and, for a terminal status, releases the lease and updates
// the persona's schedule. The schedule changes only on the record's first move to a terminal
// status: a retried request with the same tick id (SPEC §5.3 step 5) must not count a failure
// twice or move last_active_at again.
func (db *DB) RecordTick(ctx context.Context, t persona.Tick) error {
	if err := persona.ValidateTick(t); err != nil {
		return fmt.Errorf("record tick: %w", err)
	}
	now := db.clock()
	t = prepareTick(t, now)
	if err := db.inTx(ctx, func(tx pgx.Tx) error { return recordTick(ctx, tx, t, now) }); err != nil {
		return fmt.Errorf("record tick %q: %w", t.TickID, err)
	}
	return nil
}

// Tick returns one tick record.
func (db *DB) Tick(ctx context.Context, tickID string) (persona.Tick, error) {
	t, err := scanTick(db.pool.QueryRow(ctx, `SELECT `+tickCols+` FROM auth.persona_ticks WHERE tick_id = $1`, tickID))
	if errors.Is(err, pgx.ErrNoRows) {
		return persona.Tick{}, fmt.Errorf("tick %q: %w", tickID, persona.ErrNotFound)
	}
	if err != nil {
		return persona.Tick{}, fmt.Errorf("tick %q: %w", tickID, err)
	}
	return t, nil
}
