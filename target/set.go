package target

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/persona-runner/persona-runner/persona"
)

// Set is the targets a runner knows, one of them the default (personas that name no target).
type Set struct {
	byName map[string]*Target
	def    string
}

// NewSet builds a set; the default is the target whose Config.Default is set, else the only one.
// Two defaults, none among several, or a name used twice are errors.
func NewSet(targets ...*Target) (*Set, error) {
	s := &Set{byName: map[string]*Target{}}
	var defaults []string
	for _, t := range targets {
		if _, dup := s.byName[t.Config.Name]; dup {
			return nil, fmt.Errorf("target %q is declared twice", t.Config.Name)
		}
		s.byName[t.Config.Name] = t
		if t.Config.Default {
			defaults = append(defaults, t.Config.Name)
		}
	}
	switch {
	case len(targets) == 0:
		return nil, fmt.Errorf("no target configured")
	case len(defaults) > 1:
		return nil, fmt.Errorf("targets %s are all marked default: mark one", strings.Join(defaults, ", "))
	case len(defaults) == 1:
		s.def = defaults[0]
	case len(targets) == 1:
		s.def = targets[0].Config.Name
	default:
		return nil, fmt.Errorf("%d targets and none is marked default: true", len(targets))
	}
	return s, nil
}

// Default returns the default target.
func (s *Set) Default() *Target { return s.byName[s.def] }

// Get returns the target called name ("" is the default).
func (s *Set) Get(name string) (*Target, bool) {
	if name == "" {
		name = s.def
	}
	t, ok := s.byName[name]
	return t, ok
}

// Names lists the targets' names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TargetOf is the name of the target p tests.
func (s *Set) TargetOf(p persona.DuePersona) string {
	if p.Target == "" {
		return s.def
	}
	return p.Target
}

// Open opens p's session on its target (Target.Open). A persona naming a target the set does
// not know fails at stage target.
func (s *Set) Open(ctx context.Context, p persona.DuePersona, opts OpenOptions) (*Session, error) {
	t, ok := s.Get(p.Target)
	if !ok {
		return nil, &Error{Target: p.Target, Stage: StageTarget,
			Err: fmt.Errorf("persona %s tests target %q, which is not configured (targets: %s)", p.Email, p.Target, strings.Join(s.Names(), ", "))}
	}
	return t.Open(ctx, p, opts)
}
