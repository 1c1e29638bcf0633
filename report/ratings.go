package report

// The modules' ratings: summed from the rows or counted by the store, and the module table.

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/persona-runner/persona-runner/findings"
	"github.com/persona-runner/persona-runner/persona"
)

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
