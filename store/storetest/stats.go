package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/persona"
)

// statsTests cover the dashboard's aggregates (persona.StatsStore).
var statsTests = []suiteTest{
	{"ToolStatsMatchRows", func(e *env) {
		st, ok := e.s.(persona.StatsStore)
		if !ok {
			e.t.Skip("the store has no dashboard aggregates")
		}
		// Two personas' calls over five hours, latencies across the histogram's buckets (and
		// none), every seventh failing; one tool of a module that is not its name's.
		base := Start.Add(-5 * time.Hour).Truncate(time.Hour)
		lat := []int64{0, 5, 31, 32, 33, 63, 64, 100, 999, 1000, 1023, 5000, 70_000, -1}
		var ids []string
		for p, email := range []string{"hours.a@example.test", "hours.b@example.test"} {
			id := e.persona(email, persona.Daily, "UTC")
			ids = append(ids, id)
			for r := range 5 {
				tick := fmt.Sprintf("hours-%d-%d", p, r)
				start := base.Add(time.Duration(r)*time.Hour + time.Duration(17*p+13*r)*time.Minute)
				e.tick(persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r", Status: persona.TickOK, StartedAt: start})
				var rows []persona.Action
				for k := range 40 {
					a := persona.Action{TickID: tick, ToolName: []string{"todo.create", "todo.list", "notes.search", "x_pantry_add"}[k%4], Seq: k,
						Result: persona.ResultOK, CreatedAt: start.Add(time.Duration(k*47) * time.Second)}
					if k%4 == 3 {
						a.Module = "pantry"
					}
					if l := lat[(k+r+p)%len(lat)]; l >= 0 {
						a.LatencyMs = persona.Latency(l + int64(k%3))
					}
					if (k+r)%7 == 0 {
						a.Result, a.ErrorMessage = persona.ResultError, "boom"
					}
					rows = append(rows, a)
				}
				if _, _, err := e.s.InsertActions(e.ctx, id, rows); err != nil {
					e.t.Fatal(err)
				}
			}
		}
		check := func(what string) {
			e.t.Helper()
			for _, f := range []persona.StatsFilter{
				{},
				{Since: base, Until: base.Add(5 * time.Hour)},
				{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)},
				{Since: base.Add(37*time.Minute + 3*time.Second), Until: base.Add(4*time.Hour + 11*time.Minute)},
				{Since: base.Add(2*time.Hour + 5*time.Minute), Until: base.Add(2*time.Hour + 50*time.Minute)},
				{Since: base.Add(40 * time.Minute), Until: base.Add(4 * time.Hour), Module: "todo"},
				{Since: base.Add(40 * time.Minute), Until: base.Add(4 * time.Hour), Module: "pantry"},
			} {
				got, err := st.ToolStats(e.ctx, f)
				if err != nil {
					e.t.Fatal(err)
				}
				if d := cmp.Diff(toolStatsOfRows(e, f), got); d != "" {
					e.t.Errorf("%s: ToolStats %+v differs from the rows (-rows +got):\n%s", what, f, d)
				}
			}
		}
		check("written")
		if err := e.s.DeletePersona(e.ctx, ids[1]); err != nil {
			e.t.Fatal(err)
		}
		check("after deleting a persona")
	}},
}

func init() {
	statsTests = append(statsTests, suiteTest{"TargetsDistinct", func(e *env) {
		st, ok := e.s.(persona.StatsStore)
		if !ok {
			e.t.Skip("the store has no dashboard aggregates")
		}
		id := e.persona("targets@example.test", persona.Daily, "UTC")
		for i, target := range []string{"kitchen", "", "demo", "kitchen", "demo", "z-last", ""} {
			e.tick(persona.Tick{TickID: fmt.Sprintf("targets-%d", i), PersonaID: id, RunnerID: "r", Status: persona.TickOK,
				StartedAt: Start.Add(-time.Duration(i) * time.Hour), Target: target})
		}
		got, err := st.Targets(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if want := []string{"", "demo", "kitchen", "z-last"}; !slices.Equal(got, want) {
			e.t.Errorf("Targets = %q, want %q", got, want)
		}
	}})
}

func init() {
	statsTests = append(statsTests, suiteTest{"RatingsByDayMatchRows", func(e *env) {
		st, ok := e.s.(persona.StatsStore)
		if !ok {
			e.t.Skip("the store has no dashboard aggregates")
		}
		// Two personas' ratings over five days, at hours that put some near midnight.
		base := Start.Truncate(24*time.Hour).AddDate(0, 0, -5)
		var ids []string
		for p, email := range []string{"days.a@example.test", "days.b@example.test"} {
			id := e.persona(email, persona.Daily, "UTC")
			ids = append(ids, id)
			var fb []persona.Feedback
			for i := range 30 {
				tick := fmt.Sprintf("days-%d-%d", p, i)
				at := base.Add(time.Duration(i*4+p)*time.Hour + time.Duration(13*i)*time.Minute)
				e.tick(persona.Tick{TickID: tick, PersonaID: id, RunnerID: "r", Status: persona.TickOK, StartedAt: at})
				for m, mod := range []string{"todo", "notes"} {
					fb = append(fb, persona.Feedback{TickID: tick, Module: mod, Rating: 1 + (i+m+p)%5, Notes: "n", CreatedAt: at})
				}
			}
			if _, _, err := e.s.InsertFeedback(e.ctx, id, fb); err != nil {
				e.t.Fatal(err)
			}
		}
		check := func(what string) {
			e.t.Helper()
			for _, f := range []persona.StatsFilter{
				{},
				{Since: base, Until: base.AddDate(0, 0, 5)},
				{Since: base.Add(7*time.Hour + 5*time.Minute), Until: base.Add(3*24*time.Hour + 17*time.Hour)},
				{Since: base.Add(30 * time.Hour), Until: base.Add(40 * time.Hour)},
				{Since: base.Add(7 * time.Hour), Until: base.Add(4 * 24 * time.Hour), Module: "notes"},
			} {
				got, err := st.RatingsByDay(e.ctx, f)
				if err != nil {
					e.t.Fatal(err)
				}
				rows, err := e.s.Feedback(e.ctx, persona.FeedbackQuery{Since: f.Since, Until: f.Until, Module: f.Module})
				if err != nil {
					e.t.Fatal(err)
				}
				type key struct {
					day    time.Time
					module string
					rating int
				}
				n := map[key]int{}
				for _, r := range rows {
					n[key{r.CreatedAt.UTC().Truncate(24 * time.Hour), r.Module, r.Rating}]++
				}
				want := []persona.RatingDay{}
				for k, c := range n {
					want = append(want, persona.RatingDay{Day: k.day, Module: k.module, Rating: k.rating, Count: c})
				}
				persona.SortRatingDays(want)
				if d := cmp.Diff(want, got); d != "" {
					e.t.Errorf("%s: RatingsByDay %+v differs from the ratings (-rows +got):\n%s", what, f, d)
				}
			}
		}
		check("written")
		if err := e.s.DeletePersona(e.ctx, ids[0]); err != nil {
			e.t.Fatal(err)
		}
		check("after deleting a persona")
	}})
}

// toolStatsOfRows counts persona.ToolStat from the rows themselves (nearest-rank percentiles).
func toolStatsOfRows(e *env, f persona.StatsFilter) []persona.ToolStat {
	e.t.Helper()
	rows, err := e.s.Actions(e.ctx, persona.ActionQuery{Since: f.Since, Until: f.Until, Module: f.Module})
	if err != nil {
		e.t.Fatal(err)
	}
	by := map[string]*persona.ToolStat{}
	lat := map[string][]int64{}
	for _, a := range rows {
		s := by[a.ToolName]
		if s == nil {
			s = &persona.ToolStat{Tool: a.ToolName}
			by[a.ToolName] = s
		}
		s.Calls++
		if a.Result == persona.ResultError {
			s.Errors++
		}
		if a.LatencyMs != nil {
			s.Timed++
			lat[a.ToolName] = append(lat[a.ToolName], *a.LatencyMs)
		}
		s.Module = max(s.Module, a.Module)
		if a.CreatedAt.After(s.LastUsed) {
			s.LastUsed = a.CreatedAt
		}
	}
	out := []persona.ToolStat{}
	for name, s := range by {
		if l := lat[name]; len(l) > 0 {
			slices.Sort(l)
			n := len(l)
			s.P50Ms, s.P95Ms = l[(n*50+99)/100-1], l[(n*95+99)/100-1]
		}
		s.LastUsed = s.LastUsed.UTC()
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b persona.ToolStat) int {
		if a.Tool < b.Tool {
			return -1
		}
		if a.Tool > b.Tool {
			return 1
		}
		return 0
	})
	return out
}
