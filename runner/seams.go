package runner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// Persistence is where a runner claims personas and writes what they did (SPEC §5.3 step 5).
// NewStorePersistence writes to a persona.Store in the same process; NewHTTPPersistence goes
// through the auth API's internal endpoints with the service key. The runner chunks batches to
// the endpoint limits and retries transient failures itself, so implementations make one attempt
// per call. Errors that wrap persona.ErrInvalid, ErrNotFound or ErrConflict are permanent.
type Persistence interface {
	// Claim leases up to limit due personas to runnerID for lease.
	Claim(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]persona.DuePersona, error)
	// InsertActions writes at most persona.MaxActionsPerBatch rows; existing ids are skipped.
	InsertActions(ctx context.Context, personaID string, rows []persona.Action) error
	// InsertFeedback writes at most persona.MaxFeedbackPerBatch rows; existing ids are skipped.
	InsertFeedback(ctx context.Context, personaID string, rows []persona.Feedback) error
	// RecordTick upserts the run's record; a terminal status releases the lease.
	RecordTick(ctx context.Context, t persona.Tick) error
	// History returns the persona's last runs, newest first, for the memory digest.
	History(ctx context.Context, personaID string, runs int) ([]persona.RunHistory, error)
}

// RunRecorder is a Persistence that can write a whole run — its actions, feedback and tick
// record — in one call that writes all of it or nothing (persona.Store.RecordRun). The runner
// then makes one write per run instead of three; when that write fails for good it falls back
// to the separate calls, which say which part could not be written and still record the tick.
// NewStorePersistence implements it; the HTTP persistence keeps the separate SPEC §4 endpoints.
type RunRecorder interface {
	RecordRun(ctx context.Context, run persona.RunRecord) error
}

// Session is a logged-in persona.
type Session struct {
	UserID       string
	AccessToken  string // the JWT sent to the MCP server (SPEC §5.3 fix: not the session token)
	RefreshToken string
}

// Space is one of a user's spaces as the auth API lists them.
type Space struct {
	ID   string
	Type string // "personal", "family", …
}

// Auth logs personas in (SPEC §4). NewAuthClient implements it over HTTP.
type Auth interface {
	Login(ctx context.Context, email, password string) (Session, error)
	// Refresh returns a new access token for a long run.
	Refresh(ctx context.Context, refreshToken string) (accessToken string, err error)
	// Spaces lists the spaces of the user the access token belongs to.
	Spaces(ctx context.Context, accessToken string) ([]Space, error)
}

// Tools opens tool sessions on the app under test. MCPTools implements it with the official MCP
// Go SDK over Streamable HTTP.
type Tools interface {
	// Open connects as the persona: token is called for every request so that a refreshed JWT
	// is used from then on; space is sent as X-Mana-Space.
	Open(ctx context.Context, token func() string, space string) (ToolSession, error)
}

// ToolSession is one persona's connection to the app.
type ToolSession interface {
	ListTools(ctx context.Context) ([]ToolSpec, error)
	// CallTool calls a tool by its MCP name. An error is a transport failure; a tool that ran
	// and failed returns IsError.
	CallTool(ctx context.Context, name string, args json.RawMessage) (ToolOutput, error)
	Close() error
}

// ToolSpec is a tool as the app lists it.
type ToolSpec struct {
	Name        string          // the MCP name, e.g. "todo.create"
	Description string          //
	InputSchema json.RawMessage // JSON Schema of the arguments
}

// ToolOutput is what a tool returned: its text content and whether it reported an error.
type ToolOutput struct {
	Text    string
	IsError bool
}
