package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// gen builds JSON values that satisfy a JSON Schema, with plausible content. It supports type
// (single or a list), enum, const, default, required, properties, minProperties,
// dependentRequired, items, prefixItems, minItems, maxItems, uniqueItems, minLength, maxLength,
// pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, the formats date,
// date-time, time, uuid, email, uri, hostname, ipv4, ipv6 and duration, local $ref ($defs and
// definitions), allOf (merged), anyOf and oneOf (one branch chosen).
type gen struct {
	r      *rand.Rand
	w      *words
	module string
	today  time.Time // midnight of the persona's day, in its location
	email  string
	tz     string
	root   *jsonschema.Schema
	// power makes the generator probe boundaries: maximum lengths exactly, non-ASCII text, empty
	// optional strings, edge dates and extreme numbers. Each probe is described in probes.
	power  bool
	probes []string
	// lookup returns an id seen earlier in the conversation for an id-like property, if any.
	lookup func(prop string) (any, bool)
}

func (g *gen) probe(format string, args ...any) {
	g.probes = append(g.probes, fmt.Sprintf(format, args...))
}

// value generates a value for schema s of a property called name.
func (g *gen) value(s *jsonschema.Schema, name string, required bool, depth int) any {
	s = g.resolve(s)
	if s == nil {
		s = &jsonschema.Schema{}
	}
	if s.Const != nil {
		return *s.Const
	}
	if branches := cmpOr(s.OneOf, s.AnyOf); len(branches) > 0 {
		rest := *s
		rest.OneOf, rest.AnyOf = nil, nil
		s = merge(&rest, g.resolve(branches[g.r.IntN(len(branches))]))
		if s.Const != nil {
			// A titled choice: oneOf [{const, title}, …] (MCP elicitation forms, enums with labels).
			return *s.Const
		}
	}
	if len(s.Enum) > 0 {
		return s.Enum[g.r.IntN(len(s.Enum))]
	}
	typ := g.typeOf(s, required)
	if isIDName(name) && g.lookup != nil {
		if v, ok := g.lookup(name); ok {
			if v, ok := asType(v, typ); ok {
				return v
			}
		}
	}
	if s.Default != nil && !g.power && g.r.IntN(10) < 3 {
		var v any
		if json.Unmarshal(s.Default, &v) == nil {
			if v, ok := asType(v, typ); ok {
				return v
			}
		}
	}
	switch typ {
	case "null":
		return nil
	case "boolean":
		return g.r.IntN(2) == 0
	case "integer", "number":
		return g.number(s, name, typ == "integer")
	case "array":
		return g.array(s, name, depth)
	case "object":
		return g.object(s, depth)
	default:
		return g.str(s, name, required)
	}
}

func cmpOr[T any](a, b []T) []T {
	if len(a) > 0 {
		return a
	}
	return b
}

// asType converts an id or default to the property's type when it can be said exactly.
func asType(v any, typ string) (any, bool) {
	switch x := v.(type) {
	case string:
		if typ == "string" {
			return x, true
		}
		if typ == "integer" || typ == "number" {
			var f float64
			if _, err := fmt.Sscan(x, &f); err == nil && (typ == "number" || f == math.Trunc(f)) {
				return f, true
			}
		}
	case float64:
		switch typ {
		case "number":
			return x, true
		case "integer":
			return x, x == math.Trunc(x)
		case "string":
			return fmt.Sprint(x), true
		}
	case bool:
		return x, typ == "boolean"
	case nil:
		return nil, typ == "null"
	case []any:
		return x, typ == "array"
	case map[string]any:
		return x, typ == "object"
	}
	return nil, false
}

// typeOf chooses the JSON type to generate: the declared one, one of a list (null only
// sometimes, for optional values), or one inferred from the other keywords.
func (g *gen) typeOf(s *jsonschema.Schema, required bool) string {
	if s.Type != "" {
		return s.Type
	}
	if len(s.Types) > 0 {
		var nonNull []string
		for _, t := range s.Types {
			if t != "null" {
				nonNull = append(nonNull, t)
			}
		}
		if len(nonNull) == 0 || (!required && len(nonNull) < len(s.Types) && g.r.IntN(10) == 0) {
			return "null"
		}
		return nonNull[g.r.IntN(len(nonNull))]
	}
	switch {
	case s.Properties != nil || s.Required != nil || s.MinProperties != nil:
		return "object"
	case s.Items != nil || s.PrefixItems != nil || s.MinItems != nil || s.MaxItems != nil:
		return "array"
	case s.Minimum != nil || s.Maximum != nil || s.ExclusiveMinimum != nil || s.ExclusiveMaximum != nil || s.MultipleOf != nil:
		return "number"
	}
	return "string"
}

func (g *gen) object(s *jsonschema.Schema, depth int) map[string]any {
	out := map[string]any{}
	req := map[string]bool{}
	for _, r := range s.Required {
		req[r] = true
	}
	names := sortedKeys(s.Properties)
	var skipped []string
	for _, n := range names {
		ps := g.resolve(s.Properties[n])
		if !req[n] {
			p := 0.5
			if g.power {
				p = 0.75
			}
			// An optional reference is filled only with an id seen earlier: a person does not
			// invent ids, and a made-up one would only earn a "not found".
			if isIDName(n) && g.lookup != nil {
				p = 0
				if _, ok := g.lookup(n); ok {
					p = 0.8
				}
			}
			if depth > 3 || (ps != nil && ps.ReadOnly) || g.r.Float64() >= p {
				skipped = append(skipped, n)
				continue
			}
		}
		out[n] = g.value(ps, n, req[n], depth+1)
	}
	// Required names without a property schema still need a value; any value is valid.
	for _, n := range s.Required {
		if _, ok := out[n]; !ok {
			out[n] = g.value(s.Properties[n], n, true, depth+1)
		}
	}
	if s.MinProperties != nil {
		for i := 0; len(out) < *s.MinProperties && i < len(skipped); i++ {
			out[skipped[i]] = g.value(s.Properties[skipped[i]], skipped[i], true, depth+1)
		}
	}
	g.orderRanges(s, out)
	for _, k := range sortedKeys(s.DependentRequired) {
		if _, ok := out[k]; !ok {
			continue
		}
		for _, dep := range s.DependentRequired[k] {
			if _, ok := out[dep]; !ok {
				out[dep] = g.value(s.Properties[dep], dep, true, depth+1)
			}
		}
	}
	return out
}

func (g *gen) array(s *jsonschema.Schema, name string, depth int) []any {
	lo, hi := 0, -1
	if s.MinItems != nil {
		lo = *s.MinItems
	}
	if s.MaxItems != nil {
		hi = *s.MaxItems
	}
	n := max(lo, 1) + g.r.IntN(3)
	if hi >= 0 {
		n = min(n, hi)
	}
	if g.power && hi > 0 && hi <= 20 && g.r.IntN(2) == 0 {
		n = hi
		g.probe("%s with its maximum of %d items", name, hi)
	}
	item := singular(name)
	out := make([]any, 0, n)
	seen := map[string]bool{}
	for i := 0; len(out) < n && i < n*10; i++ {
		var is *jsonschema.Schema
		switch {
		case len(out) < len(s.PrefixItems):
			is = s.PrefixItems[len(out)]
		case s.Items != nil:
			is = s.Items
		}
		v := g.value(is, item, true, depth+1)
		if s.UniqueItems {
			key, _ := json.Marshal(v)
			if seen[string(key)] {
				continue
			}
			seen[string(key)] = true
		}
		out = append(out, v)
	}
	return out
}

func (g *gen) number(s *jsonschema.Schema, name string, integer bool) float64 {
	lo, hi := math.Inf(-1), math.Inf(1)
	loX, hiX := false, false // whether the bound itself is excluded
	if s.Minimum != nil {
		lo = *s.Minimum
	}
	if s.ExclusiveMinimum != nil && *s.ExclusiveMinimum >= lo {
		lo, loX = *s.ExclusiveMinimum, true
	}
	if s.Maximum != nil {
		hi = *s.Maximum
	}
	if s.ExclusiveMaximum != nil && *s.ExclusiveMaximum <= hi {
		hi, hiX = *s.ExclusiveMaximum, true
	}
	step := 0.0
	switch {
	case s.MultipleOf != nil && *s.MultipleOf > 0:
		step = *s.MultipleOf
		if integer && step != math.Trunc(step) {
			step = 0 // an integer multiple of a fraction: fall back to whole numbers below
		}
	case integer:
		step = 1
	}
	// Snap the bounds inward to the grid of allowed values.
	if step > 0 {
		l, h := math.Ceil(lo/step)*step, math.Floor(hi/step)*step
		if loX && l == lo {
			l += step
		}
		if hiX && h == hi {
			h -= step
		}
		lo, hi = l, h
	} else {
		if integer {
			lo, hi = math.Ceil(lo), math.Floor(hi)
		}
		if loX {
			lo = math.Nextafter(lo, math.Inf(1))
		}
		if hiX {
			hi = math.Nextafter(hi, math.Inf(-1))
		}
	}
	if g.power && g.r.IntN(2) == 0 {
		if !math.IsInf(hi, 1) && (g.r.IntN(2) == 0 || math.IsInf(lo, -1)) {
			g.probe("%s at its maximum %v", name, hi)
			return hi
		}
		if !math.IsInf(lo, -1) {
			g.probe("%s at its minimum %v", name, lo)
			return lo
		}
	}
	pl, ph := plausibleRange(name, g.today)
	// Prefer the plausible range inside the bounds; when they do not meet, stay near a bound.
	a, b := max(pl, lo), min(ph, hi)
	if a >= b && !(pl == ph && a == b) {
		switch {
		case math.IsInf(lo, -1):
			a, b = hi-10, hi
		case math.IsInf(hi, 1):
			a, b = lo, lo+10
		default:
			a, b = lo, hi
		}
		a, b = max(a, lo), min(b, hi)
	}
	if step > 0 {
		ka, kb := math.Ceil(a/step), math.Floor(b/step)
		if kb < ka {
			return ka * step
		}
		return (ka + float64(g.r.Int64N(int64(min(kb-ka, 1<<40))+1))) * step
	}
	v := a + g.r.Float64()*(b-a)
	if r := math.Round(v*10) / 10; r >= lo && r <= hi {
		v = r
	}
	if integer {
		v = math.Round(v)
	}
	return v
}

func (g *gen) str(s *jsonschema.Schema, name string, required bool) string {
	lo, hi := 0, -1
	if s.MinLength != nil {
		lo = *s.MinLength
	}
	if s.MaxLength != nil {
		hi = *s.MaxLength
	}
	if s.Pattern != "" {
		if v, ok := fromPattern(g.r, s.Pattern, lo, hi); ok {
			return v
		}
	}
	if s.Format != "" {
		if v, ok := g.format(s.Format, name); ok {
			if n := utf8.RuneCountInString(v); n >= lo && (hi < 0 || n <= hi) {
				return v
			}
		}
	}
	if g.power && s.Pattern == "" && s.Format == "" {
		switch {
		case !required && lo == 0 && g.r.IntN(4) == 0:
			g.probe("%s left empty", name)
			return ""
		case hi > 0 && hi <= 5000 && g.r.IntN(2) == 0:
			g.probe("%s at exactly its %d-character maximum, in non-ASCII text", name, hi)
			return fitRunes(strings.Repeat(probeText+" ", hi/len([]rune(probeText+" "))+1), hi, hi)
		case g.r.IntN(2) == 0:
			g.probe("%s in non-ASCII text", name)
			return g.fit(probeText+" "+g.plausible(name), lo, hi)
		}
	}
	return g.fit(g.plausible(name), lo, hi)
}

// fit pads v with sentences up to lo runes and cuts it to hi runes (hi < 0: no limit).
func (g *gen) fit(v string, lo, hi int) string {
	for i := 0; utf8.RuneCountInString(v) < lo && i < 1000; i++ {
		v += " " + pick(g.r, g.w.sentences)
	}
	return fitRunes(v, lo, hi)
}

// fitRunes cuts v to at most hi runes, trimming a trailing space when that keeps it ≥ lo.
func fitRunes(v string, lo, hi int) string {
	if hi < 0 || utf8.RuneCountInString(v) <= hi {
		return v
	}
	v = string([]rune(v)[:hi])
	if t := strings.TrimRight(v, " "); utf8.RuneCountInString(t) >= lo {
		v = t
	}
	return v
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// rangePairs are property names that open and close a range.
var rangePairs = [][2]string{{"start", "end"}, {"startsAt", "endsAt"}, {"startAt", "endAt"}, {"startDate", "endDate"},
	{"startTime", "endTime"}, {"from", "to"}, {"since", "until"}}

// orderRanges makes a range a person would enter: an end after its start (an hour or so for
// times, a few days for dates) — a rule no schema states but every calendar enforces.
func (g *gen) orderRanges(s *jsonschema.Schema, out map[string]any) {
	for _, pair := range rangePairs {
		a, aok := out[pair[0]].(string)
		b, bok := out[pair[1]].(string)
		if !aok || !bok {
			continue
		}
		ps := g.resolve(s.Properties[pair[1]])
		if ps == nil || ps.Pattern != "" {
			continue
		}
		if start, err := time.Parse(time.RFC3339, a); err == nil {
			if _, err := time.Parse(time.RFC3339, b); err == nil {
				out[pair[1]] = start.Add(time.Duration(30+15*g.r.IntN(7)) * time.Minute).Format(time.RFC3339)
				g.dropProbes(pair[1])
			}
			continue
		}
		if start, err := time.Parse(time.DateOnly, a); err == nil {
			if end, err := time.Parse(time.DateOnly, b); err == nil && end.Before(start) {
				out[pair[1]] = start.AddDate(0, 0, g.r.IntN(8)).Format(time.DateOnly)
				g.dropProbes(pair[1])
			}
		}
	}
}

// dropProbes forgets the probes of a property whose value was replaced, so that the narration
// describes only what was sent.
func (g *gen) dropProbes(name string) {
	g.probes = slices.DeleteFunc(g.probes, func(p string) bool { return strings.HasPrefix(p, name+" ") })
}

// changeSomething makes an update change something: when only ids were filled, it adds one of
// the other optional properties, as a person editing a record would (and as apps require).
func (g *gen) changeSomething(args map[string]any) {
	for k := range args {
		if !isIDName(k) {
			return
		}
	}
	root := g.resolve(g.root)
	if root == nil {
		return
	}
	var options []string
	for _, name := range sortedKeys(root.Properties) {
		if ps := g.resolve(root.Properties[name]); !isIDName(name) && (ps == nil || !ps.ReadOnly) {
			options = append(options, name)
		}
	}
	if len(options) == 0 {
		return
	}
	name := pick(g.r, options)
	v := g.value(root.Properties[name], name, true, 1)
	// An empty string would change nothing; ask again as a required value, which a power user
	// does not leave empty.
	if v == "" {
		v = g.fit(g.plausible(name), 1, -1)
	}
	args[name] = v
}
