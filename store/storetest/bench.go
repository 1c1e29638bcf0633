package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// BulkPersona is one persona for benchmark setup. Adapters insert these straight into their
// tables (user, persona row, personal space and owner membership) so that 100k personas take
// seconds, not the hours 100k bcrypt upserts would.
type BulkPersona struct {
	UserID       string
	Email        string
	Slug         string // of the personal space
	Cadence      persona.Cadence
	Timezone     string
	LastActiveAt *time.Time
	CreatedAt    time.Time
}

// BulkInsertFunc inserts rows into s, failing tb on error.
type BulkInsertFunc func(tb testing.TB, s persona.Store, rows []BulkPersona)

// BulkPersonas returns n personas in the benchmark's mix at now: a tenth never ran, a third ran
// over a day ago (due), the rest ran within the last hour (not due); cadences and time zones vary.
func BulkPersonas(n int, now time.Time) []BulkPersona {
	zones := []string{"UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York", "Australia/Sydney"}
	out := make([]BulkPersona, n)
	for i := range out {
		p := BulkPersona{
			UserID:    fmt.Sprintf("bulk-%07d", i),
			Email:     fmt.Sprintf("bulk.%07d@mana.test", i),
			Slug:      fmt.Sprintf("bulk-%07d", i),
			Cadence:   persona.Cadences[i%len(persona.Cadences)],
			Timezone:  zones[i%len(zones)],
			CreatedAt: now.Add(-30 * 24 * time.Hour),
		}
		switch r := i % 30; {
		case r < 3:
		case r < 13:
			at := now.Add(-25*time.Hour - time.Duration(i)*time.Second)
			p.LastActiveAt = &at
		default:
			at := now.Add(-time.Duration(i%3000) * time.Second / 2)
			p.LastActiveAt = &at
		}
		out[i] = p
	}
	return out
}

// Benchmarks runs the shared store benchmarks: inserting 500-row action batches, and the due
// and claim queries over 100k personas. newStore returns a fresh store on the clock.
func Benchmarks(b *testing.B, newStore func(tb testing.TB, clock *Clock) persona.Store, bulk BulkInsertFunc) {
	ctx := context.Background()

	b.Run("InsertActions500", func(b *testing.B) {
		clock := NewClock(Start)
		s := newStore(b, clock)
		id, _, err := s.UpsertPersona(ctx, input("bench@mana.test"))
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]persona.Action, persona.MaxActionsPerBatch)
		n := 0
		for b.Loop() {
			tick := fmt.Sprintf("tick-%06d", n)
			n++
			for i := range batch {
				batch[i] = persona.Action{TickID: tick, ToolName: "todo.create", Result: persona.ResultOK, Seq: i,
					InputHash: "0123456789abcdef", LatencyMs: persona.Latency(12)}
			}
			if w, _, err := s.InsertActions(ctx, id, batch); err != nil || w != len(batch) {
				b.Fatalf("InsertActions = %d, %v", w, err)
			}
		}
		b.ReportMetric(float64(n*len(batch))/b.Elapsed().Seconds(), "rows/s")
	})

	const personas = 100_000
	setup := func(b *testing.B) (persona.Store, *Clock) {
		clock := NewClock(Start)
		s := newStore(b, clock)
		bulk(b, s, BulkPersonas(personas, clock.Now()))
		return s, clock
	}

	b.Run("DuePersonas100k", func(b *testing.B) {
		s, _ := setup(b)
		for b.Loop() {
			list, _, err := s.DuePersonas(ctx, 50)
			if err != nil || len(list) != 50 {
				b.Fatalf("DuePersonas = %d, %v", len(list), err)
			}
		}
	})

	b.Run("ClaimPersonas100k", func(b *testing.B) {
		s, clock := setup(b)
		n := 0
		for b.Loop() {
			list, err := s.ClaimPersonas(ctx, fmt.Sprintf("runner-%d", n), 10, time.Minute)
			if err != nil || len(list) != 10 {
				b.Fatalf("ClaimPersonas = %d, %v", len(list), err)
			}
			n++
			// Let the leases run out so every claim scans the same due set, as a steady-state
			// runner (which releases its leases) would.
			clock.Advance(time.Minute + time.Second)
		}
	})
	// The regimes a scheduler spends most of its time in besides a backlog, each over 100k
	// personas: everyone ran within the hour (nothing due), a weekend (every persona runs on
	// weekdays and would be due by time, but none is on a Saturday in any zone of the mix), and a
	// pile of leases a crashed runner left (all expired, so all claimable) with the claims of a
	// live runner piling up in front of them.
	scenario := func(b *testing.B, at time.Time, edit func(i int, p *BulkPersona)) (persona.Store, *Clock) {
		clock := NewClock(at)
		s := newStore(b, clock)
		rows := BulkPersonas(personas, clock.Now())
		for i := range rows {
			edit(i, &rows[i])
		}
		bulk(b, s, rows)
		return s, clock
	}
	ranAgo := func(d time.Duration) func(i int, p *BulkPersona) {
		return func(i int, p *BulkPersona) {
			at := Start.Add(-d - time.Duration(i%600)*time.Second)
			p.LastActiveAt = &at
		}
	}
	nothingDue := func(b *testing.B) (persona.Store, *Clock) {
		return scenario(b, Start, ranAgo(30*time.Minute))
	}
	saturday := Start.Add(3 * 24 * time.Hour) // Start is a Wednesday
	weekend := func(b *testing.B) (persona.Store, *Clock) {
		return scenario(b, saturday, func(i int, p *BulkPersona) {
			p.Cadence = persona.Weekdays
			at := saturday.Add(-50*time.Hour - time.Duration(i)*time.Second)
			p.LastActiveAt = &at
		})
	}
	for _, sc := range []struct {
		name  string
		setup func(b *testing.B) (persona.Store, *Clock)
	}{{"NothingDue", nothingDue}, {"Weekend", weekend}} {
		b.Run("DuePersonas100k"+sc.name, func(b *testing.B) {
			s, _ := sc.setup(b)
			for b.Loop() {
				list, _, err := s.DuePersonas(ctx, 50)
				if err != nil || len(list) != 0 {
					b.Fatalf("DuePersonas = %d, %v; want none", len(list), err)
				}
			}
		})
		b.Run("ClaimPersonas100k"+sc.name, func(b *testing.B) {
			s, _ := sc.setup(b)
			for b.Loop() {
				list, err := s.ClaimPersonas(ctx, "bench-runner", 10, time.Minute)
				if err != nil || len(list) != 0 {
					b.Fatalf("ClaimPersonas = %d, %v; want none", len(list), err)
				}
			}
		})
	}

	b.Run("ClaimPersonas100kExpiredLeases", func(b *testing.B) {
		s, clock := scenario(b, Start, ranAgo(2*24*time.Hour)) // everyone due
		if got, err := s.ClaimPersonas(ctx, "crashed-runner", personas, time.Minute); err != nil || len(got) != personas {
			b.Fatalf("the crashed runner's claim = %d, %v", len(got), err)
		}
		clock.Advance(2 * time.Minute) // its leases ran out
		n := 0
		for b.Loop() {
			// The live runner's leases hold (no clock advance), so each claim walks past the ones
			// before it; at most 10,000 claims fit the 100k expired leases.
			list, err := s.ClaimPersonas(ctx, "live-runner", 10, time.Hour)
			if err != nil || len(list) != 10 {
				b.Fatalf("claim %d: ClaimPersonas = %d, %v", n, len(list), err)
			}
			n++
		}
	})
}
