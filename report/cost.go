package report

// Tokens and cost per day, persona and module.

import (
	"math"
	"sort"

	"github.com/persona-runner/persona-runner/persona"
)

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
