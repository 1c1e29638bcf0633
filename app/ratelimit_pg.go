package app

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// callLimiter decides whether a user may call a tool now (the per-user, per-tool rate limit).
type callLimiter interface {
	allow(ctx context.Context, user, tool string) (ok bool, retryAfter time.Duration, err error)
}

// memoryLimiter is the in-process window: exact for one process (SQLite, where the app runs as
// one process beside its database file).
type memoryLimiter struct{ *rateLimiter }

func (l memoryLimiter) allow(_ context.Context, user, tool string) (bool, time.Duration, error) {
	ok, retry := l.rateLimiter.allow(user, tool)
	return ok, retry, nil
}

// pgLimiter keeps the window in PostgreSQL (table app.rate_calls), so that the limit holds for a
// user across every replica of the app on one database (issue 13.6: two replicas with windows
// of their own allowed 60 calls instead of 30). The same sliding window as rateLimiter: at most
// limit allowed calls of one tool by one user in any window; refused calls are not counted.
//
// A decision is one transaction: a transaction-scoped advisory lock on the (user, tool) pair
// serialises the deciders of that pair on every replica; the count that follows (a statement of
// its own, so its snapshot is taken after the lock is held) sees every call the previous holder
// recorded; the call is recorded when allowed.
type pgLimiter struct {
	db     *sql.DB
	limit  int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	lastSweep time.Time
}

// rateLockClass is the first key of the advisory locks of the rate limit (pg_advisory_xact_lock
// with two int4 keys), so that they never meet the single-key locks of the migrations.
const rateLockClass = 0x6d616e61 // "mana"

func (l *pgLimiter) allow(ctx context.Context, user, tool string) (ok bool, retryAfter time.Duration, err error) {
	if l.limit <= 0 {
		return true, 0, nil
	}
	now := l.now()
	cutoff := micros(now.Add(-l.window))
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))`, rateLockClass, user, tool); err != nil {
		return false, 0, fmt.Errorf("rate limit: lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM app.rate_calls WHERE user_id = $1 AND tool = $2 AND at <= $3`, user, tool, cutoff); err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	var n int
	var oldest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), min(at) FROM app.rate_calls WHERE user_id = $1 AND tool = $2 AND at > $3`,
		user, tool, cutoff).Scan(&n, &oldest); err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if n >= l.limit {
		return false, fromMicros(oldest.Int64).Add(l.window).Sub(now), nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO app.rate_calls (user_id, tool, at) VALUES ($1, $2, $3)`, user, tool, micros(now)); err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	l.sweep(ctx, now, cutoff)
	return true, 0, nil
}

// sweep deletes, at most once per window per replica, the rows of every pair that left the
// window (a pair nobody calls again keeps its last rows until then).
func (l *pgLimiter) sweep(ctx context.Context, now time.Time, cutoff int64) {
	l.mu.Lock()
	due := now.Sub(l.lastSweep) >= l.window
	if due {
		l.lastSweep = now
	}
	l.mu.Unlock()
	if due {
		_, _ = l.db.ExecContext(ctx, `DELETE FROM app.rate_calls WHERE at <= $1`, cutoff)
	}
}
