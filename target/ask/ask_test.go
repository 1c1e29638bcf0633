//lint:file-ignore SA1019 sampling is deprecated in protocol 2026-07-28 but still in use; these tests cover it

package ask_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/target/ask"
)

// answerer records what it was asked and answers as set.
type answerer struct {
	mu        sync.Mutex
	samplings []ask.Sampling
	elicits   []ask.Elicitation
	reply     ask.Reply
}

func (a *answerer) Sample(_ context.Context, req ask.Sampling) (ask.Sample, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.samplings = append(a.samplings, req)
	return ask.Sample{Text: "a reply", Model: "m-1", StopReason: model.StopMaxTokens}, nil
}

func (a *answerer) Elicit(_ context.Context, req ask.Elicitation) (ask.Reply, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.elicits = append(a.elicits, req)
	return a.reply, nil
}

// ask calls the server's tool "ask", which asks the client params (an input request of the
// multi round-trip protocol the go-sdk speaks, SEP-2322) and returns the answer as JSON.
func ask1(t *testing.T, a ask.Answerer, params mcp.InputRequest) (mcp.InputResponse, error) {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	srv := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	var got mcp.InputResponse
	srv.AddTool(&mcp.Tool{Name: "ask", InputSchema: json.RawMessage(`{"type":"object"}`)}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if r, ok := req.Params.InputResponses["q"]; ok {
			got = r
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "thanks"}}}, nil
		}
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"q": params}}, nil
	})
	ss, err := srv.Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "persona-runner", Version: "1"}, ask.ClientOptions(a)).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cs.Close(); ss.Close() }()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{}})
	if err != nil {
		return nil, err
	}
	if res.IsError {
		return nil, fmt.Errorf("tool error: %v", res.Content)
	}
	return got, nil
}

func TestSamplingRoundTrip(t *testing.T) {
	a := &answerer{}
	out, err := ask1(t, a, &mcp.CreateMessageParams{
		SystemPrompt: "You are a helpful test server.",
		MaxTokens:    100,
		Messages: []*mcp.SamplingMessage{
			{Role: "user", Content: &mcp.TextContent{Text: "first"}},
			{Role: "user", Content: &mcp.ImageContent{MIMEType: "image/png", Data: []byte{1, 2, 3}}},
			{Role: "assistant", Content: &mcp.TextContent{Text: "ok"}},
			{Role: "user", Content: &mcp.TextContent{Text: "write a haiku"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, ok := out.(*mcp.CreateMessageWithToolsResult)
	if !ok || len(res.Content) != 1 {
		t.Fatalf("answer %T %+v", out, out)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != "a reply" || res.Model != "m-1" || res.StopReason != "maxTokens" || res.Role != "assistant" {
		t.Errorf("result %+v", res)
	}
	got := a.samplings[0]
	want := []model.Message{
		{Role: model.User, Text: "first\n\n[an image (image/png, 3 bytes) the app sent]"},
		{Role: model.Assistant, Text: "ok"},
		{Role: model.User, Text: "write a haiku"},
	}
	if diff := cmp.Diff(want, got.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if got.System != "You are a helpful test server." || got.MaxTokens != 100 || !json.Valid(got.Raw) {
		t.Errorf("sampling %+v", got)
	}
}

var formSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"name": map[string]any{"type": "string"},
		"age":  map[string]any{"type": "integer", "minimum": 1},
	},
	"required": []any{"name"},
}

func TestElicitationRoundTrip(t *testing.T) {
	a := &answerer{reply: ask.Reply{Action: ask.Accept, Content: map[string]any{"name": "Anna", "age": float64(21)}}}
	out, err := ask1(t, a, &mcp.ElicitParams{Message: "Who are you?", RequestedSchema: formSchema})
	if err != nil {
		t.Fatal(err)
	}
	res := out.(*mcp.ElicitResult)
	if res.Action != ask.Accept || res.Content["name"] != "Anna" {
		t.Errorf("result %+v", res)
	}
	e := a.elicits[0]
	if e.Message != "Who are you?" || !strings.Contains(string(e.Schema), `"required":["name"]`) {
		t.Errorf("elicitation %+v", e)
	}

	a.reply = ask.Reply{Action: ask.Decline}
	out, err = ask1(t, a, &mcp.ElicitParams{Message: "Your password?", RequestedSchema: formSchema})
	if err != nil || out.(*mcp.ElicitResult).Action != ask.Decline {
		t.Errorf("decline: %+v, %v", out, err)
	}
}

func TestCheck(t *testing.T) {
	schema, _ := json.Marshal(formSchema)
	if err := ask.Check(schema, map[string]any{"name": "Anna"}); err != nil {
		t.Errorf("valid content refused: %v", err)
	}
	for _, bad := range []map[string]any{{}, {"name": "A", "age": float64(0)}, {"name": 3.0}} {
		if err := ask.Check(schema, bad); err == nil {
			t.Errorf("Check(%v) = nil, want an error", bad)
		}
	}
}
