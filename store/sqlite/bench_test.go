package sqlite_test

import (
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/sqlite"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// BenchmarkStore runs the shared store benchmarks, e.g.
//
//	go test -run '^$' -bench . -benchtime 2s ./store/sqlite/
func BenchmarkStore(b *testing.B) {
	storetest.Benchmarks(b,
		func(tb testing.TB, clock *storetest.Clock) persona.Store { return newStore(tb, clock) },
		bulkInsert)
}

// bulkInsert writes benchmark personas straight into the tables in one transaction.
func bulkInsert(tb testing.TB, s persona.Store, rows []storetest.BulkPersona) {
	tb.Helper()
	db := s.(*sqlite.DB).SQL()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	stmts := []string{
		`INSERT INTO users (id, email, name, email_verified, role, access_tier, kind, password_hash, created_at, updated_at)
			VALUES (?1, ?2, ?2, 1, 'user', 'founder', 'persona', 'x', ?3, ?3)`,
		`INSERT INTO personas (user_id, archetype, system_prompt, module_mix, tick_cadence, timezone, last_active_at, created_at)
			VALUES (?1, 'bench', 'You are a benchmark persona.', '{"todo":1}', ?4, ?5, ?6, ?3)`,
		`INSERT INTO spaces (id, name, slug, type, created_at) VALUES ('space-' || ?1, ?2, ?7, 'personal', ?3)`,
		`INSERT INTO members (space_id, user_id, role, created_at) VALUES ('space-' || ?1, ?1, 'owner', ?3)`,
	}
	for _, q := range stmts {
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range rows {
			var last any
			if p.LastActiveAt != nil {
				last = p.LastActiveAt.UnixMicro()
			}
			if _, err := stmt.ExecContext(ctx, p.UserID, p.Email, p.CreatedAt.UnixMicro(), string(p.Cadence), p.Timezone, last, p.Slug); err != nil {
				tb.Fatal(err)
			}
		}
		stmt.Close()
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkReadModels measures findings and report over 1M action rows (PERSONA_BENCH_READ=1).
func BenchmarkReadModels(b *testing.B) {
	storetest.ReadBenchmarks(b,
		func(tb testing.TB, clock *storetest.Clock) persona.Store { return newStore(tb, clock) },
		func(tb testing.TB, clock *storetest.Clock, path string) persona.Store {
			db, err := sqlite.Open(context.Background(), path, sqlite.WithNow(clock.Now), sqlite.WithPasswordCost(bcrypt.MinCost))
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { db.Close() })
			return db
		},
		bulkInsert)
}
