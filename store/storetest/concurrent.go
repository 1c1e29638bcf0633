package storetest

import (
	"fmt"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// testConcurrentWritersShareRollups has several runners write rows of the same hours, tools,
// latency buckets, modules and ratings at once, each batch in its own order: the stores'
// rollups are shared by every persona, and two writers that take their rows' locks in different
// orders deadlock (PostgreSQL aborts one with 40P01, a lost batch). Every batch must land.
func testConcurrentWritersShareRollups(e *env) {
	const writers, batches = 6, 12
	tools := []string{"todo.create", "todo.list", "notes.create", "notes.search", "calendar.listEvents", "journal.add", "habits.log", "contacts.find"}
	modules := []string{"todo", "notes", "calendar", "journal", "habits", "contacts"}
	ids := make([]string, writers)
	for w := range ids {
		ids[w] = e.persona(fmt.Sprintf("w%d@mana.test", w), persona.Daily, "UTC")
	}
	at := e.clock.Now().Add(-2 * time.Hour)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			var err error
			for b := 0; b < batches && err == nil; b++ {
				tick := fmt.Sprintf("cw-%d-%d", w, b)
				rows := make([]persona.Action, 0, 3*len(tools))
				for k := range 3 * len(tools) {
					// Each writer walks the tools from its own offset and direction, over three
					// hours, so the shared rollup keys come in a different order per batch.
					i := (w*5 + b*3 + k) % len(tools)
					if w%2 == 1 {
						i = len(tools) - 1 - i
					}
					rows = append(rows, persona.Action{TickID: tick, ToolName: tools[i], Seq: k, Result: persona.ResultOK,
						LatencyMs: persona.Latency(int64(10 * (k % 4))), CreatedAt: at.Add(time.Duration(k%3) * time.Hour)})
				}
				if _, _, err = e.s.InsertActions(e.ctx, ids[w], rows); err != nil {
					break
				}
				fb := make([]persona.Feedback, 0, len(modules))
				for k := range modules {
					m := modules[(w+b+k)%len(modules)]
					if w%2 == 1 {
						m = modules[len(modules)-1-(w+b+k)%len(modules)]
					}
					fb = append(fb, persona.Feedback{TickID: tick, Module: m, Rating: 1 + k%5, Notes: "ok", CreatedAt: at.Add(time.Duration(k%2) * 24 * time.Hour)})
				}
				_, _, err = e.s.InsertFeedback(e.ctx, ids[w], fb)
			}
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			e.t.Errorf("a concurrent writer lost a batch: %v", err)
		}
	}
	got, err := e.s.Actions(e.ctx, persona.ActionQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	if want := writers * batches * 3 * len(tools); len(got) != want {
		e.t.Errorf("%d action rows stored, want %d", len(got), want)
	}
}
