package catalog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/persona"
)

// valid is a small valid catalog; the table tests change one thing in it at a time.
const valid = `spaces:
  - slug: test-family
    name: The Tests
    type: family
    members: [persona.anna@mana.test, persona.ben@mana.test]
personas:
  - name: Anna
    email: persona.anna@mana.test
    archetype: adhd-student
    tickCadence: hourly
    timezone: Europe/Berlin
    moduleMix: {todo: 0.5, notes: 0.5}
    systemPrompt: You are Anna, a student who loses track of things.
  - name: Ben
    email: persona.ben@mana.test
    archetype: overwhelmed-newbie
    moduleMix: {todo: 1}
    systemPrompt: You are Ben, new to apps and easily confused.
`

func mustParse(t *testing.T, src string) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("test.yaml", []byte(src), catalog.DemoModules)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	c := mustParse(t, valid)
	want := &catalog.Catalog{
		Source: "test.yaml",
		Spaces: []catalog.Space{{Slug: "test-family", Name: "The Tests", Type: persona.SpaceFamily,
			Members: []string{"persona.anna@mana.test", "persona.ben@mana.test"}}},
		Personas: []catalog.Persona{
			{Name: "Anna", Email: "persona.anna@mana.test", Archetype: "adhd-student", TickCadence: persona.Hourly,
				Timezone: "Europe/Berlin", ModuleMix: persona.ModuleMix{"todo": 0.5, "notes": 0.5},
				SystemPrompt: "You are Anna, a student who loses track of things."},
			// Ben leaves out cadence and time zone: the defaults apply.
			{Name: "Ben", Email: "persona.ben@mana.test", Archetype: "overwhelmed-newbie", TickCadence: persona.Daily,
				Timezone: "UTC", ModuleMix: persona.ModuleMix{"todo": 1},
				SystemPrompt: "You are Ben, new to apps and easily confused."},
		},
	}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(catalog.Catalog{})); diff != "" {
		t.Errorf("catalog (-want +got):\n%s", diff)
	}
}

// TestParseManaJSON loads entries in the shape of Mana's catalog.json, both as a bare list and
// under "personas", with tabs for indentation as JSON tools write it.
func TestParseManaJSON(t *testing.T) {
	t.Parallel()
	entry := "{\n\t\t\"email\": \"persona.maya@mana.test\",\n\t\t\"name\": \"Maya\",\n\t\t\"archetype\": \"working-parent\",\n" +
		"\t\t\"systemPrompt\": \"You are Maya, a parent with a packed week.\",\n\t\t\"moduleMix\": {\"calendar\": 0.6, \"todo\": 0.4},\n" +
		"\t\t\"tickCadence\": \"weekdays\"\n\t}"
	for name, src := range map[string]string{
		"list":   "[\n\t" + entry + "\n]\n",
		"object": "{\n\"personas\": [\n\t" + entry + "\n]\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := mustParse(t, src)
			want := []catalog.Persona{{Name: "Maya", Email: "persona.maya@mana.test", Archetype: "working-parent",
				TickCadence: persona.Weekdays, Timezone: "UTC", ModuleMix: persona.ModuleMix{"calendar": 0.6, "todo": 0.4},
				SystemPrompt: "You are Maya, a parent with a packed week."}}
			if diff := cmp.Diff(want, c.Personas); diff != "" {
				t.Errorf("personas (-want +got):\n%s", diff)
			}
		})
	}
}

// problem is what a test expects of one reported problem: its line and text that must appear.
type problem struct {
	line int
	text string
}

func TestValidationRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		old     string // replaced in valid (first occurrence)
		new     string
		known   []string // nil means DemoModules
		anyMods bool     // pass nil known
		want    []problem
	}{
		{name: "any email domain", old: "email: persona.anna@mana.test", new: "email: anna@example.com",
			want: []problem{{5, `spaces[0] (test-family) members[0]: "persona.anna@mana.test" is not a persona`}}},
		{name: "secret without a source", old: "email: persona.anna@mana.test", new: "email: persona.anna@mana.test\n    secrets: {token: {}}",
			want: []problem{{9, "personas[0] (persona.anna@mana.test) secrets.token: must say where the secret is read"}}},
		{name: "secret with both sources", old: "email: persona.anna@mana.test", new: "email: persona.anna@mana.test\n    secrets: {token: {env: A, file: /b}}",
			want: []problem{{9, "secrets.token: must say where"}}},
		{name: "bad target name", old: "email: persona.anna@mana.test", new: "email: persona.anna@mana.test\n    target: Kitchen App",
			want: []problem{{9, "personas[0] (persona.anna@mana.test) target: must be a target's name"}}},
		{name: "another target's modules are not the demo's", old: "email: persona.anna@mana.test", new: "email: persona.anna@mana.test\n    target: kitchen\n    secrets: {token: {env: ANNA_TOKEN}}"},
		{name: "email not an address", old: "email: persona.ben@mana.test", new: "email: 'Ben <persona.ben@mana.test>'",
			want: []problem{{5, "members[1]"}, {15, "email: must be a plain email address"}}},
		{name: "email missing", old: "    email: persona.ben@mana.test\n", new: "",
			want: []problem{{5, "members[1]"}, {14, "personas[1] email: is required"}}},
		{name: "duplicate email", old: "email: persona.ben@mana.test", new: "email: persona.anna@mana.test",
			want: []problem{{5, "members[1]"}, {15, "personas[1] (persona.anna@mana.test) email: duplicates personas[0]"}}},
		{name: "duplicate email differing in case", old: "email: persona.ben@mana.test", new: "email: Persona.Anna@mana.test",
			want: []problem{{5, "members[1]"}, {15, "email: duplicates personas[0]"}}},
		{name: "negative weight", old: "{todo: 0.5, notes: 0.5}", new: "{todo: -0.5, notes: 0.5}",
			want: []problem{{12, "personas[0] (persona.anna@mana.test) moduleMix.todo: weight must be a number ≥ 0 (got -0.5)"}}},
		{name: "no positive weight", old: "{todo: 1}", new: "{todo: 0}",
			want: []problem{{17, "personas[1] (persona.ben@mana.test) moduleMix: needs at least one module with a weight above 0"}}},
		{name: "empty mix", old: "{todo: 1}", new: "{}",
			want: []problem{{17, "moduleMix: needs at least one module"}}},
		{name: "infinite weight", old: "{todo: 1}", new: "{todo: .inf}",
			want: []problem{{17, "moduleMix.todo: weight must be a number ≥ 0"}}},
		{name: "unknown module", old: "{todo: 1}", new: "{todo: 1, finance: 0.2}",
			want: []problem{{17, `personas[1] (persona.ben@mana.test) moduleMix.finance: unknown module "finance"`}}},
		{name: "custom known modules", known: []string{"notes"},
			want: []problem{{12, `moduleMix.todo: unknown module "todo" (known: notes)`}, {17, `moduleMix.todo: unknown module "todo"`}}},
		{name: "any module when known is nil", old: "{todo: 1}", new: "{finance: 1}", anyMods: true},
		{name: "cadence", old: "tickCadence: hourly", new: "tickCadence: monthly",
			want: []problem{{10, `tickCadence: must be one of hourly, daily, weekdays (got "monthly")`}}},
		{name: "timezone", old: "timezone: Europe/Berlin", new: "timezone: Europe/Atlantis",
			want: []problem{{11, `timezone: must be an IANA time zone such as Europe/Berlin (got "Europe/Atlantis")`}}},
		{name: "timezone Local", old: "timezone: Europe/Berlin", new: "timezone: Local",
			want: []problem{{11, `timezone: must be an IANA time zone such as Europe/Berlin (got "Local")`}}},
		{name: "NUL in name", old: "name: Anna", new: `name: "An\0na"`,
			want: []problem{{7, "personas[0] (persona.anna@mana.test) name: must not contain NUL characters"}}},
		{name: "NUL in prompt", old: "systemPrompt: You are Ben, new to apps and easily confused.", new: `systemPrompt: "You are Ben, new to apps and easily confused.\0"`,
			want: []problem{{18, "personas[1] (persona.ben@mana.test) systemPrompt: must not contain NUL characters"}}},
		{name: "NUL in space name", old: "name: The Tests", new: `name: "The\0Tests"`,
			want: []problem{{3, "spaces[0] (test-family) name: must not contain NUL characters"}}},
		{name: "short prompt", old: "You are Ben, new to apps and easily confused.", new: "You are Ben.",
			want: []problem{{18, "personas[1] (persona.ben@mana.test) systemPrompt: must be at least 20 characters (got 12)"}}},
		{name: "name required", old: "name: Anna", new: "name: '  '",
			want: []problem{{7, "personas[0] (persona.anna@mana.test) name: is required"}}},
		{name: "archetype required", old: "    archetype: overwhelmed-newbie\n", new: "",
			want: []problem{{14, "personas[1] (persona.ben@mana.test) archetype: is required"}}},
		{name: "unknown persona field", old: "tickCadence: hourly", new: "tickCadance: hourly",
			want: []problem{{10, "personas[0] (persona.anna@mana.test) tickCadance: unknown field (allowed: name, email"}}},
		{name: "unknown top-level field", old: "personas:", new: "persona_list: []\npersonas:",
			want: []problem{{6, "persona_list: unknown field (allowed: spaces, personas)"}}},
		{name: "unknown space field", old: "    type: family\n", new: "    type: family\n    owner: anna\n",
			want: []problem{{5, "spaces[0] (test-family) owner: unknown field"}}},
		{name: "slug pattern", old: "slug: test-family", new: "slug: Test_Family",
			want: []problem{{2, `spaces[0] (Test_Family) slug: must be 1–30 characters of a-z, 0-9 and single inner dashes (got "Test_Family")`}}},
		{name: "slug too long", old: "slug: test-family", new: "slug: " + strings.Repeat("a", 31),
			want: []problem{{2, "must be 1–30 characters of a-z, 0-9 and single inner dashes"}}},
		{name: "slug taken by a personal space", old: "slug: test-family", new: "slug: persona-anna",
			want: []problem{{2, "slug: is the personal space slug of persona.anna@mana.test"}}},
		{name: "duplicate slug", old: "personas:", new: "  - slug: test-family\n    name: Again\n    type: team\n    members: [persona.ben@mana.test]\npersonas:",
			want: []problem{{6, "spaces[1] (test-family) slug: duplicates spaces[0]"}}},
		{name: "space name", old: "name: The Tests", new: "name: ''",
			want: []problem{{3, "spaces[0] (test-family) name: is required"}}},
		{name: "space type", old: "type: family", new: "type: personal",
			want: []problem{{4, `type: must be one of brand, club, family, team, practice (got "personal")`}}},
		{name: "space members must be personas", old: "persona.ben@mana.test]", new: "persona.carl@mana.test]",
			want: []problem{{5, `spaces[0] (test-family) members[1]: "persona.carl@mana.test" is not a persona of this catalog`}}},
		{name: "space member twice", old: "persona.ben@mana.test]", new: "persona.anna@mana.test]",
			want: []problem{{5, `members[1]: lists persona.anna@mana.test twice`}}},
		{name: "space without members", old: "members: [persona.anna@mana.test, persona.ben@mana.test]", new: "members: []",
			want: []problem{{5, "members: needs at least one member"}}},
		{name: "no personas", old: valid, new: "personas: []\n",
			want: []problem{{1, "personas: needs at least one persona"}}},
		{name: "syntax error", old: "moduleMix: {todo: 1}", new: "moduleMix: {todo: 1",
			want: []problem{{18, "must be specified"}}},
		{name: "wrong type names the field", old: "{todo: 1}", new: "{todo: lots}",
			want: []problem{{17, `personas[1] (persona.ben@mana.test) moduleMix.todo: weight must be a number ≥ 0 (got "lots")`}}},
		{name: "duplicate key", old: "    archetype: overwhelmed-newbie\n", new: "    archetype: overwhelmed-newbie\n    archetype: again\n",
			want: []problem{{17, `"archetype" already defined`}}},
		{name: "empty file", old: valid, new: "# nothing here\n",
			want: []problem{{0, "is empty"}}},
		{name: "two documents", old: valid, new: valid + "---\n" + valid,
			want: []problem{{20, "holds 2 YAML documents"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := valid
			if tt.old != "" {
				if !strings.Contains(src, tt.old) {
					t.Fatalf("test catalog has no %q", tt.old)
				}
				src = strings.Replace(src, tt.old, tt.new, 1)
			}
			known := catalog.DemoModules
			if tt.known != nil {
				known = tt.known
			}
			if tt.anyMods {
				known = nil
			}
			c, err := catalog.Parse("cat.yaml", []byte(src), known)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				return
			}
			if err == nil || c != nil {
				t.Fatalf("want an error, got catalog %v and error %v", c, err)
			}
			var ce *catalog.Error
			if !errors.As(err, &ce) || !errors.Is(err, persona.ErrInvalid) {
				t.Fatalf("want *catalog.Error matching ErrInvalid, got %T %v", err, err)
			}
			if len(ce.Problems) != len(tt.want) {
				t.Fatalf("want %d problems, got %d:\n%v", len(tt.want), len(ce.Problems), err)
			}
			for i, w := range tt.want {
				got := ce.Problems[i]
				if got.Line != w.line || !strings.Contains(got.String(), w.text) {
					t.Errorf("problem %d = line %d %q, want line %d containing %q", i, got.Line, got.String(), w.line, w.text)
				}
			}
			// The message names the file and the line of each problem.
			for _, w := range tt.want {
				loc := "cat.yaml"
				if w.line > 0 {
					loc = "cat.yaml:" + strconv.Itoa(w.line) + ":"
				}
				if !strings.Contains(err.Error(), loc) {
					t.Errorf("message does not name %s:\n%v", loc, err)
				}
			}
		})
	}
}

// TestTypeErrorsListedWithTheOthers checks that a value of the wrong type is a problem like any
// other: its line, its entry and field, in words (no Go type names), and listed with every other
// problem of the file rather than ending the check.
func TestTypeErrorsListedWithTheOthers(t *testing.T) {
	t.Parallel()
	src := `spaces:
  - slug: team
    name: [The, Team]
    type: team
    members: persona.a@mana.test
  - slug: pair
    name: Pair
    type: family
    members: [persona.a@mana.test, {who: b}]
personas:
  - name: A
    email: persona.a@mana.test
    archetype: x
    moduleMix: {habits: "lots", todo: 1}
    systemPrompt: You are A, who keeps habits and lists.
  - name: B
    email: not-an-address
    archetype: {kind: y}
    moduleMix: [todo]
    tickCadence: monthly
    systemPrompt: short
    secrets: [token]
  - just text
`
	_, err := catalog.Parse("types.yaml", []byte(src), catalog.DemoModules)
	var ce *catalog.Error
	if !errors.As(err, &ce) || !errors.Is(err, persona.ErrInvalid) {
		t.Fatalf("want *catalog.Error, got %v", err)
	}
	var got []problem
	for _, p := range ce.Problems {
		got = append(got, problem{p.Line, p.String()})
	}
	want := []problem{
		{3, `spaces[0] (team) name: must be text (got a list)`},
		{5, `spaces[0] (team) members: must be a list of persona emails (got "persona.a@mana.test")`},
		{9, `spaces[1] (pair) members[1]: must be an email address (got a mapping)`},
		{14, `personas[0] (persona.a@mana.test) moduleMix.habits: weight must be a number ≥ 0 (got "lots")`},
		{17, `personas[1] (not-an-address) email: must be a plain email address`},
		{18, `personas[1] (not-an-address) archetype: must be text (got a mapping)`},
		{19, `personas[1] (not-an-address) moduleMix: must be a mapping of module names to weights, such as {todo: 0.5, notes: 0.5} (got a list)`},
		{20, `personas[1] (not-an-address) tickCadence: must be one of hourly, daily, weekdays (got "monthly")`},
		{21, `personas[1] (not-an-address) systemPrompt: must be at least 20 characters (got 5)`},
		{22, `personas[1] (not-an-address) secrets: must map secret names to {env: VARIABLE} or {file: PATH} (got a list)`},
		{23, `personas[2]: must be a mapping of fields such as name and email (got "just text")`},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(problem{})); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
	for _, goType := range []string{"interface", "float64", "string", "Go struct", "map["} {
		if strings.Contains(err.Error(), goType) {
			t.Errorf("the message names a Go type (%s):\n%v", goType, err)
		}
	}
}

// TestEveryProblemListed checks that one load reports all problems, not just the first.
func TestEveryProblemListed(t *testing.T) {
	t.Parallel()
	src := `personas:
  - name: A
    email: a@example.com
    archetype: x
    tickCadance: daily
    moduleMix: {todo: -1, money: 1}
    systemPrompt: short
  - name: B
    email: persona.b@mana.test
    archetype: y
    timezone: Nowhere/Town
    moduleMix: {notes: 1}
    systemPrompt: You are B, who writes long notes about everything.
    colour: blue
`
	_, err := catalog.Parse("many.yaml", []byte(src), catalog.DemoModules)
	var ce *catalog.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *catalog.Error, got %v", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.Field)
	}
	want := []string{"tickCadance", "moduleMix.money", "moduleMix.todo", "systemPrompt", "timezone", "colour"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields with problems (-want +got):\n%s\n%v", diff, err)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "personas.yaml")
	if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(path, catalog.DemoModules)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Source != path || len(c.Personas) != 2 {
		t.Errorf("Load: source %q, %d personas", c.Source, len(c.Personas))
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(valid, "{todo: 1}", "{todo: 1, finance: 1}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Load(bad, catalog.DemoModules)
	if err == nil || !strings.Contains(err.Error(), bad+":17: personas[1] (persona.ben@mana.test) moduleMix.finance") {
		t.Errorf("Load of a bad file: %v", err)
	}

	_, err = catalog.Load(filepath.Join(dir, "missing.yaml"), nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	c := mustParse(t, valid)
	plan, err := c.Plan("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	annaPW, _ := persona.DerivePassword("s3cret", "persona.anna@mana.test")
	benPW, _ := persona.DerivePassword("s3cret", "persona.ben@mana.test")
	want := persona.SeedPlan{
		Personas: []persona.PersonaInput{
			{Email: "persona.anna@mana.test", Name: "Anna", Password: annaPW, Archetype: "adhd-student",
				SystemPrompt: "You are Anna, a student who loses track of things.", ModuleMix: persona.ModuleMix{"todo": 0.5, "notes": 0.5},
				TickCadence: persona.Hourly, Timezone: "Europe/Berlin"},
			{Email: "persona.ben@mana.test", Name: "Ben", Password: benPW, Archetype: "overwhelmed-newbie",
				SystemPrompt: "You are Ben, new to apps and easily confused.", ModuleMix: persona.ModuleMix{"todo": 1},
				TickCadence: persona.Daily, Timezone: "UTC"},
		},
		Spaces: []persona.SpaceInput{{Slug: "test-family", Name: "The Tests", Type: persona.SpaceFamily,
			Members: []string{"persona.anna@mana.test", "persona.ben@mana.test"}}},
	}
	if diff := cmp.Diff(want, plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for _, in := range plan.Personas {
		if err := in.Validate(); err != nil {
			t.Errorf("planned persona %s does not validate: %v", in.Email, err)
		}
	}
	// The plan owns its maps: changing it leaves the catalog alone.
	plan.Personas[0].ModuleMix["todo"] = 9
	if c.Personas[0].ModuleMix["todo"] != 0.5 {
		t.Error("plan shares the catalog's module mix")
	}
	if _, err := c.Plan(""); err == nil {
		t.Error("Plan with an empty secret: no error")
	}
}

// TestDefault checks the embedded catalog against the promises made for it.
func TestDefault(t *testing.T) {
	t.Parallel()
	c := catalog.Default()
	if c.Source != catalog.DefaultSource {
		t.Errorf("source %q", c.Source)
	}
	if len(c.Personas) != 10 {
		t.Fatalf("%d personas, want 10", len(c.Personas))
	}
	archetypes := map[string]bool{}
	cadences := map[persona.Cadence]int{}
	zones := map[string]bool{}
	modules := map[string]bool{}
	for _, p := range c.Personas {
		if archetypes[p.Archetype] {
			t.Errorf("archetype %s used twice", p.Archetype)
		}
		archetypes[p.Archetype] = true
		cadences[p.TickCadence]++
		zones[p.Timezone] = true
		for m := range p.ModuleMix {
			modules[m] = true
		}
		if want := "persona." + strings.ToLower(p.Name) + "@mana.test"; p.Email != want {
			t.Errorf("email %s, want %s", p.Email, want)
		}
		if n := strings.Count(p.SystemPrompt, ". "); n < 3 {
			t.Errorf("%s: system prompt has %d sentences, want several", p.Email, n+1)
		}
		if !strings.HasPrefix(p.SystemPrompt, "You are "+p.Name) {
			t.Errorf("%s: system prompt should introduce %s", p.Email, p.Name)
		}
	}
	for _, a := range []string{"overwhelmed-newbie", "power-user"} {
		if !archetypes[a] {
			t.Errorf("no %s persona", a)
		}
	}
	for _, cad := range persona.Cadences {
		if cadences[cad] == 0 {
			t.Errorf("no persona with cadence %s", cad)
		}
	}
	if len(zones) < 5 {
		t.Errorf("only %d time zones", len(zones))
	}
	for _, m := range []string{"todo", "notes", "journal", "habits", "mood", "calendar", "contacts"} {
		if !modules[m] {
			t.Errorf("no persona uses module %s", m)
		}
	}
	types := map[persona.SpaceType]int{}
	for _, s := range c.Spaces {
		types[s.Type]++
		if len(s.Members) != 2 {
			t.Errorf("space %s has %d members, want 2", s.Slug, len(s.Members))
		}
	}
	if diff := cmp.Diff(map[persona.SpaceType]int{persona.SpaceFamily: 1, persona.SpaceTeam: 1}, types); diff != "" {
		t.Errorf("space types (-want +got):\n%s", diff)
	}
	if _, err := c.Plan(persona.DevSeedSecret); err != nil {
		t.Errorf("Plan: %v", err)
	}
	// Default hands out copies: a caller's change does not leak into the next call.
	c.Personas[0].Name = "changed"
	if catalog.Default().Personas[0].Name == "changed" {
		t.Error("Default returned shared state")
	}
	// The published text is the embedded catalog.
	again, err := catalog.Parse(catalog.DefaultSource, catalog.DefaultYAML(), catalog.DemoModules)
	if err != nil || len(again.Personas) != 10 {
		t.Errorf("DefaultYAML does not parse back: %v", err)
	}
}

func TestDemoModules(t *testing.T) {
	t.Parallel()
	want := []string{"todo", "notes", "journal", "habits", "mood", "calendar", "contacts", "spaces"}
	if diff := cmp.Diff(want, catalog.DemoModules); diff != "" {
		t.Errorf("DemoModules (-want +got):\n%s", diff)
	}
}

// Issue 16.6: Mana's catalog.json loads as it is — $schema and description are ignored — and
// its modules are accepted for a target whose tools offer them, refused for one whose do not.
func TestManaCatalogFile(t *testing.T) {
	t.Parallel()
	c, err := catalog.Load("testdata/mana-catalog.json", nil)
	if err != nil {
		t.Fatalf("load Mana's catalog.json: %v", err)
	}
	if len(c.Personas) != 2 || c.Personas[0].ModuleMix["newsResearch"] != 0.3 || c.Personas[1].TickCadence != persona.Weekdays {
		t.Fatalf("personas %+v", c.Personas)
	}
	offered := []string{"articles", "dreams", "goals", "library", "newsResearch", "todo"}
	if err := c.CheckModules("mana", true, offered); err != nil {
		t.Errorf("modules against a target offering them: %v", err)
	}
	err = c.CheckModules("demo", true, catalog.DemoModules)
	if err == nil || !strings.Contains(err.Error(), `unknown module "articles" of target demo`) {
		t.Errorf("modules against the demo app: err = %v, want one naming articles", err)
	}
	// A field that is neither ours nor Mana's is still a typo worth an error.
	if _, err := catalog.Parse("x.json", []byte(`{"$schema":"s","descripton":"typo","personas":[]}`), nil); err == nil ||
		!strings.Contains(err.Error(), "descripton") {
		t.Errorf("a misspelt field: err = %v", err)
	}
}
