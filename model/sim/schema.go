package sim

import (
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

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
