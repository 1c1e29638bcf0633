package sim_test

import (
	"context"
	"testing"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/sim"
)

// BenchmarkRun measures the simulator's own work in one whole persona run: every Complete call
// of a recorded conversation (the main turns, the closing summary and the rating turn), replayed
// against the conversation prefix each call saw. The app's work is not included.
func BenchmarkRun(b *testing.B) {
	ctx := context.Background()
	tools := newFakeApp(b, demoTools()).modelTools()
	type call struct{ req model.Request }
	var calls []call
	for _, p := range personas {
		r := playRun(b, sim.New(1), p, "tick", demoTools())
		for i, m := range r.Messages {
			if m.Role != model.Assistant {
				continue
			}
			calls = append(calls, call{model.Request{Messages: r.Messages[:i], Tools: tools, Phase: model.PhaseMain, Persona: p, TickID: "tick"}})
		}
		calls = append(calls, call{model.Request{Messages: r.Messages, Phase: model.PhaseRating, Persona: p, TickID: "tick"}})
	}
	s := sim.New(1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range calls {
			if _, err := s.Complete(ctx, c.req); err != nil {
				b.Fatal(err)
			}
		}
	}
	// One op plays the runs of all four test personas; report per run as well.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(personas)), "ns/run")
	b.ReportMetric(float64(len(calls))/float64(len(personas)), "calls/run")
}
