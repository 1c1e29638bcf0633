// Package target is the app under test (SPEC §10): one MCP server, how personas reach it (a
// transport: streamable HTTP, legacy SSE, stdio) and how they prove who they are (an auth
// strategy: mana, headers, command, oauth2, none), which of its tools personas are offered (the
// tool policy) and which module each tool belongs to (the module mapping).
//
// The runner sees targets only through Set.Open, which hands it a Session: the target's tools
// with their modules, annotations and policy, and a way to call them. Strategies live in their
// own packages (target/mana, target/headers, target/command, target/oauth2) and are chosen by
// target/strategy, so the runner imports none of them, no auth API client and no transport.
package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/persona-runner/persona-runner/persona"
)

// Demo is the name of the built-in demo app as a target (auth mana).
const Demo = "demo"

// Strategy authenticates personas on one target. Begin is called once per persona run; the
// Credentials it returns go only to the target the strategy belongs to (SPEC §10).
type Strategy interface {
	// Name is the strategy's config name: mana, headers, command, oauth2 or none.
	Name() string
	// Begin prepares p's credentials for one run: logs in, reads its secrets, runs its token
	// command. Its errors are *Error with the stage they happened in (login, space, secrets, …).
	Begin(ctx context.Context, p persona.DuePersona) (Credentials, error)
}

// Credentials authenticate one persona's requests during one run.
type Credentials interface {
	// Apply sets the credentials on a request to the target, renewing them first when they are
	// about to expire (a refreshed JWT, a new token from the command).
	Apply(req *http.Request) error
	// Identity is what the credentials say about the persona for diagnostics: the user id and
	// the space (mana), else empty.
	Identity() Identity
}

// Identity is who the target knows a persona as, where the strategy knows it.
type Identity struct {
	UserID  string
	SpaceID string
}

// Connector makes the MCP transport of one persona session: the transport factory of a target.
// HTTP implements streamable HTTP and legacy SSE; target/stdio's connector starts the server
// process. creds are the persona's credentials from the target's own strategy; an HTTP connector
// applies them to every request, a stdio connector may ignore them. ctx bounds the connect
// only; life is the whole session's lifetime (never nil): a connector whose transport holds
// resources of its own (a server process) ends them when life ends, even if the session is
// never closed.
type Connector interface {
	Connect(ctx context.Context, life context.Context, p persona.DuePersona, creds Credentials) (mcp.Transport, error)
}

// Diagnoser is a transport that keeps what its server said on the side: a stdio server's
// stderr (capped). Session.Diagnostics returns it.
type Diagnoser interface {
	Stderr() string
}

// OpenOptions are what the runner adds to one persona session.
type OpenOptions struct {
	// Client, when set, is given to the MCP client of the session: handlers for server
	// requests (sampling/createMessage, elicitation/create), logging. nil means none.
	Client *mcp.ClientOptions
	// Lifetime bounds the session (the run's deadline, the runner's shutdown): when it ends, a
	// stdio server process is ended even if the session was never closed. nil means the
	// session lasts until Close.
	Lifetime context.Context
}

// ServerInfo is what the server said about itself in initialize.
type ServerInfo struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	ProtocolVersion string `json:"protocolVersion"`
}

// Tool is a tool as the target lists it, with its module and whether personas are offered it.
type Tool struct {
	Name        string          // the MCP name, e.g. "todo.create"
	Description string          //
	InputSchema json.RawMessage // JSON Schema of the arguments
	Module      string          // by the target's modules globs, else the default rule (ModuleOf)
	Annotations Annotations     // as the server sent them
	// Hidden is why the tool is not offered to the model ("destructive", "denied by tools.deny
	// \"admin.*\"", …), empty when it is offered.
	Hidden string
}

// Offered reports whether personas see the tool.
func (t Tool) Offered() bool { return t.Hidden == "" }

// Annotations are the tool's hints (MCP ToolAnnotations); a nil hint was not sent.
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

// Output is what a tool returned: its text content and whether it reported an error.
type Output struct {
	Text    string
	IsError bool
}

// Stages of a target error (persona_errors_total{stage} and tick records).
const (
	StageLogin   = "login"   // the strategy could not get credentials (mana login, command, oauth2)
	StageSpace   = "space"   // mana: the persona's personal space could not be found
	StageSecrets = "secrets" // a persona secret could not be read
	StageConnect = "mcp"     // the MCP connection or initialize failed
	StageTarget  = "target"  // the persona names a target that is not configured
)

// Error is a failure to open a persona's session on a target, with the stage it happened in.
type Error struct {
	Target string
	Stage  string
	Err    error
	// Permanent marks a login failure no retry fixes (a token endpoint refusing the client):
	// `up` and `serve runner` refuse to start on it.
	Permanent bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of stage with a formatted cause.
func Errorf(stage, format string, args ...any) error {
	return &Error{Stage: stage, Err: fmt.Errorf(format, args...)}
}

// StageOf returns the stage of a target error, or def when err is not one.
func StageOf(err error, def string) string {
	var te *Error
	if errors.As(err, &te) && te.Stage != "" {
		return te.Stage
	}
	return def
}

// ErrHidden is returned by Session.CallTool for a tool the policy hides: the call is not sent.
var ErrHidden = errors.New("tool not offered by the target's tool policy")
