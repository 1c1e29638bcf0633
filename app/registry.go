package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Scope says who may use a tool: any member of the current space, or only an administrator.
type Scope string

const (
	ScopeUserSpace Scope = "user-space"
	ScopeAdmin     Scope = "admin"
)

// Policy is a tool's effect, the hint clients and the gateway's policy act on.
type Policy string

const (
	PolicyRead        Policy = "read"
	PolicyWrite       Policy = "write"
	PolicyDestructive Policy = "destructive"
)

// ToolInfo describes one tool of the registry, for the gateway, the simulator and reports.
type ToolInfo struct {
	Name        string             // module.verb, e.g. "todo.create"
	Module      string             // the text before the first "."
	Description string             // written for a model
	Scope       Scope              // user-space or admin
	Policy      Policy             // read, write or destructive
	InputSchema *jsonschema.Schema // derived from the tool's Go input type; do not modify
}

// Exposed reports whether the gateway lists the tool and lets clients call it: only user-space
// tools that read or write. Destructive and admin tools exist in the registry (so that the policy
// is visible and tested) but are never reachable over MCP.
func (t ToolInfo) Exposed() bool {
	return t.Scope == ScopeUserSpace && (t.Policy == PolicyRead || t.Policy == PolicyWrite)
}

// Caller is who calls a tool and where: every handler gets it from its context.
type Caller struct {
	UserID  string
	SpaceID string
	Logger  *slog.Logger
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx; ok is false when there is none.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// tool is one registry entry: its description, the validation rules derived from its input type,
// and its handler behind a uniform signature.
type tool struct {
	ToolInfo
	fields []*field
	// run decodes the validated arguments (defaults applied) into the input type and calls the
	// handler.
	run func(ctx context.Context, args []byte) (any, error)
}

// define builds a built-in registry entry from a typed handler (see newTool). It panics on a
// malformed definition, which is a programming error caught by every test run.
func define[In any](name, description string, scope Scope, policy Policy, handler func(context.Context, In) (any, error)) *tool {
	t, err := newTool(name, description, scope, policy, handler)
	if err != nil {
		panic(err.Error())
	}
	return t
}

// Tool is a tool made with Define, for Config.ExtraTools.
type Tool struct {
	t   *tool
	err error // why the definition is malformed; New reports it
}

// Define builds a tool from a typed handler, with the same machinery as the app's own tools:
// the JSON Schema comes from In and is enforced by the gateway before handler runs, and calls go
// through the same policy, rate limit, logging and metrics. name is module.verb. A malformed
// definition (a bad name, an input type the schema cannot describe) is reported by New, naming
// the tool. handler gets the Caller from its context (CallerFrom); errors wrapping
// persona.ErrInvalid or persona.ErrNotFound reach the client as such, any other as an internal
// error whose details are only logged.
func Define[In any](name, description string, scope Scope, policy Policy, handler func(context.Context, In) (any, error)) Tool {
	t, err := newTool(name, description, scope, policy, handler)
	return Tool{t: t, err: err}
}

// newTool builds a registry entry from a typed handler. The JSON Schema comes from In: property
// names from json tags; optional properties are those tagged omitempty, all others required;
// descriptions from jsonschema tags; constraints from schema tags (see parseRules).
func newTool[In any](name, description string, scope Scope, policy Policy, handler func(context.Context, In) (any, error)) (*tool, error) {
	module, verb, ok := strings.Cut(name, ".")
	if !ok || module == "" || verb == "" {
		return nil, fmt.Errorf("define %q: tool names are module.verb", name)
	}
	if handler == nil {
		return nil, fmt.Errorf("define %s: handler is required", name)
	}
	schema, fields, err := deriveSchema(reflect.TypeFor[In]())
	if err != nil {
		return nil, fmt.Errorf("define %s: %w", name, err)
	}
	return &tool{
		ToolInfo: ToolInfo{
			Name: name, Module: module, Description: description,
			Scope: scope, Policy: policy, InputSchema: schema,
		},
		fields: fields,
		run: func(ctx context.Context, args []byte) (any, error) {
			var in In
			if err := json.Unmarshal(args, &in); err != nil {
				return nil, fmt.Errorf("decode validated arguments: %w", err)
			}
			return handler(ctx, in)
		},
	}, nil
}

// withExtras returns the built-in tools followed by the extra ones, or an error naming each extra
// tool that is malformed or whose name is taken.
func withExtras(builtins []*tool, extras []Tool) ([]*tool, error) {
	// taken says, for each name in use, whose it is.
	taken := make(map[string]string, len(builtins)+len(extras))
	for _, t := range builtins {
		taken[t.Name] = "a built-in tool"
	}
	all := builtins
	var problems []string
	for i, x := range extras {
		switch {
		case x.err != nil:
			problems = append(problems, fmt.Sprintf("ExtraTools[%d]: %v", i, x.err))
		case x.t == nil:
			problems = append(problems, fmt.Sprintf("ExtraTools[%d]: not made with Define", i))
		case taken[x.t.Name] != "":
			problems = append(problems, fmt.Sprintf("ExtraTools[%d]: tool %s clashes with %s", i, x.t.Name, taken[x.t.Name]))
		default:
			taken[x.t.Name] = fmt.Sprintf("ExtraTools[%d]", i)
			all = append(all, x.t)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return all, nil
}

// registry is the ordered set of every tool, exposed or not.
type registry struct {
	tools  []*tool
	byName map[string]*tool
}

func newRegistry(tools ...*tool) *registry {
	r := &registry{byName: make(map[string]*tool, len(tools))}
	for _, t := range tools {
		if _, dup := r.byName[t.Name]; dup {
			panic("registry: duplicate tool " + t.Name)
		}
		r.tools = append(r.tools, t)
		r.byName[t.Name] = t
	}
	return r
}

// infos returns the descriptions of the tools that pass keep (all when keep is nil), each with its
// own copy of the schema so callers cannot change the registry.
func (r *registry) infos(keep func(ToolInfo) bool) []ToolInfo {
	out := make([]ToolInfo, 0, len(r.tools))
	for _, t := range r.tools {
		if keep != nil && !keep(t.ToolInfo) {
			continue
		}
		info := t.ToolInfo
		info.InputSchema = t.InputSchema.CloneSchemas()
		out = append(out, info)
	}
	return out
}

// modules returns the module names in registry order, each once.
func (r *registry) modules() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range r.tools {
		if !seen[t.Module] {
			seen[t.Module] = true
			out = append(out, t.Module)
		}
	}
	return out
}
