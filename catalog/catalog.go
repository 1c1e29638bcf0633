// Package catalog reads persona catalog files (SPEC §9): the personas to seed and the shared spaces
// they belong to, in YAML (so JSON works too), validated on load with errors that name the file,
// the line, the persona and the field. A default catalog is embedded in the binary.
package catalog

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

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
			if !slices.Contains(sorted, k) {
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
		if !slices.Contains(out, pe.Target) {
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
		plan.Personas = append(plan.Personas, p.input(pw))
	}
	for _, s := range c.Spaces {
		plan.Spaces = append(plan.Spaces, s.input())
	}
	return plan, nil
}

// input is the persona as the domain takes it, with password.
func (p Persona) input(password string) persona.PersonaInput {
	mix := make(persona.ModuleMix, len(p.ModuleMix))
	for k, w := range p.ModuleMix {
		mix[k] = w
	}
	return persona.PersonaInput{
		Email:        p.Email,
		Name:         p.Name,
		Password:     password,
		Archetype:    p.Archetype,
		SystemPrompt: p.SystemPrompt,
		ModuleMix:    mix,
		TickCadence:  p.TickCadence,
		Timezone:     p.Timezone,
		Target:       p.Target,
		Secrets:      maps.Clone(p.Secrets),
	}
}

// input is the space as the domain takes it.
func (s Space) input() persona.SpaceInput {
	return persona.SpaceInput{Slug: s.Slug, Name: s.Name, Type: s.Type, Members: append([]string(nil), s.Members...)}
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
	// badPaths are the values of the wrong type ("personas[0].moduleMix.habits"): their problem
	// is said once, by decode, and rules about what they would have held are not applied.
	badPaths map[string]bool
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
