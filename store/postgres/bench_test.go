package postgres_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres"
	"github.com/persona-runner/persona-runner/store/postgres/pgtest"
	"github.com/persona-runner/persona-runner/store/storetest"
)

// BenchmarkStore runs the shared store benchmarks of storetest: 500-row action batches, and due
// and claim over 100k personas in the suite's mix (a third due).
func BenchmarkStore(b *testing.B) {
	storetest.Benchmarks(b, func(tb testing.TB, clock *storetest.Clock) persona.Store {
		return pgtest.NewDB(tb, postgres.WithNow(clock.Now))
	}, bulkInsert)
}

// bulkInsert loads personas with COPY: users, personal spaces, owner memberships and persona rows.
func bulkInsert(tb testing.TB, s persona.Store, rows []storetest.BulkPersona) {
	tb.Helper()
	db := s.(*postgres.DB)
	ctx := context.Background()
	n := len(rows)
	users, spaces, members, personas := make([][]any, n), make([][]any, n), make([][]any, n), make([][]any, n)
	for i, p := range rows {
		sid := uuid.NewString()
		users[i] = []any{p.UserID, p.Email, p.Email, true, "user", "founder", "persona", "x", p.CreatedAt, p.CreatedAt}
		spaces[i] = []any{sid, p.Email, p.Slug, "personal", p.CreatedAt}
		members[i] = []any{sid, p.UserID, "owner", p.CreatedAt}
		personas[i] = []any{p.UserID, "bench", "You are a benchmark persona.", []byte(`{"todo":1}`), string(p.Cadence),
			p.Timezone, p.LastActiveAt, p.CreatedAt, p.CreatedAt}
	}
	copyIn := func(table string, cols []string, rows [][]any) {
		if _, err := db.Pool().CopyFrom(ctx, pgx.Identifier{"auth", table}, cols, pgx.CopyFromRows(rows)); err != nil {
			tb.Fatalf("copy %s: %v", table, err)
		}
	}
	copyIn("users", []string{"id", "email", "name", "email_verified", "role", "access_tier", "kind", "password_hash", "created_at", "updated_at"}, users)
	copyIn("spaces", []string{"id", "name", "slug", "type", "created_at"}, spaces)
	copyIn("members", []string{"space_id", "user_id", "role", "created_at"}, members)
	copyIn("personas", []string{"user_id", "archetype", "system_prompt", "module_mix", "tick_cadence", "timezone",
		"last_active_at", "created_at", "updated_at"}, personas)
	// Fresh statistics, as autovacuum would gather after a load this size, let the planner pick
	// between the due-order and due_at indexes.
	if _, err := db.Pool().Exec(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}

// loadPersonas bulk-loads n personas whose last runs are spread over the given span before now
// (none never ran, so the due scan cannot stop at the first rows).
func loadPersonas(b *testing.B, db *postgres.DB, n int, now time.Time, spread time.Duration) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	rows := storetest.BulkPersonas(n, now)
	for i := range rows {
		last := now.Add(-time.Duration(rng.Int64N(int64(spread))))
		rows[i].LastActiveAt = &last
	}
	bulkInsert(b, db, rows)
}

const benchPersonas = 100_000

// The two regimes of a scheduler: a backlog (last runs spread over 30 hours, so about a third of
// the personas are due) and a steady state (everyone ran within the last 50 minutes, so none is
// due and the query must prove that without reading every persona).
var scenarios = []struct {
	name   string
	spread time.Duration
	want   int
}{
	{"backlog", 30 * time.Hour, -1},
	{"idle", 50 * time.Minute, 0},
}

// BenchmarkDuePersonas lists the first 100 due personas out of 100k.
func BenchmarkDuePersonas(b *testing.B) {
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			now := ts("2025-06-04T12:00:00Z") // a Wednesday
			db := pgtest.NewDB(b, postgres.WithNow(func() time.Time { return now }))
			loadPersonas(b, db, benchPersonas, now, sc.spread)
			ctx := context.Background()
			want := sc.want
			if want < 0 {
				want = 100
			}
			for b.Loop() {
				due, _, err := db.DuePersonas(ctx, 100)
				if err != nil || len(due) != want {
					b.Fatalf("due: %d, %v", len(due), err)
				}
			}
		})
	}
}

// BenchmarkClaimPersonas claims 10 personas out of 100k per call. Claims accumulate (each call
// leases the next 10 in due order), as they do while runners hold leases.
func BenchmarkClaimPersonas(b *testing.B) {
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			now := ts("2025-06-04T12:00:00Z")
			db := pgtest.NewDB(b, postgres.WithNow(func() time.Time { return now }))
			loadPersonas(b, db, benchPersonas, now, sc.spread)
			ctx := context.Background()
			want := sc.want
			if want < 0 {
				want = 10
			}
			for b.Loop() {
				got, err := db.ClaimPersonas(ctx, "bench-runner", 10, 10*time.Minute)
				if err != nil || len(got) != want {
					b.Fatalf("claim: %d, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkReadModels measures findings and report over 1M action rows (PERSONA_BENCH_READ=1).
func BenchmarkReadModels(b *testing.B) {
	storetest.ReadBenchmarks(b, func(tb testing.TB, clock *storetest.Clock) persona.Store {
		return pgtest.NewDB(tb, postgres.WithNow(clock.Now))
	}, func(tb testing.TB, clock *storetest.Clock, dsn string) persona.Store {
		db, err := postgres.Open(context.Background(), dsn, postgres.WithNow(clock.Now), postgres.WithPasswordCost(bcrypt.MinCost))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		return db
	}, bulkInsert)
}
