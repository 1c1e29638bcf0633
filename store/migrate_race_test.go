package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/persona-runner/persona-runner/store"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
)

// TestConcurrentOpensOfANewStore: several processes (here: goroutines, each with its own
// connections) opening a store that does not exist yet at once — two `up --once` on a new data
// directory — all succeed: the migrations of the store and of the app take a lock (a file lock
// beside the SQLite file, an advisory lock on PostgreSQL), so the later ones wait and find them
// applied instead of failing with "table users already exists".
func TestConcurrentOpensOfANewStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "data", "persona-runner.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for round := range 3 {
				dsn := tc.dsn(t)
				const n = 6
				errs := make([]error, n)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						<-start
						errs[i] = openAndMigrate(dsn)
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("round %d, opener %d of %d: %v", round, i, n, err)
					}
				}
			}
		})
	}
}

// openAndMigrate does what up does first: open the store, which migrates the store's tables and
// the app's.
func openAndMigrate(dsn string) error {
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		return err
	}
	return db.Close()
}
