// Package ask answers what an app asks of the persona using it: MCP's server-to-client requests
// sampling/createMessage (the app wants text from the user's model) and elicitation/create (the
// app wants the user to fill in a form, or to visit a URL). It translates them between the
// official go-sdk's types and the provider-neutral ones of package model, and leaves the
// answering to an Answerer (the runner, which plays them with the persona's own model and
// records each as an action row).
package ask

//lint:file-ignore SA1019 sampling is deprecated in protocol 2026-07-28 but still served by current apps (and by the reference server), within its deprecation window; issue 9.7 asks for it

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/model"
)

// Tool names of the action rows these requests become.
const (
	SamplingTool    = "sampling"
	ElicitationTool = "elicitation"
)

// Elicitation actions (MCP ElicitResult.action).
const (
	Accept  = "accept"
	Decline = "decline"
	Cancel  = "cancel"
)

// Sampling is a sampling/createMessage request in the model's terms.
type Sampling struct {
	System    string          // the app's system prompt, if any
	Messages  []model.Message // text only; images and audio are described in brackets
	MaxTokens int             // as the app asked (the client may write fewer)
	// Raw is the request's params as the app sent them, for hashing and the record.
	Raw json.RawMessage
}

// Sample is the model's reply to a sampling request.
type Sample struct {
	Text       string
	Model      string
	StopReason model.StopReason
}

// Elicitation is an elicitation/create request.
type Elicitation struct {
	Message string
	// Schema is the form to fill in (form mode): a flat object schema. Empty in URL mode.
	Schema json.RawMessage
	// URL is the page the app asks the user to visit (URL mode).
	URL string
	Raw json.RawMessage
}

// Reply answers an elicitation: Accept with Content, Decline or Cancel.
type Reply struct {
	Action  string
	Content map[string]any
}

// Answerer answers one persona session's requests. Its methods may be called on any goroutine,
// also while a tool call of the same session is in progress (that is when apps ask).
type Answerer interface {
	Sample(ctx context.Context, req Sampling) (Sample, error)
	Elicit(ctx context.Context, req Elicitation) (Reply, error)
}

// ClientOptions returns MCP client options whose handlers give the app's sampling and
// elicitation requests to a (which makes the client advertise both capabilities).
func ClientOptions(a Answerer) *mcp.ClientOptions {
	return &mcp.ClientOptions{
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			s, err := a.Sample(ctx, SamplingOf(req.Params))
			if err != nil {
				return nil, err
			}
			return &mcp.CreateMessageResult{
				Content:    &mcp.TextContent{Text: s.Text},
				Model:      s.Model,
				Role:       "assistant",
				StopReason: stopReason(s.StopReason),
			}, nil
		},
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			e, err := ElicitationOf(req.Params)
			if err != nil {
				return nil, err
			}
			r, err := a.Elicit(ctx, e)
			if err != nil {
				return nil, err
			}
			return &mcp.ElicitResult{Action: r.Action, Content: r.Content}, nil
		},
	}
}

// SamplingOf converts a sampling request. Consecutive messages of one role are joined, as the
// model APIs want turns to alternate.
func SamplingOf(p *mcp.CreateMessageParams) Sampling {
	out := Sampling{}
	if p == nil {
		return out
	}
	out.Raw, _ = json.Marshal(p)
	out.System = p.SystemPrompt
	out.MaxTokens = int(p.MaxTokens)
	for _, m := range p.Messages {
		if m == nil {
			continue
		}
		role := model.User
		if m.Role == "assistant" {
			role = model.Assistant
		}
		text := contentText(m.Content)
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Text += "\n\n" + text
			continue
		}
		out.Messages = append(out.Messages, model.Message{Role: role, Text: text})
	}
	return out
}

// contentText is the text of a sampling message's content; what a text model cannot read is
// named in brackets so the model knows something was there.
func contentText(c mcp.Content) string {
	switch v := c.(type) {
	case *mcp.TextContent:
		return v.Text
	case *mcp.ImageContent:
		return fmt.Sprintf("[an image (%s, %d bytes) the app sent]", v.MIMEType, len(v.Data))
	case *mcp.AudioContent:
		return fmt.Sprintf("[an audio clip (%s, %d bytes) the app sent]", v.MIMEType, len(v.Data))
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func stopReason(r model.StopReason) string {
	switch r {
	case model.StopMaxTokens:
		return "maxTokens"
	case model.StopToolUse:
		return "toolUse"
	default:
		return "endTurn"
	}
}

// ElicitationOf converts an elicitation request.
func ElicitationOf(p *mcp.ElicitParams) (Elicitation, error) {
	if p == nil {
		return Elicitation{}, errors.New("elicitation without params")
	}
	e := Elicitation{Message: p.Message, URL: p.URL}
	e.Raw, _ = json.Marshal(p)
	if p.RequestedSchema != nil {
		b, err := json.Marshal(p.RequestedSchema)
		if err != nil {
			return Elicitation{}, fmt.Errorf("elicitation: requested schema: %w", err)
		}
		e.Schema = b
	}
	return e, nil
}

// Check reports whether content fills in the form schema: the go-sdk refuses to send an answer
// that does not, so the runner checks first and records the mismatch as the persona's error.
func Check(schema json.RawMessage, content map[string]any) error {
	if len(schema) == 0 {
		return nil
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(schema, &s); err != nil {
		return fmt.Errorf("read the form's schema: %w", err)
	}
	r, err := s.Resolve(nil)
	if err != nil {
		return fmt.Errorf("resolve the form's schema: %w", err)
	}
	if err := r.Validate(content); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "validating root: "))
	}
	return nil
}
