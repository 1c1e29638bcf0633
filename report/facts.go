package report

// The window's calls as the report needs them: counted from the rows or asked of the store,
// and what is drawn from them (failing tools, coverage).

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

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
