package findings

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// ParseModule is the module of the feedback row that stands for an unusable rating reply (the
// runner's marker, SPEC §5.3 step 4); it is never ranked among modules.
const ParseModule = "__parse"

// data is what Build reads, indexed.
type data struct {
	o        Options
	from     time.Time
	emails   map[string]string       // persona id → email
	ticks    map[string]persona.Tick // by tick id
	actions  []persona.Action        // baseline and window, oldest first
	feedback []persona.Feedback
	runs     []persona.Tick // baseline and window, oldest first
	// versionOrder gives each app version the time it was first seen, to tell newer from older.
	versionFirst map[string]time.Time
}

// inWindow reports whether a row at t (of tick tickID) belongs to the window under study (as
// opposed to the baseline): by app version with --compare, else by time.
func (d *data) inWindow(t time.Time, tickID string) bool {
	if d.o.Versions != nil {
		return d.version(tickID) == d.o.Versions.To
	}
	return !t.Before(d.from)
}

// inBaseline is inWindow's counterpart.
func (d *data) inBaseline(t time.Time, tickID string) bool {
	if d.o.Versions != nil {
		return d.version(tickID) == d.o.Versions.From
	}
	return t.Before(d.from)
}

func (d *data) version(tickID string) string { return d.ticks[tickID].ServerVersion }
func (d *data) target(tickID string) string  { return d.ticks[tickID].Target }

func (d *data) email(personaID string) string {
	if e := d.emails[personaID]; e != "" {
		return e
	}
	return personaID
}

// Build reads the window and its baseline from src and returns the findings, most urgent first.
func Build(ctx context.Context, src Source, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	to := o.Now.UTC()
	from := to.Add(-o.Since)
	res := &Result{From: from, To: to, BaselineFrom: from.Add(-o.Baseline), Compare: o.Versions, Findings: []Finding{}}
	d := &data{o: o, from: from, emails: map[string]string{}, ticks: map[string]persona.Tick{}, versionFirst: map[string]time.Time{}}

	people, err := src.ListPersonas(ctx, res.BaselineFrom)
	if err != nil {
		return nil, fmt.Errorf("findings: list personas: %w", err)
	}
	personaID := ""
	for _, p := range people {
		d.emails[p.UserID] = p.Email
		if o.Persona != "" && (p.Email == o.Persona || p.UserID == o.Persona) {
			personaID = p.UserID
		}
	}
	if o.Persona != "" && personaID == "" {
		return nil, fmt.Errorf("findings: persona %q: %w", o.Persona, persona.ErrNotFound)
	}
	if d.actions, err = src.Actions(ctx, persona.ActionQuery{PersonaID: personaID, Since: res.BaselineFrom, Until: to}); err != nil {
		return nil, fmt.Errorf("findings: read actions: %w", err)
	}
	if d.feedback, err = src.Feedback(ctx, persona.FeedbackQuery{PersonaID: personaID, Since: res.BaselineFrom, Until: to}); err != nil {
		return nil, fmt.Errorf("findings: read feedback: %w", err)
	}
	ticks, err := src.Ticks(ctx, persona.TickQuery{PersonaID: personaID, Since: res.BaselineFrom, Until: to})
	if err != nil {
		return nil, fmt.Errorf("findings: read ticks: %w", err)
	}
	// Ticks come newest first; everything here reads oldest first.
	for i := len(ticks) - 1; i >= 0; i-- {
		t := ticks[i]
		d.ticks[t.TickID] = t
		d.runs = append(d.runs, t)
		if v := t.ServerVersion; v != "" {
			if at, ok := d.versionFirst[v]; !ok || t.StartedAt.Before(at) {
				d.versionFirst[v] = t.StartedAt
			}
		}
	}

	res.Findings = append(res.Findings, d.toolErrors()...)
	res.Findings = append(res.Findings, d.slowTools()...)
	res.Findings = append(res.Findings, d.ratings()...)
	res.Findings = append(res.Findings, d.unusableRatings()...)
	res.Findings = append(res.Findings, d.failedRuns()...)
	sortFindings(res.Findings)
	return res, nil
}

// occurrence is one row that belongs to a finding.
type occurrence struct {
	at      time.Time
	tickID  string
	persona string // id
	sample  Sample
}

// group collects the occurrences of one finding.
type group struct {
	f   Finding
	occ []occurrence
}

// finish fills the common fields from the occurrences: first and last seen, counts, personas,
// versions, up to n samples (different personas first), new.
func (d *data) finish(g *group) Finding {
	f := g.f
	sort.SliceStable(g.occ, func(i, j int) bool { return g.occ[i].at.Before(g.occ[j].at) })
	personas, versions := map[string]bool{}, map[string]bool{}
	inWindow := 0
	for _, o := range g.occ {
		if !d.inWindow(o.at, o.tickID) {
			continue
		}
		inWindow++
		if f.FirstSeen.IsZero() {
			f.FirstSeen = o.at
		}
		f.LastSeen = o.at
		personas[d.email(o.persona)] = true
		if v := d.version(o.tickID); v != "" {
			versions[v] = true
		}
	}
	if len(g.occ) > 0 && (f.FirstSeen.IsZero() || g.occ[0].at.Before(f.FirstSeen)) && d.o.Versions == nil {
		f.FirstSeen = g.occ[0].at
	}
	if f.Occurrences == 0 {
		f.Occurrences = inWindow
	}
	f.Personas = sortedKeys(personas)
	f.Versions = d.sortedVersions(versions)
	f.New = d.o.Versions == nil && !f.FirstSeen.Before(d.from)
	if d.o.Versions != nil {
		// --compare: new means not seen on the older version.
		f.New = inWindow > 0
		for _, o := range g.occ {
			if d.inBaseline(o.at, o.tickID) {
				f.New = false
				break
			}
		}
	}
	// Samples: the newest occurrences of the window, one per persona first.
	f.Samples = []Sample{}
	used := map[int]bool{}
	for pass := 0; pass < 2 && len(f.Samples) < d.o.Samples; pass++ {
		who := map[string]bool{}
		for i := len(g.occ) - 1; i >= 0 && len(f.Samples) < d.o.Samples; i-- {
			o := g.occ[i]
			if used[i] || !d.inWindow(o.at, o.tickID) || (pass == 0 && who[o.persona]) {
				continue
			}
			who[o.persona], used[i] = true, true
			s := o.sample
			s.TickID, s.Persona, s.At, s.Version = o.tickID, d.email(o.persona), o.at, d.version(o.tickID)
			f.Samples = append(f.Samples, s)
		}
	}
	return f
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sortedVersions orders versions by when each was first seen.
func (d *data) sortedVersions(m map[string]bool) []string {
	out := sortedKeys(m)
	sort.SliceStable(out, func(i, j int) bool { return d.versionFirst[out[i]].Before(d.versionFirst[out[j]]) })
	return out
}

// resolved reports whether a problem last seen at last, in the tick of lastTick, has stopped:
// the ResolveRuns newest runs that used the tool (or module) since then all ran on an app
// version newer than the one it was last seen on and did not hit it. With no versions recorded,
// the newest ResolveRuns runs that used it since are enough.
func (d *data) resolved(last time.Time, lastTick string, used func(tickID string) bool) bool {
	lastVersion := d.version(lastTick)
	n := 0
	for i := len(d.runs) - 1; i >= 0 && n < d.o.ResolveRuns; i-- {
		t := d.runs[i]
		if !t.StartedAt.After(last) {
			break
		}
		if !used(t.TickID) {
			continue
		}
		if lastVersion != "" && (t.ServerVersion == "" || !d.versionFirst[t.ServerVersion].After(d.versionFirst[lastVersion])) {
			return false
		}
		n++
	}
	return n >= d.o.ResolveRuns
}

// toolUse returns, per tool, the ticks that called it (for resolution).
func (d *data) toolUse() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, a := range d.actions {
		if out[a.ToolName] == nil {
			out[a.ToolName] = map[string]bool{}
		}
		out[a.ToolName][a.TickID] = true
	}
	return out
}

// toolErrors groups failed calls by (target, tool, class, signature).
func (d *data) toolErrors() []Finding {
	groups := map[string]*group{}
	var order []string
	okBy := map[string]map[string]bool{}   // tool → personas with a successful call in the window
	callBy := map[string]map[string]bool{} // tool → personas that called it in the window
	baseOK := map[string]bool{}            // tools called successfully in the baseline
	for _, a := range d.actions {
		if a.Infrastructure() {
			// The call failed before the app answered (issue 13.3): an outage, not a defect
			// of the tool; the run's own failed record says so.
			continue
		}
		if !d.inWindow(a.CreatedAt, a.TickID) {
			if a.Result == persona.ResultOK && d.inBaseline(a.CreatedAt, a.TickID) {
				baseOK[a.ToolName] = true
			}
			if a.Result != persona.ResultError {
				continue
			}
		} else {
			add(callBy, a.ToolName, a.PersonaID)
			if a.Result == persona.ResultOK {
				add(okBy, a.ToolName, a.PersonaID)
			}
		}
		if a.Result != persona.ResultError {
			continue
		}
		class := a.ErrorClass
		if class == "" {
			class = persona.ClassifyError(a.ErrorMessage)
		}
		sig := Signature(a.ErrorMessage)
		target := d.target(a.TickID)
		key := strings.Join([]string{target, a.ToolName, string(class), sig}, "\x1f")
		g := groups[key]
		if g == nil {
			g = &group{f: Finding{ID: id(string(KindToolError), target, a.ToolName, string(class), sig), Kind: KindToolError,
				Target: target, Tool: a.ToolName, Module: a.Module, ErrorClass: string(class), Signature: sig}}
			groups[key] = g
			order = append(order, key)
		}
		g.occ = append(g.occ, occurrence{at: a.CreatedAt, tickID: a.TickID, persona: a.PersonaID,
			sample: Sample{Tool: a.ToolName, Arguments: a.Arguments, Error: a.ErrorMessage, LatencyMs: latencyOf(a)}})
	}
	use := d.toolUse()
	var out []Finding
	for _, key := range order {
		g := groups[key]
		f := d.finish(g)
		if f.Occurrences == 0 {
			continue // only in the baseline
		}
		hit := map[string]bool{}
		for _, o := range g.occ {
			if d.inWindow(o.at, o.tickID) {
				hit[o.persona] = true
			}
		}
		last := g.occ[len(g.occ)-1]
		if d.resolved(last.at, last.tickID, func(t string) bool { return use[f.Tool][t] }) {
			f.Status = StatusResolved
		} else {
			f.Status = StatusOpen
		}
		f.Severity = classSeverity(persona.ErrorClass(f.ErrorClass))
		// A regression: the tool worked in the baseline (the window or app version before), and
		// this error is new.
		f.Regression = f.New && baseOK[f.Tool]
		f.Title = fmt.Sprintf("%s fails with %s: %s", f.Tool, f.ErrorClass, oneLine(f.Signature, 90))
		f.Detail = fmt.Sprintf("%d failed call(s) of %s by %d persona(s) (%d persona(s) called it in the window).",
			f.Occurrences, f.Tool, len(hit), len(callBy[f.Tool]))
		if f.ErrorClass == string(persona.ClassInvalidInput) {
			// A persona mistake when others succeed with the tool and few hit this; a confusing
			// schema when most who try it stumble.
			others := 0
			for p := range okBy[f.Tool] {
				if !hit[p] {
					others++
				}
			}
			if others > 0 && len(hit)*3 <= len(callBy[f.Tool]) {
				f.Cause, f.Severity = causePersonaMistake, SeverityLow
				f.Detail += fmt.Sprintf(" %d other persona(s) used it without this error: likely a persona mistake.", others)
			} else {
				f.Cause = causeConfusingSchema
				f.Detail += " Most personas who tried it hit this: the schema or its error may be confusing."
			}
		}
		out = append(out, f)
	}
	return out
}

func add(m map[string]map[string]bool, k, v string) {
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

func classSeverity(c persona.ErrorClass) Severity {
	switch c {
	case persona.ClassServerError, persona.ClassAuth, persona.ClassTransport:
		return SeverityHigh
	case persona.ClassInvalidInput, persona.ClassTimeout, persona.ClassNotFound:
		return SeverityMedium
	}
	return SeverityLow
}

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
		f := d.finish(g)
		f.Metrics, f.Regression, f.Status = m, regression, StatusOpen
		f.Severity = SeverityMedium
		if regression && p95 > limit {
			f.Severity = SeverityHigh
		}
		f.Title = fmt.Sprintf("%s is slow: p95 %s", k.tool, ms(p95))
		f.Detail = fmt.Sprintf("p95 latency %s over %d calls (threshold %s)", ms(p95), m.N, ms(limit))
		if m.BaselineN > 0 {
			f.Detail += fmt.Sprintf("; baseline p95 %s over %d calls", ms(m.BaselineP95Ms), m.BaselineN)
			if regression {
				f.Title = fmt.Sprintf("%s got slower: p95 %s, was %s", k.tool, ms(p95), ms(m.BaselineP95Ms))
			}
		}
		f.Detail += "."
		out = append(out, f)
	}
	return out
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
