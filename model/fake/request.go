package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/persona-runner/persona-runner/model"
)

// API names the wire format a request came in.
type API string

const (
	Anthropic API = "anthropic" // POST /v1/messages
	OpenAI    API = "openai"    // POST /v1/chat/completions
)

// Request is one request the server got, decoded into the provider-neutral shapes of package
// model so that tests assert on it the same way whichever adapter sent it.
type Request struct {
	N        int // 1-based order of arrival
	API      API
	Model    string
	System   string // the system prompt (system blocks or system/developer messages, joined by "\n")
	Messages []model.Message
	Tools    []model.Tool
	// ToolChoice is the request's tool choice as its type: "" when not sent, else "auto", "none",
	// "any", "tool" (Anthropic) or "auto", "none", "required", "function" (OpenAI).
	ToolChoice string
	MaxTokens  int
	// CacheMarks lists where Anthropic cache_control markers were set: "system", "tool:<name>" or
	// "message:<index>". Empty for OpenAI.
	CacheMarks []string
	Header     http.Header
	Body       []byte // the raw request body
}

// HasTools reports whether the request offered tools the model may call: tools are defined and
// the tool choice is not "none" (the rating turn defines them but forbids calls).
func (r Request) HasTools() bool { return len(r.Tools) > 0 && r.ToolChoice != "none" }

// invalid returns why the real API would refuse the request, or "". Both APIs refuse a
// conversation with tool calls or tool results when the request defines no tools.
func (r Request) invalid() string {
	if len(r.Tools) > 0 {
		return ""
	}
	for _, m := range r.Messages {
		if len(m.ToolCalls) > 0 || len(m.ToolResults) > 0 {
			if r.API == Anthropic {
				return "Requests which include `tool_use` or `tool_result` blocks must define tools."
			}
			return "messages with tool_calls or role 'tool' require 'tools' to be defined"
		}
	}
	return ""
}

// toolChoice reads a tool_choice: a string ("none") or an object with a type ({"type":"none"}).
func toolChoice(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Type
}

// ToolCalls returns every tool call of the assistant messages so far, in order.
func (r Request) ToolCalls() []model.ToolCall {
	var out []model.ToolCall
	for _, m := range r.Messages {
		out = append(out, m.ToolCalls...)
	}
	return out
}

// ToolResults returns every tool result sent so far, in order.
func (r Request) ToolResults() []model.ToolResult {
	var out []model.ToolResult
	for _, m := range r.Messages {
		out = append(out, m.ToolResults...)
	}
	return out
}

// Turns counts the assistant messages so far: the model turns already taken in this
// conversation.
func (r Request) Turns() int {
	n := 0
	for _, m := range r.Messages {
		if m.Role == model.Assistant {
			n++
		}
	}
	return n
}

// LastText returns the text of the last message that has any.
func (r Request) LastText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Text != "" {
			return r.Messages[i].Text
		}
	}
	return ""
}

// Anthropic wire shapes, as much as the fake reads.
type anthropicRequest struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name         string          `json:"name"`
		Description  string          `json:"description"`
		InputSchema  json.RawMessage `json:"input_schema"`
		CacheControl json.RawMessage `json:"cache_control"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

type anthropicBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// anthropicBlocks reads content that is either a string or an array of blocks.
func anthropicBlocks(raw json.RawMessage) ([]anthropicBlock, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []anthropicBlock{{Type: "text", Text: s}}, nil
	}
	var bs []anthropicBlock
	if err := json.Unmarshal(raw, &bs); err != nil {
		return nil, err
	}
	return bs, nil
}

func marked(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func decodeAnthropic(body []byte) (Request, error) {
	var in anthropicRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return Request{}, fmt.Errorf("decode anthropic request: %w", err)
	}
	r := Request{API: Anthropic, Model: in.Model, MaxTokens: in.MaxTokens, ToolChoice: toolChoice(in.ToolChoice)}
	sys, err := anthropicBlocks(in.System)
	if err != nil {
		return Request{}, fmt.Errorf("decode anthropic request: system: %w", err)
	}
	var parts []string
	for _, b := range sys {
		parts = append(parts, b.Text)
		if marked(b.CacheControl) {
			r.CacheMarks = append(r.CacheMarks, "system")
		}
	}
	r.System = strings.Join(parts, "\n")
	for i, m := range in.Messages {
		blocks, err := anthropicBlocks(m.Content)
		if err != nil {
			return Request{}, fmt.Errorf("decode anthropic request: messages[%d].content: %w", i, err)
		}
		msg := model.Message{Role: model.Role(m.Role)}
		var texts []string
		for _, b := range blocks {
			if marked(b.CacheControl) {
				r.CacheMarks = append(r.CacheMarks, fmt.Sprintf("message:%d", i))
			}
			switch b.Type {
			case "text":
				texts = append(texts, b.Text)
			case "tool_use":
				msg.ToolCalls = append(msg.ToolCalls, model.ToolCall{ID: b.ID, Name: b.Name, Input: b.Input})
			case "tool_result":
				content, err := anthropicBlocks(b.Content)
				if err != nil {
					return Request{}, fmt.Errorf("decode anthropic request: messages[%d] tool_result content: %w", i, err)
				}
				var ct []string
				for _, c := range content {
					ct = append(ct, c.Text)
				}
				msg.ToolResults = append(msg.ToolResults, model.ToolResult{CallID: b.ToolUseID, Content: strings.Join(ct, "\n"), IsError: b.IsError})
			}
		}
		msg.Text = strings.Join(texts, "\n")
		r.Messages = append(r.Messages, msg)
	}
	for _, t := range in.Tools {
		r.Tools = append(r.Tools, model.Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
		if marked(t.CacheControl) {
			r.CacheMarks = append(r.CacheMarks, "tool:"+t.Name)
		}
	}
	return r, nil
}

// OpenAI wire shapes, as much as the fake reads.
type openaiRequest struct {
	Model               string `json:"model"`
	MaxTokens           int    `json:"max_tokens"`
	MaxCompletionTokens int    `json:"max_completion_tokens"`
	Messages            []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
	ToolChoice json.RawMessage `json:"tool_choice"`
}

// openaiText reads content that is a string, null or an array of text parts.
func openaiText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", err
	}
	var texts []string
	for _, p := range parts {
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, "\n"), nil
}

// argsJSON turns tool-call arguments as sent on the wire into a valid JSON value: the object
// itself, or the broken text as a JSON string so that the recorded request stays marshalable.
func argsJSON(args string) json.RawMessage {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage(`{}`)
	}
	if json.Valid([]byte(args)) {
		return json.RawMessage(args)
	}
	b, _ := json.Marshal(args)
	return b
}

func decodeOpenAI(body []byte) (Request, error) {
	var in openaiRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return Request{}, fmt.Errorf("decode openai request: %w", err)
	}
	r := Request{API: OpenAI, Model: in.Model, MaxTokens: in.MaxTokens, ToolChoice: toolChoice(in.ToolChoice)}
	if in.MaxCompletionTokens > 0 {
		r.MaxTokens = in.MaxCompletionTokens
	}
	var sys []string
	for i, m := range in.Messages {
		text, err := openaiText(m.Content)
		if err != nil {
			return Request{}, fmt.Errorf("decode openai request: messages[%d].content: %w", i, err)
		}
		switch m.Role {
		case "system", "developer":
			sys = append(sys, text)
		case "tool":
			// Consecutive tool messages answer one assistant turn: one neutral user message.
			n := len(r.Messages)
			if n == 0 || r.Messages[n-1].Role != model.User || len(r.Messages[n-1].ToolResults) == 0 {
				r.Messages = append(r.Messages, model.Message{Role: model.User})
				n++
			}
			r.Messages[n-1].ToolResults = append(r.Messages[n-1].ToolResults, model.ToolResult{CallID: m.ToolCallID, Content: text})
		default:
			msg := model.Message{Role: model.Role(m.Role), Text: text}
			for _, tc := range m.ToolCalls {
				msg.ToolCalls = append(msg.ToolCalls, model.ToolCall{ID: tc.ID, Name: tc.Function.Name, Input: argsJSON(tc.Function.Arguments)})
			}
			r.Messages = append(r.Messages, msg)
		}
	}
	r.System = strings.Join(sys, "\n")
	for _, t := range in.Tools {
		r.Tools = append(r.Tools, model.Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: t.Function.Parameters})
	}
	return r, nil
}
