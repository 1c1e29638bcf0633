package target

import (
	"fmt"
	"sort"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// Glob matching on tool names: '*' matches any run of characters (dots and slashes included),
// '?' one character; everything else matches itself. Tool names are not paths, so path.Match's
// rule that '*' stops at '/' would only surprise.
func matchGlob(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	// Iterative matching with one backtrack point for the last '*'.
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi, mark = star+1, mark+1
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func checkGlob(g string) error {
	if strings.TrimSpace(g) == "" {
		return fmt.Errorf("an empty glob matches nothing")
	}
	return nil
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }

// Hide returns why the policy hides a tool, or "" when personas are offered it (SPEC §10):
// tools.deny wins; a tool with destructiveHint true is hidden unless tools.allow names it
// exactly (a glob such as "*" does not unhide what can destroy data); with tools.allow set, a
// tool it does not match is hidden.
func (p PolicyConfig) Hide(name string, a Annotations) string {
	for _, g := range p.Deny {
		if matchGlob(g, name) {
			return fmt.Sprintf("denied by tools.deny %q", g)
		}
	}
	if a.DestructiveHint != nil && *a.DestructiveHint {
		for _, g := range p.Allow {
			if !isGlob(g) && g == name {
				return ""
			}
		}
		return "destructive (destructiveHint); name it in tools.allow to offer it"
	}
	if len(p.Allow) == 0 {
		return ""
	}
	for _, g := range p.Allow {
		if matchGlob(g, name) {
			return ""
		}
	}
	return "not matched by tools.allow"
}

// Modules maps tool names to modules: the target's globs first (the most specific — longest —
// glob wins, ties by glob text), then the default rule.
type Modules map[string]string

// Of returns the module of a tool name.
func (m Modules) Of(name string) string {
	if mod, ok := m[name]; ok {
		return mod
	}
	globs := make([]string, 0, len(m))
	for g := range m {
		globs = append(globs, g)
	}
	sort.Slice(globs, func(i, j int) bool {
		if len(globs[i]) != len(globs[j]) {
			return len(globs[i]) > len(globs[j])
		}
		return globs[i] < globs[j]
	})
	for _, g := range globs {
		if matchGlob(g, name) {
			return m[g]
		}
	}
	return ModuleOf(name)
}

// ModuleOf is the default module rule (SPEC §10): the text before the first '.', '_' or '-' of
// the tool name ("todo.create", "pantry_add", "recipes__find", "mood-log"); a name with none of
// them, or starting with one, is its own module.
func ModuleOf(name string) string { return persona.DefaultModule(name) }
