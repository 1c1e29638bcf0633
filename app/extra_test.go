package app_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/persona-runner/persona-runner/app"
	"github.com/persona-runner/persona-runner/jwtauth"
)

type echoInput struct {
	Text string `json:"text" jsonschema:"What to say back." schema:"maxLength=20"`
}

type draftInput struct {
	Title string `json:"title" jsonschema:"The draft's title." schema:"maxLength=80"`
}

// extraTools are a test-only module of two tools: echo.say answers with its input and the caller's
// space, broken.save always fails as a tool with a bug would.
func extraTools() []app.Tool {
	return []app.Tool{
		app.Define("echo.say", "Say something back.", app.ScopeUserSpace, app.PolicyRead,
			func(ctx context.Context, in echoInput) (any, error) {
				c, _ := app.CallerFrom(ctx)
				return map[string]any{"text": in.Text, "space": c.SpaceID}, nil
			}),
		app.Define("broken.save", "Save a draft.", app.ScopeUserSpace, app.PolicyWrite,
			func(context.Context, draftInput) (any, error) { return nil, errors.New("disk on fire") }),
	}
}

// TestExtraToolsAreServedLikeBuiltIns: tools given in Config.ExtraTools are listed after the
// built-in ones and go through the same gateway: validation, handler, rate limit, log and metrics.
func TestExtraToolsAreServedLikeBuiltIns(t *testing.T) {
	t.Parallel()
	b := setup(t, options{cfg: func(c *app.Config) {
		c.ExtraTools = extraTools()
		c.RateLimit = 3
	}})
	c := b.connect(t, b.anna, b.anna.Personal)

	res, err := c.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]map[string]any{}
	for _, tool := range res.Tools {
		schema, _ := tool.InputSchema.(map[string]any)
		listed[tool.Name] = schema
	}
	if len(listed) != len(exposedTools)+2 {
		t.Errorf("listed %d tools, want the %d built-in ones and 2 extra", len(listed), len(exposedTools))
	}
	props, _ := listed["echo.say"]["properties"].(map[string]any)
	text, _ := props["text"].(map[string]any)
	if text["maxLength"] != 20.0 || !slices.Equal(listed["echo.say"]["required"].([]any), []any{"text"}) {
		t.Errorf("echo.say schema %v, want text required with maxLength 20", listed["echo.say"])
	}
	if _, ok := listed["broken.save"]; !ok {
		t.Errorf("broken.save is not listed")
	}
	var names []string
	for _, info := range b.app.Tools() {
		names = append(names, info.Name)
	}
	if want := append(slices.Clone(exposedTools), "echo.say", "broken.save"); !slices.Equal(names, want) {
		t.Errorf("App.Tools: %v, want %v", names, want)
	}
	for _, info := range app.Tools() {
		if info.Module == "echo" || info.Module == "broken" {
			t.Errorf("package-level Tools lists the extra tool %s", info.Name)
		}
	}

	if got := c.ok(t, "echo.say", map[string]any{"text": "hello"}); got["text"] != "hello" || got["space"] != b.anna.Personal {
		t.Errorf("echo.say: %v, want the text back and anna's space", got)
	}
	if msg := c.fails(t, "echo.say", map[string]any{"text": strings.Repeat("x", 21)}); !strings.Contains(msg, "invalid input") || !strings.Contains(msg, "text") {
		t.Errorf("echo.say with a long text: %q, want invalid input naming text", msg)
	}
	c.ok(t, "echo.say", map[string]any{"text": "again"})
	if msg := c.fails(t, "echo.say", map[string]any{"text": "once more"}); !strings.Contains(msg, "rate limit: at most 3 calls of echo.say") {
		t.Errorf("fourth echo.say: %q, want the rate limit", msg)
	}
	if msg := c.fails(t, "broken.save", map[string]any{"title": "draft"}); msg != "internal error: broken.save failed; try again later" {
		t.Errorf("broken.save: %q, want an internal error without details", msg)
	}

	var failed []string
	for _, l := range b.logs.lines(t, "tool call") {
		if l["tool"] == "broken.save" {
			failed = append(failed, str(l["result"])+": "+str(l["error"]))
		}
	}
	if !slices.Equal(failed, []string{"error: disk on fire"}) {
		t.Errorf("log lines of broken.save: %q, want one error with the details", failed)
	}
	_, metrics := b.get(t, "/metrics")
	for _, w := range []string{
		`mcp_tool_calls_total{result="error",tool="broken.save"} 1`,
		`mcp_tool_calls_total{result="ok",tool="echo.say"} 2`,
		`mcp_tool_calls_total{result="invalid",tool="echo.say"} 1`,
		`mcp_tool_calls_total{result="rate_limited",tool="echo.say"} 1`,
	} {
		if !hasLine(metrics, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

// TestBadExtraToolsAreRefused: New refuses an extra tool whose name is taken or malformed, naming
// it.
func TestBadExtraToolsAreRefused(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, echoInput) (any, error) { return nil, nil }
	for _, tc := range []struct {
		name  string
		tools []app.Tool
		want  string
	}{
		{"built-in name", []app.Tool{app.Define("todo.create", "Shadow.", app.ScopeUserSpace, app.PolicyWrite, noop)},
			"ExtraTools[0]: tool todo.create clashes with a built-in tool"},
		{"twice", append(extraTools(), app.Define("echo.say", "Again.", app.ScopeUserSpace, app.PolicyRead, noop)),
			"ExtraTools[2]: tool echo.say clashes with ExtraTools[0]"},
		{"no verb", []app.Tool{app.Define("broken", "No verb.", app.ScopeUserSpace, app.PolicyRead, noop)},
			`ExtraTools[0]: define "broken": tool names are module.verb`},
		{"no module", []app.Tool{app.Define(".save", "No module.", app.ScopeUserSpace, app.PolicyRead, noop)},
			`ExtraTools[0]: define ".save": tool names are module.verb`},
		{"zero value", []app.Tool{{}}, "ExtraTools[0]: not made with Define"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t, false, nil)
			// New fails before any token is checked, so the verifier's keys are never fetched.
			verifier := jwtauth.NewVerifier("http://127.0.0.1:1/api/auth/jwks", issuerURL, jwtauth.Audience, nil)
			_, err := app.New(app.Config{Store: st, Verifier: verifier,
				ExtraTools: tc.tools})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
