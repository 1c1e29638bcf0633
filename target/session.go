package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/persona"
	"github.com/persona-runner/persona-runner/target/ask"
)

// probeAnswerer is the answerer of a check's session, which calls no tool: nothing asks it.
type probeAnswerer struct{}

var errProbe = errors.New("a target check answers no requests")

func (probeAnswerer) Sample(context.Context, ask.Sampling) (ask.Sample, error) {
	return ask.Sample{}, errProbe
}
func (probeAnswerer) Elicit(context.Context, ask.Elicitation) (ask.Reply, error) {
	return ask.Reply{}, errProbe
}

// Target is one configured app under test, ready to open persona sessions.
type Target struct {
	Config    Config
	Strategy  Strategy  // how personas authenticate; nil means none
	Connector Connector // how sessions reach the server; nil means HTTP for Config.URL
	// ClientVersion is reported to the server as persona-runner's version.
	ClientVersion string
	// HTTPClient carries the HTTP transports' requests; nil means http.DefaultTransport.
	HTTPClient *http.Client
}

// Name is the target's name.
func (t *Target) Name() string { return t.Config.Name }

// Open authenticates p with the target's strategy and opens an MCP session with the target's
// connector. Errors are *Error with their stage. The caller bounds the connect with its own
// timer: the SDK's connect can overrun its context when a server accepts and never answers.
func (t *Target) Open(ctx context.Context, p persona.DuePersona, opts OpenOptions) (*Session, error) {
	strategy := t.Strategy
	if strategy == nil {
		strategy = None{}
	}
	creds, err := strategy.Begin(ctx, p)
	if err != nil {
		return nil, t.wrap(StageLogin, err)
	}
	conn := t.Connector
	if conn == nil {
		conn = &HTTP{Endpoint: t.Config.URL, SSE: t.Config.TransportName() == TransportSSE, Client: t.HTTPClient}
	}
	life := opts.Lifetime
	if life == nil {
		life = context.Background()
	}
	transport, err := conn.Connect(ctx, life, p, creds)
	if err != nil {
		return nil, t.wrap(StageConnect, err)
	}
	diag, _ := transport.(Diagnoser)
	version := t.ClientVersion
	if version == "" {
		version = "dev"
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "persona-runner", Version: version}, opts.Client)
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		if k, ok := transport.(interface{ Kill() }); ok {
			// The SDK closes the connection on most failed connects, not all; a server process
			// must not outlive a session that never opened.
			k.Kill()
		}
		if diag != nil {
			// A server that dies at start says why on its stderr; the SDK only saw the pipe close.
			if tail := lastLines(diag.Stderr(), 5, 600); tail != "" {
				err = fmt.Errorf("%w; the server's stderr ends: %s", err, tail)
			}
		}
		return nil, t.wrap(StageConnect, err)
	}
	s := &Session{target: t, cs: cs, creds: creds, diag: diag}
	if res := cs.InitializeResult(); res != nil {
		s.server.ProtocolVersion = res.ProtocolVersion
		if res.ServerInfo != nil {
			s.server.Name, s.server.Version = res.ServerInfo.Name, res.ServerInfo.Version
		}
	}
	return s, nil
}

func (t *Target) wrap(stage string, err error) error {
	if te, ok := err.(*Error); ok {
		if te.Target == "" {
			te.Target = t.Config.Name
		}
		return te
	}
	return &Error{Target: t.Config.Name, Stage: stage, Err: err}
}

// Session is one persona's connection to its target.
type Session struct {
	target *Target
	cs     *mcp.ClientSession
	creds  Credentials
	server ServerInfo
	hidden map[string]string // tool name → why hidden, filled by ListTools
	diag   Diagnoser         // the transport's side channel (stdio stderr), nil for HTTP
}

// Stderr is what the server wrote to its stderr (stdio targets, capped at 64 KB: head and
// tail), empty for HTTP targets. Read it after Close to have all of it.
func (s *Session) Stderr() string {
	if s.diag == nil {
		return ""
	}
	return s.diag.Stderr()
}

// lastLines is the last n non-empty lines of text, at most max bytes, joined by " | ".
func lastLines(text string, n, max int) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			keep = append([]string{l}, keep...)
		}
	}
	out := strings.Join(keep, " | ")
	if len(out) > max {
		out = "…" + out[len(out)-max:]
	}
	return strings.ToValidUTF8(out, "")
}

// Target is the name of the session's target.
func (s *Session) Target() string { return s.target.Config.Name }

// Server is what the server said about itself in initialize.
func (s *Session) Server() ServerInfo { return s.server }

// Identity is who the strategy logged the persona in as (mana), else empty.
func (s *Session) Identity() Identity { return s.creds.Identity() }

// ListTools lists every tool of the server with its module, annotations and whether the policy
// offers it.
func (s *Session) ListTools(ctx context.Context) ([]Tool, error) {
	var out []Tool
	hidden := map[string]string{}
	mods := Modules(s.target.Config.Modules)
	for tool, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		schema, err := json.Marshal(tool.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("tool %s: encode input schema: %w", tool.Name, err)
		}
		t := Tool{Name: tool.Name, Description: tool.Description, InputSchema: schema, Module: mods.Of(tool.Name)}
		if a := tool.Annotations; a != nil {
			ro, idem := a.ReadOnlyHint, a.IdempotentHint
			t.Annotations = Annotations{Title: a.Title, ReadOnlyHint: &ro, DestructiveHint: a.DestructiveHint,
				IdempotentHint: &idem, OpenWorldHint: a.OpenWorldHint}
		}
		if t.Annotations.Title == "" && tool.Title != "" {
			t.Annotations.Title = tool.Title
		}
		t.Hidden = s.target.Config.Tools.Hide(t.Name, t.Annotations)
		if t.Hidden != "" {
			hidden[t.Name] = t.Hidden
		}
		out = append(out, t)
	}
	s.hidden = hidden
	return out, nil
}

// CallTool calls a tool by its MCP name. A tool the policy hides is refused with ErrHidden and
// never sent to the server, even when the session's list was not read first. An error is a
// transport failure or ErrHidden; a tool that ran and failed returns IsError.
func (s *Session) CallTool(ctx context.Context, name string, args json.RawMessage) (Output, error) {
	if s.hidden == nil {
		if _, err := s.ListTools(ctx); err != nil {
			return Output{}, err
		}
	}
	if why, ok := s.hidden[name]; ok {
		return Output{}, fmt.Errorf("%w: %s is %s", ErrHidden, name, why)
	}
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return Output{}, err
	}
	return Output{Text: contentText(res), IsError: res.IsError}, nil
}

// Close ends the session.
func (s *Session) Close() error { return s.cs.Close() }

// contentText is a tool result as text for the model and the record: text parts as they are;
// images and audio described (type and size: their bytes mean nothing to a text model and would
// crowd out everything else); resource links by name and URI; embedded resources by their text,
// or described when they are binary. A result with only structured content shows that.
func contentText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		parts = append(parts, partText(c))
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "\n")
}

// maxResourceText bounds the text of one embedded resource in a tool result.
const maxResourceText = 4 << 10

func partText(c mcp.Content) string {
	switch v := c.(type) {
	case *mcp.TextContent:
		return v.Text
	case *mcp.ImageContent:
		return fmt.Sprintf("[image: %s, %d bytes]", orUnknown(v.MIMEType), len(v.Data))
	case *mcp.AudioContent:
		return fmt.Sprintf("[audio: %s, %d bytes]", orUnknown(v.MIMEType), len(v.Data))
	case *mcp.ResourceLink:
		name := v.Title
		if name == "" {
			name = v.Name
		}
		out := fmt.Sprintf("[resource link: %s <%s>", name, v.URI)
		if v.MIMEType != "" {
			out += ", " + v.MIMEType
		}
		if v.Description != "" {
			out += ": " + persona.Truncate(v.Description, 200)
		}
		return out + "]"
	case *mcp.EmbeddedResource:
		r := v.Resource
		if r == nil {
			return "[resource: empty]"
		}
		if r.Text != "" || len(r.Blob) == 0 {
			return fmt.Sprintf("[resource <%s>, %s]\n%s", r.URI, orUnknown(r.MIMEType), persona.Truncate(r.Text, maxResourceText))
		}
		return fmt.Sprintf("[resource <%s>: %s, %d bytes]", r.URI, orUnknown(r.MIMEType), len(r.Blob))
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("[content the client cannot show: %v]", err)
	}
	return string(b)
}

func orUnknown(mime string) string {
	if mime == "" {
		return "type unknown"
	}
	return mime
}

// HTTP connects over streamable HTTP (the default) or legacy SSE, applying the persona's
// credentials to every request.
type HTTP struct {
	Endpoint string
	SSE      bool         // legacy HTTP+SSE transport instead of streamable HTTP
	Client   *http.Client // nil means http.DefaultTransport, no overall timeout
}

// Connect returns the transport of one persona session.
func (h *HTTP) Connect(_, _ context.Context, _ persona.DuePersona, creds Credentials) (mcp.Transport, error) {
	base := http.DefaultTransport
	hc := &http.Client{}
	if h.Client != nil {
		if h.Client.Transport != nil {
			base = h.Client.Transport
		}
		hc.Timeout = h.Client.Timeout
	}
	hc.Transport = &credentialTransport{base: base, creds: creds}
	if h.SSE {
		// The SSE stream stays open for the whole session: no overall client timeout on it.
		hc.Timeout = 0
		return &mcp.SSEClientTransport{Endpoint: h.Endpoint, HTTPClient: hc}, nil
	}
	return &mcp.StreamableClientTransport{
		Endpoint:   h.Endpoint,
		HTTPClient: hc,
		// A persona only makes requests; the standing GET stream would cost a connection per
		// persona. (Server requests such as sampling arrive on the POST's own stream.)
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil
}

// credentialTransport adds one persona's credentials to every request of its session.
type credentialTransport struct {
	base  http.RoundTripper
	creds Credentials
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if err := t.creds.Apply(req); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	res, err := t.base.RoundTrip(req)
	if err != nil || (res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusForbidden) {
		return res, err
	}
	// The SDK reports a refused request as a bare "Unauthorized"; the server's own message is
	// what tells the user which credential is wrong, so it becomes the error.
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	he := &HTTPError{Status: res.StatusCode, Message: serverMessage(body), Authenticate: res.Header.Get("WWW-Authenticate")}
	if d, ok := t.creds.(Describer); ok && res.StatusCode == http.StatusUnauthorized {
		he.Credentials = d.Describe()
	}
	return nil, he
}

// Describer is implemented by credentials that can say what they claim (a JWT's iss and aud),
// so that a 401 shows what was sent next to what the server expected. It never shows a secret.
type Describer interface {
	Describe() string
}

// HTTPError is a request the target refused with 401 or 403, with the server's own message.
type HTTPError struct {
	Status       int
	Message      string // from the body: a JSON message/error_description/error field, else its text
	Authenticate string // the WWW-Authenticate header, if any
	Credentials  string // what the refused credentials claim (Describer), if known
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Credentials != "" {
		msg += " (" + e.Credentials + ")"
	}
	return msg
}

// serverMessage picks the human part of an error body: the JSON fields apps use for it, else
// the body's first line of text.
func serverMessage(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		var parts []string
		for _, k := range []string{"message", "error_description", "error", "detail", "title"} {
			if v, ok := m[k].(string); ok && strings.TrimSpace(v) != "" {
				parts = append(parts, strings.TrimSpace(v))
				if len(parts) == 1 && k == "message" {
					break
				}
			}
		}
		if len(parts) > 0 {
			return persona.Truncate(strings.Join(parts, ": "), 300)
		}
	}
	text := strings.TrimSpace(string(body))
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	return persona.Truncate(text, 300)
}

// None is the strategy of a target that needs no credentials.
type None struct{}

// Name is "none".
func (None) Name() string { return AuthNone }

// Begin returns credentials that add nothing.
func (None) Begin(context.Context, persona.DuePersona) (Credentials, error) { return noCreds{}, nil }

type noCreds struct{}

func (noCreds) Apply(*http.Request) error { return nil }
func (noCreds) Identity() Identity        { return Identity{} }

// Probe connects as p, reads the server's identity and its tools with the policy applied, and
// closes: what `targets check` and the start-up check show.
func (t *Target) Probe(ctx context.Context, p persona.DuePersona) (ServerInfo, []Tool, error) {
	// The check advertises what a persona's client does (sampling, elicitation): servers list
	// some tools only to clients that can answer them, and the check shows what personas see.
	s, err := t.Open(ctx, p, OpenOptions{Client: ask.ClientOptions(probeAnswerer{})})
	if err != nil {
		return ServerInfo{}, nil, err
	}
	defer s.Close()
	tools, err := s.ListTools(ctx)
	if err != nil {
		return s.Server(), nil, t.wrap(StageConnect, fmt.Errorf("list tools: %w", err))
	}
	return s.Server(), tools, nil
}

// OfferedModules are the modules of the offered tools, sorted, each once.
func OfferedModules(tools []Tool) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tools {
		if t.Offered() && !seen[t.Module] {
			seen[t.Module] = true
			out = append(out, t.Module)
		}
	}
	sort.Strings(out)
	return out
}
