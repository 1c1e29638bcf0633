package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/catalog"
)

func TestModulesAreTheCatalogsDemoModules(t *testing.T) {
	if diff := cmp.Diff(catalog.DemoModules, app.Modules()); diff != "" {
		t.Errorf("app modules (-catalog.DemoModules +app):\n%s", diff)
	}
}

// schemaOf returns the JSON form of a tool's input schema, as clients receive it.
func schemaOf(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, info := range app.Tools() {
		if info.Name == name {
			raw, err := json.Marshal(info.InputSchema)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no exposed tool %s", name)
	return nil
}

func TestDerivedSchemasCarryTheRules(t *testing.T) {
	todo := schemaOf(t, "todo.create")
	wantSchema := map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []any{"title"},
		"properties": map[string]any{
			"title":    map[string]any{"type": "string", "minLength": 1.0, "maxLength": 200.0, "description": "What needs doing, as a short imperative phrase."},
			"notes":    map[string]any{"type": "string", "maxLength": 2000.0, "description": "Optional details."},
			"dueDate":  map[string]any{"type": "string", "format": "date", "description": "Optional due date, YYYY-MM-DD."},
			"priority": map[string]any{"type": "string", "enum": []any{"low", "normal", "high"}, "default": "normal", "description": "How important it is."},
		},
	}
	if diff := cmp.Diff(wantSchema, todo); diff != "" {
		t.Errorf("todo.create schema (-want +got):\n%s", diff)
	}
	checks := []struct {
		tool, prop, key string
		want            any
	}{
		{"todo.complete", "id", "format", "uuid"},
		{"calendar.createEvent", "start", "format", "date-time"},
		{"contacts.create", "email", "format", "email"},
		{"mood.log", "rating", "type", "integer"},
		{"mood.log", "rating", "minimum", 1.0},
		{"mood.log", "rating", "maximum", 5.0},
		{"todo.list", "limit", "default", 50.0},
		{"habits.log", "count", "default", 1.0},
	}
	for _, c := range checks {
		props := schemaOf(t, c.tool)["properties"].(map[string]any)
		if got := props[c.prop].(map[string]any)[c.key]; !cmp.Equal(got, c.want) {
			t.Errorf("%s.%s %s = %v, want %v", c.tool, c.prop, c.key, got, c.want)
		}
	}
}

func TestToolsWithoutInputHaveEmptyProperties(t *testing.T) {
	for _, name := range []string{"habits.list", "mood.today", "spaces.list"} {
		raw, err := json.Marshal(func() any {
			for _, info := range app.Tools() {
				if info.Name == name {
					return info.InputSchema
				}
			}
			return nil
		}())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"properties":{}`) {
			t.Errorf("%s schema %s has no \"properties\": {}", name, raw)
		}
	}
}

func TestEveryToolIsDescribed(t *testing.T) {
	for _, info := range append(app.Tools(), hiddenInfos(t)...) {
		if info.Description == "" || info.Module == "" || info.Scope == "" || info.Policy == "" {
			t.Errorf("%s is not fully described: %+v", info.Name, info)
		}
		if !strings.HasPrefix(info.Name, info.Module+".") {
			t.Errorf("%s: module %q is not the name's prefix", info.Name, info.Module)
		}
		for name, p := range info.InputSchema.Properties {
			if p.Description == "" {
				t.Errorf("%s.%s has no description", info.Name, name)
			}
		}
	}
}

// hiddenInfos returns the registry's destructive and admin tools, checking they are not exposed.
func hiddenInfos(t *testing.T) []app.ToolInfo {
	t.Helper()
	b := setup(t, options{})
	var out []app.ToolInfo
	for _, info := range b.app.AllTools() {
		if info.Exposed() {
			continue
		}
		if info.Policy != app.PolicyDestructive && info.Scope != app.ScopeAdmin {
			t.Errorf("%s is hidden but neither destructive nor admin", info.Name)
		}
		out = append(out, info)
	}
	var names []string
	for _, info := range out {
		names = append(names, info.Name)
	}
	if diff := cmp.Diff(hiddenTools, names); diff != "" {
		t.Errorf("hidden tools (-want +got):\n%s", diff)
	}
	return out
}
