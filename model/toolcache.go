package model

import "sync"

// ToolCache keeps each tool's definition as a provider maps it for its API, so the turns of a
// run, and the runs of every persona against the same app, do not decode and rebuild the same
// schemas on every call (at concurrency 64 those copies were about a tenth of the runner's live
// heap). An entry is keyed by the tool's name and rebuilt when its description or schema
// changes; past MaxCachedTools entries the cache starts over, which only a stream of ever-new
// tools reaches. The zero value is ready; it is safe for concurrent use.
//
// The definitions are shared by every request that uses them: a provider must not change what
// they point to (schema maps, slices) after building them.
type ToolCache[T any] struct {
	mu sync.Mutex
	m  map[string]cachedTool[T]
}

// MaxCachedTools bounds a ToolCache.
const MaxCachedTools = 1024

type cachedTool[T any] struct {
	description, schema string
	def                 T
}

// Get returns t's definition, calling build for a tool it has not seen or that has changed.
func (c *ToolCache[T]) Get(t Tool, build func(Tool) T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[t.Name]; ok && e.description == t.Description && e.schema == string(t.InputSchema) {
		return e.def
	}
	if c.m == nil || len(c.m) >= MaxCachedTools {
		c.m = map[string]cachedTool[T]{}
	}
	e := cachedTool[T]{description: t.Description, schema: string(t.InputSchema), def: build(t)}
	c.m[t.Name] = e
	return e.def
}
