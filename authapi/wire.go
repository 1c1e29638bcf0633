package authapi

import (
	"encoding/json"
	"time"

	"github.com/persona-runner/persona-runner/persona"
)

// The JSON shapes of SPEC §4, shared by the server and the client so the two cannot drift.

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginUser is the user object of a login response.
type LoginUser struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	AccessTier    string `json:"accessTier"`
	Role          string `json:"role"`
	EmailVerified bool   `json:"emailVerified"`
}

// LoginResponse is the body of a successful login. Token and RefreshToken are the same opaque
// session token (Mana's clients read either); AccessToken is the JWT to send as a Bearer token.
type LoginResponse struct {
	Token        string    `json:"token"`
	AccessToken  string    `json:"accessToken"`
	RefreshToken string    `json:"refreshToken"`
	User         LoginUser `json:"user"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

// RefreshResponse carries a new access token; the refresh token stays valid until it expires.
type RefreshResponse struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// SpaceMetadata is the metadata object of an organization.
type SpaceMetadata struct {
	Type string `json:"type"`
	Tier string `json:"tier"`
}

// Space is one entry of GET /api/auth/organization/list.
type Space struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Slug      string        `json:"slug"`
	Logo      *string       `json:"logo"`
	Metadata  SpaceMetadata `json:"metadata"`
	CreatedAt time.Time     `json:"createdAt"`
}

// UpsertPersonaResponse answers POST /api/v1/admin/personas. Outcome (created, updated,
// unchanged) is our addition, so seeding over HTTP can print the same report as a local seed.
type UpsertPersonaResponse struct {
	OK      bool            `json:"ok"`
	UserID  string          `json:"userId"`
	Email   string          `json:"email"`
	Outcome persona.Outcome `json:"outcome"`
}

// UpsertSpaceResponse answers POST /api/v1/admin/spaces (our extension).
type UpsertSpaceResponse struct {
	OK      bool            `json:"ok"`
	SpaceID string          `json:"spaceId"`
	Slug    string          `json:"slug"`
	Outcome persona.Outcome `json:"outcome"`
}

// PersonaList answers GET /api/v1/admin/personas.
type PersonaList struct {
	Personas []persona.PersonaSummary `json:"personas"`
}

// PersonaView is a persona in the admin detail response.
type PersonaView struct {
	UserID         string            `json:"userId"`
	Email          string            `json:"email"`
	Name           string            `json:"name"`
	Archetype      string            `json:"archetype"`
	SystemPrompt   string            `json:"systemPrompt"`
	ModuleMix      persona.ModuleMix `json:"moduleMix"`
	TickCadence    persona.Cadence   `json:"tickCadence"`
	Timezone       string            `json:"timezone"`
	LastActiveAt   *time.Time        `json:"lastActiveAt"`
	CreatedAt      time.Time         `json:"createdAt"`
	NextDueAt      *time.Time        `json:"nextDueAt"`
	LeaseOwner     string            `json:"leaseOwner"`
	LeaseExpiresAt *time.Time        `json:"leaseExpiresAt"`
	FailureCount   int               `json:"failureCount"`
	LastError      string            `json:"lastError"`
}

// ActionView is one row of recentActions (SPEC §4 names exactly these fields).
type ActionView struct {
	ID           string    `json:"id"`
	TickID       string    `json:"tickId"`
	ToolName     string    `json:"toolName"`
	Module       string    `json:"module"`
	InputHash    string    `json:"inputHash"`
	Result       string    `json:"result"`
	ErrorMessage string    `json:"errorMessage"`
	LatencyMs    *int64    `json:"latencyMs"` // null when the runner did not measure it
	Seq          int       `json:"seq"`
	CreatedAt    time.Time `json:"createdAt"`
}

// PersonaDetail answers GET /api/v1/admin/personas/{id}.
type PersonaDetail struct {
	Persona          PersonaView            `json:"persona"`
	RecentActions    []ActionView           `json:"recentActions"`
	FeedbackByModule []persona.ModuleRating `json:"feedbackByModule"`
}

// DueResponse answers the due and claim endpoints. ServerTime is the store's time of the query.
type DueResponse struct {
	Personas   []persona.DuePersona `json:"personas"`
	ServerTime time.Time            `json:"serverTime"`
}

// ClaimRequest is the body of POST /api/v1/internal/personas/claim. Limit 0 means
// DefaultClaimLimit, LeaseSeconds 0 means DefaultLeaseSeconds.
type ClaimRequest struct {
	RunnerID     string `json:"runnerId"`
	Limit        int    `json:"limit"`
	LeaseSeconds int    `json:"leaseSeconds"`
}

// Defaults and bounds of a claim.
const (
	DefaultClaimLimit   = 10
	MaxClaimLimit       = 1000
	DefaultLeaseSeconds = 900
	MaxLeaseSeconds     = 86400
)

// ActionRow is one row of POST …/{id}/actions. CreatedAt is our optional addition (the time of
// the call; the server's time when absent). Rows as the original runner sends them have no seq
// (the row then takes its index in the batch), no latencyMs (stored as null) and no module.
type ActionRow struct {
	TickID       string     `json:"tickId"`
	ToolName     string     `json:"toolName"`
	Module       string     `json:"module,omitempty"`
	InputHash    string     `json:"inputHash,omitempty"`
	Result       string     `json:"result"`
	ErrorMessage string     `json:"errorMessage,omitempty"`
	LatencyMs    *int64     `json:"latencyMs,omitempty"`
	Seq          *int       `json:"seq,omitempty"`
	CreatedAt    *time.Time `json:"createdAt,omitempty"`

	// Evidence (ours, optional; issue 10): the call's JSON arguments (secret-looking keys are
	// redacted on write, each piece cut at 16 KB), a preview of its result or error, and the
	// class of its failure (classified from errorMessage when absent).
	Arguments     json.RawMessage `json:"arguments,omitempty"`
	ResultPreview string          `json:"resultPreview,omitempty"`
	ErrorClass    string          `json:"errorClass,omitempty"`
}

// FeedbackRow is one row of POST …/{id}/feedback. CreatedAt as in ActionRow.
type FeedbackRow struct {
	TickID    string     `json:"tickId"`
	Module    string     `json:"module"`
	Rating    int        `json:"rating"`
	Notes     string     `json:"notes,omitempty"`
	CreatedAt *time.Time `json:"createdAt,omitempty"`
}

// ActionsRequest is the body of POST …/{id}/actions.
type ActionsRequest struct {
	Actions []ActionRow `json:"actions"`
}

// FeedbackRequest is the body of POST …/{id}/feedback.
type FeedbackRequest struct {
	Feedback []FeedbackRow `json:"feedback"`
}

// BatchResult answers the actions and feedback endpoints: Written rows were inserted, Duplicates
// were already there (same deterministic id).
type BatchResult struct {
	OK         bool `json:"ok"`
	Written    int  `json:"written"`
	Duplicates int  `json:"duplicates"`
}

// TickResponse answers POST …/{id}/ticks.
type TickResponse struct {
	OK     bool   `json:"ok"`
	TickID string `json:"tickId"`
}

// HistoryResponse answers GET …/{id}/history (our extension).
type HistoryResponse struct {
	Runs []persona.RunHistory `json:"runs"`
}

// History bounds.
const (
	DefaultHistoryRuns = 5
	MaxHistoryRuns     = 50
)

// FieldDetail is one entry of a ValidationError's details.
type FieldDetail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// actionFromRow turns row i of a batch into an action. A row without seq takes i, as the
// original runner's ids do (${tickId}-${i}-${toolName}). A Claude Agent SDK tool name
// (mcp__<server>__todo_create) is filed under the app's tool (todo.create, when tools has it)
// and, without a module, the module of its tool part (todo); the id keeps the name as sent, so a
// retry of the same row is a duplicate whatever the app's tool list says by then.
func actionFromRow(i int, r ActionRow, tools persona.ToolNameMap) persona.Action {
	a := persona.Action{
		TickID: r.TickID, ToolName: r.ToolName, Module: r.Module, InputHash: r.InputHash,
		Result: persona.Result(r.Result), ErrorMessage: r.ErrorMessage, LatencyMs: r.LatencyMs, Seq: i,
		Arguments: r.Arguments, ResultPreview: r.ResultPreview, ErrorClass: persona.ErrorClass(r.ErrorClass),
	}
	if r.Seq != nil {
		a.Seq = *r.Seq
	}
	if r.CreatedAt != nil {
		a.CreatedAt = r.CreatedAt.UTC()
	}
	if name, module, ok := persona.ResolveSDKName(r.ToolName, tools); ok {
		a.ID = persona.ActionID(a.TickID, a.Seq, r.ToolName)
		a.ToolName = name
		if a.Module == "" {
			a.Module = module
		}
	}
	return a
}

func rowFromAction(a persona.Action) ActionRow {
	r := ActionRow{
		TickID: a.TickID, ToolName: a.ToolName, Module: a.Module, InputHash: a.InputHash,
		Result: string(a.Result), ErrorMessage: a.ErrorMessage, LatencyMs: a.LatencyMs, Seq: &a.Seq,
		Arguments: a.Arguments, ResultPreview: a.ResultPreview, ErrorClass: string(a.ErrorClass),
	}
	if !a.CreatedAt.IsZero() {
		t := a.CreatedAt
		r.CreatedAt = &t
	}
	return r
}

func feedbackFromRow(r FeedbackRow) persona.Feedback {
	f := persona.Feedback{TickID: r.TickID, Module: r.Module, Rating: r.Rating, Notes: r.Notes}
	if r.CreatedAt != nil {
		f.CreatedAt = r.CreatedAt.UTC()
	}
	return f
}

func rowFromFeedback(f persona.Feedback) FeedbackRow {
	r := FeedbackRow{TickID: f.TickID, Module: f.Module, Rating: f.Rating, Notes: f.Notes}
	if !f.CreatedAt.IsZero() {
		t := f.CreatedAt
		r.CreatedAt = &t
	}
	return r
}

func personaView(p persona.Persona) PersonaView {
	return PersonaView{
		UserID: p.UserID, Email: p.Email, Name: p.Name, Archetype: p.Archetype,
		SystemPrompt: p.SystemPrompt, ModuleMix: p.ModuleMix, TickCadence: p.TickCadence,
		Timezone: p.Timezone, LastActiveAt: p.LastActiveAt, CreatedAt: p.CreatedAt,
		NextDueAt: p.NextDueAt, LeaseOwner: p.LeaseOwner, LeaseExpiresAt: p.LeaseExpiresAt,
		FailureCount: p.FailureCount, LastError: p.LastError,
	}
}

func actionView(a persona.Action) ActionView {
	return ActionView{
		ID: a.ID, TickID: a.TickID, ToolName: a.ToolName, Module: a.Module, InputHash: a.InputHash,
		Result: string(a.Result), ErrorMessage: a.ErrorMessage, LatencyMs: a.LatencyMs, Seq: a.Seq,
		CreatedAt: a.CreatedAt,
	}
}
