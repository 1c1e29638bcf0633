// Package gate is the CI gate of `persona-runner check`: it reads the runs of a window, the
// findings over them and the thresholds, and says whether the build passes. Its outcome renders
// as a table, JSON, Markdown, JUnit XML (a test case per persona run) or one self-contained
// HTML file.
package gate

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
)

// The --fail-on conditions.
const (
	FailNewFindings = "new-findings"
	FailRegressions = "regressions"
	FailFailedRuns  = "failed-runs"
)

// FailOnAll lists the --fail-on conditions, the default.
var FailOnAll = []string{FailNewFindings, FailRegressions, FailFailedRuns}

// Thresholds decide whether the window passes.
type Thresholds struct {
	MinRating    float64 // every rated module's mean at least this (0: not checked)
	MaxErrorRate float64 // tool calls that failed, as a fraction (0.05 = 5%); negative: not checked
	MaxUnusable  int     // unusable rating replies allowed; negative: not checked
	FailOn       []string
}

// DefaultThresholds are the flags' defaults.
func DefaultThresholds() Thresholds {
	return Thresholds{MinRating: 3.5, MaxErrorRate: 0.05, MaxUnusable: 0, FailOn: append([]string(nil), FailOnAll...)}
}

// ParseFailOn reads --fail-on: a comma-separated list of conditions, or "none".
func ParseFailOn(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "none" || s == "" {
		return []string{}, nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		switch p {
		case FailNewFindings, FailRegressions, FailFailedRuns:
			out = append(out, p)
		default:
			return nil, fmt.Errorf("must be a comma-separated list of %s, or none (got %q)", strings.Join(FailOnAll, ", "), p)
		}
	}
	return out, nil
}

// ParseRate reads a percentage ("5%", "0.5%") or a fraction ("0.05") into a fraction from 0 to 1.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("must be a percentage from 0%% to 100%% such as 5%% (got %q)", s)
	var v float64
	if strings.HasSuffix(s, "%") {
		if _, err := fmt.Sscanf(strings.TrimSuffix(s, "%"), "%g", &v); err != nil || strings.ContainsAny(s, " \t") {
			return 0, bad
		}
		v /= 100
	} else if _, err := fmt.Sscanf(s, "%g", &v); err != nil || strings.ContainsAny(s, " \t") {
		return 0, bad
	}
	if v < 0 || v > 1 || math.IsNaN(v) {
		return 0, bad
	}
	return v, nil
}

// Options are what Evaluate reads.
type Options struct {
	Findings   findings.Options
	Thresholds Thresholds
}

// Check is one threshold or condition with its verdict.
type Check struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Value   string `json:"value"`
	Limit   string `json:"limit"`
	Message string `json:"message"`
}

// Run is one persona run of the window: one test case.
type Run struct {
	TickID     string     `json:"tickId"`
	Persona    string     `json:"persona"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"startedAt"`
	Seconds    float64    `json:"seconds"`
	ToolCalls  int        `json:"toolCalls"`
	Errors     int        `json:"errors"`
	CostUSD    float64    `json:"costUsd"`
	Version    string     `json:"version,omitempty"`
	Summary    string     `json:"summary,omitempty"`
	Failures   []string   `json:"failures"` // empty: the run passed
	FindingIDs []string   `json:"findingIds"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Module is one module's mean rating in the window.
type Module struct {
	Module string  `json:"module"`
	Mean   float64 `json:"mean"`
	N      int     `json:"n"`
}

// Outcome is the verdict with its evidence; its JSON form is --format json.
type Outcome struct {
	Passed          bool                   `json:"passed"`
	From            time.Time              `json:"from"`
	To              time.Time              `json:"to"`
	Compare         *findings.VersionRange `json:"compare,omitempty"`
	Checks          []Check                `json:"checks"`
	Runs            []Run                  `json:"runs"`
	Modules         []Module               `json:"modules"`
	ToolCalls       int                    `json:"toolCalls"`
	ToolErrors      int                    `json:"toolErrors"`
	ErrorRate       float64                `json:"errorRate"`
	UnusableRatings int                    `json:"unusableRatings"`
	Findings        []findings.Finding     `json:"findings"`
}

// Failed lists the checks that failed.
func (o *Outcome) Failed() []Check {
	var out []Check
	for _, c := range o.Checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

// Evaluate reads the window from src and applies the thresholds.
func Evaluate(ctx context.Context, src findings.Source, o Options) (*Outcome, error) {
	res, err := findings.Build(ctx, src, o.Findings)
	if err != nil {
		return nil, err
	}
	out := &Outcome{From: res.From, To: res.To, Compare: res.Compare, Findings: res.Open(), Runs: []Run{}, Modules: []Module{}}
	if out.Findings == nil {
		out.Findings = []findings.Finding{}
	}
	people, err := src.ListPersonas(ctx, res.From)
	if err != nil {
		return nil, fmt.Errorf("check: list personas: %w", err)
	}
	emails := map[string]string{}
	personaID := ""
	for _, p := range people {
		emails[p.UserID] = p.Email
		if o.Findings.Persona != "" && (p.Email == o.Findings.Persona || p.UserID == o.Findings.Persona) {
			personaID = p.UserID
		}
	}
	ticks, err := src.Ticks(ctx, persona.TickQuery{PersonaID: personaID, Since: res.From, Until: res.To, NoTranscript: true})
	if err != nil {
		return nil, fmt.Errorf("check: read ticks: %w", err)
	}
	actions, err := src.Actions(ctx, persona.ActionQuery{PersonaID: personaID, Since: res.From, Until: res.To})
	if err != nil {
		return nil, fmt.Errorf("check: read actions: %w", err)
	}
	feedback, err := src.Feedback(ctx, persona.FeedbackQuery{PersonaID: personaID, Since: res.From, Until: res.To})
	if err != nil {
		return nil, fmt.Errorf("check: read feedback: %w", err)
	}
	inRun := map[string]bool{}
	if res.Compare != nil {
		// --compare: the runs on the newer version are the ones under test.
		kept := ticks[:0:0]
		for _, t := range ticks {
			if t.ServerVersion == res.Compare.To {
				kept = append(kept, t)
			}
		}
		ticks = kept
	}
	for _, t := range ticks {
		inRun[t.TickID] = true
	}

	// Tool errors of a run name the finding they belong to (tool and message signature).
	byErr := map[string]findings.Finding{}
	for _, f := range res.Findings {
		if f.Kind == findings.KindToolError {
			byErr[f.Tool+"\x1f"+f.Signature] = f
		}
	}
	runErrors := map[string][]string{}
	runFindings := map[string]map[string]bool{}
	for _, a := range actions {
		if !inRun[a.TickID] {
			continue
		}
		out.ToolCalls++
		if a.Result != persona.ResultError {
			continue
		}
		out.ToolErrors++
		msg := fmt.Sprintf("%s failed: %s", a.ToolName, oneLine(a.ErrorMessage, 300))
		if f, ok := byErr[a.ToolName+"\x1f"+findings.Signature(a.ErrorMessage)]; ok {
			msg = fmt.Sprintf("%s [%s %s] %s", f.ID, f.Severity, f.Kind, msg)
			if runFindings[a.TickID] == nil {
				runFindings[a.TickID] = map[string]bool{}
			}
			runFindings[a.TickID][f.ID] = true
		}
		runErrors[a.TickID] = append(runErrors[a.TickID], msg)
	}
	if out.ToolCalls > 0 {
		out.ErrorRate = float64(out.ToolErrors) / float64(out.ToolCalls)
	}

	sums := map[string]*Module{}
	unusableIn := map[string]int{}
	for _, fb := range feedback {
		if !inRun[fb.TickID] {
			continue
		}
		if fb.Module == findings.ParseModule {
			out.UnusableRatings++
			unusableIn[fb.TickID]++
			continue
		}
		m := sums[fb.Module]
		if m == nil {
			m = &Module{Module: fb.Module}
			sums[fb.Module] = m
		}
		m.Mean += float64(fb.Rating)
		m.N++
	}
	for _, m := range sums {
		m.Mean = math.Round(m.Mean/float64(m.N)*100) / 100
		out.Modules = append(out.Modules, *m)
	}
	sort.Slice(out.Modules, func(i, j int) bool {
		if out.Modules[i].Mean != out.Modules[j].Mean {
			return out.Modules[i].Mean < out.Modules[j].Mean
		}
		return out.Modules[i].Module < out.Modules[j].Module
	})

	failedRuns := 0
	for i := len(ticks) - 1; i >= 0; i-- { // oldest first
		t := ticks[i]
		if t.Status == persona.TickRunning {
			continue
		}
		r := Run{TickID: t.TickID, Persona: emails[t.PersonaID], Status: string(t.Status), StartedAt: t.StartedAt.UTC(),
			ToolCalls: t.ToolCalls, Errors: t.Errors, CostUSD: t.CostUSD, Version: t.ServerVersion, Summary: t.Summary,
			Failures: []string{}, FindingIDs: []string{}, FinishedAt: t.FinishedAt}
		if r.Persona == "" {
			r.Persona = t.PersonaID
		}
		if t.FinishedAt != nil {
			r.Seconds = t.FinishedAt.Sub(t.StartedAt).Seconds()
		}
		switch {
		case t.Status.Failure() || t.Status == persona.TickAbandoned:
			failedRuns++
			r.Failures = append(r.Failures, fmt.Sprintf("the run %s: %s", t.Status, oneLine(t.Error, 300)))
		case t.Status == persona.TickDegraded:
			r.Failures = append(r.Failures, fmt.Sprintf("the run is degraded: %d unusable rating reply(ies): %s", unusableIn[t.TickID], oneLine(t.Error, 200)))
		}
		r.Failures = append(r.Failures, runErrors[t.TickID]...)
		for id := range runFindings[t.TickID] {
			r.FindingIDs = append(r.FindingIDs, id)
		}
		sort.Strings(r.FindingIDs)
		out.Runs = append(out.Runs, r)
	}

	th := o.Thresholds
	// A window without a finished run proves nothing: the gate does not pass on silence.
	out.Checks = append(out.Checks, Check{Name: "runs", Passed: len(out.Runs) > 0, Value: fmt.Sprint(len(out.Runs)), Limit: "≥ 1",
		Message: fmt.Sprintf("%d finished persona run(s) in the window", len(out.Runs))})
	if th.MinRating > 0 {
		var low []string
		for _, m := range out.Modules {
			if m.Mean < th.MinRating {
				low = append(low, fmt.Sprintf("%s %.2f", m.Module, m.Mean))
			}
		}
		c := Check{Name: "min-rating", Passed: len(low) == 0, Limit: fmt.Sprintf("%.2f", th.MinRating)}
		if len(out.Modules) > 0 {
			c.Value = fmt.Sprintf("%.2f", out.Modules[0].Mean)
		} else {
			c.Value = "no ratings"
		}
		c.Message = "every rated module's mean rating is at least " + c.Limit
		if !c.Passed {
			c.Message = "modules rated below " + c.Limit + ": " + strings.Join(low, ", ")
		}
		out.Checks = append(out.Checks, c)
	}
	if th.MaxErrorRate >= 0 {
		c := Check{Name: "max-error-rate", Passed: out.ErrorRate <= th.MaxErrorRate, Value: pct(out.ErrorRate), Limit: pct(th.MaxErrorRate),
			Message: fmt.Sprintf("%d of %d tool calls failed", out.ToolErrors, out.ToolCalls)}
		out.Checks = append(out.Checks, c)
	}
	if th.MaxUnusable >= 0 {
		out.Checks = append(out.Checks, Check{Name: "max-unusable-ratings", Passed: out.UnusableRatings <= th.MaxUnusable,
			Value: fmt.Sprint(out.UnusableRatings), Limit: fmt.Sprint(th.MaxUnusable),
			Message: fmt.Sprintf("%d rating reply(ies) could not be used (degraded runs)", out.UnusableRatings)})
	}
	for _, cond := range th.FailOn {
		switch cond {
		case FailNewFindings:
			var ids []string
			for _, f := range out.Findings {
				if f.New {
					ids = append(ids, f.ID)
				}
			}
			out.Checks = append(out.Checks, Check{Name: FailNewFindings, Passed: len(ids) == 0, Value: fmt.Sprint(len(ids)), Limit: "0",
				Message: listOr(ids, "no finding first seen in this window")})
		case FailRegressions:
			var ids []string
			for _, f := range out.Findings {
				if f.Regression {
					ids = append(ids, f.ID)
				}
			}
			out.Checks = append(out.Checks, Check{Name: FailRegressions, Passed: len(ids) == 0, Value: fmt.Sprint(len(ids)), Limit: "0",
				Message: listOr(ids, "nothing worse than the baseline")})
		case FailFailedRuns:
			out.Checks = append(out.Checks, Check{Name: FailFailedRuns, Passed: failedRuns == 0, Value: fmt.Sprint(failedRuns), Limit: "0",
				Message: fmt.Sprintf("%d of %d runs failed, timed out or were abandoned", failedRuns, len(out.Runs))})
		}
	}
	out.Passed = len(out.Failed()) == 0
	return out, nil
}

func listOr(ids []string, none string) string {
	if len(ids) == 0 {
		return none
	}
	return strings.Join(ids, ", ")
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
