package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCPTools opens sessions on an MCP server over Streamable HTTP with the official Go SDK.
type MCPTools struct {
	Endpoint   string       // e.g. http://localhost:3069/mcp
	HTTPClient *http.Client // nil means http.DefaultClient's transport
	Version    string       // reported as the client version
}

// Open connects as the persona: every request carries Authorization: Bearer <token()> and
// X-Mana-Space: space. The caller bounds the connect with its own timer (see run.openTools).
func (m *MCPTools) Open(ctx context.Context, token func() string, space string) (ToolSession, error) {
	base := http.DefaultTransport
	hc := &http.Client{}
	if m.HTTPClient != nil {
		if m.HTTPClient.Transport != nil {
			base = m.HTTPClient.Transport
		}
		hc.Timeout = m.HTTPClient.Timeout
	}
	hc.Transport = &personaTransport{base: base, token: token, space: space}
	version := m.Version
	if version == "" {
		version = "dev"
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "persona-runner", Version: version}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   m.Endpoint,
		HTTPClient: hc,
		// A persona only makes requests; server-initiated messages are not needed, and the
		// standing GET stream would cost a connection per persona.
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
	if err != nil {
		return nil, err
	}
	return mcpSession{cs}, nil
}

// personaTransport adds the persona's credentials to every request of its MCP session.
type personaTransport struct {
	base  http.RoundTripper
	token func() string
	space string
}

func (t *personaTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.token())
	req.Header.Set("X-Mana-Space", t.space)
	return t.base.RoundTrip(req)
}

type mcpSession struct{ cs *mcp.ClientSession }

func (s mcpSession) ListTools(ctx context.Context) ([]ToolSpec, error) {
	var out []ToolSpec
	for tool, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		schema, err := json.Marshal(tool.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("tool %s: encode input schema: %w", tool.Name, err)
		}
		out = append(out, ToolSpec{Name: tool.Name, Description: tool.Description, InputSchema: schema})
	}
	return out, nil
}

func (s mcpSession) CallTool(ctx context.Context, name string, args json.RawMessage) (ToolOutput, error) {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return ToolOutput{}, err
	}
	return ToolOutput{Text: contentText(res), IsError: res.IsError}, nil
}

func (s mcpSession) Close() error { return s.cs.Close() }

// contentText joins a tool result's text parts; other parts are shown as JSON, and a result
// with only structured content shows that.
func contentText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
			continue
		}
		if b, err := json.Marshal(c); err == nil {
			parts = append(parts, string(b))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "\n")
}
