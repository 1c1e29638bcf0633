package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/catalog"
	"github.com/persona-runner/persona-runner/persona"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, an invalid catalog must
// come back as a *catalog.Error, and whatever it accepts must keep every promise of a valid
// catalog (so no input slips past validation).
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add(catalog.DefaultYAML())
	f.Add([]byte(`[{"email":"persona.a@mana.test","name":"A","archetype":"x","moduleMix":{"todo":1},"systemPrompt":"You are A, who does things."}]`))
	f.Add([]byte("personas: &a\n  - *a\n"))
	f.Add([]byte("personas:\n  - <<: {name: A}\n    email: persona.a@mana.test\n"))
	f.Add([]byte("spaces: [{slug: x, members: [1, 2]}]\npersonas: {}\n"))
	f.Add([]byte("!!binary personas"))
	f.Add([]byte("---\n...\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.Parse("fuzz.yaml", data, catalog.DemoModules)
		if err != nil {
			var ce *catalog.Error
			if c != nil || !errors.As(err, &ce) || len(ce.Problems) == 0 || !errors.Is(err, persona.ErrInvalid) {
				t.Fatalf("bad error result: catalog %v, error %T %v", c, err, err)
			}
			return
		}
		if len(c.Personas) == 0 {
			t.Fatal("accepted a catalog without personas")
		}
		emails := map[string]bool{}
		for _, p := range c.Personas {
			if persona.ValidateEmail(p.Email) != nil || emails[strings.ToLower(p.Email)] {
				t.Fatalf("accepted email %q", p.Email)
			}
			emails[strings.ToLower(p.Email)] = true
			if !p.TickCadence.Valid() || !persona.ValidTimezone(p.Timezone) {
				t.Fatalf("accepted cadence %q, timezone %q", p.TickCadence, p.Timezone)
			}
			for m, w := range p.ModuleMix {
				if w < 0 || !contains(catalog.DemoModules, m) {
					t.Fatalf("accepted module %q weight %v", m, w)
				}
			}
		}
		for _, s := range c.Spaces {
			for _, m := range s.Members {
				if !emails[strings.ToLower(m)] {
					t.Fatalf("accepted member %q", m)
				}
			}
		}
		plan, err := c.Plan("fuzz-secret")
		if err != nil {
			t.Fatalf("Plan of an accepted catalog: %v", err)
		}
		for _, in := range plan.Personas {
			if err := in.Validate(); err != nil {
				t.Fatalf("accepted persona fails domain validation: %v", err)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
