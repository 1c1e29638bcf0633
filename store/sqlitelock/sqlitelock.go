// Package sqlitelock serialises goose migrations of a SQLite file across processes: an exclusive
// flock(2) on a "<file>.lock" file beside the database, held from before goose reads the version
// table until the last migration is applied. A second process (or goroutine) opening a new store
// at the same time waits, then finds the migrations applied, instead of running them again and
// failing with "table users already exists". The store's and the demo app's migration lines both
// take it (one after the other, never nested).
package sqlitelock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// Locker is a goose lock.Locker for one SQLite file.
type Locker struct {
	path string // the database file; "" means nothing to lock
	mu   sync.Mutex
	f    *os.File
}

var _ lock.Locker = (*Locker)(nil)

// ForDB returns a Locker for db's main file; give each goose provider its own. It asks db for
// the file now, because goose holds a connection of db while it locks (the store's writer pool
// has only one).
func ForDB(ctx context.Context, db *sql.DB) (*Locker, error) {
	path, err := mainFile(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	return &Locker{path: path}, nil
}

// ForPath returns a Locker for the database file at path ("" or ":memory:": nothing to lock),
// for what must be serialised before the database can be asked for its file: the first
// connection to a new file, which switches it to WAL.
func ForPath(path string) *Locker {
	if path == ":memory:" {
		path = ""
	}
	return &Locker{path: path}
}

// pollInterval is how often a waiting Lock tries again: flock's blocking form cannot be
// cancelled, and a migration takes milliseconds.
const pollInterval = 20 * time.Millisecond

// Lock takes the exclusive lock of the file, waiting while another process holds it (until ctx
// ends). An in-memory database has no file and nobody to race with: it is not locked.
func (l *Locker) Lock(ctx context.Context, _ *sql.DB) error {
	if l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("migration lock %s: %w", f.Name(), err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			f.Close()
			return fmt.Errorf("migration lock %s: waiting for another process's migrations: %w", f.Name(), ctx.Err())
		case <-time.After(pollInterval):
		}
	}
	l.mu.Lock()
	l.f = f
	l.mu.Unlock()
	return nil
}

// Unlock releases the lock Lock took (closing the file releases it).
func (l *Locker) Unlock(context.Context, *sql.DB) error {
	l.mu.Lock()
	f := l.f
	l.f = nil
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	return errors.Join(unlock(f), f.Close())
}

// mainFile is the path of db's main database file ("" for an in-memory or temporary database).
func mainFile(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return "", fmt.Errorf("find the database file: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			return "", fmt.Errorf("find the database file: %w", err)
		}
		if name == "main" {
			return file, rows.Err()
		}
	}
	return "", rows.Err()
}
