// Package report reads what the personas did and said over a time window and turns it into the
// operator's view: per-module ratings with their trend against the previous window, the failing
// tools with sample errors, tool coverage and each persona's last run. It renders as a text
// table, JSON or Markdown ready to paste into an issue.
package report

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
)

// Source is the part of persona.Store a report reads.
type Source interface {
	ListPersonas(ctx context.Context, actionsSince time.Time) ([]persona.PersonaSummary, error)
	Actions(ctx context.Context, q persona.ActionQuery) ([]persona.Action, error)
	Feedback(ctx context.Context, q persona.FeedbackQuery) ([]persona.Feedback, error)
	Ticks(ctx context.Context, q persona.TickQuery) ([]persona.Tick, error)
}

// Options select what a report covers.
type Options struct {
	Now     time.Time     // end of the window (exclusive); zero means time.Now()
	Since   time.Duration // window length; the trend compares with the window of the same length before it
	Persona string        // only this persona (email or user id); empty = all
	Module  string        // only this module; empty = all
	// Offered lists the tools the app offers (MCP names), for coverage. Empty: coverage lists
	// only what was used.
	Offered []string
	// Target, when set, keeps only the runs of that target (their tick records' target) and
	// their rows, and measures coverage against the tools the target offered at its latest run
	// in the window (the run's offeredTools, modules as the target maps them) instead of Offered.
	Target string
	// Samples is how many distinct error messages to keep per failing tool (default 3).
	Samples int
	// Baseline is the length of the window before the report's that the trend and the findings
	// compare with (--baseline); zero: the same length as Since.
	Baseline time.Duration
	// Compare, when set (--compare V1..V2), makes the findings compare the runs on app version
	// To with those on From instead of the two windows.
	Compare *findings.VersionRange
}

// Report is the result. Its JSON form is the --format json output.
type Report struct {
	From     time.Time              `json:"from"`
	To       time.Time              `json:"to"`
	PrevFrom time.Time              `json:"previousFrom"`
	Persona  string                 `json:"persona,omitempty"`
	Module   string                 `json:"module,omitempty"`
	Target   string                 `json:"target,omitempty"`
	Compare  *findings.VersionRange `json:"compare,omitempty"`
	Runs     RunTotals              `json:"runs"`
	// Findings are what went wrong, most urgent first (package findings), over the same window,
	// persona and module.
	Findings []findings.Finding `json:"findings"`
	// UnusableRatings counts the rating replies nobody could use in the window (feedback rows of
	// module __parse): shown apart, never ranked as a module.
	UnusableRatings int           `json:"unusableRatings"`
	Modules         []ModuleStat  `json:"modules"`
	FailingTools    []ToolFailure `json:"failingTools"`
	Coverage        Coverage      `json:"coverage"`
	Personas        []PersonaStat `json:"personas"`
	Cost            Cost          `json:"cost"`
}

// Cost is what the window's runs spent on the model: totals, and by day (UTC), by persona and
// by module. A run's cost is shared among the modules it called in proportion to its calls.
type Cost struct {
	InputTokens  int64     `json:"inputTokens"`
	OutputTokens int64     `json:"outputTokens"`
	CachedTokens int64     `json:"cachedTokens"`
	USD          float64   `json:"usd"`
	ByDay        []CostRow `json:"byDay"`
	ByPersona    []CostRow `json:"byPersona"`
	ByModule     []CostRow `json:"byModule"`
}

// CostRow is the cost of one day, persona or module.
type CostRow struct {
	Key          string  `json:"key"`
	Runs         int     `json:"runs"`
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	USD          float64 `json:"usd"`
}

// RunTotals counts the runs in the window by status, and the tool calls made.
type RunTotals struct {
	Total     int            `json:"total"`
	ByStatus  map[string]int `json:"byStatus"`
	ToolCalls int            `json:"toolCalls"`
	Errors    int            `json:"errors"`
	// InfraErrors are calls that failed before the app answered (transport, the app refusing
	// the persona's token): outages, counted apart and in no tool's error rate (issue 13.3).
	InfraErrors int `json:"infraErrors"`
}

// ModuleStat is one module's ratings in the window and in the previous one.
type ModuleStat struct {
	Module    string   `json:"module"`
	AvgRating float64  `json:"avgRating"`
	Count     int      `json:"count"`
	PrevAvg   *float64 `json:"previousAvgRating"` // nil: no ratings in the previous window
	PrevCount int      `json:"previousCount"`
	Trend     *float64 `json:"trend"` // AvgRating − PrevAvg; nil when there is nothing to compare
	Calls     int      `json:"calls"`
	Errors    int      `json:"errors"`
	LastNote  string   `json:"lastNote,omitempty"`
}

// ToolFailure is a tool that returned errors in the window.
type ToolFailure struct {
	Tool      string   `json:"tool"`
	Module    string   `json:"module"`
	Errors    int      `json:"errors"`
	Calls     int      `json:"calls"`
	ErrorRate float64  `json:"errorRate"`
	Samples   []string `json:"samples"`
}

// Coverage compares the tools used with the tools offered.
type Coverage struct {
	Offered   int      `json:"offered"`
	Used      int      `json:"used"`
	NeverUsed []string `json:"neverUsed"`
}

// PersonaStat is one persona's activity and its last run.
type PersonaStat struct {
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	Archetype  string     `json:"archetype"`
	Runs       int        `json:"runs"`
	LastRunAt  *time.Time `json:"lastRunAt"`
	LastStatus string     `json:"lastStatus"`
	LastCalls  int        `json:"lastCalls"`
	LastErrors int        `json:"lastErrors"`
	Summary    string     `json:"summary"`
	LastError  string     `json:"lastError,omitempty"`
	Model      string     `json:"model,omitempty"`
}

// Build reads the window and the one before it from src and computes the report.
func Build(ctx context.Context, src Source, o Options) (*Report, error) {
	if o.Since <= 0 {
		return nil, &persona.FieldError{Field: "since", Message: "must be a positive duration such as 7d or 24h"}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Samples <= 0 {
		o.Samples = 3
	}
	r := &Report{To: o.Now.UTC(), From: o.Now.Add(-o.Since).UTC(), Module: o.Module,
		Runs: RunTotals{ByStatus: map[string]int{}}}
	if o.Baseline < 0 {
		return nil, &persona.FieldError{Field: "baseline", Message: "must be a positive duration such as 7d or 24h"}
	}
	if o.Baseline == 0 {
		o.Baseline = o.Since
	}
	r.PrevFrom = r.From.Add(-o.Baseline)
	r.Compare = o.Compare

	// The findings read the same store on their own connections while the report reads its
	// facts (both are a few independent queries; on several cores they overlap).
	type found struct {
		res *findings.Result
		err error
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fch := make(chan found, 1)
	go func() {
		res, err := findings.Build(fctx, src, findings.Options{Now: o.Now, Since: o.Since, Baseline: o.Baseline, Versions: o.Compare, Persona: o.Persona})
		fch <- found{res, err}
	}()

	// Over every persona, a store that aggregates lists only what the report shows of them.
	var people []persona.PersonaSummary
	var err error
	if agg, ok := src.(persona.ActionAggregates); ok && o.Persona == "" {
		people, err = agg.PersonaNames(ctx)
	} else {
		people, err = src.ListPersonas(ctx, noCounts)
	}
	if err != nil {
		return nil, fmt.Errorf("report: list personas: %w", err)
	}
	personaID := ""
	if o.Persona != "" {
		for _, p := range people {
			if p.Email == o.Persona || p.UserID == o.Persona {
				personaID = p.UserID
				r.Persona = p.Email
				people = []persona.PersonaSummary{p}
				break
			}
		}
		if personaID == "" {
			return nil, fmt.Errorf("report: persona %q: %w", o.Persona, persona.ErrNotFound)
		}
	}

	// Over every persona and target, a store that aggregates (persona.ActionAggregates) counts
	// the window's calls itself; otherwise (and for one persona or target, a few rows) they are
	// read and counted here. Both give the same facts.
	agg, fast := src.(persona.ActionAggregates)
	fast = fast && personaID == "" && o.Target == ""
	// The rows (or the store's counts), the ratings and the runs are read at once.
	var (
		actions  []persona.Action
		feedback []persona.Feedback
		ticks    []persona.Tick
		facts    *actionFacts
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if fast {
			facts, err = aggregatedFacts(gctx, agg, r.From, r.To, o.Module, o.Samples)
		} else {
			actions, err = src.Actions(gctx, persona.ActionQuery{PersonaID: personaID, Module: o.Module, Since: r.From, Until: r.To})
		}
		if err != nil {
			return fmt.Errorf("report: read actions: %w", err)
		}
		return nil
	})
	// Over every persona, target and module the store counts the ratings; else the rows are read.
	var ratings map[string]*ratingAcc
	countRatings := fast && o.Module == ""
	g.Go(func() (err error) {
		if countRatings {
			if ratings, r.UnusableRatings, err = ratingsOfCounts(gctx, agg, r.PrevFrom, r.From, r.To); err != nil {
				return fmt.Errorf("report: count ratings: %w", err)
			}
			return nil
		}
		if feedback, err = src.Feedback(gctx, persona.FeedbackQuery{PersonaID: personaID, Module: o.Module, Since: r.PrevFrom, Until: r.To}); err != nil {
			return fmt.Errorf("report: read feedback: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if ticks, err = src.Ticks(gctx, persona.TickQuery{PersonaID: personaID, Since: r.From, Until: r.To, NoTranscript: true}); err != nil {
			return fmt.Errorf("report: read ticks: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	moduleOf := persona.ModuleOf
	if o.Target != "" {
		r.Target = o.Target
		// The target's runs of both windows (feedback reaches back to the previous one), newest
		// first: their rows are the report's, the newest that kept its tools gives coverage.
		all, err := src.Ticks(ctx, persona.TickQuery{PersonaID: personaID, Since: r.PrevFrom, Until: r.To})
		if err != nil {
			return nil, fmt.Errorf("report: read ticks: %w", err)
		}
		of := map[string]bool{}
		var offered []persona.OfferedTool
		for _, t := range all {
			if t.Target != o.Target {
				continue
			}
			of[t.TickID] = true
			if offered == nil {
				offered = persona.OfferedToolsOf(t.Transcript)
			}
		}
		if len(of) == 0 {
			return nil, &persona.FieldError{Field: "target", Message: fmt.Sprintf("no runs of target %q in the window", o.Target)}
		}
		actions = keep(actions, func(a persona.Action) bool { return of[a.TickID] })
		feedback = keep(feedback, func(f persona.Feedback) bool { return of[f.TickID] })
		ticks = keep(ticks, func(t persona.Tick) bool { return of[t.TickID] })
		o.Offered = nil
		mods := map[string]string{}
		for _, t := range offered {
			o.Offered = append(o.Offered, t.Name)
			mods[t.Name] = t.Module
		}
		moduleOf = func(name string) string {
			if m, ok := mods[name]; ok {
				return m
			}
			return persona.ModuleOf(name)
		}
	}

	if !fast {
		facts = rowFacts(actions, o.Samples)
	}

	if o.Module != "" {
		// Only the runs that used the module count: a tick whose rows touch it in this window.
		if mods := modulesOf(o.Offered, moduleOf); facts.total == 0 && len(feedback) == 0 && len(mods) > 0 && !slices.Contains(mods, o.Module) {
			return nil, &persona.FieldError{Field: "module", Message: fmt.Sprintf(
				"no rows for module %q and the app offers no such module (modules: %s)", o.Module, strings.Join(mods, ", "))}
		}
		used := map[string]bool{}
		for t := range facts.tickModule {
			used[t] = true
		}
		for _, f := range feedback {
			if !f.CreatedAt.Before(r.From) {
				used[f.TickID] = true
			}
		}
		kept := ticks[:0:0]
		for _, t := range ticks {
			if used[t.TickID] {
				kept = append(kept, t)
			}
		}
		ticks = kept
	}

	fr := <-fch
	if fr.err != nil {
		return nil, fmt.Errorf("report: %w", fr.err)
	}
	fres := fr.res
	r.Findings = []findings.Finding{}
	for _, f := range fres.Findings {
		if o.Module == "" || f.Module == o.Module || (f.Tool != "" && persona.ModuleOf(f.Tool) == o.Module) {
			r.Findings = append(r.Findings, f)
		}
	}
	if !countRatings {
		kept := feedback[:0:0]
		for _, f := range feedback {
			if f.Module != findings.ParseModule {
				kept = append(kept, f)
			} else if !f.CreatedAt.Before(r.From) {
				r.UnusableRatings++
			}
		}
		ratings = ratingsOfRows(kept, r.From)
	}

	r.Modules = moduleStats(facts, ratings)
	r.FailingTools = failingTools(facts)
	r.Coverage = coverage(facts, o.Offered, o.Module, moduleOf)
	r.Personas = personaStats(people, ticks)
	for _, t := range ticks {
		r.Runs.Total++
		r.Runs.ByStatus[string(t.Status)]++
	}
	r.Cost = costs(ticks, facts, people)
	r.Runs.ToolCalls, r.Runs.InfraErrors, r.Runs.Errors = facts.total, facts.infra, facts.errors
	return r, nil
}

// actionFacts are what the report needs of the window's calls.
type actionFacts struct {
	total, errors, infra int // every call; those that failed in the app; those that never reached it
	// modules counts the calls that reached the app (not Infrastructure) and their errors.
	modules map[string]*[2]int
	// tools are the tools with such calls: calls, errors, the module of the first, and the first
	// distinct error messages.
	tools      map[string]*ToolFailure
	used       map[string]bool           // tools with any call
	tickModule map[string]map[string]int // run → module → calls (every call)
}

func newFacts() *actionFacts {
	return &actionFacts{modules: map[string]*[2]int{}, tools: map[string]*ToolFailure{}, used: map[string]bool{},
		tickModule: map[string]map[string]int{}}
}

// rowFacts counts the rows.
func rowFacts(actions []persona.Action, samples int) *actionFacts {
	f := newFacts()
	seen := map[string]map[string]bool{}
	for _, a := range actions {
		f.total++
		f.used[a.ToolName] = true
		if f.tickModule[a.TickID] == nil {
			f.tickModule[a.TickID] = map[string]int{}
		}
		f.tickModule[a.TickID][a.Module]++
		if a.Infrastructure() {
			f.infra++
			continue // an outage says nothing of the tool or module
		}
		m := f.modules[a.Module]
		if m == nil {
			m = &[2]int{}
			f.modules[a.Module] = m
		}
		m[0]++
		t := f.tools[a.ToolName]
		if t == nil {
			t = &ToolFailure{Tool: a.ToolName, Module: a.Module, Samples: []string{}}
			f.tools[a.ToolName] = t
			seen[a.ToolName] = map[string]bool{}
		}
		t.Calls++
		if a.Result != persona.ResultError {
			continue
		}
		f.errors++
		m[1]++
		t.Errors++
		msg := strings.TrimSpace(a.ErrorMessage)
		if msg != "" && !seen[a.ToolName][msg] && len(t.Samples) < samples {
			seen[a.ToolName][msg] = true
			t.Samples = append(t.Samples, msg)
		}
	}
	return f
}

// aggregatedFacts asks the store: counts per tool and module and per run and module, and the
// rows of the failed calls (a few percent) for the samples.
func aggregatedFacts(ctx context.Context, agg persona.ActionAggregates, from, to time.Time, module string, samples int) (*actionFacts, error) {
	f := newFacts()
	span := persona.SpanQuery{Since: from, Until: to, Module: module}
	counted, err := agg.SpanCalls(ctx, span)
	if err != nil {
		return nil, err
	}
	spans := counted.Tools
	for _, s := range spans {
		f.total += s.Calls
		f.infra += s.Infra
		f.errors += s.Errors
		if s.Calls > 0 {
			f.used[s.Tool] = true
		}
		reached := s.Calls - s.Infra
		if reached == 0 {
			continue
		}
		m := f.modules[s.Module]
		if m == nil {
			m = &[2]int{}
			f.modules[s.Module] = m
		}
		m[0] += reached
		m[1] += s.Errors
		t := f.tools[s.Tool]
		if t == nil {
			t = &ToolFailure{Tool: s.Tool, Samples: []string{}}
			f.tools[s.Tool] = t
		}
		t.Calls += reached
		t.Errors += s.Errors
	}
	for _, t := range f.tools {
		if t.Errors == 0 {
			continue // the module of a tool that never failed is not shown
		}
		// The tool's module is that of its first call that reached the app, as rowFacts takes it.
		first, err := agg.ActionRows(ctx, persona.RowFilter{Since: from, Until: to, Module: module, Tool: t.Tool, NotInfra: true, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(first) > 0 {
			t.Module = first[0].Module
		}
	}
	// Only the messages are quoted: the rows are read without their arguments.
	failed, err := agg.ActionRows(ctx, persona.RowFilter{Since: from, Until: to, Module: module, ErrorsOnly: true, NotInfra: true, NoArguments: true})
	if err != nil {
		return nil, err
	}
	seen := map[string]map[string]bool{}
	for _, a := range failed {
		t := f.tools[a.ToolName]
		if seen[a.ToolName] == nil {
			seen[a.ToolName] = map[string]bool{}
		}
		msg := strings.TrimSpace(a.ErrorMessage)
		if t != nil && msg != "" && !seen[a.ToolName][msg] && len(t.Samples) < samples {
			seen[a.ToolName][msg] = true
			t.Samples = append(t.Samples, msg)
		}
	}
	for _, c := range counted.Runs {
		if f.tickModule[c.TickID] == nil {
			f.tickModule[c.TickID] = map[string]int{}
		}
		f.tickModule[c.TickID][c.Module] += c.Calls
	}
	return f, nil
}

// modulesOf lists the modules of the offered tools, sorted, once each.
func modulesOf(offered []string, moduleOf func(string) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range offered {
		if m := moduleOf(t); !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// ratingAcc is one module's ratings: of the window (sum, n, newest note) and of the previous one.
type ratingAcc struct {
	sum, prevSum float64
	n, prevN     int
	lastNote     string
	lastNoteAt   time.Time
}

// ratingsOfRows sums the feedback rows per module.
func ratingsOfRows(feedback []persona.Feedback, from time.Time) map[string]*ratingAcc {
	by := map[string]*ratingAcc{}
	for _, f := range feedback {
		a := by[f.Module]
		if a == nil {
			a = &ratingAcc{}
			by[f.Module] = a
		}
		if f.CreatedAt.Before(from) {
			a.prevSum += float64(f.Rating)
			a.prevN++
			continue
		}
		a.sum += float64(f.Rating)
		a.n++
		if f.Notes != "" && !f.CreatedAt.Before(a.lastNoteAt) {
			a.lastNote, a.lastNoteAt = f.Notes, f.CreatedAt
		}
	}
	return by
}

// ratingsOfCounts is ratingsOfRows from a store's counts (side 0: the previous window) and
// each module's newest notes; it also returns the window's unusable replies (ParseModule).
func ratingsOfCounts(ctx context.Context, agg persona.ActionAggregates, prevFrom, from, to time.Time) (map[string]*ratingAcc, int, error) {
	counts, err := agg.RatingCounts(ctx, persona.SpanQuery{Since: prevFrom, Cut: from, Until: to})
	if err != nil {
		return nil, 0, err
	}
	by := map[string]*ratingAcc{}
	unusable := 0
	var rated []string
	for _, c := range counts {
		if c.Module == findings.ParseModule {
			if c.Side == 1 {
				unusable += c.Count
			}
			continue
		}
		a := by[c.Module]
		if a == nil {
			a = &ratingAcc{}
			by[c.Module] = a
		}
		if c.Side == 0 {
			a.prevSum += float64(c.Rating * c.Count)
			a.prevN += c.Count
			continue
		}
		if a.n == 0 {
			rated = append(rated, c.Module)
		}
		a.sum += float64(c.Rating * c.Count)
		a.n += c.Count
	}
	sort.Strings(rated)
	notes, err := agg.LastNotes(ctx, rated, from, to)
	if err != nil {
		return nil, 0, err
	}
	for m, n := range notes {
		by[m].lastNote = n
	}
	return by, unusable, nil
}

func moduleStats(facts *actionFacts, by map[string]*ratingAcc) []ModuleStat {
	type acc struct {
		ratingAcc
		calls, errors int
	}
	all := map[string]*acc{}
	get := func(m string) *acc {
		if all[m] == nil {
			all[m] = &acc{}
		}
		return all[m]
	}
	for m, r := range by {
		get(m).ratingAcc = *r
	}
	for m, c := range facts.modules {
		a := get(m)
		a.calls, a.errors = c[0], c[1]
	}
	out := make([]ModuleStat, 0, len(all))
	for m, a := range all {
		if a.n == 0 && a.calls == 0 {
			continue // only rated before the window: nothing to say about now
		}
		s := ModuleStat{Module: m, Count: a.n, PrevCount: a.prevN, Calls: a.calls, Errors: a.errors, LastNote: a.lastNote}
		if a.n > 0 {
			s.AvgRating = round2(a.sum / float64(a.n))
		}
		if a.prevN > 0 {
			p := round2(a.prevSum / float64(a.prevN))
			s.PrevAvg = &p
			if a.n > 0 {
				d := round2(s.AvgRating - p)
				s.Trend = &d
			}
		}
		out = append(out, s)
	}
	// Worst first: what an operator should look at comes first. Unrated modules go last.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Count == 0) != (b.Count == 0) {
			return a.Count != 0
		}
		if a.AvgRating != b.AvgRating {
			return a.AvgRating < b.AvgRating
		}
		return a.Module < b.Module
	})
	return out
}

func costs(ticks []persona.Tick, facts *actionFacts, people []persona.PersonaSummary) Cost {
	c := Cost{ByDay: []CostRow{}, ByPersona: []CostRow{}, ByModule: []CostRow{}}
	emails := map[string]string{}
	for _, p := range people {
		emails[p.UserID] = p.Email
	}
	calls := facts.tickModule // tick → module → calls
	day, who, mod := map[string]*CostRow{}, map[string]*CostRow{}, map[string]*CostRow{}
	add := func(m map[string]*CostRow, key string, runs int, in, out float64, usd float64) {
		row := m[key]
		if row == nil {
			row = &CostRow{Key: key}
			m[key] = row
		}
		row.Runs += runs
		row.InputTokens += int64(math.Round(in))
		row.OutputTokens += int64(math.Round(out))
		row.USD += usd
	}
	for _, t := range ticks {
		c.InputTokens += t.InputTokens
		c.OutputTokens += t.OutputTokens
		c.CachedTokens += t.CachedTokens
		c.USD += t.CostUSD
		in, out := float64(t.InputTokens), float64(t.OutputTokens)
		add(day, t.StartedAt.UTC().Format("2006-01-02"), 1, in, out, t.CostUSD)
		email := emails[t.PersonaID]
		if email == "" {
			email = t.PersonaID
		}
		add(who, email, 1, in, out, t.CostUSD)
		total := 0
		for _, n := range calls[t.TickID] {
			total += n
		}
		for m, n := range calls[t.TickID] {
			share := float64(n) / float64(total)
			add(mod, m, 1, in*share, out*share, t.CostUSD*share)
		}
	}
	c.USD = round6(c.USD)
	flat := func(m map[string]*CostRow, byKey bool) []CostRow {
		out := make([]CostRow, 0, len(m))
		for _, row := range m {
			row.USD = round6(row.USD)
			out = append(out, *row)
		}
		sort.Slice(out, func(i, j int) bool {
			if !byKey && out[i].USD != out[j].USD {
				return out[i].USD > out[j].USD
			}
			return out[i].Key < out[j].Key
		})
		return out
	}
	c.ByDay, c.ByPersona, c.ByModule = flat(day, true), flat(who, false), flat(mod, false)
	return c
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

func failingTools(facts *actionFacts) []ToolFailure {
	by := facts.tools
	out := []ToolFailure{}
	for _, f := range by {
		if f.Errors == 0 {
			continue
		}
		f.ErrorRate = round2(float64(f.Errors) / float64(f.Calls))
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Errors != out[j].Errors {
			return out[i].Errors > out[j].Errors
		}
		if out[i].ErrorRate != out[j].ErrorRate {
			return out[i].ErrorRate > out[j].ErrorRate
		}
		return out[i].Tool < out[j].Tool
	})
	return out
}

// keep returns the elements of xs for which ok holds.
func keep[T any](xs []T, ok func(T) bool) []T {
	out := xs[:0:0]
	for _, x := range xs {
		if ok(x) {
			out = append(out, x)
		}
	}
	return out
}

func coverage(facts *actionFacts, offered []string, module string, moduleOf func(string) string) Coverage {
	used := facts.used
	c := Coverage{NeverUsed: []string{}}
	if len(offered) == 0 {
		c.Used = len(used)
		return c
	}
	for _, t := range offered {
		if module != "" && moduleOf(t) != module {
			continue
		}
		c.Offered++
		if used[t] {
			c.Used++
		} else {
			c.NeverUsed = append(c.NeverUsed, t)
		}
	}
	sort.Strings(c.NeverUsed)
	return c
}

func personaStats(people []persona.PersonaSummary, ticks []persona.Tick) []PersonaStat {
	byID := map[string][]persona.Tick{}
	for _, t := range ticks {
		byID[t.PersonaID] = append(byID[t.PersonaID], t)
	}
	out := make([]PersonaStat, 0, len(people))
	for _, p := range people {
		s := PersonaStat{Email: p.Email, Name: p.Name, Archetype: p.Archetype, LastError: p.LastError}
		ts := byID[p.UserID]
		s.Runs = len(ts)
		var last *persona.Tick
		for i := range ts {
			if last == nil || ts[i].StartedAt.After(last.StartedAt) {
				last = &ts[i]
			}
		}
		if last != nil {
			at := last.StartedAt.UTC()
			s.LastRunAt = &at
			s.LastStatus = string(last.Status)
			s.LastCalls, s.LastErrors = last.ToolCalls, last.Errors
			s.Summary = last.Summary
			s.Model = last.Model
			if last.Error != "" {
				s.LastError = last.Error
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}

// noCounts asks ListPersonas for no action counts (the report does not show them): nothing is
// after it.
var noCounts = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
