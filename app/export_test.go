package app

import (
	"context"
	"database/sql"
)

// WaitSessionsClosed blocks until every MCP session open now has ended (for the idle-timeout
// test, which waits on this signal rather than on a timer).
func WaitSessionsClosed(a *App) {
	for ss := range a.server.Sessions() {
		_ = ss.Wait()
	}
}

// OpenSessions counts the open MCP sessions.
func OpenSessions(a *App) int {
	n := 0
	for range a.server.Sessions() {
		n++
	}
	return n
}

// MigrateDownTo takes the app's tables back to the given migration version (to test what a
// later migration does to the rows written before it).
func MigrateDownTo(ctx context.Context, db *sql.DB, dialectName string, version int64) error {
	p, err := migrations(ctx, db, dialectName)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}
