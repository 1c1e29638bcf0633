package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/store/postgres"
)

// BenchmarkInsertActions inserts 500-row action batches (the runner's chunk size) of new rows.
func BenchmarkInsertActions(b *testing.B) {
	db := postgres.NewTestDB(b)
	ctx := context.Background()
	id, _, err := db.UpsertPersona(ctx, input("bench@mana.test", "", ""))
	if err != nil {
		b.Fatal(err)
	}
	const batch = 500
	rows := make([]persona.Action, batch)
	tick := 0
	for b.Loop() {
		tickID := fmt.Sprintf("tick-%08d", tick)
		tick++
		for i := range rows {
			rows[i] = persona.Action{TickID: tickID, ToolName: "todo.create", Result: persona.ResultOK,
				InputHash: "0123456789abcdef", LatencyMs: 42, Seq: i}
		}
		w, _, err := db.InsertActions(ctx, id, rows)
		if err != nil || w != batch {
			b.Fatalf("insert: %d, %v", w, err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
}

// loadPersonas bulk-loads n personas with COPY: a third of each cadence, zones around the world,
// last runs spread over the last 30 hours (none never-run, so the due scan cannot stop at the
// first rows), one in twenty backed off after a failure.
func loadPersonas(b *testing.B, db *postgres.DB, n int, now time.Time, spread time.Duration) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []string{"UTC", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney"}
	cadences := []string{"hourly", "daily", "weekdays"}
	users := make([][]any, n)
	spaces := make([][]any, n)
	members := make([][]any, n)
	personas := make([][]any, n)
	for i := range n {
		id, sid := uuid.NewString(), uuid.NewString()
		email := fmt.Sprintf("p%06d@mana.test", i)
		users[i] = []any{id, email, email, true, "user", "founder", "persona", "x", now, now}
		spaces[i] = []any{sid, email, fmt.Sprintf("p%06d", i), "personal", now}
		members[i] = []any{sid, id, "owner", now}
		last := now.Add(-time.Duration(rng.Int64N(int64(spread))))
		var next *time.Time
		if i%20 == 0 {
			t := now.Add(time.Hour)
			next = &t
		}
		personas[i] = []any{id, "bench", "You are a benchmark persona.", []byte(`{"todo":1}`), cadences[i%3],
			zones[i%len(zones)], last, now, now, next}
	}
	copyIn := func(table string, cols []string, rows [][]any) {
		if _, err := db.Pool().CopyFrom(ctx, pgx.Identifier{"auth", table}, cols, pgx.CopyFromRows(rows)); err != nil {
			b.Fatalf("copy %s: %v", table, err)
		}
	}
	copyIn("users", []string{"id", "email", "name", "email_verified", "role", "access_tier", "kind", "password_hash", "created_at", "updated_at"}, users)
	copyIn("spaces", []string{"id", "name", "slug", "type", "created_at"}, spaces)
	copyIn("members", []string{"space_id", "user_id", "role", "created_at"}, members)
	copyIn("personas", []string{"user_id", "archetype", "system_prompt", "module_mix", "tick_cadence", "timezone",
		"last_active_at", "created_at", "updated_at", "next_due_at"}, personas)
	if _, err := db.Pool().Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
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
			db := postgres.NewTestDB(b, postgres.WithNow(func() time.Time { return now }))
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
			db := postgres.NewTestDB(b, postgres.WithNow(func() time.Time { return now }))
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
