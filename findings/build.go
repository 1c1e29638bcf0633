package findings

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

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
	// agg, when the store aggregates (persona.ActionAggregates) and the findings cover every
	// persona over time windows, answers in SQL what the rows would: actions then holds only
	// the failed calls, and the counts, latency ranks and slow calls are asked for.
	agg persona.ActionAggregates
	src Source
	// ratingCounts (d.agg set): the ratings of the baseline (side 0) and the window (side 1)
	// counted per module and value; feedback then holds only the window's unusable replies.
	ratingCounts []persona.RatingCount
	// tools (d.agg set) is read with the rest (readAggregated): the timed calls per target,
	// tool and side, and the personas per tool of the window.
	tools persona.ToolFacts
	ctx   context.Context
	to    time.Time
	base  time.Time // start of the baseline
}

// noCounts asks ListPersonas for no action counts (they are not used here): nothing is after it.
var noCounts = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

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

	personaID := ""
	var err error
	var ticks []persona.Tick
	if agg, ok := src.(persona.ActionAggregates); ok && o.Persona == "" && o.Versions == nil {
		// Every persona over time windows: the store aggregates, the personas are only named.
		d.agg, d.src, d.ctx, d.to, d.base = agg, src, ctx, to, res.BaselineFrom
		if ticks, err = d.readAggregated(); err != nil {
			return nil, err
		}
	} else {
		people, err := src.ListPersonas(ctx, noCounts)
		if err != nil {
			return nil, fmt.Errorf("findings: list personas: %w", err)
		}
		for _, p := range people {
			d.emails[p.UserID] = p.Email
			if o.Persona != "" && (p.Email == o.Persona || p.UserID == o.Persona) {
				personaID = p.UserID
			}
		}
		if o.Persona != "" && personaID == "" {
			return nil, fmt.Errorf("findings: persona %q: %w", o.Persona, persona.ErrNotFound)
		}
		d.ctx, d.to, d.base, d.src = ctx, to, res.BaselineFrom, src
		if d.actions, err = src.Actions(ctx, persona.ActionQuery{PersonaID: personaID, Since: res.BaselineFrom, Until: to}); err != nil {
			return nil, fmt.Errorf("findings: read actions: %w", err)
		}
		if d.feedback, err = src.Feedback(ctx, persona.FeedbackQuery{PersonaID: personaID, Since: res.BaselineFrom, Until: to}); err != nil {
			return nil, fmt.Errorf("findings: read feedback: %w", err)
		}
		if ticks, err = src.Ticks(ctx, persona.TickQuery{PersonaID: personaID, Since: res.BaselineFrom, Until: to, NoTranscript: true}); err != nil {
			return nil, fmt.Errorf("findings: read ticks: %w", err)
		}
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

	te, err := d.toolErrors()
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	res.Findings = append(res.Findings, te...)
	var slow []Finding
	if d.agg != nil {
		slow, err = d.slowToolsAggregated()
		if err != nil {
			return nil, fmt.Errorf("findings: %w", err)
		}
	} else {
		slow = d.slowTools()
	}
	res.Findings = append(res.Findings, slow...)
	rated, err := d.ratings()
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	res.Findings = append(res.Findings, rated...)
	res.Findings = append(res.Findings, d.unusableRatings()...)
	res.Findings = append(res.Findings, d.failedRuns()...)
	sortFindings(res.Findings)
	return res, nil
}

// readAggregated asks the store (d.agg) for everything Build reads, at once: the reads are
// independent, and a store serves them on several connections (SQLite's readers in WAL mode,
// PostgreSQL's backends), so on a machine with more than one core the wall time is about that
// of the slowest read instead of their sum. It returns the window's runs, newest first.
func (d *data) readAggregated() ([]persona.Tick, error) {
	var (
		people []persona.PersonaSummary
		ticks  []persona.Tick
	)
	g, ctx := errgroup.WithContext(d.ctx)
	if d.o.Readers > 0 {
		g.SetLimit(d.o.Readers)
	}
	read := func(what string, f func() error) {
		g.Go(func() error {
			if err := f(); err != nil {
				return fmt.Errorf("findings: %s: %w", what, err)
			}
			return nil
		})
	}
	read("list personas", func() (err error) { people, err = d.agg.PersonaNames(ctx); return })
	// The failed calls without their arguments: only the samples' are read (toolErrors).
	read("read actions", func() (err error) {
		d.actions, err = d.agg.ActionRows(ctx, persona.RowFilter{Since: d.base, Until: d.to, ErrorsOnly: true, NoArguments: true})
		return
	})
	read("count ratings", func() (err error) {
		d.ratingCounts, err = d.agg.RatingCounts(ctx, persona.SpanQuery{Since: d.base, Cut: d.from, Until: d.to})
		return
	})
	read("read feedback", func() (err error) {
		d.feedback, err = d.src.Feedback(ctx, persona.FeedbackQuery{Module: ParseModule, Since: d.from, Until: d.to})
		return
	})
	read("read ticks", func() (err error) { ticks, err = d.agg.RunFacts(ctx, d.base, d.to); return }) // the columns read here only
	read("count tool calls", func() (err error) {
		d.tools, err = d.agg.ToolFacts(ctx, persona.SpanQuery{Since: d.base, Cut: d.from, Until: d.to, TicksSince: d.base, TicksUntil: d.to})
		return
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, p := range people {
		d.emails[p.UserID] = p.Email
	}
	return ticks, nil
}

// occurrence is one row that belongs to a finding.
type occurrence struct {
	at       time.Time
	tickID   string
	persona  string // id
	sample   Sample
	actionID string // the action row's, when the sample's arguments are still to be read
}

// group collects the occurrences of one finding.
type group struct {
	f      Finding
	occ    []occurrence
	picked []int // the occurrences finish made the samples of, in order
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
			g.picked = append(g.picked, i)
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

// toolFacts are what toolErrors needs to know of every call, not only the failed ones: from the
// rows, or from the store's aggregates.
type toolFacts struct {
	callers  func(tool string) int                      // personas that called it in the window (calls that reached the app)
	okBy     func(tool string) (map[string]bool, error) // personas with a successful call in the window
	baseOK   func(tool string) (bool, error)            // whether tool was called successfully in the baseline
	resolved func(f Finding, last occurrence) (bool, error)
}

// rowFacts computes the facts from the rows (all of them, d.agg unset).
func (d *data) rowFacts() toolFacts {
	okBy := map[string]map[string]bool{}
	callBy := map[string]map[string]bool{}
	baseOK := map[string]bool{}
	for _, a := range d.actions {
		if a.Infrastructure() {
			continue
		}
		if !d.inWindow(a.CreatedAt, a.TickID) {
			if a.Result == persona.ResultOK && d.inBaseline(a.CreatedAt, a.TickID) {
				baseOK[a.ToolName] = true
			}
			continue
		}
		add(callBy, a.ToolName, a.PersonaID)
		if a.Result == persona.ResultOK {
			add(okBy, a.ToolName, a.PersonaID)
		}
	}
	use := d.toolUse()
	return toolFacts{
		callers: func(tool string) int { return len(callBy[tool]) },
		okBy:    func(tool string) (map[string]bool, error) { return okBy[tool], nil },
		baseOK:  func(tool string) (bool, error) { return baseOK[tool], nil },
		resolved: func(f Finding, last occurrence) (bool, error) {
			return d.resolved(last.at, last.tickID, func(t string) bool { return use[f.Tool][t] }), nil
		},
	}
}

// aggFacts asks the store for the facts (d.agg set: time windows, every persona).
func (d *data) aggFacts() (toolFacts, error) {
	// The window's distinct personas; of the baseline only whether a tool worked, asked when a
	// finding is new.
	callers := map[string]int{}
	for _, c := range d.tools.Personas {
		callers[c.Tool] = c.Personas
	}
	baseOK := map[string]bool{}
	return toolFacts{
		callers: func(tool string) int { return callers[tool] },
		okBy: func(tool string) (map[string]bool, error) {
			ids := d.tools.OK[tool]
			if d.tools.OK == nil { // not gathered by this store
				var err error
				if ids, err = d.agg.OKPersonas(d.ctx, persona.SpanQuery{Since: d.from, Until: d.to}, tool); err != nil {
					return nil, err
				}
			}
			m := map[string]bool{}
			for _, id := range ids {
				m[id] = true
			}
			return m, nil
		},
		baseOK: func(tool string) (bool, error) {
			ok, seen := baseOK[tool]
			if !seen {
				var err error
				if ok, err = d.agg.ToolOKIn(d.ctx, tool, d.base, d.from); err != nil {
					return false, err
				}
				baseOK[tool] = ok
			}
			return ok, nil
		},
		resolved: func(f Finding, last occurrence) (bool, error) {
			// The newest runs after the last occurrence that used the tool, as resolved walks them.
			ticks, err := d.agg.ToolRuns(d.ctx, persona.ToolRunsQuery{Tool: f.Tool, Since: d.base, Until: d.to,
				TicksSince: d.base, TicksUntil: d.to, After: last.at, Limit: d.o.ResolveRuns})
			if err != nil {
				return false, err
			}
			used := map[string]bool{}
			for _, t := range ticks {
				used[t] = true
			}
			return d.resolved(last.at, last.tickID, func(t string) bool { return used[t] }), nil
		},
	}, nil
}

// toolErrors groups failed calls by (target, tool, class, signature).
func (d *data) toolErrors() ([]Finding, error) {
	groups := map[string]*group{}
	var order []string
	var (
		facts toolFacts
		err   error
	)
	if d.agg != nil {
		facts, err = d.aggFacts()
		if err != nil {
			return nil, err
		}
	} else {
		facts = d.rowFacts()
	}
	sigs := map[string]string{} // message → signature: the regular expressions run once per message
	for _, a := range d.actions {
		if a.Infrastructure() {
			// The call failed before the app answered (issue 13.3): an outage, not a defect
			// of the tool; the run's own failed record says so.
			continue
		}
		if a.Result != persona.ResultError {
			continue
		}
		class := a.ErrorClass
		if class == "" {
			class = persona.ClassifyError(a.ErrorMessage)
		}
		sig, ok := sigs[a.ErrorMessage]
		if !ok {
			sig = Signature(a.ErrorMessage)
			sigs[a.ErrorMessage] = sig
		}
		target := d.target(a.TickID)
		key := strings.Join([]string{target, a.ToolName, string(class), sig}, "\x1f")
		g := groups[key]
		if g == nil {
			g = &group{f: Finding{ID: id(string(KindToolError), target, a.ToolName, string(class), sig), Kind: KindToolError,
				Target: target, Tool: a.ToolName, Module: a.Module, ErrorClass: string(class), Signature: sig}}
			groups[key] = g
			order = append(order, key)
		}
		o := occurrence{at: a.CreatedAt, tickID: a.TickID, persona: a.PersonaID,
			sample: Sample{Tool: a.ToolName, Arguments: a.Arguments, Error: a.ErrorMessage, LatencyMs: latencyOf(a)}}
		if d.agg != nil {
			o.actionID = a.ID // read without its arguments
		}
		g.occ = append(g.occ, o)
	}
	var out []Finding
	type pending struct{ finding, sample int }
	argsOf := map[string][]pending{} // action id → the samples that quote it
	for _, key := range order {
		g := groups[key]
		f := d.finish(g)
		if f.Occurrences == 0 {
			continue // only in the baseline
		}
		for i, k := range g.picked {
			if id := g.occ[k].actionID; id != "" {
				argsOf[id] = append(argsOf[id], pending{len(out), i})
			}
		}
		hit := map[string]bool{}
		for _, o := range g.occ {
			if d.inWindow(o.at, o.tickID) {
				hit[o.persona] = true
			}
		}
		last := g.occ[len(g.occ)-1]
		resolved, err := facts.resolved(f, last)
		if err != nil {
			return nil, err
		}
		if resolved {
			f.Status = StatusResolved
		} else {
			f.Status = StatusOpen
		}
		f.Severity = classSeverity(persona.ErrorClass(f.ErrorClass))
		// A regression: the tool worked in the baseline (the window or app version before), and
		// this error is new.
		if f.New {
			if f.Regression, err = facts.baseOK(f.Tool); err != nil {
				return nil, err
			}
		}
		f.Title = fmt.Sprintf("%s fails with %s: %s", f.Tool, f.ErrorClass, oneLine(f.Signature, 90))
		f.Detail = fmt.Sprintf("%d failed call(s) of %s by %d persona(s) (%d persona(s) called it in the window).",
			f.Occurrences, f.Tool, len(hit), facts.callers(f.Tool))
		if f.ErrorClass == string(persona.ClassInvalidInput) {
			// A persona mistake when others succeed with the tool and few hit this; a confusing
			// schema when most who try it stumble.
			okBy, err := facts.okBy(f.Tool)
			if err != nil {
				return nil, err
			}
			others := 0
			for p := range okBy {
				if !hit[p] {
					others++
				}
			}
			if others > 0 && len(hit)*3 <= facts.callers(f.Tool) {
				f.Cause, f.Severity = causePersonaMistake, SeverityLow
				f.Detail += fmt.Sprintf(" %d other persona(s) used it without this error: likely a persona mistake.", others)
			} else {
				f.Cause = causeConfusingSchema
				f.Detail += " Most personas who tried it hit this: the schema or its error may be confusing."
			}
		}
		out = append(out, f)
	}
	if len(argsOf) > 0 {
		ids := make([]string, 0, len(argsOf))
		for id := range argsOf {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		args, err := d.agg.ActionArguments(d.ctx, ids)
		if err != nil {
			return nil, err
		}
		for id, at := range argsOf {
			for _, p := range at {
				out[p.finding].Samples[p.sample].Arguments = args[id]
			}
		}
	}
	return out, nil
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
