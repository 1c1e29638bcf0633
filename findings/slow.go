package findings

// Slow tools: p95 latency above the threshold or well above the tool's own baseline, from the
// rows or from the store's aggregates.

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// slowTools finds tools whose p95 latency in the window is above SlowP95, or SlowFactor times
// their baseline p95.
func (d *data) slowTools() []Finding {
	type key struct{ target, tool string }
	cur, base := map[key][]int64{}, map[key][]int64{}
	groups := map[key]*group{}
	var order []key
	for _, a := range d.actions {
		if a.LatencyMs == nil {
			continue // unknown latency (rows of runners that send none)
		}
		lat := *a.LatencyMs
		k := key{d.target(a.TickID), a.ToolName}
		switch {
		case d.inWindow(a.CreatedAt, a.TickID):
			cur[k] = append(cur[k], lat)
			g := groups[k]
			if g == nil {
				g = &group{f: Finding{ID: id(string(KindSlowTool), k.target, k.tool), Kind: KindSlowTool, Target: k.target,
					Tool: k.tool, Module: a.Module}}
				groups[k] = g
				order = append(order, k)
			}
			g.occ = append(g.occ, occurrence{at: a.CreatedAt, tickID: a.TickID, persona: a.PersonaID,
				sample: Sample{Tool: a.ToolName, Arguments: a.Arguments, LatencyMs: lat, Error: a.ErrorMessage}})
		case d.inBaseline(a.CreatedAt, a.TickID):
			base[k] = append(base[k], lat)
		}
	}
	var out []Finding
	limit := d.o.SlowP95.Milliseconds()
	for _, k := range order {
		if len(cur[k]) < d.o.MinSample {
			continue
		}
		p95 := percentile(cur[k], 0.95)
		m := &Metrics{P95Ms: p95, N: len(cur[k])}
		regression := false
		if len(base[k]) >= d.o.MinSample {
			bp := percentile(base[k], 0.95)
			m.BaselineP95Ms, m.BaselineN = bp, len(base[k])
			regression = float64(p95) >= d.o.SlowFactor*float64(bp) && p95-bp >= 50
		}
		if p95 <= limit && !regression {
			continue
		}
		g := groups[k]
		// The slow calls are the occurrences: those above the threshold (or the baseline's p95).
		bar := limit
		if regression && m.BaselineP95Ms*int64(d.o.SlowFactor) < bar {
			bar = int64(float64(m.BaselineP95Ms) * d.o.SlowFactor)
		}
		slow := g.occ[:0:0]
		for _, o := range g.occ {
			if o.sample.LatencyMs >= bar {
				slow = append(slow, o)
			}
		}
		g.occ = slow
		out = append(out, d.slowFinding(g, k.tool, m, regression, limit, p95))
	}
	return out
}

// slowFinding finishes a slow-tool finding from its slow calls and figures.
func (d *data) slowFinding(g *group, tool string, m *Metrics, regression bool, limit, p95 int64) Finding {
	f := d.finish(g)
	f.Metrics, f.Regression, f.Status = m, regression, StatusOpen
	f.Severity = SeverityMedium
	if regression && p95 > limit {
		f.Severity = SeverityHigh
	}
	f.Title = fmt.Sprintf("%s is slow: p95 %s", tool, ms(p95))
	f.Detail = fmt.Sprintf("p95 latency %s over %d calls (threshold %s)", ms(p95), m.N, ms(limit))
	if m.BaselineN > 0 {
		f.Detail += fmt.Sprintf("; baseline p95 %s over %d calls", ms(m.BaselineP95Ms), m.BaselineN)
		if regression {
			f.Title = fmt.Sprintf("%s got slower: p95 %s, was %s", tool, ms(p95), ms(m.BaselineP95Ms))
		}
	}
	f.Detail += "."
	return f
}

// percentile is the nearest-rank percentile of xs (which it sorts).
func percentile(xs []int64, p float64) int64 {
	slices.Sort(xs)
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func ms(v int64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fs", float64(v)/1000)
	}
	return fmt.Sprintf("%dms", v)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// latencyOf is a row's latency, 0 when unknown.
func latencyOf(a persona.Action) int64 {
	if a.LatencyMs == nil {
		return 0
	}
	return *a.LatencyMs
}

// slowToolsAggregated is slowTools over the store's aggregates: the calls with a known latency
// counted per target and tool, each p95 read as a rank from the top of the tool's latencies, and
// only the slow calls read as rows.
func (d *data) slowToolsAggregated() ([]Finding, error) {
	timed := d.tools.Timed // read with the rest (readAggregated)
	type key struct{ target, tool string }
	cur, base := map[key]int{}, map[key]int{}
	targets := map[string]bool{}
	for _, t := range timed {
		k := key{t.Target, t.Tool}
		targets[t.Target] = true
		if t.Side == 1 {
			cur[k] += t.Timed
		} else {
			base[k] += t.Timed
		}
	}
	// With one target the rows need no look-up of their run.
	byTarget := len(targets) > 1
	p95 := func(k key, since, until time.Time, n int) (int64, error) {
		i := int(math.Ceil(0.95*float64(n))) - 1
		i = max(0, min(i, n-1))
		v, ok, err := d.agg.LatencyFromTop(d.ctx, persona.LatencyQuery{Tool: k.tool, Since: since, Until: until,
			HasTarget: byTarget, Target: k.target, TicksSince: d.base, TicksUntil: d.to, Offset: n - 1 - i})
		if err == nil && !ok {
			err = fmt.Errorf("latency rank of %s: no row at %d of %d", k.tool, n-1-i, n)
		}
		return v, err
	}
	keys := make([]key, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].target != keys[j].target {
			return keys[i].target < keys[j].target
		}
		return keys[i].tool < keys[j].tool
	})
	var out []Finding
	limit := d.o.SlowP95.Milliseconds()
	for _, k := range keys {
		if cur[k] < d.o.MinSample {
			continue
		}
		p, err := p95(k, d.from, d.to, cur[k])
		if err != nil {
			return nil, err
		}
		m := &Metrics{P95Ms: p, N: cur[k]}
		regression := false
		if base[k] >= d.o.MinSample {
			bp, err := p95(k, d.base, d.from, base[k])
			if err != nil {
				return nil, err
			}
			m.BaselineP95Ms, m.BaselineN = bp, base[k]
			regression = float64(p) >= d.o.SlowFactor*float64(bp) && p-bp >= 50
		}
		if p <= limit && !regression {
			continue
		}
		bar := limit
		if regression && m.BaselineP95Ms*int64(d.o.SlowFactor) < bar {
			bar = int64(float64(m.BaselineP95Ms) * d.o.SlowFactor)
		}
		filter := persona.RowFilter{Since: d.from, Until: d.to, Tool: k.tool, Timed: true,
			HasTarget: byTarget, Target: k.target, TicksSince: d.base, TicksUntil: d.to}
		// The finding's module is that of the window's first timed call, as slowTools takes it.
		filter.Limit = 1
		first, err := d.agg.ActionRows(d.ctx, filter)
		if err != nil {
			return nil, err
		}
		filter.Limit, filter.MinLatency = 0, &bar
		rows, err := d.agg.ActionRows(d.ctx, filter)
		if err != nil {
			return nil, err
		}
		g := &group{f: Finding{ID: id(string(KindSlowTool), k.target, k.tool), Kind: KindSlowTool, Target: k.target, Tool: k.tool}}
		if len(first) > 0 {
			g.f.Module = first[0].Module
		}
		for _, a := range rows {
			g.occ = append(g.occ, occurrence{at: a.CreatedAt, tickID: a.TickID, persona: a.PersonaID,
				sample: Sample{Tool: a.ToolName, Arguments: a.Arguments, LatencyMs: *a.LatencyMs, Error: a.ErrorMessage}})
		}
		out = append(out, d.slowFinding(g, k.tool, m, regression, limit, p))
	}
	return out, nil
}
