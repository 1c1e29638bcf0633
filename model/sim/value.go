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

// resolve follows local $refs and folds allOf into one schema, so that the rest of the generator
// sees plain keywords.
func (g *gen) resolve(s *jsonschema.Schema) *jsonschema.Schema {
	for range 16 {
		if s == nil {
			return nil
		}
		switch {
		case s.Ref != "":
			target := g.ref(s.Ref)
			rest := *s
			rest.Ref = ""
			s = merge(&rest, target)
		case len(s.AllOf) > 0:
			rest := *s
			rest.AllOf = nil
			out := &rest
			for _, sub := range s.AllOf {
				out = merge(out, g.resolve(sub))
			}
			s = out
		default:
			return s
		}
	}
	return s
}

func (g *gen) ref(ref string) *jsonschema.Schema {
	if ref == "#" {
		return g.root
	}
	for _, prefix := range []string{"#/$defs/", "#/definitions/"} {
		if name, ok := strings.CutPrefix(ref, prefix); ok && g.root != nil {
			if d := g.root.Defs[name]; d != nil {
				return d
			}
			if d := g.root.Definitions[name]; d != nil {
				return d
			}
		}
	}
	return &jsonschema.Schema{}
}

// merge returns a with the keywords of b that a lacks, bounds tightened and required lists and
// properties joined. It is exact for the conjunctions tool schemas use (allOf of object parts,
// a $ref with sibling keywords) and a fair approximation otherwise.
func merge(a, b *jsonschema.Schema) *jsonschema.Schema {
	if b == nil {
		return a
	}
	out := *a
	if out.Type == "" && out.Types == nil {
		out.Type, out.Types = b.Type, b.Types
	}
	if out.Enum == nil {
		out.Enum = b.Enum
	}
	if out.Const == nil {
		out.Const = b.Const
	}
	if out.Format == "" {
		out.Format = b.Format
	}
	if out.Pattern == "" {
		out.Pattern = b.Pattern
	}
	if out.Default == nil {
		out.Default = b.Default
	}
	out.MinLength = maxPtr(out.MinLength, b.MinLength)
	out.MaxLength = minPtr(out.MaxLength, b.MaxLength)
	out.MinItems = maxPtr(out.MinItems, b.MinItems)
	out.MaxItems = minPtr(out.MaxItems, b.MaxItems)
	out.MinProperties = maxPtr(out.MinProperties, b.MinProperties)
	out.Minimum = maxPtr(out.Minimum, b.Minimum)
	out.Maximum = minPtr(out.Maximum, b.Maximum)
	out.ExclusiveMinimum = maxPtr(out.ExclusiveMinimum, b.ExclusiveMinimum)
	out.ExclusiveMaximum = minPtr(out.ExclusiveMaximum, b.ExclusiveMaximum)
	if out.MultipleOf == nil {
		out.MultipleOf = b.MultipleOf
	}
	if out.Items == nil {
		out.Items = b.Items
	}
	if out.PrefixItems == nil {
		out.PrefixItems = b.PrefixItems
	}
	out.UniqueItems = out.UniqueItems || b.UniqueItems
	if len(b.Properties) > 0 {
		props := make(map[string]*jsonschema.Schema, len(out.Properties)+len(b.Properties))
		for k, v := range b.Properties {
			props[k] = v
		}
		for k, v := range out.Properties {
			if w, ok := props[k]; ok {
				v = merge(v, w)
			}
			props[k] = v
		}
		out.Properties = props
	}
	for _, r := range b.Required {
		if !slices.Contains(out.Required, r) {
			out.Required = append(slices.Clip(out.Required), r)
		}
	}
	if out.AnyOf == nil {
		out.AnyOf = b.AnyOf
	}
	if out.OneOf == nil {
		out.OneOf = b.OneOf
	}
	if out.AllOf == nil {
		out.AllOf = b.AllOf
	}
	if out.Ref == "" {
		out.Ref = b.Ref
	}
	return &out
}

type ordered interface{ ~int | ~float64 }

func maxPtr[T ordered](a, b *T) *T {
	if a == nil || (b != nil && *b > *a) {
		return b
	}
	return a
}

func minPtr[T ordered](a, b *T) *T {
	if a == nil || (b != nil && *b < *a) {
		return b
	}
	return a
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

// singular names an array's items after the array: tags → tag, so that items get the same
// plausible content as a single field of that name would.
func singular(name string) string {
	if strings.HasSuffix(name, "s") && len(name) > 3 {
		return name[:len(name)-1]
	}
	return name
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

// plausibleRange is the range a person would pick from for a number called name.
func plausibleRange(name string, today time.Time) (float64, float64) {
	n := strings.ToLower(name)
	switch {
	case containsAny(n, "minute", "duration"):
		return 5, 90
	case containsAny(n, "hour"):
		return 1, 8
	case containsAny(n, "rating", "mood", "score", "energy", "level", "stars", "intensity", "priority"):
		return 1, 5
	case containsAny(n, "limit", "count", "days", "size"):
		return 1, 20
	case containsAny(n, "amount", "price", "cost", "budget"):
		return 1, 120
	case containsAny(n, "year"):
		y := float64(today.Year())
		return y, y
	case containsAny(n, "page", "offset"):
		return 0, 3
	case containsAny(n, "km", "distance"):
		return 3, 21
	case containsAny(n, "weight"):
		return 50, 90
	}
	return 1, 10
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

// plausible is text a person of this archetype would type into a field called name.
func (g *gen) plausible(name string) string {
	n := strings.ToLower(name)
	mod := strings.ToLower(g.module)
	switch {
	case containsAny(n, "email"):
		return g.emailAddress()
	case containsAny(n, "url", "link", "website"):
		return "https://example.com/" + slug(pick(g.r, g.w.notes))
	case containsAny(n, "color", "colour"):
		return pick(g.r, []string{"#4a90d9", "#e94e77", "#50c878", "#f5a623"})
	case containsAny(n, "timezone", "tz"):
		return cmpString(g.tz, "UTC")
	case containsAny(n, "emoji", "icon"):
		return pick(g.r, []string{"🙂", "📚", "🏃", "✅"})
	case containsAny(n, "lang", "locale"):
		return "en"
	case containsAny(n, "tag", "categor", "label", "list", "folder", "project"):
		return pick(g.r, g.w.tags)
	case containsAny(n, "location", "place", "where", "venue"):
		return pick(g.r, g.w.places)
	case containsAny(n, "query", "search", "filter", "keyword") || n == "q":
		return pick(g.r, g.w.tags)
	case containsAny(n, "mood", "feeling"):
		return pick(g.r, []string{"calm", "tired", "good", "stressed", "content"})
	case containsAny(n, "content", "body", "text", "description", "note", "entry", "detail", "comment",
		"reflection", "message", "summary", "reason", "journal"):
		if g.r.IntN(3) == 0 {
			return pick(g.r, g.w.sentences) + " " + pick(g.r, g.w.sentences)
		}
		return pick(g.r, g.w.sentences)
	case containsAny(n, "phone", "mobile"):
		return fmt.Sprintf("+49 151 %07d", g.r.IntN(10_000_000))
	case containsAny(n, "person", "contact", "attendee", "firstname", "lastname", "fullname", "friend") ||
		(containsAny(n, "name") && containsAny(mod, "contact", "people", "person", "friend", "member")):
		return pick(g.r, people)
	case containsAny(n, "title", "name", "subject", "task", "habit", "goal", "heading"):
		switch {
		case containsAny(mod, "habit", "goal", "routine") || containsAny(n, "habit", "goal"):
			return pick(g.r, g.w.habits)
		case containsAny(mod, "todo", "task", "remind", "calendar", "event"):
			return pick(g.r, g.w.tasks)
		}
		return pick(g.r, g.w.notes)
	case isIDName(name):
		return fmt.Sprintf("%s-%d", norm(idPrefix(name)), 1+g.r.IntN(999))
	}
	if containsAny(mod, "todo", "task") {
		return pick(g.r, g.w.tasks)
	}
	return pick(g.r, g.w.tags)
}

func cmpString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func slug(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func (g *gen) emailAddress() string {
	friends := []string{"sam", "alex", "mia", "jonas", "lea", "noah"}
	return pick(g.r, friends) + "@example.com"
}

func (g *gen) format(f, name string) (string, bool) {
	switch f {
	case "date":
		return g.date(name).Format(time.DateOnly), true
	case "date-time":
		d := g.date(name)
		t := time.Date(d.Year(), d.Month(), d.Day(), 7+g.r.IntN(15), 5*g.r.IntN(12), 0, 0, d.Location())
		return t.Format(time.RFC3339), true
	case "time":
		return fmt.Sprintf("%02d:%02d:00Z", 7+g.r.IntN(15), 5*g.r.IntN(12)), true
	case "uuid":
		return g.uuid(), true
	case "email", "idn-email":
		return g.emailAddress(), true
	case "uri", "iri", "url":
		return "https://example.com/" + slug(pick(g.r, g.w.notes)), true
	case "uri-reference", "iri-reference":
		return "/" + slug(pick(g.r, g.w.notes)), true
	case "hostname", "idn-hostname":
		return "example.com", true
	case "ipv4":
		return fmt.Sprintf("192.0.2.%d", 1+g.r.IntN(254)), true
	case "ipv6":
		return fmt.Sprintf("2001:db8::%x", 1+g.r.IntN(0xfffe)), true
	case "duration":
		return fmt.Sprintf("PT%dM", 5*(1+g.r.IntN(12))), true
	}
	return "", false
}

// date is a day a person would enter into a field called name: ahead for due dates and
// reminders, today otherwise. A power user sometimes picks an edge instead.
func (g *gen) date(name string) time.Time {
	t := g.today
	if g.power && g.r.IntN(2) == 0 {
		leap := t.Year()
		for !(leap%4 == 0 && (leap%100 != 0 || leap%400 == 0)) || !time.Date(leap, 2, 29, 0, 0, 0, 0, t.Location()).After(t.AddDate(0, 0, -1)) {
			leap++
		}
		edges := []struct {
			d    time.Time
			what string
		}{
			{time.Date(leap, 2, 29, 0, 0, 0, 0, t.Location()), "a leap day"},
			{time.Date(t.Year(), 12, 31, 0, 0, 0, 0, t.Location()), "the last day of the year"},
			{time.Date(2099, 12, 31, 0, 0, 0, 0, t.Location()), "the far future"},
		}
		e := pick(g.r, edges)
		g.probe("%s on %s (%s)", name, e.what, e.d.Format(time.DateOnly))
		return e.d
	}
	n := strings.ToLower(name)
	switch {
	case containsAny(n, "birth"):
		return t.AddDate(-20-g.r.IntN(30), -g.r.IntN(12), -g.r.IntN(28))
	case containsAny(n, "due", "deadline", "until", "end", "remind", "start", "schedul", "plan", "when", "next"):
		return t.AddDate(0, 0, g.r.IntN(15))
	}
	return t
}

func (g *gen) uuid() string {
	var b [16]byte
	for i := range 2 {
		u := g.r.Uint64()
		for j := range 8 {
			b[i*8+j] = byte(u >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// people are names a person keeps in contacts.
var people = []string{"Sam Berg", "Mia Schulz", "Jonas Weber", "Lea Fischer", "Dr. Patel", "Grandma Rosa", "Noah Klein"}

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
