// Package model is the seam between the runner's agent loop and a model provider. Adapters live
// in model/anthropic, model/openai and model/sim; model/fake is a scriptable fake model server for
// tests and benchmarks. This package imports no SDK.
package model

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Role is who wrote a message.
type Role string

const (
	User      Role = "user"
	Assistant Role = "assistant"
)

// ToolCall is a model's request to call a tool. Name is the model-facing name (no dots).
type ToolCall struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// ToolResult answers one ToolCall, paired by CallID.
type ToolResult struct {
	CallID  string `json:"callId"`
	Content string `json:"content"`
	IsError bool   `json:"isError,omitempty"`
}

// Message is one turn of the conversation. An assistant message carries Text and/or ToolCalls;
// a user message carries Text or ToolResults (the results of the previous assistant turn).
type Message struct {
	Role        Role         `json:"role"`
	Text        string       `json:"text,omitempty"`
	ToolCalls   []ToolCall   `json:"toolCalls,omitempty"`
	ToolResults []ToolResult `json:"toolResults,omitempty"`
}

// Tool is a tool offered to the model. Name must match ^[a-zA-Z0-9_-]{1,64}$.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// Phase tells which part of a persona run a request belongs to.
type Phase string

const (
	PhaseMain   Phase = "main"
	PhaseRating Phase = "rating"
	// PhaseSampling answers an app's sampling/createMessage request: the app's own messages and
	// system prompt, no tools; the persona's provider writes the reply.
	PhaseSampling Phase = "sampling"
	// PhaseElicitation answers an app's elicitation/create request in character: the request
	// offers two tools, AnswerTool (whose input schema is the form the app asks to fill in) and
	// DeclineTool; a reply that calls neither declines too.
	PhaseElicitation Phase = "elicitation"
)

// The tools of an elicitation request (PhaseElicitation).
const (
	AnswerTool  = "answer"
	DeclineTool = "decline"
)

// Persona describes who is being played. LLM providers ignore it (the system prompt says it all);
// the offline simulator (model/sim) plays from it.
type Persona struct {
	Email     string             `json:"email"`
	Archetype string             `json:"archetype"`
	ModuleMix map[string]float64 `json:"moduleMix"`
	Timezone  string             `json:"timezone"`
}

// ToolChoice says whether the model may call the tools a request defines.
type ToolChoice string

const (
	// ToolChoiceAuto lets the model call a tool or answer in text (the zero value).
	ToolChoiceAuto ToolChoice = ""
	// ToolChoiceNone keeps the tool definitions in the request but lets the model answer in text
	// only. The rating turn uses it: its history holds tool calls, and the APIs reject a request
	// whose history has tool_use blocks but no tool definitions.
	ToolChoiceNone ToolChoice = "none"
)

// Request is one model call.
type Request struct {
	System   string
	Messages []Message
	// Tools are the tools defined for the model. The rating turn sends the main turn's tools
	// with ToolChoice ToolChoiceNone, so that it may not call them.
	Tools      []Tool
	ToolChoice ToolChoice
	MaxTokens  int // 0 = provider default
	Phase      Phase
	Persona    Persona
	TickID     string
}

// CanCallTools reports whether the model may call a tool in this request: tools are defined
// and the tool choice does not forbid them.
func (r Request) CanCallTools() bool { return len(r.Tools) > 0 && r.ToolChoice != ToolChoiceNone }

// StopReason says why the model stopped.
type StopReason string

const (
	StopEnd       StopReason = "end_turn"
	StopToolUse   StopReason = "tool_use"
	StopMaxTokens StopReason = "max_tokens"
	StopOther     StopReason = "other"
)

// Usage counts tokens of one call. CachedTokens are input tokens served from a prompt cache.
type Usage struct {
	InputTokens  int64 `json:"inputTokens"`
	OutputTokens int64 `json:"outputTokens"`
	CachedTokens int64 `json:"cachedTokens"`
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{u.InputTokens + v.InputTokens, u.OutputTokens + v.OutputTokens, u.CachedTokens + v.CachedTokens}
}

// Response is the model's answer: the assistant message's text and tool calls.
type Response struct {
	Text       string
	ToolCalls  []ToolCall
	StopReason StopReason
	Usage      Usage
	Model      string // the model that answered, as the provider names it
}

// Provider is a model. Complete must be safe for concurrent use.
type Provider interface {
	// Name is the provider's name for logs and records: "anthropic", "openai", "sim".
	Name() string
	// Model is the configured model name.
	Model() string
	// Complete runs one model call. It retries transient failures itself and returns an error
	// only when the call cannot succeed (wrapped *Error where the API said why).
	Complete(ctx context.Context, req Request) (Response, error)
}

// Error is a failed model call as the API reported it.
type Error struct {
	Status     int // HTTP status, 0 for transport errors
	Message    string
	RetryAfter time.Duration // from Retry-After, when given
	// Permanent marks a transport error that trying again cannot mend: a host name that does
	// not resolve, a connection refused by a loopback address (nothing listens at a configured
	// local URL). Retry gives up on it at once.
	Permanent bool
}

func (e *Error) Error() string { return e.Message }

// Retryable reports whether a call that failed with status may succeed later (429, 5xx, 529).
func Retryable(status int) bool { return status == 429 || status == 408 || status >= 500 }

// ErrBudget is returned when a run's token budget is spent; the runner stops the run gracefully.
var ErrBudget = errors.New("token budget exhausted")
