package catalog_test

import (
	"fmt"

	"github.com/persona-runner/persona-runner/catalog"
)

func ExampleParse() {
	src := []byte(`personas:
  - name: Ben
    email: ben@example.com
    archetype: overwhelmed-newbie
    tickCadence: sometimes
    moduleMix: {todo: 1, finance: 0.5}
    systemPrompt: You are Ben, new to apps and easily confused.
`)
	_, err := catalog.Parse("personas.yaml", src, catalog.DemoModules)
	fmt.Println(err)
	// Output:
	// invalid catalog personas.yaml: 2 problems
	//   personas.yaml:5: personas[0] (ben@example.com) tickCadence: must be one of hourly, daily, weekdays (got "sometimes")
	//   personas.yaml:6: personas[0] (ben@example.com) moduleMix.finance: unknown module "finance" (known: todo, notes, journal, habits, mood, calendar, contacts, spaces)
}
