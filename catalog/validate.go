package catalog

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// validPassword stands in for the password while the domain checks a persona: seeding derives
// it from the seed secret (Plan), so it is never the catalog's to get wrong.
const validPassword = "derived-at-seed-time"

// validate checks a decoded catalog: each persona and space by the domain's own rules
// (persona.PersonaInput.Validate, persona.SpaceInput.Validate), each field error pointed at its
// line, then the rules only a catalog has: a name for every persona, unique emails and slugs,
// members that are personas of the catalog, the modules the app offers, target and secret names.
func (p *problems) validate(c *Catalog, known []string) {
	if len(c.Personas) == 0 {
		p.add(p.line("personas"), "", "personas", "needs at least one persona")
	}
	emails := map[string]int{}           // lower-cased email → index of first use
	exact := map[string]bool{}           // emails as written, for space members
	personalSlugs := map[string]string{} // personal space slug → email
	for i, pe := range c.Personas {
		e := p.entry("personas", i, pe.Email)
		e.domain(pe.input(validPassword).Validate())
		if strings.TrimSpace(pe.Name) == "" {
			e.add("name", "is required")
		}
		if persona.ValidateEmail(pe.Email) == nil {
			key := strings.ToLower(pe.Email)
			if first, dup := emails[key]; dup {
				e.add("email", "duplicates personas[%d]", first)
			} else {
				emails[key] = i
				exact[pe.Email] = true
				personalSlugs[persona.SlugBase(pe.Email)] = pe.Email
			}
		}
		// The demo's modules say nothing about another app's; CheckModules checks those
		// against the target itself when it can be reached.
		if known != nil && pe.Target == "" {
			for _, k := range slices.Sorted(maps.Keys(pe.ModuleMix)) {
				if strings.TrimSpace(k) != "" && !slices.Contains(known, k) {
					e.add("moduleMix."+k, "unknown module %q (known: %s)", k, strings.Join(known, ", "))
				}
			}
		}
		e.flush()
	}

	slugs := map[string]int{}
	for i, s := range c.Spaces {
		e := p.entry("spaces", i, s.Slug)
		e.domain(s.input().Validate())
		if persona.ValidSlug(s.Slug) {
			if first, dup := slugs[s.Slug]; dup {
				e.add("slug", "duplicates spaces[%d]", first)
			} else {
				slugs[s.Slug] = i
			}
			if owner, taken := personalSlugs[s.Slug]; taken {
				e.add("slug", "is the personal space slug of %s; choose another", owner)
			}
		}
		// Members are matched exactly as written, as the store matches them.
		for j, m := range s.Members {
			if m != "" && persona.TextProblem(m) == "" && !exact[m] {
				e.add(fmt.Sprintf("members[%d]", j), "%q is not a persona of this catalog", m)
			}
		}
		e.flush()
	}
}

// entryProblems gathers the problems of one persona or space, to be added in line order (and
// by field within a line, as in a flow mapping), whichever rule found them.
type entryProblems struct {
	p     *problems
	path  string // "personas[2]"
	where string // "personas[2] (persona.anna@mana.test)"
	list  []Problem
}

func (p *problems) entry(list string, i int, id string) *entryProblems {
	return &entryProblems{p: p, path: fmt.Sprintf("%s[%d]", list, i), where: entryWhere(list, i, strings.TrimSpace(id))}
}

// add records a problem with field, at the line of the field, else of its parent, else of the
// entry.
func (e *entryProblems) add(field, format string, args ...any) {
	paths := []string{e.path + "." + field}
	for f := field; ; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		paths = append(paths, e.path+"."+f)
	}
	paths = append(paths, e.path)
	if e.p.badPaths[e.path] || e.p.spoiled(paths[:len(paths)-1]...) {
		return // the entry or the field had the wrong type, which decode said
	}
	e.list = append(e.list, Problem{Line: e.p.line(paths...), Where: e.where, Field: field, Message: fmt.Sprintf(format, args...)})
}

// spoiled reports whether any of paths, or a value inside one, had the wrong type: decode said
// so, and a rule about what the value would have held ("needs at least one module") would only
// repeat it in misleading words.
func (p *problems) spoiled(paths ...string) bool {
	for bad := range p.badPaths {
		for _, path := range paths {
			if bad == path || strings.HasPrefix(bad, path+".") || strings.HasPrefix(bad, path+"[") {
				return true
			}
		}
	}
	return false
}

// domain records the field errors of the domain's validation.
func (e *entryProblems) domain(err error) {
	var fes persona.FieldErrors
	if !errors.As(err, &fes) {
		if err != nil {
			e.add("", "%v", err)
		}
		return
	}
	for _, fe := range fes {
		e.add(fe.Field, "%s", fe.Message)
	}
}

func (e *entryProblems) flush() {
	sort.SliceStable(e.list, func(i, j int) bool {
		a, b := e.list[i], e.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Field < b.Field
	})
	e.p.list = append(e.p.list, e.list...)
	e.list = nil
}
