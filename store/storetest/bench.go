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
}
