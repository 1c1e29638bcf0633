package sim

import (
	"fmt"
	"strings"
)

// spoil turns valid arguments into the kind of invalid input a person new to the app sends: a
// required field left out, a value of the wrong type, text over the length limit or a choice
// that is not on the list. It returns what it did, or ok=false when the schema constrains
// nothing it could get wrong.
func (g *gen) spoil(args map[string]any) (what string, ok bool) {
	s := g.resolve(g.root)
	if s == nil {
		return "", false
	}
	var options []func() string
	for _, name := range s.Required {
		if _, present := args[name]; present {
			options = append(options, func() string {
				delete(args, name)
				return fmt.Sprintf("left out the required field %q", name)
			})
		}
	}
	for _, name := range sortedKeys(s.Properties) {
		ps := g.resolve(s.Properties[name])
		_, present := args[name]
		if ps == nil || (!present && !contains(s.Required, name)) || len(ps.AnyOf) > 0 || len(ps.OneOf) > 0 || ps.Const != nil {
			continue
		}
		switch {
		case len(ps.Enum) > 0 && ps.Type == "string":
			options = append(options, func() string {
				args[name] = "whatever works"
				return fmt.Sprintf("picked %q for %q, which is not one of its choices", "whatever works", name)
			})
		case ps.Type == "string" && ps.MaxLength != nil && len(ps.Enum) == 0:
			limit := *ps.MaxLength
			options = append(options, func() string {
				n := limit + 1 + g.r.IntN(20)
				args[name] = g.fit(g.plausible(name), n, n)
				return fmt.Sprintf("wrote %q longer than its %d-character limit", name, limit)
			})
		}
		if wrong, desc := wrongValue(ps.Type); desc != "" && len(ps.Enum) == 0 {
			options = append(options, func() string {
				args[name] = wrong
				return fmt.Sprintf("sent %q as %s instead of %s", name, desc, article(ps.Type))
			})
		}
	}
	if len(options) == 0 {
		return "", false
	}
	return pick(g.r, options)(), true
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// wrongValue is a value a confused person might send for a field of type typ, which that type
// does not admit.
func wrongValue(typ string) (any, string) {
	switch typ {
	case "string":
		return 12345, "a number"
	case "integer", "number":
		return "a few", "text"
	case "boolean":
		return "yes", "text"
	case "array":
		return "just one thing", "text"
	case "object":
		return "see above", "text"
	}
	return nil, ""
}

func article(typ string) string {
	switch typ {
	case "integer", "array", "object":
		return "an " + typ
	case "":
		return "a value"
	}
	return "a " + strings.TrimSpace(typ)
}
