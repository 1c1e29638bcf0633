// Package anthropic is the model.Provider for the Anthropic Messages API, built on the official
// SDK. It marks the tool definitions, the system prompt and the conversation so far for prompt
// caching, so each turn of a persona run pays full price only for what is new. The SDK's own
// retries are off: model.Retry applies the same policy to every provider.
package anthropic

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

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/persona-runner/persona-runner/model"
	"github.com/persona-runner/persona-runner/retry"
)

// Defaults of Config.
const (
	DefaultModel     = "claude-sonnet-4-5"
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultMaxTokens = 1024
	DefaultTimeout   = 2 * time.Minute
)

// Config configures the provider. The runner's config loader fills it; the zero value of every
// field but APIKey means the default.
type Config struct {
	APIKey string // ANTHROPIC_API_KEY; required
	Model  string // default DefaultModel
	// BaseURL is the API root without /v1 (ANTHROPIC_BASE_URL); default DefaultBaseURL. The SDK's
	// own reading of the environment is switched off, so this is the only source.
	BaseURL   string
	MaxTokens int           // used when a Request has no MaxTokens; default DefaultMaxTokens
	Timeout   time.Duration // per attempt; default DefaultTimeout
	Retry     retry.Policy
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
	if strings.TrimSpace(c.APIKey) == "" {
		problems = append(problems, "APIKey is required")
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
		return fmt.Errorf("anthropic config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Provider calls the Messages API. It is safe for concurrent use.
type Provider struct {
	cfg    Config
	client sdk.Client
	tools  model.ToolCache[sdk.ToolParam]
}

var _ model.Provider = (*Provider)(nil)

// New checks cfg and returns a provider.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := sdk.NewClient(
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(cfg.APIKey),
		option.WithBaseURL(cfg.BaseURL),
		option.WithHTTPClient(cfg.HTTPClient),
		option.WithMaxRetries(0),
		// An explicit timeout also keeps the SDK from refusing large max_tokens without streaming.
		option.WithRequestTimeout(cfg.Timeout),
	)
	return &Provider{cfg: cfg, client: client}, nil
}

// Name is "anthropic".
func (p *Provider) Name() string { return "anthropic" }

// Model is the configured model.
func (p *Provider) Model() string { return p.cfg.Model }

// Complete sends one Messages request, retrying transient failures by the configured policy.
func (p *Provider) Complete(ctx context.Context, req model.Request) (model.Response, error) {
	params := p.params(req)
	resp, err := model.Retry(ctx, p.cfg.Retry, func(ctx context.Context) (*sdk.Message, error) {
		actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		msg, err := p.client.Messages.New(actx, params)
		if err != nil {
			return nil, classify(ctx, err, p.cfg.Timeout)
		}
		return msg, nil
	})
	if err != nil {
		return model.Response{}, fmt.Errorf("anthropic messages (%s): %w", p.cfg.Model, err)
	}
	return response(resp, len(req.Messages)), nil
}

// params maps a neutral request to the API's. Cache breakpoints go on the last tool, the system
// prompt and the last block of the conversation (three of the four the API allows): the prefix
// up to each is reused by the next turn of the same run.
func (p *Provider) params(req model.Request) sdk.MessageNewParams {
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = p.cfg.MaxTokens
	}
	params := sdk.MessageNewParams{
		Model:     p.cfg.Model,
		MaxTokens: int64(maxTokens),
		Messages:  messages(req.Messages),
	}
	if req.System != "" {
		params.System = []sdk.TextBlockParam{{Text: req.System, CacheControl: sdk.NewCacheControlEphemeralParam()}}
	}
	for _, t := range req.Tools {
		// A copy: the cache mark set on the last one below stays out of the cache.
		tp := p.tools.Get(t, tool)
		params.Tools = append(params.Tools, sdk.ToolUnionParam{OfTool: &tp})
	}
	if n := len(params.Tools); n > 0 {
		params.Tools[n-1].OfTool.CacheControl = sdk.NewCacheControlEphemeralParam()
		if req.ToolChoice == model.ToolChoiceNone {
			// The rating turn: the definitions stay (the history has tool_use blocks, which the
			// API refuses without them, and the cached prefix stays the same), but no calls.
			params.ToolChoice = sdk.ToolChoiceUnionParam{OfNone: &sdk.ToolChoiceNoneParam{}}
		}
	}
	if n := len(params.Messages); n > 0 {
		markLast(params.Messages[n-1].Content)
	}
	return params
}

// markLast sets a cache breakpoint on the last block that can carry one.
func markLast(blocks []sdk.ContentBlockParamUnion) {
	if len(blocks) == 0 {
		return
	}
	b := blocks[len(blocks)-1]
	cc := sdk.NewCacheControlEphemeralParam()
	switch {
	case b.OfText != nil:
		b.OfText.CacheControl = cc
	case b.OfToolResult != nil:
		b.OfToolResult.CacheControl = cc
	case b.OfToolUse != nil:
		b.OfToolUse.CacheControl = cc
	}
}

// messages maps the conversation. A user message puts its tool results first, as the API
// requires; empty texts are left out because the API rejects empty text blocks, and a message
// left with nothing is dropped (the API merges consecutive turns of one role).
func messages(in []model.Message) []sdk.MessageParam {
	out := make([]sdk.MessageParam, 0, len(in))
	for _, m := range in {
		var blocks []sdk.ContentBlockParamUnion
		if m.Role == model.Assistant {
			if strings.TrimSpace(m.Text) != "" {
				// The API rejects a final assistant text that ends in whitespace.
				blocks = append(blocks, sdk.NewTextBlock(strings.TrimRight(m.Text, " \t\r\n")))
			}
			for _, c := range m.ToolCalls {
				blocks = append(blocks, sdk.NewToolUseBlock(c.ID, objectArgs(c.Input), c.Name))
			}
			if len(blocks) > 0 {
				out = append(out, sdk.NewAssistantMessage(blocks...))
			}
			continue
		}
		for _, r := range m.ToolResults {
			tr := sdk.ToolResultBlockParam{ToolUseID: r.CallID}
			if r.Content != "" {
				tr.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: r.Content}}}
			}
			if r.IsError {
				tr.IsError = sdk.Bool(true)
			}
			blocks = append(blocks, sdk.ContentBlockParamUnion{OfToolResult: &tr})
		}
		if strings.TrimSpace(m.Text) != "" {
			blocks = append(blocks, sdk.NewTextBlock(m.Text))
		}
		if len(blocks) > 0 {
			out = append(out, sdk.NewUserMessage(blocks...))
		}
	}
	return out
}

// objectArgs is what a tool_use block may carry back: the arguments object, or {} when the model
// had sent something else (kept as a JSON string by model.WireArgs).
func objectArgs(in json.RawMessage) json.RawMessage {
	t := strings.TrimSpace(string(in))
	if strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	return json.RawMessage(`{}`)
}

// tool maps a tool definition, keeping every keyword of its JSON schema as sent (raw JSON, so
// the request carries the server's bytes and nothing is decoded into maps). A schema without
// properties gets an empty properties object, which strict validators want.
func tool(t model.Tool) sdk.ToolParam {
	schema := map[string]json.RawMessage{}
	if len(t.InputSchema) > 0 {
		// A schema that does not decode is sent as an empty object schema; the model then calls
		// the tool without arguments and the tool says what it misses.
		if json.Unmarshal(t.InputSchema, &schema) != nil {
			schema = nil
		}
	}
	in := sdk.ToolInputSchemaParam{Properties: map[string]any{}}
	if props, ok := schema["properties"]; ok && !isNull(props) {
		in.Properties = props
	}
	var required []any
	if json.Unmarshal(schema["required"], &required) == nil {
		for _, r := range required {
			if s, ok := r.(string); ok {
				in.Required = append(in.Required, s)
			}
		}
	}
	for k, v := range schema {
		switch k {
		case "type", "properties", "required":
		default:
			if in.ExtraFields == nil {
				in.ExtraFields = map[string]any{}
			}
			in.ExtraFields[k] = v
		}
	}
	tp := sdk.ToolParam{Name: t.Name, InputSchema: in}
	if t.Description != "" {
		tp.Description = sdk.String(t.Description)
	}
	return tp
}

func isNull(v json.RawMessage) bool { return strings.TrimSpace(string(v)) == "null" }

// response maps the API's message. Tool calls without an id (never from Anthropic itself, but a
// proxy behind ANTHROPIC_BASE_URL might) get a made-up one so the runner can pair results.
func response(msg *sdk.Message, turn int) model.Response {
	var out model.Response
	var text strings.Builder
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			out.ToolCalls = append(out.ToolCalls, model.ToolCall{ID: b.ID, Name: b.Name, Input: model.WireArgs(b.Input)})
		}
	}
	model.FillCallIDs(out.ToolCalls, fmt.Sprintf("%s/%d", msg.ID, turn))
	out.Text = text.String()
	switch msg.StopReason {
	case sdk.StopReasonEndTurn:
		out.StopReason = model.StopEnd
	case sdk.StopReasonToolUse:
		out.StopReason = model.StopToolUse
	case sdk.StopReasonMaxTokens:
		out.StopReason = model.StopMaxTokens
	default:
		out.StopReason = model.StopOther
	}
	u := msg.Usage
	// InputTokens is the whole prompt; Anthropic counts cache reads and writes apart.
	out.Usage = model.Usage{
		InputTokens:  u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
		OutputTokens: u.OutputTokens,
		CachedTokens: u.CacheReadInputTokens,
	}
	out.Model = msg.Model
	return out
}

// classify turns an SDK error into a *model.Error where the API or the network failed (so
// model.Retry can judge it), and leaves other errors — a cancelled caller, a body that does not
// decode — as they are.
func classify(ctx context.Context, err error, timeout time.Duration) error {
	var ae *sdk.Error
	if errors.As(err, &ae) {
		me := &model.Error{Status: ae.StatusCode, Message: fmt.Sprintf("%d %s", ae.StatusCode, apiMessage(ae.RawJSON(), ae.StatusCode))}
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

// apiMessage reads "type: message" from an Anthropic error body.
func apiMessage(body string, status int) string {
	var e struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && e.Error.Message != "" {
		if e.Error.Type != "" {
			return e.Error.Type + ": " + e.Error.Message
		}
		return e.Error.Message
	}
	if body = strings.TrimSpace(body); body != "" {
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		return body
	}
	return http.StatusText(status)
}
