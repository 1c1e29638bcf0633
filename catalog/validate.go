package catalog

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// maxSlugLength matches the limit of personal space slugs (SPEC §3).
const maxSlugLength = 30

var (
	slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	targetName  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	secretName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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
