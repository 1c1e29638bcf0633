package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/persona-runner/persona-runner/persona"
)

// The fields each mapping may hold. Unknown fields are rejected: a typo such as "tickCadance"
// would otherwise silently fall back to a default.
var (
	topFields     = []string{"spaces", "personas"}
	personaFields = []string{"name", "email", "archetype", "tickCadence", "timezone", "moduleMix", "systemPrompt", "target", "secrets"}
	// ignoredFields are fields of Mana's catalog.json that mean nothing here: accepted anywhere
	// a persona or the top level may hold them, and ignored.
	ignoredFields = []string{"$schema", "description"}
	spaceFields   = []string{"slug", "name", "type", "members"}
)

// pathAt returns the most specific path seen on line, so decoder errors (which name Go types)
// also name the catalog field.
func (p *problems) pathAt(line int) string {
	best := ""
	for path, l := range p.lines {
		if l == line && line > 0 && (len(path) > len(best) || (len(path) == len(best) && path < best)) {
			best = path
		}
	}
	return best
}

// line returns the line of the first of paths that was seen, else 0.
func (p *problems) line(paths ...string) int {
	for _, path := range paths {
		if l, ok := p.lines[path]; ok {
			return l
		}
	}
	return 0
}

// parse turns the bytes into the one document's body, reporting syntax errors with their line.
func (p *problems) parse(data []byte) (ast.Node, bool) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		p.addYAMLError(err)
		return nil, false
	}
	var docs []ast.Node
	for _, d := range file.Docs {
		if d != nil && d.Body != nil && !isComment(d.Body) {
			docs = append(docs, d.Body)
		}
	}
	switch len(docs) {
	case 0:
		p.add(0, "", "", "is empty; it needs a personas list")
		return nil, false
	case 1:
		return docs[0], true
	default:
		p.add(tokenLine(docs[1]), "", "", "holds %d YAML documents; a catalog is one document", len(docs))
		return nil, false
	}
}

func isComment(n ast.Node) bool {
	_, ok := n.(*ast.CommentGroupNode)
	return ok
}

func (p *problems) addYAMLError(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line = tk.Position.Line
		}
		p.add(line, "", p.pathAt(line), "%s", ye.GetMessage())
		return
	}
	p.add(0, "", "", "%v", err)
}

func tokenLine(n ast.Node) int {
	if n == nil {
		return 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// unwrap looks through anchors and tags to the node that holds the value.
func unwrap(n ast.Node) ast.Node {
	for i := 0; i < 16 && n != nil; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return n
}

// walk records the line of every path and reports every unknown field, so that one run lists all
// typos rather than the first one the decoder meets.
func (p *problems) walk(body ast.Node) {
	body = unwrap(body)
	if seq, ok := body.(ast.ArrayNode); ok && isSequence(body) {
		// A bare list is the personas list: the shape of Mana's catalog.json.
		p.walkList(seq, "personas", personaFields, personaWhere)
		return
	}
	m, ok := body.(ast.MapNode)
	if !ok {
		return // the decoder reports the wrong type
	}
	it := m.MapRange()
	for it.Next() {
		key := keyString(it.Key())
		line := tokenLine(it.Key())
		p.lines[key] = line
		switch key {
		case "personas":
			if seq, ok := unwrap(it.Value()).(ast.ArrayNode); ok {
				p.walkList(seq, "personas", personaFields, personaWhere)
			}
		case "spaces":
			if seq, ok := unwrap(it.Value()).(ast.ArrayNode); ok {
				p.walkList(seq, "spaces", spaceFields, spaceWhere)
			}
		case "$schema", "description": // ignoredFields
		default:
			if !it.Key().IsMergeKey() {
				p.add(line, "", key, "unknown field (allowed: %s)", strings.Join(topFields, ", "))
			}
		}
	}
}

func isSequence(n ast.Node) bool {
	_, ok := n.(*ast.SequenceNode)
	return ok
}

func (p *problems) walkList(seq ast.ArrayNode, list string, fields []string, where func(int, ast.Node) string) {
	it := seq.ArrayRange()
	for i := 0; it.Next(); i++ {
		item := unwrap(it.Value())
		path := fmt.Sprintf("%s[%d]", list, i)
		p.lines[path] = tokenLine(item)
		m, ok := item.(ast.MapNode)
		if !ok {
			continue
		}
		w := where(i, item)
		mi := m.MapRange()
		for mi.Next() {
			key := keyString(mi.Key())
			line := tokenLine(mi.Key())
			if _, seen := p.lines[path+"."+key]; !seen {
				p.lines[path+"."+key] = line
			}
			if mi.Key().IsMergeKey() {
				continue
			}
			if !slices.Contains(fields, key) && (list != "personas" || !slices.Contains(ignoredFields, key)) {
				p.add(line, w, key, "unknown field (allowed: %s)", strings.Join(fields, ", "))
				continue
			}
			// Record the lines inside the mix and member lists for their messages.
			switch v := unwrap(mi.Value()).(type) {
			case ast.MapNode:
				vi := v.MapRange()
				for vi.Next() {
					p.lines[path+"."+key+"."+keyString(vi.Key())] = tokenLine(vi.Key())
				}
			case ast.ArrayNode:
				vi := v.ArrayRange()
				for j := 0; vi.Next(); j++ {
					p.lines[fmt.Sprintf("%s.%s[%d]", path, key, j)] = tokenLine(vi.Value())
				}
			}
		}
	}
}

// personaWhere names a persona entry by its email when the YAML gives one, else by index.
func personaWhere(i int, n ast.Node) string {
	return entryWhere("personas", i, scalarField(n, "email"))
}

func spaceWhere(i int, n ast.Node) string { return entryWhere("spaces", i, scalarField(n, "slug")) }

func entryWhere(list string, i int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s[%d]", list, i)
	}
	return fmt.Sprintf("%s[%d] (%s)", list, i, id)
}

func scalarField(n ast.Node, field string) string {
	m, ok := n.(ast.MapNode)
	if !ok {
		return ""
	}
	it := m.MapRange()
	for it.Next() {
		if keyString(it.Key()) == field {
			if s, ok := unwrap(it.Value()).(ast.ScalarNode); ok {
				return strings.TrimSpace(fmt.Sprint(s.GetValue()))
			}
		}
	}
	return ""
}

func keyString(k ast.MapKeyNode) string {
	if k == nil {
		return ""
	}
	if s, ok := unwrap(k).(ast.ScalarNode); ok {
		return fmt.Sprint(s.GetValue())
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// decode fills c from the document. With strict, unknown fields fail the decode as a safety net
// for shapes the walk cannot see (aliases). When the decoder refuses the document, it is decoded
// again field by field (decodeFields), so that every value of the wrong type is one problem with
// its line and field, in words rather than Go types, and the rest of the catalog is still
// checked; ok is false only when the document could not be decoded at all.
func (p *problems) decode(body ast.Node, c *Catalog, strict bool) bool {
	opts := []yaml.DecodeOption{}
	if strict {
		opts = append(opts, yaml.DisallowUnknownField())
	}
	var err error
	if isSequence(unwrap(body)) {
		err = yaml.NodeToValue(body, &c.Personas, opts...)
	} else {
		err = yaml.NodeToValue(body, c, opts...)
	}
	if err == nil {
		return true
	}
	*c = Catalog{Source: c.Source}
	if before := len(p.list); !p.decodeFields(body, c) || len(p.list) == before {
		// Not a type error the fields show (an alias, a merge): the decoder's own words.
		p.addYAMLError(err)
		return false
	}
	return true
}

// decodeFields decodes the document entry by entry and field by field, recording each value of
// the wrong type as a problem and its path in p.badPaths; ok is false when the document is not
// a catalog at all (neither a mapping nor a list).
func (p *problems) decodeFields(body ast.Node, c *Catalog) bool {
	body = unwrap(body)
	if isSequence(body) {
		c.Personas = decodeList[Persona](p, body, "personas")
		return true
	}
	m, ok := body.(ast.MapNode)
	if !ok {
		return false
	}
	it := m.MapRange()
	for it.Next() {
		switch keyString(it.Key()) {
		case "personas":
			c.Personas = decodeList[Persona](p, it.Value(), "personas")
		case "spaces":
			c.Spaces = decodeList[Space](p, it.Value(), "spaces")
		case "$schema":
			p.decodeValue(it.Value(), &c.Schema, "$schema", "", "$schema")
		case "description":
			p.decodeValue(it.Value(), &c.Description, "description", "", "description")
		}
	}
	return true
}

// decodeList decodes a list of entries (personas or spaces), each field by field.
func decodeList[T any](p *problems, n ast.Node, list string) []T {
	seq, ok := unwrap(n).(ast.ArrayNode)
	if !ok || !isSequence(unwrap(n)) {
		p.typeProblem(n, list, "", list, "must be a list of "+list)
		return nil
	}
	var out []T
	it := seq.ArrayRange()
	for i := 0; it.Next(); i++ {
		var e T
		path := fmt.Sprintf("%s[%d]", list, i)
		where := entryWhere(list, i, scalarField(unwrap(it.Value()), map[string]string{"personas": "email", "spaces": "slug"}[list]))
		m, ok := unwrap(it.Value()).(ast.MapNode)
		if !ok {
			p.typeProblem(it.Value(), path, where, "", "must be a mapping of fields such as name and email")
			out = append(out, e)
			continue
		}
		v := reflect.ValueOf(&e).Elem()
		fields := yamlFields(v.Type())
		mi := m.MapRange()
		for mi.Next() {
			key := keyString(mi.Key())
			idx, known := fields[key]
			if !known || mi.Key().IsMergeKey() {
				continue // reported by the walk, or only the decoder can follow it
			}
			p.decodeValue(mi.Value(), v.Field(idx).Addr().Interface(), path+"."+key, where, key)
		}
		out = append(out, e)
	}
	return out
}

// decodeValue decodes n into dst, and on failure records a problem in words: a mapping of
// weights and a list of members are decoded item by item, so that the problem names the one
// bad item.
func (p *problems) decodeValue(n ast.Node, dst any, path, where, field string) {
	switch d := dst.(type) {
	case *persona.ModuleMix:
		m, ok := unwrap(n).(ast.MapNode)
		if !ok || isSequence(unwrap(n)) {
			p.typeProblem(n, path, where, field, "must be a mapping of module names to weights, such as {todo: 0.5, notes: 0.5}")
			return
		}
		*d = persona.ModuleMix{}
		it := m.MapRange()
		for it.Next() {
			k := keyString(it.Key())
			var w float64
			if yaml.NodeToValue(it.Value(), &w) != nil {
				p.typeProblem(it.Value(), path+"."+k, where, field+"."+k, "weight must be a number ≥ 0")
				continue
			}
			(*d)[k] = w
		}
		return
	case *[]string:
		seq, ok := unwrap(n).(ast.ArrayNode)
		if !ok || !isSequence(unwrap(n)) {
			p.typeProblem(n, path, where, field, "must be a list of persona emails")
			return
		}
		*d = nil
		it := seq.ArrayRange()
		for j := 0; it.Next(); j++ {
			var s string
			if _, scalar := unwrap(it.Value()).(ast.ScalarNode); !scalar || yaml.NodeToValue(it.Value(), &s) != nil {
				p.typeProblem(it.Value(), fmt.Sprintf("%s[%d]", path, j), where, fmt.Sprintf("%s[%d]", field, j), "must be an email address")
			}
			*d = append(*d, s)
		}
		return
	case *map[string]persona.SecretRef:
		if err := yaml.NodeToValue(n, d, yaml.DisallowUnknownField()); err != nil {
			p.typeProblem(n, path, where, field, "must map secret names to {env: VARIABLE} or {file: PATH}")
		}
		return
	}
	// Text fields: a scalar (a number or true reads as its text), never a list or a mapping.
	if _, scalar := unwrap(n).(ast.ScalarNode); !scalar || yaml.NodeToValue(n, dst) != nil {
		p.typeProblem(n, path, where, field, "must be text")
	}
}

// typeProblem records that the value at path has the wrong type: want says what it must be,
// and the message adds what it is.
func (p *problems) typeProblem(n ast.Node, path, where, field, want string) {
	if p.badPaths == nil {
		p.badPaths = map[string]bool{}
	}
	p.badPaths[path] = true
	line := tokenLine(n)
	if l := p.line(path); l > 0 {
		line = l
	}
	p.add(line, where, field, "%s (got %s)", want, describeNode(n))
}

// describeNode says what a YAML value is, for a message: a list, a mapping, or the value itself.
func describeNode(n ast.Node) string {
	switch v := unwrap(n).(type) {
	case nil:
		return "nothing"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.NullNode:
		return "null"
	case ast.ScalarNode:
		return strconv.Quote(fmt.Sprint(v.GetValue()))
	}
	return "a value of another kind"
}

// yamlFields maps the YAML names of a struct's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}
