// Package report reads what the personas did and said over a time window and turns it into the
// operator's view: per-module ratings with their trend against the previous window, the failing
// tools with sample errors, tool coverage and each persona's last run. It renders as a text
// table, JSON or Markdown ready to paste into an issue.
package report

import (
	"context"
	"fmt"
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
