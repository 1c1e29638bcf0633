// Package openai is the model.Provider for OpenAI-compatible Chat Completions, built on the
// official SDK. The base URL is configurable, so the same code talks to OpenAI, OpenRouter,
// Ollama, vLLM and the llama.cpp server. Requests are non-streaming. What local servers get wrong
// is smoothed over here: tool calls without ids get made-up ones, tools without inputs get
// `properties: {}`, and "stop" with tool calls is read as tool use. The SDK's own retries are
// off: model.Retry applies the same policy to every provider.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/retry"
)

// Defaults of Config.
const (
	DefaultModel     = "gpt-4o-mini"
	DefaultBaseURL   = "https://api.openai.com/v1"
	DefaultMaxTokens = 1024
	DefaultTimeout   = 2 * time.Minute
)

// Config configures the provider. The runner's config loader fills it; the zero value of every
// field means the default.
type Config struct {
	// APIKey (OPENAI_API_KEY) is sent as a bearer token; local servers need none.
	APIKey string
	Model  string // default DefaultModel
	// BaseURL is the API root including /v1 (OPENAI_BASE_URL), e.g. http://localhost:11434/v1
	// for Ollama; default DefaultBaseURL.
	BaseURL   string
	MaxTokens int           // used when a Request has no MaxTokens; default DefaultMaxTokens
	Timeout   time.Duration // per attempt; default DefaultTimeout
	// MaxCompletionTokens sends the limit as max_completion_tokens, which OpenAI's reasoning
	// models require, instead of max_tokens, which is all most local servers understand.
	MaxCompletionTokens bool
	Retry               retry.Policy
	// HTTPClient defaults to a client whose connection pool keeps enough idle connections for a
	// large worker pool talking to one host.
	HTTPClient *http.Client
}

func (c Config) withDefaults() Config {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HTTPClient == nil {
		c.HTTPClient = model.NewHTTPClient()
	}
	return c
}

// Validate lists every problem of the config in one error, naming the fields.
func (c Config) Validate() error {
	var problems []string
	if c.BaseURL == "" && strings.TrimSpace(c.APIKey) == "" {
		// The public endpoint without a key can only answer 401, after a trip across the
		// network (issue 13.13): refused here, as Anthropic without a key is.
		problems = append(problems, "APIKey (OPENAI_API_KEY) is required for the public OpenAI endpoint; set it, or BaseURL (OPENAI_BASE_URL) for a local server that needs none")
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("BaseURL must be an http(s) URL (got %q)", c.BaseURL))
		}
	}
	if c.MaxTokens < 0 {
		problems = append(problems, fmt.Sprintf("MaxTokens must be positive (got %d)", c.MaxTokens))
	}
	if c.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("Timeout must be positive (got %v)", c.Timeout))
	}
	if err := c.Retry.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("openai config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Provider calls Chat Completions. It is safe for concurrent use.
type Provider struct {
	cfg    Config
	client sdk.Client
	tools  model.ToolCache[sdk.ChatCompletionToolUnionParam]
}

var _ model.Provider = (*Provider)(nil)

// New checks cfg and returns a provider.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// The base URL and key are always set explicitly, so OPENAI_BASE_URL and OPENAI_API_KEY
	// read by the SDK itself never override (or leak to) the configured server.
	client := sdk.NewClient(
		option.WithAPIKey(cfg.APIKey),
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(cfg.Timeout),
	)
	return &Provider{cfg: cfg, client: client}, nil
}

// Name is "openai".
func (p *Provider) Name() string { return "openai" }

// Model is the configured model.
func (p *Provider) Model() string { return p.cfg.Model }

// Complete sends one chat completion request, retrying transient failures by the configured
// policy.
func (p *Provider) Complete(ctx context.Context, req model.Request) (model.Response, error) {
	params := p.params(req)
	resp, err := model.Retry(ctx, p.cfg.Retry, func(ctx context.Context) (*sdk.ChatCompletion, error) {
		actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		c, err := p.client.Chat.Completions.New(actx, params)
		if err != nil {
			return nil, classify(ctx, err, p.cfg.Timeout)
		}
		return c, nil
	})
	if err != nil {
		return model.Response{}, fmt.Errorf("openai chat completion (%s): %w", p.cfg.Model, err)
	}
	out, err := response(resp, len(req.Messages))
	if err != nil {
		return model.Response{}, fmt.Errorf("openai chat completion (%s): %w", p.cfg.Model, err)
	}
	return out, nil
}

func (p *Provider) params(req model.Request) sdk.ChatCompletionNewParams {
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = p.cfg.MaxTokens
	}
	params := sdk.ChatCompletionNewParams{Model: p.cfg.Model, Messages: messages(req.System, req.Messages)}
	if p.cfg.MaxCompletionTokens {
		params.MaxCompletionTokens = sdk.Int(int64(maxTokens))
	} else {
		params.MaxTokens = sdk.Int(int64(maxTokens))
	}
	for _, t := range req.Tools {
		params.Tools = append(params.Tools, p.tools.Get(t, tool))
	}
	if len(params.Tools) > 0 && req.ToolChoice == model.ToolChoiceNone {
		// The rating turn: the definitions stay, since the history has tool calls, but the
		// model must answer in text.
		params.ToolChoice = sdk.ChatCompletionToolChoiceOptionUnionParam{OfAuto: sdk.String("none")}
	}
	return params
}

// messages maps the conversation: the system prompt as the first message, tool results as one
// `tool` message each (with the id of the call they answer) ahead of any user text, and
// assistant tool calls with their arguments as the model sent them. Chat Completions has no
// error flag on a tool result, so a failed call's content is prefixed with "Error: ".
func messages(system string, in []model.Message) []sdk.ChatCompletionMessageParamUnion {
	out := make([]sdk.ChatCompletionMessageParamUnion, 0, len(in)+1)
	if system != "" {
		out = append(out, sdk.SystemMessage(system))
	}
	for _, m := range in {
		if m.Role == model.Assistant {
			if m.Text == "" && len(m.ToolCalls) == 0 {
				continue // Nothing said; some servers reject an empty assistant message.
			}
			a := sdk.ChatCompletionAssistantMessageParam{}
			if m.Text != "" {
				a.Content.OfString = sdk.String(m.Text)
			}
			for _, c := range m.ToolCalls {
				a.ToolCalls = append(a.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
						ID:       c.ID,
						Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: c.Name, Arguments: model.ArgsText(c.Input)},
					},
				})
			}
			out = append(out, sdk.ChatCompletionMessageParamUnion{OfAssistant: &a})
			continue
		}
		for _, r := range m.ToolResults {
			content := r.Content
			if r.IsError && !strings.HasPrefix(strings.ToLower(content), "error") {
				content = "Error: " + content
			}
			out = append(out, sdk.ToolMessage(content, r.CallID))
		}
		if m.Text != "" {
			out = append(out, sdk.UserMessage(m.Text))
		}
	}
	return out
}

// tool maps a tool definition to a function tool.
func tool(t model.Tool) sdk.ChatCompletionToolUnionParam {
	fn := shared.FunctionDefinitionParam{Name: t.Name, Parameters: parameters(t.InputSchema)}
	if t.Description != "" {
		fn.Description = sdk.String(t.Description)
	}
	return sdk.ChatCompletionFunctionTool(fn)
}

// parameters is a tool's JSON schema as function parameters, each keyword's value kept as sent
// (raw JSON, nothing decoded into maps). An object schema without properties gets
// `properties: {}`: OpenAI rejects an object schema without them, and MCP tools that take no
// inputs often have none.
func parameters(schema json.RawMessage) shared.FunctionParameters {
	raw := map[string]json.RawMessage{}
	if len(schema) > 0 {
		// A schema that does not decode is sent as an empty object schema; the model then calls
		// the tool without arguments and the tool says what it misses.
		if json.Unmarshal(schema, &raw) != nil {
			raw = nil
		}
	}
	params := make(shared.FunctionParameters, len(raw)+2)
	for k, v := range raw {
		params[k] = v
	}
	if _, ok := raw["type"]; !ok {
		params["type"] = "object"
	}
	var typ string
	object := raw["type"] == nil || json.Unmarshal(raw["type"], &typ) == nil && typ == "object"
	if props := raw["properties"]; object && (props == nil || strings.TrimSpace(string(props)) == "null") {
		params["properties"] = map[string]any{}
	}
	return params
}

// response maps the first choice.
func response(c *sdk.ChatCompletion, turn int) (model.Response, error) {
	if len(c.Choices) == 0 {
		return model.Response{}, errors.New("the reply has no choices")
	}
	choice := c.Choices[0]
	msg := choice.Message
	out := model.Response{Text: msg.Content, Model: c.Model}
	if out.Text == "" && msg.Refusal != "" {
		out.Text = msg.Refusal
	}
	for _, tc := range msg.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue // Custom (free-text) tools are never offered by the runner.
		}
		out.ToolCalls = append(out.ToolCalls, model.ToolCall{ID: tc.ID, Name: tc.Function.Name, Input: model.WireArgs([]byte(tc.Function.Arguments))})
	}
	model.FillCallIDs(out.ToolCalls, fmt.Sprintf("%s/%d", c.ID, turn))
	switch choice.FinishReason {
	case "tool_calls", "function_call":
		out.StopReason = model.StopToolUse
	case "stop", "":
		out.StopReason = model.StopEnd
		if len(out.ToolCalls) > 0 {
			// Some local servers say "stop" even when they called tools.
			out.StopReason = model.StopToolUse
		}
	case "length":
		out.StopReason = model.StopMaxTokens
	default:
		out.StopReason = model.StopOther
	}
	out.Usage = model.Usage{
		InputTokens:  c.Usage.PromptTokens,
		OutputTokens: c.Usage.CompletionTokens,
		CachedTokens: c.Usage.PromptTokensDetails.CachedTokens,
	}
	return out, nil
}

// classify turns an SDK error into a *model.Error where the API or the network failed (so
// model.Retry can judge it), and leaves other errors — a cancelled caller, a body that does not
// decode — as they are.
func classify(ctx context.Context, err error, timeout time.Duration) error {
	var ae *sdk.Error
	if errors.As(err, &ae) {
		me := &model.Error{Status: ae.StatusCode, Message: fmt.Sprintf("%d %s", ae.StatusCode, apiMessage(ae))}
		if ae.Response != nil {
			me.RetryAfter = model.ParseRetryAfter(ae.Response.Header, time.Now())
		}
		return me
	}
	if ctx.Err() != nil {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &model.Error{Message: fmt.Sprintf("timed out after %v", timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) {
		return model.TransportError(err)
	}
	return err
}

// apiMessage reads "type: message" from an OpenAI-style error, falling back to the raw body for
// servers that answer errors in a shape of their own.
func apiMessage(ae *sdk.Error) string {
	if ae.Message != "" {
		if ae.Type != "" {
			return ae.Type + ": " + ae.Message
		}
		return ae.Message
	}
	if body := strings.TrimSpace(ae.RawJSON()); body != "" {
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		return body
	}
	return http.StatusText(ae.StatusCode)
}
