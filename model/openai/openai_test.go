package openai_test

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
	"github.com/persona-runner/persona-runner/model/fake"
	"github.com/persona-runner/persona-runner/model/openai"
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
func setup(t *testing.T, tweak ...func(*openai.Config)) (*openai.Provider, *fake.Server, *sleeps) {
	t.Helper()
	srv := fake.New(t)
	rec := &sleeps{}
	cfg := openai.Config{
		APIKey:  "sk-test",
		Model:   "gpt-test",
		BaseURL: srv.OpenAIURL(),
		Retry:   retry.Policy{Attempts: 4, Base: time.Second, Max: 20 * time.Second, Sleep: rec.sleep, Jitter: func() float64 { return 0 }},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	p, err := openai.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p, srv, rec
}

var tools = []model.Tool{
	{Name: "todo_list", Description: "List todos", InputSchema: json.RawMessage(`{"type":"object"}`)},
	{Name: "todo_create", Description: "Create a todo", InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]}`)},
	{Name: "notes_count"},
}

func userAsks(text string) []model.Message { return []model.Message{{Role: model.User, Text: text}} }

// sentBody decodes the raw JSON of the n-th recorded request.
func sentBody(t *testing.T, srv *fake.Server, n int) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(srv.Requests()[n].Body, &body); err != nil {
		t.Fatalf("request %d body: %v", n, err)
	}
	return body
}

func TestTextReply(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text("Hello, I am Ada.").WithUsage(model.Usage{InputTokens: 1200, OutputTokens: 9, CachedTokens: 1024}))
	resp, err := p.Complete(t.Context(), model.Request{System: "You are Ada.", Messages: userAsks("Who are you?")})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	want := model.Response{Text: "Hello, I am Ada.", StopReason: model.StopEnd, Model: "gpt-test",
		Usage: model.Usage{InputTokens: 1200, OutputTokens: 9, CachedTokens: 1024}}
	if d := cmp.Diff(want, resp); d != "" {
		t.Errorf("response (-want +got):\n%s", d)
	}
	if p.Name() != "openai" || p.Model() != "gpt-test" {
		t.Errorf("Name/Model = %q/%q", p.Name(), p.Model())
	}
	got := srv.Requests()[0]
	if got.System != "You are Ada." || got.MaxTokens != openai.DefaultMaxTokens || got.Header.Get("Authorization") != "Bearer sk-test" {
		t.Errorf("system %q max tokens %d auth %q", got.System, got.MaxTokens, got.Header.Get("Authorization"))
	}
	body := sentBody(t, srv, 0)
	msgs := body["messages"].([]any)
	if first := msgs[0].(map[string]any); first["role"] != "system" || first["content"] != "You are Ada." {
		t.Errorf("first message = %v, want the system prompt", first)
	}
	if _, ok := body["max_tokens"]; !ok {
		t.Errorf("max_tokens not sent: %v", body)
	}
	if _, ok := body["tools"]; ok {
		t.Errorf("tools sent though none were offered: %v", body["tools"])
	}
}

func TestMaxCompletionTokensAndNoKey(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t, func(c *openai.Config) { c.APIKey = ""; c.MaxCompletionTokens = true })
	srv.Script(fake.Text("ok"))
	if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), MaxTokens: 50}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	body := sentBody(t, srv, 0)
	if body["max_completion_tokens"] != 50.0 || body["max_tokens"] != nil {
		t.Errorf("limits sent: max_completion_tokens %v max_tokens %v", body["max_completion_tokens"], body["max_tokens"])
	}
	if auth := srv.Requests()[0].Header.Get("Authorization"); auth != "" {
		t.Errorf("Authorization = %q without a key", auth)
	}
}

func TestToolSchemas(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text("ok"))
	if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: tools}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	var got []map[string]any
	for _, tl := range srv.Requests()[0].Tools {
		var s map[string]any
		if err := json.Unmarshal(tl.InputSchema, &s); err != nil {
			t.Fatalf("tool %s: %v", tl.Name, err)
		}
		got = append(got, s)
	}
	want := []map[string]any{
		{"type": "object", "properties": map[string]any{}},
		{"type": "object", "properties": map[string]any{"title": map[string]any{"type": "string"}}, "required": []any{"title"}},
		{"type": "object", "properties": map[string]any{}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parameters (-want +got):\n%s", d)
	}
	tl := sentBody(t, srv, 0)["tools"].([]any)[1].(map[string]any)
	if tl["type"] != "function" || tl["function"].(map[string]any)["description"] != "Create a todo" {
		t.Errorf("tool = %v", tl)
	}
}

// TestToolDefinitionsAcrossCalls: the provider maps each tool once and reuses it, so a later
// call must still send the schema it was given, a changed one under the same name too.
func TestToolDefinitionsAcrossCalls(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text("one"), fake.Text("two"))
	changed := []model.Tool{{Name: "todo_create", Description: "Create a todo, due when you say",
		InputSchema: json.RawMessage(`{"type":"object","properties":null,"required":["due"],"additionalProperties":false}`)}}
	for i, ts := range [][]model.Tool{tools, changed} {
		if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: ts}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	got := srv.Requests()[1].Tools
	if len(got) != 1 || got[0].Description != "Create a todo, due when you say" {
		t.Fatalf("second call's tools = %+v", got)
	}
	var schema map[string]any
	if err := json.Unmarshal(got[0].InputSchema, &schema); err != nil {
		t.Fatalf("changed schema: %v", err)
	}
	want := map[string]any{"type": "object", "properties": map[string]any{}, "required": []any{"due"}, "additionalProperties": false}
	if d := cmp.Diff(want, schema); d != "" {
		t.Errorf("changed schema (-want +got):\n%s", d)
	}
}

func TestToolCallsRoundTrip(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(
		fake.ToolCalls(fake.Call("todo_list", "{}"), fake.Call("todo_create", `{"title":"milk"}`)),
		fake.Text("Done for today."),
	)
	req := model.Request{System: "You are Ada.", Messages: userAsks("Plan your day."), Tools: tools}
	first, err := p.Complete(t.Context(), req)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if first.StopReason != model.StopToolUse || len(first.ToolCalls) != 2 {
		t.Fatalf("first response = %+v", first)
	}
	a, b := first.ToolCalls[0], first.ToolCalls[1]
	if a.ID == "" || a.ID == b.ID || a.Name != "todo_list" || string(b.Input) != `{"title":"milk"}` {
		t.Errorf("tool calls = %+v", first.ToolCalls)
	}

	req.Messages = append(req.Messages,
		model.Message{Role: model.Assistant, ToolCalls: first.ToolCalls},
		model.Message{Role: model.User, ToolResults: []model.ToolResult{
			{CallID: a.ID, Content: "[]"},
			{CallID: b.ID, Content: "title too short", IsError: true},
		}},
		model.Message{Role: model.User, Text: "Anything else?"},
	)
	second, err := p.Complete(t.Context(), req)
	if err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	if second.Text != "Done for today." || len(second.ToolCalls) != 0 {
		t.Errorf("second response = %+v", second)
	}
	// On the wire: the assistant's tool_calls, then one tool message per result with its call's
	// id, then the user's text.
	msgs := sentBody(t, srv, 1)["messages"].([]any)
	var shape []string
	for _, m := range msgs {
		m := m.(map[string]any)
		shape = append(shape, m["role"].(string)+"|"+str(m["tool_call_id"])+"|"+str(m["content"]))
	}
	want := []string{"system||You are Ada.", "user||Plan your day.", "assistant||", "tool|" + a.ID + "|[]",
		"tool|" + b.ID + "|Error: title too short", "user||Anything else?"}
	if d := cmp.Diff(want, shape); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	calls := msgs[2].(map[string]any)["tool_calls"].([]any)
	fn := calls[1].(map[string]any)["function"].(map[string]any)
	if calls[1].(map[string]any)["id"] != b.ID || fn["name"] != "todo_create" || fn["arguments"] != `{"title":"milk"}` {
		t.Errorf("assistant tool call = %v", calls[1])
	}
}

// TestRatingTurnKeepsToolsButForbidsCalls: a history with tool calls needs the tool definitions,
// so the rating turn sends them with tool_choice "none".
func TestRatingTurnKeepsToolsButForbidsCalls(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Text(`{"ratings":[]}`))
	msgs := []model.Message{
		{Role: model.User, Text: "Plan your day."},
		{Role: model.Assistant, ToolCalls: []model.ToolCall{{ID: "call_1", Name: "todo_list", Input: json.RawMessage(`{}`)}}},
		{Role: model.User, ToolResults: []model.ToolResult{{CallID: "call_1", Content: "[]"}}},
		{Role: model.Assistant, Text: "A quiet day."},
		{Role: model.User, Text: "Rate the modules."},
	}
	resp, err := p.Complete(t.Context(), model.Request{System: "You are Ada.", Messages: msgs, Tools: tools, ToolChoice: model.ToolChoiceNone, Phase: model.PhaseRating})
	if err != nil || resp.Text != `{"ratings":[]}` {
		t.Fatalf("Complete = %+v, %v", resp, err)
	}
	got := srv.Requests()[0]
	if got.HasTools() || len(got.Tools) != len(tools) || got.ToolChoice != "none" || !strings.Contains(string(got.Body), `"tool_choice":"none"`) {
		t.Errorf("rating turn: %d tools, tool choice %q: %s", len(got.Tools), got.ToolChoice, got.Body)
	}
	// The main turn sends no tool_choice at all: the API's default lets the model call tools.
	srv.Script(fake.Text("ok"))
	if _, err := p.Complete(t.Context(), model.Request{Messages: msgs[:1], Tools: tools}); err != nil {
		t.Fatal(err)
	}
	if body := string(srv.Requests()[1].Body); strings.Contains(body, "tool_choice") {
		t.Errorf("main turn sent a tool choice: %s", body)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func TestMadeUpCallIDs(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(
		fake.ToolCalls(fake.Call("todo_list", "{}"), fake.Call("todo_list", "{}")).WithoutIDs(),
		fake.ToolCalls(model.ToolCall{ID: "same", Name: "a"}, model.ToolCall{ID: "same", Name: "b"}),
	)
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: tools})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	a, b := resp.ToolCalls[0].ID, resp.ToolCalls[1].ID
	if a == "" || b == "" || a == b {
		t.Errorf("made-up ids %q and %q", a, b)
	}
	// A server reusing one id within a response gets the repeat renamed.
	resp, err = p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: tools})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.ToolCalls[0].ID != "same" || resp.ToolCalls[1].ID == "same" || resp.ToolCalls[1].ID == "" {
		t.Errorf("ids = %q, %q", resp.ToolCalls[0].ID, resp.ToolCalls[1].ID)
	}
}

func TestLocalServerQuirks(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(
		fake.ToolCalls(fake.Call("todo_list", "")).WithStop(model.StopEnd),
		fake.Raw(200, `{"id":"x","object":"chat.completion","model":"local","choices":[]}`),
		fake.Text("cut off").WithStop(model.StopMaxTokens),
	)
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi"), Tools: tools})
	if err != nil || resp.StopReason != model.StopToolUse || string(resp.ToolCalls[0].Input) != `{}` {
		t.Errorf("stop with tool calls = %+v, %v", resp, err)
	}
	if _, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")}); err == nil || !strings.Contains(err.Error(), "no choices") {
		t.Errorf("no choices: err = %v", err)
	}
	if resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")}); err != nil || resp.StopReason != model.StopMaxTokens {
		t.Errorf("length: %+v, %v", resp, err)
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t, func(c *openai.Config) { c.Retry.Attempts = 5 })
	srv.Script(fake.Fault(429, 7*time.Second), fake.Fault(500, 0), fake.Fault(529, 0), fake.Fault(408, 250*time.Millisecond), fake.Text("finally"))
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil || resp.Text != "finally" {
		t.Fatalf("Complete = %+v, %v", resp, err)
	}
	want := []time.Duration{7 * time.Second, time.Second, 2 * time.Second, 250 * time.Millisecond}
	if d := cmp.Diff(want, rec.got()); d != "" {
		t.Errorf("waits (-want +got):\n%s", d)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t)
	srv.Script(fake.Fault(429, 0), fake.Fault(429, 0), fake.Fault(429, 0), fake.Fault(429, 0))
	_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	var me *model.Error
	if !errors.As(err, &me) || me.Status != 429 {
		t.Fatalf("err = %v, want a *model.Error with status 429", err)
	}
	for _, want := range []string{"openai chat completion (gpt-test)", "gave up after 4 attempts", "429 rate_limit_exceeded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if srv.Count() != 4 || len(rec.got()) != 3 {
		t.Errorf("requests %d, waits %d", srv.Count(), len(rec.got()))
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Raw(404, `{"error":{"message":"model 'llama9' not found","type":"not_found"}}`))
	_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	var me *model.Error
	if !errors.As(err, &me) || me.Status != 404 || !strings.Contains(me.Message, "model 'llama9' not found") {
		t.Fatalf("err = %v", err)
	}
	if srv.Count() != 1 {
		t.Errorf("requests = %d, want 1", srv.Count())
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	p, srv, rec := setup(t, func(c *openai.Config) { c.Timeout = 500 * time.Millisecond })
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
	// Sent back, the call carries exactly the text the model sent, so it can see its mistake.
	msgs := append(userAsks("hi"),
		model.Message{Role: model.Assistant, ToolCalls: resp.ToolCalls},
		model.Message{Role: model.User, ToolResults: []model.ToolResult{{CallID: call.ID, Content: "arguments are not a JSON object", IsError: true}}})
	if _, err := p.Complete(t.Context(), model.Request{Messages: msgs, Tools: tools}); err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	sent := sentBody(t, srv, 1)["messages"].([]any)[1].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
	if args := sent["function"].(map[string]any)["arguments"]; args != `{"title": "milk` {
		t.Errorf("arguments sent back = %q", args)
	}
}

func TestEmptyReply(t *testing.T) {
	t.Parallel()
	p, srv, _ := setup(t)
	srv.Script(fake.Empty(), fake.Text("ok"))
	resp, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
	if err != nil || resp.Text != "" || len(resp.ToolCalls) != 0 || resp.StopReason != model.StopEnd {
		t.Fatalf("empty reply = %+v, %v", resp, err)
	}
	// The empty turn, kept in the conversation, is not sent back as an empty message.
	msgs := append(userAsks("hi"), model.Message{Role: model.Assistant}, model.Message{Role: model.User, Text: "Rate it."})
	if _, err := p.Complete(t.Context(), model.Request{Messages: msgs}); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if n := len(sentBody(t, srv, 1)["messages"].([]any)); n != 2 {
		t.Errorf("sent %d messages, want 2", n)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := openai.New(openai.Config{BaseURL: "localhost:11434", MaxTokens: -1, Timeout: -time.Second})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"BaseURL must be an http(s) URL", "MaxTokens must be positive", "Timeout must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	p, err := openai.New(openai.Config{APIKey: "k"})
	if err != nil || p.Model() != openai.DefaultModel {
		t.Errorf("defaults: %v, model %q", err, p.Model())
	}
	// Issue 13.13: no key and no base URL would send every call to the public endpoint, to be
	// refused there; a local server (a base URL) needs no key.
	if _, err := openai.New(openai.Config{}); err == nil || !strings.Contains(err.Error(), "APIKey (OPENAI_API_KEY) is required") {
		t.Errorf("no key, no base URL: %v; want refused naming OPENAI_API_KEY", err)
	}
	if _, err := openai.New(openai.Config{BaseURL: "http://127.0.0.1:11434/v1"}); err != nil {
		t.Errorf("a local server without a key: %v", err)
	}
}

// BenchmarkComplete measures one model call through the SDK to the fake server on loopback
// with zero model latency: the provider's request overhead (fake server time included).
func BenchmarkComplete(b *testing.B) {
	srv := fake.New(b, fake.WithoutRecording(), fake.WithHandler(func(fake.Request) fake.Step {
		return fake.ToolCalls(fake.Call("todo_create", `{"title":"milk"}`))
	}))
	p, err := openai.New(openai.Config{APIKey: "k", BaseURL: srv.OpenAIURL()})
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

// TestUnreachableIsNotRetried: a host that does not resolve, a closed loopback port, a 401 and a
// 403 are given up after one attempt, the error naming the cause whole.
func TestUnreachableIsNotRetried(t *testing.T) {
	t.Parallel()
	closed := closedPort(t)
	for name, tc := range map[string]struct {
		url  string
		want []string
	}{
		"dns":     {"http://api.persona-runner.invalid/v1", []string{"api.persona-runner.invalid", "does not resolve", "not retried"}},
		"refused": {"http://" + closed + "/v1", []string{"connection refused", "nothing listens at " + closed, "not retried"}},
	} {
		p, _, rec := setup(t, func(c *openai.Config) { c.BaseURL = tc.url })
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
		srv.Script(fake.Raw(status, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`))
		_, err := p.Complete(t.Context(), model.Request{Messages: userAsks("hi")})
		if err == nil || !strings.Contains(err.Error(), "Incorrect API key provided") || srv.Count() != 1 || len(rec.got()) != 0 {
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
