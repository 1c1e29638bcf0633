package model

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestToolCacheRebuildsChangedTools(t *testing.T) {
	var c ToolCache[string]
	builds := 0
	build := func(t Tool) string { builds++; return t.Description + " " + string(t.InputSchema) }
	a := Tool{Name: "todo_create", Description: "Create", InputSchema: json.RawMessage(`{"type":"object"}`)}
	for range 3 {
		if got := c.Get(a, build); got != `Create {"type":"object"}` {
			t.Fatalf("Get = %q", got)
		}
	}
	if builds != 1 {
		t.Errorf("%d builds for one unchanged tool, want 1", builds)
	}
	b := a
	b.InputSchema = json.RawMessage(`{"type":"object","required":["title"]}`)
	if got := c.Get(b, build); got != `Create {"type":"object","required":["title"]}` {
		t.Errorf("changed schema: Get = %q", got)
	}
	b.Description = "Create a todo"
	if got := c.Get(b, build); got != `Create a todo {"type":"object","required":["title"]}` {
		t.Errorf("changed description: Get = %q", got)
	}
	if builds != 3 {
		t.Errorf("%d builds, want 3 (one per version of the tool)", builds)
	}
}

func TestToolCacheIsBounded(t *testing.T) {
	var c ToolCache[int]
	for i := range MaxCachedTools + 10 {
		c.Get(Tool{Name: fmt.Sprint("t", i)}, func(Tool) int { return i })
	}
	if n := len(c.m); n > MaxCachedTools {
		t.Errorf("%d entries, want at most %d", n, MaxCachedTools)
	}
	if got := c.Get(Tool{Name: "t3"}, func(Tool) int { return -1 }); got != -1 {
		t.Errorf("an entry from before the cache started over came back: %d", got)
	}
}
