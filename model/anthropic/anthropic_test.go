package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/anthropic"
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/retry"
)

// sleeps records the back-off waits instead of sleeping.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// setup starts a fake server and a provider pointed at it whose retries sleep into the recorder.
func setup(t *testing.T, tweak ...func(*anthropic.Config)) (*anthropic.Provider, *fake.Server, *sleeps) {
	t.Helper()
	srv := fake.New(t)
	rec := &sleeps{}
	cfg := anthropic.Config{
		APIKey:  "test-key",
		Model:   "claude-test",
		BaseURL: srv.URL(),
		Retry:   retry.Policy{Attempts: 4, Base: time.Second, Max: 20 * time.Second, Sleep: rec.sleep, Jitter: func() float64 { return 0 }},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	p, err := anthropic.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, srv, rec
}

var tools = []model.Tool{
	{Name: "todo_list", Description: "List todos", InputSchema: json.RawMessage(`{"type":"object"}`)},
	{Name: "todo_create", Description: "Create a todo", InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}},"required":["title"],"additionalProperties":false}`)},
}

func userAsks(text string) []model.Message { return []model.Message{{Role: model.User, Text: text}} }

func TestTextReply(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text("Hello, I am Ada.").WithUsage(model.Usage{InputTokens: 1200, OutputTokens: 9, CachedTokens: 1000}))
	resp, err := p.Complete(t.Context(), model.Request{System: "You are Ada.", Messages: userAsks("Who are you?"), Tools: tools})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	want := model.Response{Text: "Hello, I am Ada.", StopReason: model.StopEnd, Model: "claude-test",
		Usage: model.Usage{InputTokens: 1200, OutputTokens: 9, CachedTokens: 1000}}
	if d := cmp.Diff(want, resp); d != "" {
		t.Errorf("response (-want +got):\n%s", d)
	}
	if p.Name() != "anthropic" || p.Model() != "claude-test" {
		t.Errorf("Name/Model = %q/%q", p.Name(), p.Model())
	}

	got := srv.Requests()[0]
	if got.System != "You are Ada." || got.Model != "claude-test" || got.MaxTokens != anthropic.DefaultMaxTokens {
		t.Errorf("request system %q model %q max_tokens %d", got.System, got.Model, got.MaxTokens)
	}
	if d := cmp.Diff(userAsks("Who are you?"), got.Messages); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	// The system prompt, the last tool and the conversation so far are cache breakpoints.
	if d := cmp.Diff([]string{"system", "message:0", "tool:todo_create"}, got.CacheMarks); d != "" {
		t.Errorf("cache marks (-want +got):\n%s", d)
	}
	if got.Header.Get("X-Api-Key") != "test-key" {
		t.Errorf("x-api-key = %q", got.Header.Get("X-Api-Key"))
	}
}

func TestToolSchemas(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text("ok"))
	if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: tools, MaxTokens: 77}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got := srv.Requests()[0]
	if got.MaxTokens != 77 {
		t.Errorf("max_tokens = %d, want the request's 77", got.MaxTokens)
	}
	var schemas []map[string]any
	for _, tl := range got.Tools {
		var s map[string]any
		if err := json.Unmarshal(tl.InputSchema, &s); err != nil {
			t.Fatalf("tool %s schema: %v", tl.Name, err)
		}
		schemas = append(schemas, s)
	}
	want := []map[string]any{
		{"type": "object", "properties": map[string]any{}},
		{"type": "object", "properties": map[string]any{"title": map[string]any{"type": "string"}}, "required": []any{"title"}, "additionalProperties": false},
	}
	if d := cmp.Diff(want, schemas); d != "" {
		t.Errorf("schemas (-want +got):\n%s", d)
	}
	if got.Tools[1].Description != "Create a todo" {
		t.Errorf("description = %q", got.Tools[1].Description)
	}
	if strings.Contains(string(got.Body), `"system"`) {
		t.Errorf("an empty system prompt was sent: %s", got.Body)
	}
}

// TestToolDefinitionsAcrossCalls: the provider maps each tool once and reuses it, so a later
// call must still send the schema it was given (a changed one under the same name too), and the
// cache breakpoint goes on the last tool of each request, not on one an earlier request ended with.
func TestToolDefinitionsAcrossCalls(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text("one"), fake.Text("two"), fake.Text("three"))
	changed := []model.Tool{tools[0], {Name: "todo_create", Description: "Create a todo, due when you say",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"due":{"type":"string","format":"date"}},"required":["due",7],"properties_note":null}`)}}
	reqs := [][]model.Tool{tools, {tools[1], tools[0]}, changed}
	for i, ts := range reqs {
		if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: ts}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	got := srv.Requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, want := range []string{"tool:todo_create", "tool:todo_list", "tool:todo_create"} {
		var marks []string
		for _, m := range got[i].CacheMarks {
			if strings.HasPrefix(m, "tool:") {
				marks = append(marks, m)
			}
		}
		if d := cmp.Diff([]string{want}, marks); d != "" {
			t.Errorf("call %d: tool cache marks (-want +got):\n%s", i+1, d)
		}
	}
	var schema map[string]any
	if err := json.Unmarshal(got[2].Tools[1].InputSchema, &schema); err != nil {
		t.Fatalf("changed schema: %v", err)
	}
	want := map[string]any{"type": "object", "properties": map[string]any{"due": map[string]any{"type": "string", "format": "date"}},
		"required": []any{"due"}, "properties_note": nil}
	if d := cmp.Diff(want, schema); d != "" {
		t.Errorf("changed schema (-want +got):\n%s", d)
	}
	if got[2].Tools[1].Description != "Create a todo, due when you say" {
		t.Errorf("changed description = %q", got[2].Tools[1].Description)
	}
}

func TestToolCallsRoundTrip(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(
		fake.Reply("Let me look.", fake.Call("todo_list", ""), fake.Call("todo_create", `{"title":"milk"}`)),
		fake.Text("Done for today."),
	)
	req := model.Request{System: "You are Ada.", Messages: userAsks("Plan your day."), Tools: tools}
	first, err := p.Complete(t.Context(), req)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if first.StopReason != model.StopToolUse || first.Text != "Let me look." || len(first.ToolCalls) != 2 {
		t.Fatalf("first response = %+v", first)
	}
	a, b := first.ToolCalls[0], first.ToolCalls[1]
	if a.ID == "" || a.ID == b.ID || a.Name != "todo_list" || b.Name != "todo_create" {
		t.Errorf("tool calls = %+v", first.ToolCalls)
	}
	if string(a.Input) != `{}` || string(b.Input) != `{"title":"milk"}` {
		t.Errorf("inputs = %s, %s", a.Input, b.Input)
	}

	req.Messages = append(req.Messages,
		model.Message{Role: model.Assistant, Text: first.Text, ToolCalls: first.ToolCalls},
		model.Message{Role: model.User, ToolResults: []model.ToolResult{
			{CallID: a.ID, Content: "[]"},
			{CallID: b.ID, Content: "title too short", IsError: true},
		}},
	)
	second, err := p.Complete(t.Context(), req)
	if err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	if second.Text != "Done for today." || len(second.ToolCalls) != 0 || second.StopReason != model.StopEnd {
		t.Errorf("second response = %+v", second)
	}
	sent := srv.Requests()[1]
	if d := cmp.Diff(req.Messages, sent.Messages); d != "" {
		t.Errorf("conversation as the API got it (-want +got):\n%s", d)
	}
	// Tool results must be blocks of a user message with tool_use_id and is_error.
	var body struct {
		Messages []struct {
			Role    string           `json:"role"`
			Content []map[string]any `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(sent.Body, &body); err != nil {
		t.Fatal(err)
	}
	last := body.Messages[2]
	if last.Role != "user" || len(last.Content) != 2 || last.Content[1]["type"] != "tool_result" ||
		last.Content[1]["tool_use_id"] != b.ID || last.Content[1]["is_error"] != true {
		t.Errorf("tool results message = %+v", last)
	}
	if _, ok := last.Content[0]["is_error"]; ok {
		t.Errorf("is_error sent for a successful result: %+v", last.Content[0])
	}
	if d := cmp.Diff([]string{"system", "message:2", "tool:todo_create"}, sent.CacheMarks); d != "" {
		t.Errorf("cache marks (-want +got):\n%s", d)
	}
}

// TestRatingTurnKeepsToolsButForbidsCalls: the rating turn's history holds tool_use blocks, which
// the API refuses without tool definitions, so the tools are sent with tool_choice none.
func TestRatingTurnKeepsToolsButForbidsCalls(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text(`{"ratings":[]}`))
	msgs := []model.Message{
		{Role: model.User, Text: "Plan your day."},
		{Role: model.Assistant, ToolCalls: []model.ToolCall{{ID: "toolu_1", Name: "todo_list", Input: json.RawMessage(`{}`)}}},
		{Role: model.User, ToolResults: []model.ToolResult{{CallID: "toolu_1", Content: ""}}},
		{Role: model.Assistant, Text: "A quiet day.  \n"},
		{Role: model.Assistant},
		{Role: model.User, Text: "Rate the modules."},
	}
	if _, err := p.Complete(t.Context(), model.Request{System: "You are Ada.", Messages: msgs, Tools: tools, ToolChoice: model.ToolChoiceNone, Phase: model.PhaseRating}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	got := srv.Requests()[0]
	if got.HasTools() || len(got.Tools) != len(tools) || got.ToolChoice != "none" || !strings.Contains(string(got.Body), `"tool_choice":{"type":"none"}`) {
		t.Errorf("rating turn: %d tools, tool choice %q: %s", len(got.Tools), got.ToolChoice, got.Body)
	}
	// The empty assistant message is dropped and trailing whitespace trimmed, both of which the
	// API would reject.
	want := []model.Message{msgs[0], msgs[1], msgs[2], {Role: model.Assistant, Text: "A quiet day."}, msgs[5]}
	if d := cmp.Diff(want, got.Messages); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t)
	srv.Script(fake.Fault(429, 7*time.Second), fake.Fault(500, 0), fake.Fault(529, 0), fake.Text("finally"))
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil || resp.Text != "finally" {
		t.Fatalf("Complete = %+v, %v", resp, err)
	}
	// Retry-After first, then back-off with zero jitter: half of 2s and of 4s.
	if d := cmp.Diff([]time.Duration{7 * time.Second, time.Second, 2 * time.Second}, rec.got()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
	if srv.Count() != 4 {
		t.Errorf("requests = %d, want 4", srv.Count())
	}
}

func TestRetryAfterMilliseconds(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t)
	srv.Script(fake.Fault(429, 1500*time.Millisecond), fake.Text("ok"))
	if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if d := cmp.Diff([]time.Duration{1500 * time.Millisecond}, rec.got()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t)
	srv.Script(fake.Fault(529, 0), fake.Fault(529, 0), fake.Fault(529, 0), fake.Fault(529, 0), fake.Text("never"))
	_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	var me *model.Error
	if !errors.As(err, &me) || me.Status != 529 {
		t.Fatalf("err = %v, want a *model.Error with status 529", err)
	}
	for _, want := range []string{"anthropic messages (claude-test)", "gave up after 4 attempts", "529 overloaded_error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if srv.Count() != 4 || len(rec.got()) != 3 || srv.Pending() != 1 {
		t.Errorf("requests %d, waits %d, pending %d", srv.Count(), len(rec.got()), srv.Pending())
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Raw(400, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: field required"}}`))
	_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	var me *model.Error
	if !errors.As(err, &me) || me.Status != 400 || !strings.Contains(me.Message, "invalid_request_error: messages: field required") {
		t.Fatalf("err = %v", err)
	}
	if srv.Count() != 1 {
		t.Errorf("requests = %d, want 1", srv.Count())
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t, func(c *anthropic.Config) { c.Timeout = 500 * time.Millisecond })
	// The timeout is per attempt, so the second answer must come within it too: 50ms was missed
	// on a loaded machine under -race (a second retry, then no scripted step).
	srv.Script(fake.Text("too late").WithDelay(time.Hour), fake.Text("in time"))
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil || resp.Text != "in time" {
		t.Fatalf("Complete = %+v, %v", resp, err)
	}
	if len(rec.got()) != 1 {
		t.Errorf("waits = %v, want one retry", rec.got())
	}
}

func TestCancelledContextStops(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	srv.Script(fake.Func(func(fake.Request) fake.Step {
		cancel()
		return fake.Fault(529, 0)
	}))
	_, err := p.Complete(ctx, model.Request{Messages: userAsks("hi")})
	if !errors.Is(err, context.Canceled) || srv.Count() != 1 {
		t.Fatalf("err = %v after %d requests, want context.Canceled after 1", err, srv.Count())
	}
}

func TestMalformedToolArguments(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.ToolCalls(fake.Call("todo_create", `{"title": "milk`)), fake.Text("sorry"))
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: tools})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	call := resp.ToolCalls[0]
	if _, err := call.Args(); err == nil || !strings.Contains(err.Error(), "todo_create") {
		t.Errorf("Args of a malformed call = %v, want an error naming the tool", err)
	}
	if _, err := json.Marshal(resp); err != nil {
		t.Errorf("response with a malformed call does not marshal: %v", err)
	}
	// Sent back, the call carries {} (the API accepts only objects) and the runner's error result.
	msgs := append(userAsks("hi"),
		model.Message{Role: model.Assistant, ToolCalls: resp.ToolCalls},
		model.Message{Role: model.User, ToolResults: []model.ToolResult{{CallID: call.ID, Content: "arguments are not a JSON object", IsError: true}}})
	if _, err := p.Complete(t.Context(), model.Request{Messages: msgs, Tools: tools}); err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	if got := srv.Requests()[1].Messages[1].ToolCalls[0].Input; string(got) != `{}` {
		t.Errorf("malformed input sent back as %s, want {}", got)
	}
}

func TestEmptyReplyAndMissingIDs(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Empty(), fake.ToolCalls(fake.Call("todo_list", ""), fake.Call("todo_list", "")).WithoutIDs())
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil || resp.Text != "" || len(resp.ToolCalls) != 0 || resp.StopReason != model.StopEnd {
		t.Fatalf("empty reply = %+v, %v", resp, err)
	}
	resp, err = p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if len(resp.ToolCalls) != 2 || resp.ToolCalls[0].ID == "" || resp.ToolCalls[0].ID == resp.ToolCalls[1].ID {
		t.Errorf("made-up ids = %+v", resp.ToolCalls)
	}
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Raw(200, `{"id":"msg_1","content": nope}`))
	if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")}); err == nil {
		t.Fatal("a broken body was accepted")
	}
	if srv.Count() != 1 {
		t.Errorf("requests = %d, want 1 (a body that is not JSON is not retried)", srv.Count())
	}

	// A body cut short looks like a dropped connection, which is worth another try.
	srv.Script(fake.Raw(200, `{"id":"msg_1","content":[{"type":"text"`), fake.Text("whole"))
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil || resp.Text != "whole" {
		t.Errorf("after a truncated body: %+v, %v", resp, err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := anthropic.New(anthropic.Config{BaseURL: "ftp://x", MaxTokens: -1, Retry: retry.Policy{Attempts: -1}})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"APIKey is required", "BaseURL must be an http(s) URL", "MaxTokens must be positive", "Attempts must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	p, err := anthropic.New(anthropic.Config{APIKey: "k"})
	if err != nil || p.Model() != anthropic.DefaultModel {
		t.Errorf("defaults: %v, model %q", err, p.Model())
	}
}

// BenchmarkComplete measures one model call through the SDK to the fake server on loopback
// with zero model latency: the provider's request overhead (fake server time included).
func BenchmarkComplete(b *testing.B) {
	srv := fake.New(b, fake.WithoutRecording(), fake.WithHandler(func(fake.Request) fake.Step {
		return fake.ToolCalls(fake.Call("todo_create", `{"title":"milk"}`))
	}))
	p, err := anthropic.New(anthropic.Config{APIKey: "k", BaseURL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	msgs := []model.Message{
		{Role: model.User, Text: strings.Repeat("Spend a short day in the app. ", 20)},
		{Role: model.Assistant, Text: "Let me look.", ToolCalls: []model.ToolCall{{ID: "c1", Name: "todo_list", Input: json.RawMessage(`{}`)}}},
		{Role: model.User, ToolResults: []model.ToolResult{{CallID: "c1", Content: `[{"id":1,"title":"milk"}]`}}},
	}
	req := model.Request{System: strings.Repeat("You are Ada, a busy nurse. ", 40), Messages: msgs, Tools: tools}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Complete(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAgentDrivesARun plays a whole persona run with the fake's Agent through the provider: tool
// calls until the agent closes, then a rating turn that may not call tools and rates the modules used.
func TestAgentDrivesARun(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Handle(fake.Agent(3))
	msgs := userAsks("Spend your day.")
	for turn := 0; ; turn++ {
		if turn == 15 {
			t.Fatal("the agent never closed")
		}
		resp, err := p.Complete(t.Context(), model.Request{System: "You are Ada.", Messages: msgs, Tools: tools})
		if err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		msgs = append(msgs, model.Message{Role: model.Assistant, Text: resp.Text, ToolCalls: resp.ToolCalls})
		if len(resp.ToolCalls) == 0 {
			break
		}
		var results []model.ToolResult
		for _, c := range resp.ToolCalls {
			if _, err := c.Args(); err != nil {
				t.Errorf("agent sent bad arguments: %v", err)
			}
			results = append(results, model.ToolResult{CallID: c.ID, Content: "ok"})
		}
		msgs = append(msgs, model.Message{Role: model.User, ToolResults: results})
	}
	msgs = append(msgs, model.Message{Role: model.User, Text: "Rate the modules you used."})
	resp, err := p.Complete(t.Context(), model.Request{System: "You are Ada.", Messages: msgs, Tools: tools, ToolChoice: model.ToolChoiceNone, Phase: model.PhaseRating})
	if err != nil {
		t.Fatalf("rating turn: %v", err)
	}
	if resp.Text != `{"ratings":[{"module":"todo","rating":4,"notes":"todo did what I needed."}]}` {
		t.Errorf("ratings = %s", resp.Text)
	}
	if srv.Count() != 5 {
		t.Errorf("model calls = %d, want 3 tool turns + closing + rating", srv.Count())
	}
}

// TestUnreachableIsNotRetried: a host that does not resolve, a closed loopback port, a 401 and a
// 403 are given up after one attempt, the error naming the cause whole.
func TestUnreachableIsNotRetried(t *testing.T) {
	t.Parallel()
	closed := closedPort(t)
	for name, tc := range map[string]struct {
		url  string
		want []string
	}{
		"dns":     {"http://api.persona-runner.invalid", []string{"api.persona-runner.invalid", "does not resolve", "not retried"}},
		"refused": {"http://" + closed, []string{"connection refused", "nothing listens at " + closed, "not retried"}},
	} {
		p, _, rec := setup(t, func(c *anthropic.Config) { c.BaseURL = tc.url })
		_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", name, err, w)
			}
		}
		if strings.Contains(err.Error(), "gave up") || len(rec.got()) != 0 {
			t.Errorf("%s: retried (%d waits): %v", name, len(rec.got()), err)
		}
	}
	for _, status := range []int{401, 403} {
		p, srv, rec := setup(t)
		srv.Script(fake.Raw(status, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
		_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
		if err == nil || !strings.Contains(err.Error(), "invalid x-api-key") || srv.Count() != 1 || len(rec.got()) != 0 {
			t.Errorf("%d: %d requests, %d waits, err %v; want one request and the API's message", status, srv.Count(), len(rec.got()), err)
		}
	}
}

// closedPort returns a loopback address nothing listens at.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
