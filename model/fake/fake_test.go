package fake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/model/fake"
)

// post sends body to the fake and returns status, headers and the decoded reply.
func post(t *testing.T, srv *fake.Server, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("reply is not JSON: %v: %s", err, raw)
	}
	return resp.StatusCode, resp.Header, out
}

const anthropicBody = `{
  "model": "claude-test", "max_tokens": 512,
  "system": [{"type":"text","text":"You are Ada.","cache_control":{"type":"ephemeral"}}],
  "messages": [
    {"role":"user","content":"Plan your day."},
    {"role":"assistant","content":[{"type":"text","text":"On it."},{"type":"tool_use","id":"toolu_1","name":"todo_create","input":{"title":"milk"}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"created"}],"is_error":true}]}
  ],
  "tools": [
    {"name":"todo_list","description":"List todos","input_schema":{"type":"object","properties":{}}},
    {"name":"todo_create","description":"Create a todo","input_schema":{"type":"object","properties":{"title":{"type":"string"}},"required":["title"]},"cache_control":{"type":"ephemeral"}}
  ]
}`

const openaiBody = `{
  "model": "gpt-test", "max_completion_tokens": 256,
  "messages": [
    {"role":"system","content":"You are Ada."},
    {"role":"user","content":[{"type":"text","text":"Plan your day."}]},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"todo_create","arguments":"{\"title\":\"milk\"}"}},
      {"id":"call_2","type":"function","function":{"name":"todo_list","arguments":"{bad"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"created"},
    {"role":"tool","tool_call_id":"call_2","content":"[]"}
  ],
  "tools": [{"type":"function","function":{"name":"todo_list","description":"List todos","parameters":{"type":"object","properties":{}}}}]
}`

func TestRecordsAnthropicRequestNeutrally(t *testing.T) {
	t.Parallel()
	srv := fake.New(t)
	srv.Script(fake.Text("hi"))
	status, _, reply := post(t, srv, "/v1/messages", anthropicBody)
	if status != 200 {
		t.Fatalf("status = %d, want 200: %v", status, reply)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.API != fake.Anthropic || got.Model != "claude-test" || got.MaxTokens != 512 || got.System != "You are Ada." || got.N != 1 {
		t.Errorf("request header fields = %v %q %d %q %d", got.API, got.Model, got.MaxTokens, got.System, got.N)
	}
	wantMsgs := []model.Message{
		{Role: model.User, Text: "Plan your day."},
		{Role: model.Assistant, Text: "On it.", ToolCalls: []model.ToolCall{{ID: "toolu_1", Name: "todo_create", Input: json.RawMessage(`{"title":"milk"}`)}}},
		{Role: model.User, ToolResults: []model.ToolResult{{CallID: "toolu_1", Content: "created", IsError: true}}},
	}
	if d := cmp.Diff(wantMsgs, got.Messages); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"system", "tool:todo_create"}, got.CacheMarks); d != "" {
		t.Errorf("cache marks (-want +got):\n%s", d)
	}
	if len(got.Tools) != 2 || got.Tools[1].Name != "todo_create" || !strings.Contains(string(got.Tools[1].InputSchema), `"required"`) {
		t.Errorf("tools = %+v", got.Tools)
	}
	if !got.HasTools() || got.Turns() != 1 || len(got.ToolResults()) != 1 || got.LastText() != "On it." {
		t.Errorf("helpers: HasTools=%v Turns=%d ToolResults=%d LastText=%q", got.HasTools(), got.Turns(), len(got.ToolResults()), got.LastText())
	}
	if string(got.Body) != anthropicBody {
		t.Errorf("raw body not kept")
	}
}

func TestRecordsOpenAIRequestNeutrally(t *testing.T) {
	t.Parallel()
	srv := fake.New(t)
	srv.Script(fake.Text("hi"))
	if status, _, reply := post(t, srv, "/v1/chat/completions", openaiBody); status != 200 {
		t.Fatalf("status = %d: %v", status, reply)
	}
	got := srv.Requests()[0]
	if got.API != fake.OpenAI || got.System != "You are Ada." || got.MaxTokens != 256 || len(got.CacheMarks) != 0 {
		t.Errorf("fields = %v %q %d %v", got.API, got.System, got.MaxTokens, got.CacheMarks)
	}
	wantMsgs := []model.Message{
		{Role: model.User, Text: "Plan your day."},
		{Role: model.Assistant, ToolCalls: []model.ToolCall{
			{ID: "call_1", Name: "todo_create", Input: json.RawMessage(`{"title":"milk"}`)},
			// Broken arguments are kept as a JSON string so the record stays marshalable.
			{ID: "call_2", Name: "todo_list", Input: json.RawMessage(`"{bad"`)},
		}},
		{Role: model.User, ToolResults: []model.ToolResult{{CallID: "call_1", Content: "created"}, {CallID: "call_2", Content: "[]"}}},
	}
	if d := cmp.Diff(wantMsgs, got.Messages); d != "" {
		t.Errorf("messages (-want +got):\n%s", d)
	}
	if _, err := json.Marshal(got.Messages); err != nil {
		t.Errorf("recorded messages do not marshal: %v", err)
	}
}

func TestScriptRepliesInOrderInBothFormats(t *testing.T) {
	t.Parallel()
	srv := fake.New(t)
	srv.Script(
		fake.ToolCalls(fake.Call("todo_create", `{"title":"milk"}`), fake.Call("todo_list", "")),
		fake.Text("Done.").WithUsage(model.Usage{InputTokens: 100, OutputTokens: 7, CachedTokens: 60}),
		fake.ToolCalls(model.ToolCall{ID: "mine", Name: "notes_add", Input: json.RawMessage(`{}`)}),
		fake.ToolCalls(fake.Call("todo_list", "{}")).WithoutIDs(),
		fake.Empty(),
	)

	_, _, r1 := post(t, srv, "/v1/messages", anthropicBody)
	if r1["stop_reason"] != "tool_use" {
		t.Errorf("stop_reason = %v, want tool_use", r1["stop_reason"])
	}
	content := r1["content"].([]any)
	if len(content) != 2 {
		t.Fatalf("content = %v, want two tool_use blocks", content)
	}
	first, second := content[0].(map[string]any), content[1].(map[string]any)
	if first["type"] != "tool_use" || first["name"] != "todo_create" || first["id"] == "" || first["id"] == second["id"] {
		t.Errorf("tool_use blocks = %v %v", first, second)
	}
	if d := cmp.Diff(map[string]any{}, second["input"]); d != "" {
		t.Errorf("empty args should be {} (-want +got):\n%s", d)
	}

	_, _, r2 := post(t, srv, "/v1/chat/completions", openaiBody)
	choice := r2["choices"].([]any)[0].(map[string]any)
	if choice["finish_reason"] != "stop" || choice["message"].(map[string]any)["content"] != "Done." {
		t.Errorf("choice = %v", choice)
	}
	u := r2["usage"].(map[string]any)
	if u["prompt_tokens"] != 100.0 || u["completion_tokens"] != 7.0 || u["prompt_tokens_details"].(map[string]any)["cached_tokens"] != 60.0 {
		t.Errorf("usage = %v", u)
	}

	_, _, r3 := post(t, srv, "/v1/chat/completions", openaiBody)
	call := r3["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
	if call["id"] != "mine" {
		t.Errorf("explicit id not kept: %v", call)
	}
	_, _, r4 := post(t, srv, "/v1/chat/completions", openaiBody)
	call = r4["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
	if _, ok := call["id"]; ok {
		t.Errorf("WithoutIDs still sent an id: %v", call)
	}
	_, _, r5 := post(t, srv, "/v1/messages", anthropicBody)
	if c := r5["content"].([]any); len(c) != 0 || r5["stop_reason"] != "end_turn" {
		t.Errorf("empty reply = %v", r5)
	}
	if srv.Pending() != 0 || srv.Count() != 5 || srv.BytesIn() != int64(2*len(anthropicBody)+3*len(openaiBody)) {
		t.Errorf("Pending=%d Count=%d BytesIn=%d", srv.Pending(), srv.Count(), srv.BytesIn())
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	srv := fake.New(t)
	srv.Script(
		fake.Fault(429, 2*time.Second),
		fake.Fault(529, 1500*time.Millisecond),
		fake.Fault(500, 0),
		fake.Raw(200, `{"id": "broken`),
	)
	status, h, body := post(t, srv, "/v1/messages", anthropicBody)
	if status != 429 || h.Get("Retry-After") != "2" || h.Get("retry-after-ms") != "" {
		t.Errorf("429: status %d Retry-After %q retry-after-ms %q", status, h.Get("Retry-After"), h.Get("retry-after-ms"))
	}
	if e := body["error"].(map[string]any); e["type"] != "rate_limit_error" {
		t.Errorf("anthropic error body = %v", body)
	}
	status, h, body = post(t, srv, "/v1/chat/completions", openaiBody)
	if status != 529 || h.Get("Retry-After") != "2" || h.Get("retry-after-ms") != "1500" {
		t.Errorf("529: status %d Retry-After %q retry-after-ms %q", status, h.Get("Retry-After"), h.Get("retry-after-ms"))
	}
	if e := body["error"].(map[string]any); e["message"] == "" {
		t.Errorf("openai error body = %v", body)
	}
	if status, _, _ = post(t, srv, "/v1/chat/completions", openaiBody); status != 500 {
		t.Errorf("status = %d, want 500", status)
	}
	resp, err := srv.Client().Post(srv.URL()+"/v1/messages", "application/json", strings.NewReader(anthropicBody))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(raw) != `{"id": "broken` {
		t.Errorf("raw body = %q", raw)
	}
}

// recordingTB catches the errors the server reports so a test can expect one.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestExhaustedScriptFailsTheTest(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	srv := fake.New(rec)
	status, _, body := post(t, srv, "/v1/messages", anthropicBody)
	if status != 400 || !strings.Contains(fmt.Sprint(body), "no step scripted") {
		t.Errorf("status %d body %v", status, body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "request 1") {
		t.Errorf("reported errors = %q", rec.errs)
	}
}

func TestFuncAndHandler(t *testing.T) {
	t.Parallel()
	srv := fake.New(t, fake.WithHandler(func(r fake.Request) fake.Step { return fake.Text("handler " + r.Model) }))
	srv.Script(fake.Func(func(r fake.Request) fake.Step { return fake.Text(fmt.Sprintf("func %d", r.N)) }))
	_, _, r1 := post(t, srv, "/v1/messages", anthropicBody)
	_, _, r2 := post(t, srv, "/v1/messages", anthropicBody)
	t1 := r1["content"].([]any)[0].(map[string]any)["text"]
	t2 := r2["content"].([]any)[0].(map[string]any)["text"]
	if t1 != "func 1" || t2 != "handler claude-test" {
		t.Errorf("texts = %q, %q", t1, t2)
	}
}

func TestSlowStepEndsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	srv := fake.New(t)
	arrived := make(chan struct{})
	srv.Script(fake.Func(func(fake.Request) fake.Step {
		close(arrived)
		return fake.Text("late").WithDelay(time.Hour)
	}))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/v1/messages", strings.NewReader(anthropicBody))
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a request cancelled during the delay succeeded")
	}
	srv.Close() // must not hang on the hour-long delay
}

func TestAgentPlaysARun(t *testing.T) {
	t.Parallel()
	tools := []model.Tool{
		{Name: "todo_create", InputSchema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"},"due":{"type":"string"},"prio":{"type":"integer","enum":[3,1]},"done":{"type":"boolean"}},"required":["title","prio","done"]}`)},
		{Name: "notes_list", InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)},
	}
	agent := fake.Agent(3)
	req := fake.Request{Tools: tools}
	var calls []model.ToolCall
	for i := range 3 {
		step := agent(req)
		// Learn what the step says by serving it.
		srv := fake.New(t)
		srv.Script(step)
		_, _, reply := post(t, srv, "/v1/messages", anthropicBody)
		block := reply["content"].([]any)[0].(map[string]any)
		if block["type"] != "tool_use" {
			t.Fatalf("turn %d: %v, want a tool call", i, block)
		}
		in, _ := json.Marshal(block["input"])
		call := model.ToolCall{ID: block["id"].(string), Name: block["name"].(string), Input: in}
		calls = append(calls, call)
		req.Messages = append(req.Messages, model.Message{Role: model.Assistant, ToolCalls: []model.ToolCall{call}},
			model.Message{Role: model.User, ToolResults: []model.ToolResult{{CallID: call.ID, Content: "ok"}}})
	}
	if calls[0].Name != "todo_create" || calls[1].Name != "notes_list" || calls[2].Name != "todo_create" {
		t.Errorf("tools called = %v", calls)
	}
	if d := cmp.Diff(`{"done":true,"prio":3,"title":"sample"}`, string(calls[0].Input)); d != "" {
		t.Errorf("sample args (-want +got):\n%s", d)
	}
	if got := fake.Ratings(calls); got != `{"ratings":[{"module":"todo","rating":4,"notes":"todo did what I needed."},{"module":"notes","rating":4,"notes":"notes did what I needed."}]}` {
		t.Errorf("ratings = %s", got)
	}
}

func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	srv := fake.New(t, fake.WithHandler(fake.Agent(2)), fake.WithLatency(time.Millisecond))
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			status, _, body := post(t, srv, "/v1/chat/completions", openaiBody)
			if status != 200 {
				t.Errorf("status %d: %v", status, body)
			}
		})
	}
	wg.Wait()
	if srv.Count() != 32 || len(srv.Requests()) != 32 {
		t.Errorf("Count=%d recorded=%d, want 32", srv.Count(), len(srv.Requests()))
	}
}

func TestWithoutRecording(t *testing.T) {
	t.Parallel()
	srv := fake.New(t, fake.WithoutRecording(), fake.WithHandler(fake.Agent(1)))
	post(t, srv, "/v1/messages", anthropicBody)
	if srv.Count() != 1 || len(srv.Requests()) != 0 || srv.BytesIn() == 0 {
		t.Errorf("Count=%d recorded=%d BytesIn=%d", srv.Count(), len(srv.Requests()), srv.BytesIn())
	}
}

func (r *recordingTB) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// TestToolHistoryNeedsToolDefinitions: like the real APIs, the fake refuses a conversation with
// tool calls when the request defines no tools, and fails the test that sent it.
func TestToolHistoryNeedsToolDefinitions(t *testing.T) {
	t.Parallel()
	withoutTools := func(body string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "tools")
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, tc := range []struct {
		path, body, msg string
	}{
		{"/v1/messages", anthropicBody, "must define tools"},
		{"/v1/chat/completions", openaiBody, "require 'tools'"},
	} {
		rec := &recordingTB{TB: t}
		srv := fake.New(rec, fake.WithHandler(fake.Agent(1)))
		status, _, reply := post(t, srv, tc.path, withoutTools(tc.body))
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(reply), tc.msg) {
			t.Errorf("%s without tools: %d %v", tc.path, status, reply)
		}
		if f := rec.failures(); len(f) != 1 || !strings.Contains(f[0], tc.msg) {
			t.Errorf("%s without tools: test failures %q", tc.path, f)
		}
		// The same conversation with its tools is fine.
		if status, _, reply := post(t, srv, tc.path, tc.body); status != http.StatusOK {
			t.Errorf("%s with tools: %d %v", tc.path, status, reply)
		}
		if f := rec.failures(); len(f) != 1 {
			t.Errorf("%s with tools: test failures %q", tc.path, f)
		}
	}
}

// TestToolChoiceNoneIsTheRatingTurn: tools defined with tool choice none may not be called, so
// Agent rates instead of calling one.
func TestToolChoiceNoneIsTheRatingTurn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, body, choice string }{
		{"/v1/messages", anthropicBody, `{"type":"none"}`},
		{"/v1/chat/completions", openaiBody, `"none"`},
	} {
		srv := fake.New(t, fake.WithHandler(fake.Agent(5)))
		body := strings.TrimSuffix(strings.TrimSpace(tc.body), "}") + `,"tool_choice":` + tc.choice + "}"
		status, _, reply := post(t, srv, tc.path, body)
		got := srv.Requests()[0]
		if status != http.StatusOK || got.ToolChoice != "none" || got.HasTools() || len(got.Tools) == 0 {
			t.Fatalf("%s: %d, tool choice %q, %d tools: %v", tc.path, status, got.ToolChoice, len(got.Tools), reply)
		}
		if !strings.Contains(fmt.Sprint(reply), "ratings") {
			t.Errorf("%s: the agent did not rate: %v", tc.path, reply)
		}
	}
}
