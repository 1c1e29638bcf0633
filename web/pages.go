package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

const (
	day          = 24 * time.Hour
	week         = 7 * day
	sparkWeeks   = 8
	failingShown = 8
	nextDueShown = 8
	cardsPerPage = 48
)

// runSeries are the stacked parts of a runs-per-day chart, bottom to top.
var runSeries = []series{
	{Name: "ok", Class: "s-ok"},
	{Name: "degraded", Class: "s-degraded", Pattern: "dots"},
	{Name: "failed", Class: "s-failed", Pattern: "hatch"},
}

// dayCounts is one day of the runs charts.
type dayCounts struct {
	Day                    time.Time
	OK, Degraded, Failed   int
	Other                  int
	InputTokens, OutTokens int64
	CostUSD                float64
}

// runTotals sums the days of a window.
type runTotals struct {
	Runs, OK, Degraded, Failed, Other int
	Tokens                            int64
	CostUSD                           float64
}

// foldDays lays the per-day rows out on every day of [from, to), so days without runs show.
func foldDays(rows []persona.RunDay, from, to time.Time) ([]dayCounts, runTotals) {
	first := from.UTC().Truncate(day)
	n := int(to.UTC().Truncate(day).Sub(first)/day) + 1
	days := make([]dayCounts, n)
	for i := range days {
		days[i].Day = first.Add(time.Duration(i) * day)
	}
	var t runTotals
	for _, r := range rows {
		i := int(r.Day.Sub(first) / day)
		if i < 0 || i >= n {
			continue
		}
		d := &days[i]
		switch statusGroup(r.Status) {
		case "ok":
			d.OK += r.Runs
			t.OK += r.Runs
		case "degraded":
			d.Degraded += r.Runs
			t.Degraded += r.Runs
		case "failed":
			d.Failed += r.Runs
			t.Failed += r.Runs
		default:
			d.Other += r.Runs
			t.Other += r.Runs
		}
		t.Runs += r.Runs
		d.InputTokens += r.InputTokens
		d.OutTokens += r.OutputTokens
		d.CostUSD += r.CostUSD
		t.Tokens += r.InputTokens + r.OutputTokens
		t.CostUSD += r.CostUSD
	}
	return days, t
}

func dayLabels(days []dayCounts) []string {
	out := make([]string, len(days))
	for i, d := range days {
		out[i] = d.Day.Format("Jan 2")
	}
	return out
}

func runsChart(id string, days []dayCounts) template.HTML {
	vals := [][]float64{make([]float64, len(days)), make([]float64, len(days)), make([]float64, len(days))}
	for i, d := range days {
		vals[0][i], vals[1][i], vals[2][i] = float64(d.OK), float64(d.Degraded), float64(d.Failed)
	}
	return barChart{ID: id, Title: "Runs per day", Desc: "Stacked bars per day: ok (solid), degraded (dotted), failed (hatched). The table below has the numbers.",
		Labels: dayLabels(days), Series: runSeries, Values: vals}.SVG()
}

// moduleTrend is one module's weekly ratings.
type moduleTrend struct {
	Module string
	Weeks  []*float64 // mean per week, oldest first; nil when no rating that week
	Counts []int
	Avg    float64 // over all the weeks
	Count  int
	Trend  string // "▲ +0.40", "▼ −0.30", "= steady", "new"
	Dir    string // up, down, flat, new
	Spark  template.HTML
	Dist   [5]int // ratings 1..5
}

// foldWeeks turns per-day rating rows into weekly means per module over the weeks ending at to.
// The trend compares the mean of the last half of the weeks with the first half.
func foldWeeks(rows []persona.RatingDay, weeks int, to time.Time) []moduleTrend {
	start := to.UTC().Truncate(day).Add(day - time.Duration(weeks)*week)
	type acc struct {
		sum, n []int
		dist   [5]int
	}
	by := map[string]*acc{}
	for _, r := range rows {
		if r.Module == "__parse" {
			continue
		}
		i := int(r.Day.Sub(start) / week)
		if r.Day.Before(start) || i >= weeks {
			continue
		}
		a := by[r.Module]
		if a == nil {
			a = &acc{sum: make([]int, weeks), n: make([]int, weeks)}
			by[r.Module] = a
		}
		a.sum[i] += r.Rating * r.Count
		a.n[i] += r.Count
		if r.Rating >= 1 && r.Rating <= 5 {
			a.dist[r.Rating-1] += r.Count
		}
	}
	out := make([]moduleTrend, 0, len(by))
	for m, a := range by {
		t := moduleTrend{Module: m, Weeks: make([]*float64, weeks), Counts: a.n, Dist: a.dist}
		total, count := 0, 0
		var early, late [2]int
		for i := range weeks {
			if a.n[i] > 0 {
				v := float64(a.sum[i]) / float64(a.n[i])
				t.Weeks[i] = &v
			}
			total += a.sum[i]
			count += a.n[i]
			half := &early
			if i >= weeks/2 {
				half = &late
			}
			half[0] += a.sum[i]
			half[1] += a.n[i]
		}
		if count > 0 {
			t.Avg, t.Count = float64(total)/float64(count), count
		}
		switch {
		case early[1] == 0 || late[1] == 0:
			t.Trend, t.Dir = "new", "new"
			if late[1] == 0 {
				t.Trend, t.Dir = "no recent ratings", "flat"
			}
		default:
			d := float64(late[0])/float64(late[1]) - float64(early[0])/float64(early[1])
			switch {
			case d >= 0.05:
				t.Trend, t.Dir = fmt.Sprintf("▲ +%.2f better", d), "up"
			case d <= -0.05:
				t.Trend, t.Dir = fmt.Sprintf("▼ −%.2f worse", -d), "down"
			default:
				t.Trend, t.Dir = "= steady", "flat"
			}
		}
		t.Spark = sparkline("spark-"+m, fmt.Sprintf("%s: weekly mean rating over %d weeks, %s", m, weeks, t.Trend), t.Weeks)
		out = append(out, t)
	}
	// Worst first: the modules that need attention lead.
	sort.Slice(out, func(i, j int) bool {
		if out[i].Avg != out[j].Avg {
			return out[i].Avg < out[j].Avg
		}
		return out[i].Module < out[j].Module
	})
	return out
}

// toolRow is one tool on the tools page and in the overview's failing tools.
type toolRow struct {
	persona.ToolStat
	Rate    float64
	Samples []persona.ToolError
}

// coverage compares the tools used with the offered ones.
type coverage struct {
	Offered, Used int
	NeverUsed     []string
	Pct           string
}

func (s *Server) coverage(stats []persona.ToolStat, module string) coverage {
	used := map[string]bool{}
	for _, t := range stats {
		used[t.Tool] = true
	}
	c := coverage{Used: len(used)}
	offered := map[string]bool{}
	for _, t := range s.cfg.Tools {
		if module != "" && persona.ModuleOf(t) != module {
			continue
		}
		offered[t] = true
		if !used[t] {
			c.NeverUsed = append(c.NeverUsed, t)
		}
	}
	c.Offered = len(offered)
	c.Used = 0
	for t := range used {
		if len(offered) == 0 || offered[t] {
			c.Used++
		}
	}
	if c.Offered == 0 {
		c.Offered = c.Used
	}
	slices.Sort(c.NeverUsed)
	if c.Offered > 0 {
		c.Pct = fmt.Sprintf("%.0f%%", float64(c.Used)*100/float64(c.Offered))
	}
	return c
}

func failingTools(stats []persona.ToolStat, samples []persona.ToolError, limit int) []toolRow {
	by := map[string][]persona.ToolError{}
	for _, e := range samples {
		by[e.Tool] = append(by[e.Tool], e)
	}
	var out []toolRow
	for _, t := range stats {
		if t.Errors == 0 {
			continue
		}
		out = append(out, toolRow{ToolStat: t, Rate: float64(t.Errors) / float64(t.Calls), Samples: by[t.Tool]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Errors != out[j].Errors {
			return out[i].Errors > out[j].Errors
		}
		return out[i].Tool < out[j].Tool
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

type modulesPage struct {
	Modules []moduleSection
	Weeks   int
}

type moduleSection struct {
	moduleTrend
	WeekChart template.HTML
	DistChart template.HTML
	Labels    []string // the weeks' first days
	Calls     int
	Errors    int
	Tools     []toolRow
	Unused    []string
	Notes     []persona.Note
}

func (s *Server) modules(w http.ResponseWriter, r *http.Request) error {
	f, err := s.parseFilter(r)
	if err != nil {
		return err
	}
	ctx, sf := r.Context(), f.stats()
	weeks := max(sparkWeeks, int(math.Ceil(float64(f.window())/float64(week))))
	wf := sf
	wf.Since = f.To.Truncate(day).Add(day - time.Duration(weeks)*week)
	ratings, err := s.cfg.Store.RatingsByDay(ctx, wf)
	if err != nil {
		return err
	}
	trends := foldWeeks(ratings, weeks, f.To)
	tools, err := s.cfg.Store.ToolStats(ctx, sf)
	if err != nil {
		return err
	}
	samples, err := s.cfg.Store.ToolErrors(ctx, sf, 2)
	if err != nil {
		return err
	}
	byModule := map[string]*moduleSection{}
	var order []string
	section := func(m string) *moduleSection {
		if sec := byModule[m]; sec != nil {
			return sec
		}
		sec := &moduleSection{moduleTrend: moduleTrend{Module: m, Trend: "no ratings", Dir: "flat"}}
		byModule[m] = sec
		order = append(order, m)
		return sec
	}
	for _, t := range trends {
		section(t.Module).moduleTrend = t
	}
	all := failingTools(tools, samples, 0)
	failing := map[string]toolRow{}
	for _, t := range all {
		failing[t.Tool] = t
	}
	for _, t := range tools {
		sec := section(t.Module)
		sec.Calls += t.Calls
		sec.Errors += t.Errors
		row, ok := failing[t.Tool]
		if !ok {
			row = toolRow{ToolStat: t}
		}
		sec.Tools = append(sec.Tools, row)
	}
	used := map[string]bool{}
	for _, t := range tools {
		used[t.Tool] = true
	}
	for _, t := range s.cfg.Tools {
		m := persona.ModuleOf(t)
		if f.Module != "" && m != f.Module {
			continue
		}
		if !used[t] {
			section(m).Unused = append(section(m).Unused, t)
		}
	}
	p := &modulesPage{Weeks: weeks}
	for _, m := range order {
		sec := byModule[m]
		nf := sf
		nf.Module = m
		nf.Since = time.Time{}
		if sec.Notes, err = s.cfg.Store.RecentNotes(ctx, nf, 5); err != nil {
			return err
		}
		if sec.Weeks != nil {
			labels := make([]string, weeks)
			vals := make([]float64, weeks)
			start := f.To.Truncate(day).Add(day - time.Duration(weeks)*week)
			for i := range weeks {
				labels[i] = start.Add(time.Duration(i) * week).Format("Jan 2")
				if sec.Weeks[i] != nil {
					vals[i] = *sec.Weeks[i]
				}
			}
			sec.Labels = labels
			sec.WeekChart = barChart{ID: "weeks-" + m, Title: m + ": weekly mean rating",
				Desc:   "Mean rating (1 to 5) per week, starting on the labelled day; the table lists the counts.",
				Labels: labels, Series: []series{{Name: "mean rating", Class: "s-bar"}}, Values: [][]float64{vals},
				Format: func(v float64) string { return fmt.Sprintf("%.1f", v) }}.SVG()
			sec.DistChart = hbars("dist-"+m, m+": how often each rating was given",
				[]string{"1 ★", "2 ★", "3 ★", "4 ★", "5 ★"}, sec.Dist[:])
		}
		p.Modules = append(p.Modules, *sec)
	}
	sort.SliceStable(p.Modules, func(i, j int) bool {
		a, b := p.Modules[i], p.Modules[j]
		if (a.Count == 0) != (b.Count == 0) {
			return a.Count > 0
		}
		if a.Avg != b.Avg {
			return a.Avg < b.Avg
		}
		return a.Module < b.Module
	})
	v := s.newView(r, "Modules", "modules", f)
	if err := s.withFilters(r, v, order); err != nil {
		return err
	}
	v.Page = p
	s.render(w, r, "modules", http.StatusOK, v)
	return nil
}

type toolsPage struct {
	Tools    []toolRow
	Coverage coverage
	Calls    int
	Errors   int
}

func (s *Server) tools(w http.ResponseWriter, r *http.Request) error {
	f, err := s.parseFilter(r)
	if err != nil {
		return err
	}
	ctx, sf := r.Context(), f.stats()
	stats, err := s.cfg.Store.ToolStats(ctx, sf)
	if err != nil {
		return err
	}
	samples, err := s.cfg.Store.ToolErrors(ctx, sf, 3)
	if err != nil {
		return err
	}
	failing := map[string]toolRow{}
	for _, t := range failingTools(stats, samples, 0) {
		failing[t.Tool] = t
	}
	p := &toolsPage{Coverage: s.coverage(stats, f.Module)}
	var modules []string
	for _, t := range stats {
		row, ok := failing[t.Tool]
		if !ok {
			row = toolRow{ToolStat: t}
		}
		p.Tools = append(p.Tools, row)
		p.Calls += t.Calls
		p.Errors += t.Errors
		modules = append(modules, t.Module)
	}
	// Most errors first, then busiest.
	sort.SliceStable(p.Tools, func(i, j int) bool {
		a, b := p.Tools[i], p.Tools[j]
		if a.Errors != b.Errors {
			return a.Errors > b.Errors
		}
		return a.Calls > b.Calls
	})
	v := s.newView(r, "Tools", "tools", f)
	if err := s.withFilters(r, v, modules); err != nil {
		return err
	}
	v.Page = p
	s.render(w, r, "tools", http.StatusOK, v)
	return nil
}

type personasPage struct {
	Cards []cardView
	Total int
	Query string
	Page  int
	Pages int
}

type cardView struct {
	persona.PersonaCard
	NextDue time.Time
	DueNow  bool
}

func (s *Server) personas(w http.ResponseWriter, r *http.Request) error {
	f, err := s.parseFilter(r)
	if err != nil {
		return err
	}
	q := r.URL.Query().Get("q")
	page := 1
	if v := r.URL.Query().Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("page: must be a whole number from 1 (got %q)", v)}
		}
	}
	cards, total, err := s.cfg.Store.PersonaCards(r.Context(), persona.CardQuery{Search: q, Offset: (page - 1) * cardsPerPage, Limit: cardsPerPage})
	if err != nil {
		return err
	}
	now := s.now()
	p := &personasPage{Total: total, Query: q, Page: page, Pages: max(1, (total+cardsPerPage-1)/cardsPerPage)}
	for _, c := range cards {
		at := persona.NextDue(c.Persona, now)
		p.Cards = append(p.Cards, cardView{PersonaCard: c, NextDue: at, DueNow: !at.After(now)})
	}
	v := s.newView(r, "Personas", "personas", f)
	v.Page = p
	s.render(w, r, "personas", http.StatusOK, v)
	return nil
}
