package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// newStore opens a fresh store in the test's temporary directory.
func newStore(tb testing.TB, clock *storetest.Clock) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "data", "persona-runner.db"), sqlite.WithNow(clock.Now), sqlite.WithPasswordCost(bcrypt.MinCost))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// newConformanceStore is newStore for the storetest suites.
func newConformanceStore(t *testing.T, clock *storetest.Clock) persona.Store {
	return newStore(t, clock)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newConformanceStore, storetest.Fixtures{
		SoftDeleteUser: func(s persona.Store, email string) error {
			_, err := s.(*sqlite.DB).SQL().ExecContext(context.Background(),
				`UPDATE users SET deleted_at = updated_at WHERE email = ?`, email)
			return err
		},
		DropPersonalSpace: func(s persona.Store, userID string) error {
			_, err := s.(*sqlite.DB).SQL().ExecContext(context.Background(), `DELETE FROM spaces WHERE type = 'personal'
				AND id IN (SELECT space_id FROM members WHERE user_id = ?)`, userID)
			return err
		},
	})
}
