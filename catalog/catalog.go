// Package catalog reads persona catalog files (SPEC §9): the personas to seed and the shared spaces
// they belong to, in YAML (so JSON works too), validated on load with errors that name the file,
// the line, the persona and the field. A default catalog is embedded in the binary.
package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/persona-runner/persona-runner/persona"
)

// DemoModules are the modules of the demo app (package app). The demo app asserts that its tool
// registry matches this list, so a catalog validated against it only names modules that exist.
var DemoModules = []string{"todo", "notes", "journal", "habits", "mood", "calendar", "contacts", "spaces"}

// Defaults applied to personas that leave the field out.
const (
	DefaultCadence  = persona.Daily
	DefaultTimezone = "UTC"
)

// maxSlugLength matches the limit of personal space slugs (SPEC §3).
const maxSlugLength = 30

var (
	slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	targetName  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	secretName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Catalog is a validated catalog: every persona has a cadence and a time zone (defaults applied),
// and every space member is one of its personas.
type Catalog struct {
	// Source names where the catalog came from (a file path, or "default catalog").
	Source   string    `json:"-" yaml:"-"`
	Spaces   []Space   `json:"spaces,omitempty" yaml:"spaces,omitempty"`
	Personas []Persona `json:"personas" yaml:"personas"`
	// Schema and Description are fields of Mana's catalog.json that mean nothing here: accepted
	// and ignored, so its catalog loads as it is.
	Schema      string `json:"-" yaml:"$schema,omitempty"`
	Description string `json:"-" yaml:"description,omitempty"`

	lines map[string]int // the line of every path seen in the file, for later checks (CheckModules)
}

// Persona is one entry of the catalog. The field names are those of Mana's catalog.json.
type Persona struct {
	Name         string            `json:"name" yaml:"name"`
	Email        string            `json:"email" yaml:"email"`
	Archetype    string            `json:"archetype" yaml:"archetype"`
	TickCadence  persona.Cadence   `json:"tickCadence,omitempty" yaml:"tickCadence,omitempty"`
	Timezone     string            `json:"timezone,omitempty" yaml:"timezone,omitempty"`
	ModuleMix    persona.ModuleMix `json:"moduleMix" yaml:"moduleMix"`
	SystemPrompt string            `json:"systemPrompt" yaml:"systemPrompt"`
	// Target names the app the persona tests (SPEC §10); empty means the default target.
	Target string `json:"target,omitempty" yaml:"target,omitempty"`
	// Secrets say where the persona's secrets are read at run time: {env: VAR} or {file: PATH}.
	Secrets map[string]persona.SecretRef `json:"secrets,omitempty" yaml:"secrets,omitempty"`
	// Description is accepted and ignored, as in Catalog.
	Description string `json:"-" yaml:"description,omitempty"`
}

// Space is a shared space of the catalog; members are persona emails.
type Space struct {
	Slug    string            `json:"slug" yaml:"slug"`
	Name    string            `json:"name" yaml:"name"`
	Type    persona.SpaceType `json:"type" yaml:"type"`
	Members []string          `json:"members" yaml:"members"`
}

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

//go:embed default.yaml
var defaultYAML []byte

// DefaultSource is the Source of the embedded default catalog.
const DefaultSource = "default catalog"

// Default returns the catalog embedded in the binary, validated against DemoModules. Each call
// returns a fresh copy the caller may change. It panics if the embedded file is invalid, which
// the package's tests rule out.
func Default() *Catalog {
	c, err := Parse(DefaultSource, defaultYAML, DemoModules)
	if err != nil {
		panic(fmt.Sprintf("catalog: embedded default catalog is invalid: %v", err))
	}
	return c
}

// DefaultYAML returns the text of the embedded default catalog (a starting point for your own).
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Load reads and validates the catalog file at path. known lists the modules a moduleMix may
// name; nil accepts any module name. Invalid catalogs return an *Error listing every problem.
func Load(path string, known []string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return Parse(path, data, known)
}

// Parse decodes and validates a catalog; name is used in messages (usually the file path). known
// lists the modules a moduleMix may name; nil accepts any module name. Invalid catalogs return an
// *Error listing every problem found.
func Parse(name string, data []byte, known []string) (c *Catalog, err error) {
	// The YAML library is outside input's first reader; a panic inside it must not take the
	// process down, so it becomes one more problem with the file.
	defer func() {
		if r := recover(); r != nil {
			c = nil
			err = &Error{Source: name, Problems: []Problem{{Message: fmt.Sprintf("cannot parse: %v", r)}}}
		}
	}()
	p := &problems{source: name, lines: map[string]int{}}
	body, ok := p.parse(data)
	if !ok {
		return nil, p.err()
	}
	p.walk(body)
	strict := len(p.list) == 0 // unknown fields already reported: decode leniently to find more
	c = &Catalog{Source: name}
	if !p.decode(body, c, strict) {
		return nil, p.err()
	}
	p.validate(c, known)
	if err := p.err(); err != nil {
		return nil, err
	}
	c.applyDefaults()
	c.lines = p.lines
	return c, nil
}

// CheckModules checks the moduleMix of every persona testing target name (isDefault: also
// those that name no target) against modules, the modules the target offers (SPEC §10): each
// unknown module is a problem naming it, with its line, and listing the target's modules.
func (c *Catalog) CheckModules(name string, isDefault bool, modules []string) error {
	p := &problems{source: c.Source, lines: c.lines}
	if p.lines == nil {
		p.lines = map[string]int{}
	}
	sorted := append([]string(nil), modules...)
	sort.Strings(sorted)
	for i, pe := range c.Personas {
		if pe.Target != name && (pe.Target != "" || !isDefault) {
			continue
		}
		path := fmt.Sprintf("personas[%d]", i)
		where := entryWhere("personas", i, pe.Email)
		keys := make([]string, 0, len(pe.ModuleMix))
		for k := range pe.ModuleMix {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !contains(sorted, k) {
				field := "moduleMix." + k
				p.add(p.line(path+"."+field, path+".moduleMix", path), where, field,
					"unknown module %q of target %s (its modules: %s)", k, name, strings.Join(sorted, ", "))
			}
		}
	}
	return p.err()
}

// Targets lists the targets the catalog's personas name ("" for those that name none).
func (c *Catalog) Targets() []string {
	var out []string
	for _, pe := range c.Personas {
		if !contains(out, pe.Target) {
			out = append(out, pe.Target)
		}
	}
	return out
}

func (c *Catalog) applyDefaults() {
	for i := range c.Personas {
		if c.Personas[i].TickCadence == "" {
			c.Personas[i].TickCadence = DefaultCadence
		}
		if c.Personas[i].Timezone == "" {
			c.Personas[i].Timezone = DefaultTimezone
		}
	}
}

// Plan turns the catalog into a seed plan, deriving each persona's password from secret and its
// email (SPEC §2) so the runner can log in as it later without storing the password anywhere.
func (c *Catalog) Plan(secret string) (persona.SeedPlan, error) {
	if secret == "" {
		return persona.SeedPlan{}, errors.New("plan seed: the seed secret is empty")
	}
	plan := persona.SeedPlan{
		Personas: make([]persona.PersonaInput, 0, len(c.Personas)),
		Spaces:   make([]persona.SpaceInput, 0, len(c.Spaces)),
	}
	for _, p := range c.Personas {
		pw, err := persona.DerivePassword(secret, p.Email)
		if err != nil {
			return persona.SeedPlan{}, fmt.Errorf("plan seed for %s: %w", p.Email, err)
		}
		mix := make(persona.ModuleMix, len(p.ModuleMix))
		for k, w := range p.ModuleMix {
			mix[k] = w
		}
		plan.Personas = append(plan.Personas, persona.PersonaInput{
			Email:        p.Email,
			Name:         p.Name,
			Password:     pw,
			Archetype:    p.Archetype,
			SystemPrompt: p.SystemPrompt,
			ModuleMix:    mix,
			TickCadence:  p.TickCadence,
			Timezone:     p.Timezone,
		})
	}
	for _, s := range c.Spaces {
		plan.Spaces = append(plan.Spaces, persona.SpaceInput{
			Slug:    s.Slug,
			Name:    s.Name,
			Type:    s.Type,
			Members: append([]string(nil), s.Members...),
		})
	}
	return plan, nil
}

// Emails returns the catalog's persona emails in catalog order.
func (c *Catalog) Emails() []string {
	out := make([]string, len(c.Personas))
	for i, p := range c.Personas {
		out[i] = p.Email
	}
	return out
}

// Problem is one thing wrong with a catalog.
type Problem struct {
	Line    int    // 1-based line in the file; 0 when unknown
	Where   string // "personas[2] (persona.anna@mana.test)" or "spaces[0] (berg-family)"; empty for the file
	Field   string // "email", "moduleMix.todo", "members[1]"; empty for the whole entry
	Message string
}

// String formats the problem without the file name.
func (p Problem) String() string {
	var b strings.Builder
	if p.Where != "" {
		b.WriteString(p.Where)
		if p.Field != "" {
			b.WriteString(" ")
		}
	}
	if p.Field != "" {
		b.WriteString(p.Field)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is an invalid catalog: every problem found, in file order. It matches persona.ErrInvalid
// with errors.Is.
type Error struct {
	Source   string
	Problems []Problem
}

// Error lists the problems one per line, each as "file:line: where field: message".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid catalog %s: %d problem", e.Source, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(e.Source)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is makes errors.Is(err, persona.ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == persona.ErrInvalid }

// problems collects what is wrong with one catalog, with the line of every path seen in the YAML
// ("personas[1].email" → 7) so validation messages can point into the file.
type problems struct {
	source string
	lines  map[string]int
	list   []Problem
}

func (p *problems) add(line int, where, field, format string, args ...any) {
	p.list = append(p.list, Problem{Line: line, Where: where, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		li, lj := p.list[i].Line, p.list[j].Line
		if li == 0 || lj == 0 {
			return false // keep problems without a line where they were found
		}
		return li < lj
	})
	return &Error{Source: p.source, Problems: p.list}
}

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
			if !contains(fields, key) && (list != "personas" || !contains(ignoredFields, key)) {
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decode fills c from the document. With strict, unknown fields fail the decode as a safety net
// for shapes the walk cannot see (aliases).
func (p *problems) decode(body ast.Node, c *Catalog, strict bool) bool {
	opts := []yaml.DecodeOption{}
	if strict {
		opts = append(opts, yaml.DisallowUnknownField())
	}
	if isSequence(unwrap(body)) {
		if err := yaml.NodeToValue(body, &c.Personas, opts...); err != nil {
			p.addYAMLError(err)
			return false
		}
		return true
	}
	if err := yaml.NodeToValue(body, c, opts...); err != nil {
		p.addYAMLError(err)
		return false
	}
	return true
}

// validate checks every rule of SPEC §9 and records each failure.
func (p *problems) validate(c *Catalog, known []string) {
	if len(c.Personas) == 0 {
		p.add(p.line("personas"), "", "personas", "needs at least one persona")
	}
	emails := map[string]int{}           // lower-cased email → index of first use
	exact := map[string]bool{}           // emails as written, for space members
	personalSlugs := map[string]string{} // personal space slug → email
	for i, pe := range c.Personas {
		path := fmt.Sprintf("personas[%d]", i)
		where := entryWhere("personas", i, strings.TrimSpace(pe.Email))
		at := func(field string) int { return p.line(path+"."+field, path) }
		if strings.TrimSpace(pe.Name) == "" {
			p.add(at("name"), where, "name", "is required")
		}
		// Text the stores cannot keep alike (NUL, invalid UTF-8) is refused here, with its line.
		for _, f := range []struct{ field, value string }{
			{"name", pe.Name}, {"archetype", pe.Archetype}, {"systemPrompt", pe.SystemPrompt},
		} {
			if msg := persona.TextProblem(f.value); msg != "" {
				p.add(at(f.field), where, f.field, "%s", msg)
			}
		}
		switch {
		case pe.Email == "":
			p.add(at("email"), where, "email", "is required")
		case persona.ValidateEmail(pe.Email) != nil:
			p.add(at("email"), where, "email", "must be a plain email address (got %q)", pe.Email)
		default:
			key := strings.ToLower(pe.Email)
			if first, dup := emails[key]; dup {
				p.add(at("email"), where, "email", "duplicates personas[%d]", first)
			} else {
				emails[key] = i
				exact[pe.Email] = true
				personalSlugs[persona.SlugBase(pe.Email)] = pe.Email
			}
		}
		if strings.TrimSpace(pe.Archetype) == "" {
			p.add(at("archetype"), where, "archetype", "is required")
		}
		if n := len([]rune(strings.TrimSpace(pe.SystemPrompt))); n < persona.MinPromptLength {
			p.add(at("systemPrompt"), where, "systemPrompt", "must be at least %d characters (got %d)", persona.MinPromptLength, n)
		}
		if pe.TickCadence != "" && !pe.TickCadence.Valid() {
			p.add(at("tickCadence"), where, "tickCadence", "must be one of hourly, daily, weekdays (got %q)", pe.TickCadence)
		}
		if pe.Timezone != "" && !persona.ValidTimezone(pe.Timezone) {
			p.add(at("timezone"), where, "timezone", "must be an IANA time zone such as Europe/Berlin (got %q)", pe.Timezone)
		}
		if known != nil && pe.Target != "" {
			// The demo's modules say nothing about another app's; CheckModules checks those
			// against the target itself when it can be reached.
			p.validateMix(path, where, pe.ModuleMix, nil)
		} else {
			p.validateMix(path, where, pe.ModuleMix, known)
		}
		if pe.Target != "" && !targetName.MatchString(pe.Target) {
			p.add(at("target"), where, "target", "must be a target's name: lowercase letters, digits, - and _ (got %q)", pe.Target)
		}
		names := make([]string, 0, len(pe.Secrets))
		for k := range pe.Secrets {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			ref := pe.Secrets[k]
			field := "secrets." + k
			switch {
			case !secretName.MatchString(k):
				p.add(at(field), where, field, "secret names are letters, digits and _ (got %q)", k)
			case (ref.Env == "") == (ref.File == ""):
				p.add(p.line(path+"."+field, path+".secrets", path), where, field, "must say where the secret is read: {env: VARIABLE} or {file: PATH}, one of them")
			}
		}
	}

	slugs := map[string]int{}
	for i, s := range c.Spaces {
		path := fmt.Sprintf("spaces[%d]", i)
		where := entryWhere("spaces", i, strings.TrimSpace(s.Slug))
		at := func(field string) int { return p.line(path+"."+field, path) }
		switch {
		case s.Slug == "":
			p.add(at("slug"), where, "slug", "is required")
		case len(s.Slug) > maxSlugLength || !slugPattern.MatchString(s.Slug):
			p.add(at("slug"), where, "slug", "must be lowercase letters, digits and single dashes, at most %d characters (got %q)", maxSlugLength, s.Slug)
		default:
			if first, dup := slugs[s.Slug]; dup {
				p.add(at("slug"), where, "slug", "duplicates spaces[%d]", first)
			} else {
				slugs[s.Slug] = i
			}
			if owner, taken := personalSlugs[s.Slug]; taken {
				p.add(at("slug"), where, "slug", "is the personal space slug of %s; choose another", owner)
			}
		}
		if strings.TrimSpace(s.Name) == "" {
			p.add(at("name"), where, "name", "is required")
		} else if msg := persona.TextProblem(s.Name); msg != "" {
			p.add(at("name"), where, "name", "%s", msg)
		}
		if !isSharedType(s.Type) {
			p.add(at("type"), where, "type", "must be one of %s (got %q)", sharedTypeList(), s.Type)
		}
		if len(s.Members) == 0 {
			p.add(at("members"), where, "members", "needs at least one persona email")
		}
		seen := map[string]bool{}
		for j, m := range s.Members {
			field := fmt.Sprintf("members[%d]", j)
			line := p.line(path+"."+field, path+".members", path)
			// Members are matched exactly as written, as the store matches them.
			if !exact[m] {
				p.add(line, where, field, "%q is not a persona of this catalog", m)
				continue
			}
			if seen[m] {
				p.add(line, where, field, "%q is listed twice", m)
			}
			seen[m] = true
		}
	}
}

func (p *problems) validateMix(path, where string, mix persona.ModuleMix, known []string) {
	at := func(field string) int { return p.line(path+"."+field, path+".moduleMix", path) }
	if len(mix) == 0 {
		p.add(at("moduleMix"), where, "moduleMix", "needs at least one module with a weight above 0")
		return
	}
	modules := make([]string, 0, len(mix))
	for k := range mix {
		modules = append(modules, k)
	}
	sort.Strings(modules)
	positive := false
	for _, k := range modules {
		w := mix[k]
		field := "moduleMix." + k
		switch {
		case strings.TrimSpace(k) == "":
			p.add(at("moduleMix"), where, "moduleMix", "has an empty module name")
		case persona.TextProblem(k) != "":
			p.add(at("moduleMix"), where, "moduleMix", "module names %s", persona.TextProblem(k))
		case known != nil && !contains(known, k):
			p.add(at(field), where, field, "unknown module %q (known: %s)", k, strings.Join(known, ", "))
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			p.add(at(field), where, field, "weight must be a number ≥ 0 (got %v)", w)
		}
		if w > 0 {
			positive = true
		}
	}
	if !positive {
		p.add(at("moduleMix"), where, "moduleMix", "needs at least one module with a weight above 0")
	}
}

func isSharedType(t persona.SpaceType) bool {
	for _, s := range persona.SharedSpaceTypes {
		if t == s {
			return true
		}
	}
	return false
}

func sharedTypeList() string {
	names := make([]string, len(persona.SharedSpaceTypes))
	for i, t := range persona.SharedSpaceTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
