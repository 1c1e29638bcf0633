package web

// The overview page: runs, tokens and cost per day, module trends, the top findings (from the
// findings cache), coverage, the next due personas and recent runs.

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
)

// dueRow is one persona in the next-due list.
type dueRow struct {
	persona.Persona
	At  time.Time
	Now bool
}

type overviewPage struct {
	Days     []dayCounts
	Totals   runTotals
	Runs     template.HTML
	Tokens   template.HTML
	Cost     template.HTML
	Modules  []moduleTrend
	Findings []findings.Finding // the top open findings of the window
	More     int                // open findings not shown
	Found    foundView          // when the findings were computed
	Failing  []toolRow          // while the findings are being computed: the tools that failed, most failures first
	Coverage coverage
	NextDue  []dueRow
	Recent   []persona.RunRow
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	f, err := s.parseFilter(r)
	if err != nil {
		return err
	}
	ctx, sf := r.Context(), f.stats()
	p := &overviewPage{}
	// The page's reads are independent: they run at once, on the store's connections, and the
	// findings' short wait (Config.FindingsWait) overlaps them.
	var (
		runDays []persona.RunDay
		ratings []persona.RatingDay
		tools   []persona.ToolStat
	)
	wf := sf
	wf.Since = f.To.Truncate(day).Add(day - sparkWeeks*week)
	cf := sf
	cf.NoPercentiles = true // coverage needs the tools used only
	g, gctx := errgroup.WithContext(ctx)
	r = r.WithContext(gctx)
	g.Go(func() (err error) { runDays, err = s.cfg.Store.RunsByDay(gctx, sf); return })
	g.Go(func() (err error) { ratings, err = s.cfg.Store.RatingsByDay(gctx, wf); return })
	g.Go(func() (err error) { tools, err = s.cfg.Store.ToolStats(gctx, cf); return })
	g.Go(func() (err error) { p.Findings, p.More, p.Found, err = s.topFindings(r, f, failingShown); return })
	g.Go(func() (err error) { p.NextDue, err = s.nextDue(r, nextDueShown); return })
	g.Go(func() (err error) { p.Recent, err = s.cfg.Store.RecentRuns(gctx, sf, 10); return })
	if err := g.Wait(); err != nil {
		return err
	}
	r = r.WithContext(ctx)
	p.Days, p.Totals = foldDays(runDays, f.From, f.To)
	p.Runs = runsChart("runs", p.Days)
	tok, cost := make([]float64, len(p.Days)), make([]float64, len(p.Days))
	for i, d := range p.Days {
		tok[i], cost[i] = float64(d.InputTokens+d.OutTokens), d.CostUSD
	}
	p.Tokens = barChart{ID: "tokens", Width: 320, Title: "Tokens per day", Desc: "Input and output tokens of the runs per day.",
		Labels: dayLabels(p.Days), Series: []series{{Name: "tokens", Class: "s-tokens"}}, Values: [][]float64{tok}}.SVG()
	p.Cost = barChart{ID: "cost", Width: 320, Title: "Cost per day (USD)", Desc: "Estimated model cost of the runs per day, in US dollars.",
		Labels: dayLabels(p.Days), Series: []series{{Name: "USD", Class: "s-cost"}}, Values: [][]float64{cost},
		Format: func(v float64) string { return fmt.Sprintf("$%.2f", v) }}.SVG()
	p.Modules = foldWeeks(ratings, sparkWeeks, f.To)
	p.Coverage = s.coverage(tools, f.Module)
	if p.Found.Pending {
		p.Failing = failingTools(tools, nil, failingShown)
	}
	v := s.newView(r, "Overview", "overview", f)
	modules := make([]string, 0, len(p.Modules))
	for _, m := range p.Modules {
		modules = append(modules, m.Module)
	}
	if err := s.withFilters(r, v, modules); err != nil {
		return err
	}
	v.Page = p
	s.render(w, r, "overview", http.StatusOK, v)
	return nil
}

// nextDue lists the personas that come due next, soonest first.
func (s *Server) nextDue(r *http.Request, n int) ([]dueRow, error) {
	// The store orders by cadence and back-off; weekdays and leases can push a persona later,
	// so a few more are read and ordered here.
	people, err := s.cfg.Store.NextDue(r.Context(), n*4)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]dueRow, len(people))
	for i, p := range people {
		at := persona.NextDue(p, now)
		out[i] = dueRow{Persona: p, At: at, Now: !at.After(now)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// topFindings returns the window's most urgent open findings (package findings, as `findings
// list` shows them) that match the filter, at most n, and how many more there are, from the
// findings cache (the view says when they were computed).
func (s *Server) topFindings(r *http.Request, f filter, n int) ([]findings.Finding, int, foundView, error) {
	v, err := s.found.get(r.Context(), findingsKey{since: f.window(), persona: f.personaID}, f.To)
	if err != nil {
		return nil, 0, v, err
	}
	var out []findings.Finding
	for _, x := range v.Open {
		if f.Target != "" && x.Target != f.Target {
			continue
		}
		if f.Module != "" && x.Module != f.Module && (x.Tool == "" || persona.ModuleOf(x.Tool) != f.Module) {
			continue
		}
		out = append(out, x)
	}
	v.Open = nil
	if len(out) > n {
		return out[:n], len(out) - n, v, nil
	}
	return out, 0, v, nil
}
