package target

import (
	"strings"
	"testing"
)

func TestModuleOf(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"todo.create": "todo", "pantry_add": "pantry", "recipes__find": "recipes", "mood-log": "mood",
		"echo": "echo", "_private": "_private", "calendar.createEvent": "calendar", "a.b_c": "a",
	} {
		if got := ModuleOf(name); got != want {
			t.Errorf("ModuleOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestModulesGlobsOverrideTheDefault(t *testing.T) {
	t.Parallel()
	m := Modules{"recipes.*": "recipes", "pantry_*": "pantry", "get*": "lookup", "getTinyImage": "images"}
	for name, want := range map[string]string{
		"recipes.find": "recipes", "pantry_add": "pantry", "getEnv": "lookup", "getTinyImage": "images",
		"echo": "echo", "todo.create": "todo",
	} {
		if got := m.Of(name); got != want {
			t.Errorf("Of(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	destructive := Annotations{DestructiveHint: &yes}
	safe := Annotations{DestructiveHint: &no}
	cases := []struct {
		name   string
		policy PolicyConfig
		tool   string
		ann    Annotations
		hidden bool
	}{
		{"no policy offers plain tools", PolicyConfig{}, "todo.create", Annotations{}, false},
		{"destructive hidden by default", PolicyConfig{}, "todo.delete", destructive, true},
		{"destructive hidden by a glob allow", PolicyConfig{Allow: []string{"*"}}, "todo.delete", destructive, true},
		{"destructive offered when allowed by name", PolicyConfig{Allow: []string{"todo.delete"}}, "todo.delete", destructive, false},
		{"destructiveHint false is offered", PolicyConfig{}, "todo.delete", safe, false},
		{"deny glob", PolicyConfig{Deny: []string{"admin.*"}}, "admin.wipe", Annotations{}, true},
		{"deny wins over allow by name", PolicyConfig{Allow: []string{"admin.wipe"}, Deny: []string{"admin.*"}}, "admin.wipe", destructive, true},
		{"allow list hides the rest", PolicyConfig{Allow: []string{"todo.*"}}, "notes.add", Annotations{}, true},
		{"allow list offers a match", PolicyConfig{Allow: []string{"todo.*"}}, "todo.list", Annotations{}, false},
		{"question mark", PolicyConfig{Deny: []string{"to?o.*"}}, "todo.list", Annotations{}, true},
	}
	for _, c := range cases {
		if got := c.policy.Hide(c.tool, c.ann) != ""; got != c.hidden {
			t.Errorf("%s: hidden = %v, want %v (%q)", c.name, got, c.hidden, c.policy.Hide(c.tool, c.ann))
		}
	}
}

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p, n string
		ok   bool
	}{
		{"*", "", true}, {"*", "a/b.c", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"*.delete", "todo.delete", true}, {"*.delete", "todo.deleted", false}, {"a**b", "ab", true},
		{"?", "", false}, {"é*", "été", true},
	} {
		if got := matchGlob(c.p, c.n); got != c.ok {
			t.Errorf("matchGlob(%q, %q) = %v", c.p, c.n, got)
		}
	}
}

// TestStdioConfigProblems: a stdio target takes no HTTP credentials, and env/cwd belong to
// stdio targets only; each problem names its key.
func TestStdioConfigProblems(t *testing.T) {
	ok := Config{Name: "srv", Command: []string{"node", "s.js"}, Env: map[string]string{"TOKEN": "${persona.secrets.token}"}}
	if p := ok.Problems("targets[0]"); len(p) != 0 || ok.TransportName() != TransportStdio {
		t.Fatalf("valid stdio target: %v (%s)", p, ok.TransportName())
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Name: "srv", Command: []string{"node"}, Auth: AuthConfig{Strategy: AuthHeaders, Headers: map[string]string{"X": "y"}}},
			"targets[0].auth.strategy headers sends credentials with HTTP requests"},
		{Config{Name: "srv", URL: "http://127.0.0.1:1/mcp", Env: map[string]string{"A": "b"}}, "targets[0].env and cwd are for transport stdio"},
		{Config{Name: "srv", Command: []string{"node"}, Env: map[string]string{"A=B": "c"}}, `targets[0].env has an invalid variable name "A=B"`},
		{Config{Name: "srv", Transport: TransportStdio}, "targets[0].command is required for transport stdio"},
	} {
		p := tc.c.Problems("targets[0]")
		if len(p) != 1 || !strings.HasPrefix(p[0], tc.want) {
			t.Errorf("%+v: problems %q, want one starting %q", tc.c, p, tc.want)
		}
	}
}
