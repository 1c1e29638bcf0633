package authapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
)

// The benchmarks measure the auth API over loopback HTTP next to the same store call made
// directly, so the cost of the HTTP layer (JSON, validation, one round trip) is visible:
//
//	PERSONA_TEST_POSTGRES_URL=… go test -run '^$' -bench . -benchtime 200x ./authapi
func BenchmarkActions500(b *testing.B) {
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			bu := setup(b, d)
			id := bu.mustPersona(b, "bench@mana.test")
			batch := make([]persona.Action, persona.MaxActionsPerBatch)
			fill := func(tick string) {
				for i := range batch {
					batch[i] = persona.Action{TickID: tick, ToolName: "todo.create", Result: persona.ResultOK, Seq: i,
						InputHash: "0123456789abcdef", LatencyMs: persona.Latency(12)}
				}
			}
			b.Run("http", func(b *testing.B) {
				// Each run (-count) gets its own tick ids, so every row is new.
				prefix, n := uuid.NewString()[:8], 0
				for b.Loop() {
					fill(fmt.Sprintf("http-%s-%06d", prefix, n))
					n++
					res, err := bu.client.PostActions(bu.ctx, id, batch)
					if err != nil || res.Written != len(batch) {
						b.Fatalf("PostActions = %+v, %v", res, err)
					}
				}
				b.ReportMetric(float64(n*len(batch))/b.Elapsed().Seconds(), "rows/s")
			})
			b.Run("store", func(b *testing.B) {
				prefix, n := uuid.NewString()[:8], 0
				for b.Loop() {
					fill(fmt.Sprintf("store-%s-%06d", prefix, n))
					n++
					if w, _, err := bu.store.InsertActions(bu.ctx, id, batch); err != nil || w != len(batch) {
						b.Fatalf("InsertActions = %d, %v", w, err)
					}
				}
				b.ReportMetric(float64(n*len(batch))/b.Elapsed().Seconds(), "rows/s")
			})
		})
	}
}

// BenchmarkClaim claims 10 of 1,000 due personas per call; the clock then passes the lease so
// every claim sees the same due set, as with a runner that releases its leases.
func BenchmarkClaim(b *testing.B) {
	const personas = 1000
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			bu := setup(b, d)
			for i := range personas {
				bu.mustPersona(b, fmt.Sprintf("persona.b%04d@mana.test", i))
			}
			claimHTTP := func(ctx context.Context, runner string) (int, error) {
				got, err := bu.client.Claim(ctx, runner, 10, time.Minute)
				return len(got), err
			}
			claimStore := func(ctx context.Context, runner string) (int, error) {
				got, err := bu.store.ClaimPersonas(ctx, runner, 10, time.Minute)
				return len(got), err
			}
			for name, claim := range map[string]func(context.Context, string) (int, error){"http": claimHTTP, "store": claimStore} {
				b.Run(name, func(b *testing.B) {
					n := 0
					for b.Loop() {
						got, err := claim(bu.ctx, fmt.Sprintf("runner-%d", n))
						if err != nil || got != 10 {
							b.Fatalf("claim = %d, %v", got, err)
						}
						n++
						bu.clock.Advance(time.Minute + time.Second)
					}
				})
			}
		})
	}
}
