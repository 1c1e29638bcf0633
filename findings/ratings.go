package findings

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/persona-runner/persona-runner/persona"
)

// ratings finds modules rated low in the window, or lower than in the baseline by more than
// noise: a one-sided Mann–Whitney U test (ratings are ordinal, 1–5, with many ties) at level
// Alpha, with at least MinSample ratings on each side.
func (d *data) ratings() ([]Finding, error) {
	cur, base := map[string][]float64{}, map[string][]float64{}
	groups := map[string]*group{}
	var order []string
	occur := func(g *group, fb persona.Feedback) {
		g.occ = append(g.occ, occurrence{at: fb.CreatedAt, tickID: fb.TickID, persona: fb.PersonaID,
			sample: Sample{Rating: fb.Rating, Error: fb.Notes}})
	}
	if d.agg != nil {
		// Counted by the store: the test and the means need only how many of each rating (the
		// values are small integers, so their sums do not depend on the order); the rows of a
		// module are read when it is a finding.
		for _, c := range d.ratingCounts {
			if c.Module == ParseModule {
				continue
			}
			to := base
			if c.Side == 1 {
				to = cur
				if groups[c.Module] == nil {
					groups[c.Module] = &group{}
					order = append(order, c.Module)
				}
			}
			for range c.Count {
				to[c.Module] = append(to[c.Module], float64(c.Rating))
			}
		}
	}
	for _, fb := range d.feedback {
		if fb.Module == ParseModule || d.agg != nil {
			continue
		}
		switch {
		case d.inWindow(fb.CreatedAt, fb.TickID):
			cur[fb.Module] = append(cur[fb.Module], float64(fb.Rating))
			g := groups[fb.Module]
			if g == nil {
				g = &group{}
				groups[fb.Module] = g
				order = append(order, fb.Module)
			}
			occur(g, fb)
		case d.inBaseline(fb.CreatedAt, fb.TickID):
			base[fb.Module] = append(base[fb.Module], float64(fb.Rating))
		}
	}
	var out []Finding
	for _, mod := range order {
		x := cur[mod]
		mean := stat.Mean(x, nil)
		m := &Metrics{Mean: round2(mean), N: len(x), BaselineN: len(base[mod])}
		falling := false
		if len(base[mod]) > 0 {
			bm := round2(stat.Mean(base[mod], nil))
			m.BaselineMean = &bm
		}
		if len(x) >= d.o.MinSample && len(base[mod]) >= d.o.MinSample {
			p := MannWhitneyLess(x, base[mod])
			p = round4(p)
			m.PValue = &p
			falling = p < d.o.Alpha && mean < *m.BaselineMean
		}
		low := len(x) >= min(3, d.o.MinSample) && mean < d.o.MinRating
		if !low && !falling {
			continue
		}
		g := groups[mod]
		if d.agg != nil {
			rows, err := d.src.Feedback(d.ctx, persona.FeedbackQuery{Module: mod, Since: d.from, Until: d.to})
			if err != nil {
				return nil, fmt.Errorf("read feedback of %s: %w", mod, err)
			}
			for _, fb := range rows {
				occur(g, fb)
			}
		}
		// The occurrences are the ratings below the threshold; their notes are the evidence.
		kept := g.occ[:0:0]
		for _, o := range g.occ {
			if float64(o.sample.Rating) < d.o.MinRating || (falling && m.BaselineMean != nil && float64(o.sample.Rating) < *m.BaselineMean) {
				kept = append(kept, o)
			}
		}
		g.occ = kept
		kind := KindLowRating
		if falling {
			kind = KindFallingRating
		}
		g.f = Finding{ID: id(string(kind), mod), Kind: kind, Module: mod}
		f := d.finish(g)
		f.Occurrences = len(x)
		f.Metrics, f.Regression, f.Status = m, falling, StatusOpen
		f.Severity = SeverityMedium
		if falling && low {
			f.Severity = SeverityHigh
		}
		if falling {
			f.Title = fmt.Sprintf("%s ratings fell: %.2f, was %.2f", mod, m.Mean, *m.BaselineMean)
			f.Detail = fmt.Sprintf("Mean rating %.2f over %d ratings against %.2f over %d in the baseline (Mann–Whitney U, one-sided p = %.4f < %.2f).",
				m.Mean, m.N, *m.BaselineMean, m.BaselineN, *m.PValue, d.o.Alpha)
		} else {
			f.Title = fmt.Sprintf("%s is rated low: %.2f", mod, m.Mean)
			f.Detail = fmt.Sprintf("Mean rating %.2f over %d ratings, below %.1f.", m.Mean, m.N, d.o.MinRating)
		}
		for _, s := range f.Samples {
			if s.Error != "" {
				f.Notes = append(f.Notes, fmt.Sprintf("%s (%d/5): %s", s.Persona, s.Rating, oneLine(s.Error, 200)))
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// MannWhitneyLess is the one-sided p-value of a Mann–Whitney U test that x tends to be smaller
// than y, with the normal approximation corrected for ties and for continuity. The U statistic
// is counted from midranks; the normal tail comes from gonum's distuv.
func MannWhitneyLess(x, y []float64) float64 {
	n1, n2 := float64(len(x)), float64(len(y))
	if n1 == 0 || n2 == 0 {
		return 1
	}
	type obs struct {
		v     float64
		fromX bool
	}
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rx, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // midrank of positions i..j-1 (1-based)
		t := float64(j - i)
		ties += t*t*t - t
		for k := i; k < j; k++ {
			if all[k].fromX {
				rx += rank
			}
		}
		i = j
	}
	u := rx - n1*(n1+1)/2
	n := n1 + n2
	mu := n1 * n2 / 2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 {
		return 1 // every rating the same: nothing fell
	}
	z := (u - mu + 0.5) / sigma
	return distuv.UnitNormal.CDF(z)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// unusableRatings is one finding for the rating replies nobody could use (degraded runs).
func (d *data) unusableRatings() []Finding {
	g := &group{f: Finding{ID: id(string(KindUnusableRatings)), Kind: KindUnusableRatings, Module: ParseModule}}
	for _, fb := range d.feedback {
		if fb.Module == ParseModule && d.inWindow(fb.CreatedAt, fb.TickID) {
			g.occ = append(g.occ, occurrence{at: fb.CreatedAt, tickID: fb.TickID, persona: fb.PersonaID,
				sample: Sample{Error: fb.Notes}})
		}
	}
	if len(g.occ) == 0 {
		return nil
	}
	f := d.finish(g)
	f.Status, f.Severity = StatusOpen, SeverityMedium
	f.Title = fmt.Sprintf("%d unusable rating replies", f.Occurrences)
	f.Detail = "The rating turn's reply could not be read; these runs are degraded: their calls count, their ratings do not."
	return []Finding{f}
}

// failedRuns groups failed and timed-out runs by (target, status, error signature).
func (d *data) failedRuns() []Finding {
	groups := map[string]*group{}
	var order []string
	for _, t := range d.runs {
		if !t.Status.Failure() || !d.inWindow(t.StartedAt, t.TickID) {
			continue
		}
		msg := t.Error
		if i := strings.Index(msg, "; "); i > 0 {
			msg = msg[:i] // the cause, not the notes after it
		}
		sig := Signature(msg)
		key := t.Target + "\x1f" + string(t.Status) + "\x1f" + sig
		g := groups[key]
		if g == nil {
			g = &group{f: Finding{ID: id(string(KindFailedRuns), t.Target, string(t.Status), sig), Kind: KindFailedRuns,
				Target: t.Target, Signature: sig, ErrorClass: string(t.Status)}}
			groups[key] = g
			order = append(order, key)
		}
		g.occ = append(g.occ, occurrence{at: t.StartedAt, tickID: t.TickID, persona: t.PersonaID, sample: Sample{Error: t.Error}})
	}
	var out []Finding
	for _, key := range order {
		f := d.finish(groups[key])
		f.Status, f.Severity = StatusOpen, SeverityHigh
		f.Title = fmt.Sprintf("runs %s: %s", f.ErrorClass, oneLine(f.Signature, 90))
		f.Detail = fmt.Sprintf("%d run(s) ended %s.", f.Occurrences, f.ErrorClass)
		out = append(out, f)
	}
	return out
}
