// Package persona is the domain of persona-runner: users, spaces, personas, the rows a persona run
// produces (actions, feedback, tick records), the due rule, the password derivation and the Store
// interface every storage adapter implements. It imports no database, HTTP or LLM code.
package persona

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Cadence is how often a persona runs.
type Cadence string

const (
	Hourly   Cadence = "hourly"
	Daily    Cadence = "daily"
	Weekdays Cadence = "weekdays"
)

// Cadences lists the valid cadences in a stable order (for messages and enums).
var Cadences = []Cadence{Hourly, Daily, Weekdays}

// Valid reports whether c is one of the three cadences.
func (c Cadence) Valid() bool { return c == Hourly || c == Daily || c == Weekdays }

// Period is the minimum time between two successful runs of a persona with this cadence.
func (c Cadence) Period() time.Duration {
	if c == Hourly {
		return time.Hour
	}
	return 24 * time.Hour
}

// Kind tells real people from personas and system accounts.
type Kind string

const (
	KindHuman   Kind = "human"
	KindPersona Kind = "persona"
	KindSystem  Kind = "system"
)

// Role is a user's authorisation role.
type Role string

const (
	RoleUser    Role = "user"
	RoleAdmin   Role = "admin"
	RoleService Role = "service"
)

// Tier is a user's access tier.
type Tier string

const (
	TierGuest   Tier = "guest"
	TierPublic  Tier = "public"
	TierBeta    Tier = "beta"
	TierAlpha   Tier = "alpha"
	TierFounder Tier = "founder"
)

// SpaceType is the kind of a space. Every user has exactly one personal space.
type SpaceType string

const (
	SpacePersonal SpaceType = "personal"
	SpaceBrand    SpaceType = "brand"
	SpaceClub     SpaceType = "club"
	SpaceFamily   SpaceType = "family"
	SpaceTeam     SpaceType = "team"
	SpacePractice SpaceType = "practice"
)

// SharedSpaceTypes are the types a catalog may give a shared space.
var SharedSpaceTypes = []SpaceType{SpaceBrand, SpaceClub, SpaceFamily, SpaceTeam, SpacePractice}

// Valid reports whether t is a known space type.
func (t SpaceType) Valid() bool {
	if t == SpacePersonal {
		return true
	}
	for _, s := range SharedSpaceTypes {
		if t == s {
			return true
		}
	}
	return false
}

// User is an account: a human, a persona or a system account.
type User struct {
	ID            string
	Email         string
	Name          string
	EmailVerified bool
	Role          Role
	AccessTier    Tier
	Kind          Kind
	PasswordHash  string // bcrypt; never the password
	DeletedAt     *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Space is a workspace ("organization" in Mana). App data is scoped to a space.
type Space struct {
	ID        string
	Name      string
	Slug      string
	Type      SpaceType
	CreatedAt time.Time
}

// Member roles inside a space.
const (
	MemberOwner  = "owner"
	MemberMember = "member"
)

// Persona is a synthetic user's definition and scheduling state.
type Persona struct {
	UserID       string
	Email        string
	Name         string
	Archetype    string
	SystemPrompt string
	ModuleMix    ModuleMix
	TickCadence  Cadence
	Timezone     string // IANA name
	LastActiveAt *time.Time
	CreatedAt    time.Time

	// Scheduling state (SPEC §3 fix).
	NextDueAt      *time.Time // back-off after a failure; nil when none
	LeaseOwner     string
	LeaseExpiresAt *time.Time
	FailureCount   int
	LastError      string
}

// DuePersona is a persona as the due and claim endpoints return it.
type DuePersona struct {
	UserID          string     `json:"userId"`
	Email           string     `json:"email"`
	Archetype       string     `json:"archetype"`
	SystemPrompt    string     `json:"systemPrompt"`
	ModuleMix       ModuleMix  `json:"moduleMix"`
	TickCadence     Cadence    `json:"tickCadence"`
	Timezone        string     `json:"timezone"`
	LastActiveAt    *time.Time `json:"lastActiveAt"`
	PersonalSpaceID string     `json:"personalSpaceId"`
	LeaseExpiresAt  *time.Time `json:"leaseExpiresAt,omitempty"` // set by claim only
	// Target is the name of the app the persona tests (SPEC §10); empty means the default.
	Target string `json:"target,omitempty"`
	// Secrets say where the persona's secrets are read at run time (never their values).
	Secrets map[string]SecretRef `json:"secrets,omitempty"`
}

// SecretRef says where one persona secret is read at run time: an environment variable or a
// file (whose content, without a final newline, is the secret). The value is never stored.
type SecretRef struct {
	Env  string `json:"env,omitempty" yaml:"env,omitempty"`
	File string `json:"file,omitempty" yaml:"file,omitempty"`
}

// EncodeSecrets is the stored form of a persona's secret references: a JSON object, "{}" for
// none.
func EncodeSecrets(m map[string]SecretRef) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode secrets: %w", err)
	}
	return string(b), nil
}

// DecodeSecrets reads the stored form of EncodeSecrets; none gives nil.
func DecodeSecrets(b []byte) (map[string]SecretRef, error) {
	var m map[string]SecretRef
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decode secrets: %w", err)
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// ModuleMix maps an app module to its weight (≥ 0) in a persona's day.
type ModuleMix map[string]float64

// Modules returns the modules with a positive weight, heaviest first, ties by name.
func (m ModuleMix) Modules() []string {
	out := make([]string, 0, len(m))
	for k, w := range m {
		if w > 0 {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if m[out[i]] != m[out[j]] {
			return m[out[i]] > m[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// MarshalJSON writes the mix with sorted keys (encoding/json already sorts map keys); an empty
// mix is {} rather than null.
func (m ModuleMix) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]float64(m))
}

// Result is the outcome of one tool call.
type Result string

const (
	ResultOK    Result = "ok"
	ResultError Result = "error"
)

// Action is one tool call a persona made (an audit row).
type Action struct {
	ID           string    `json:"id"`
	PersonaID    string    `json:"personaId"`
	TickID       string    `json:"tickId"`
	ToolName     string    `json:"toolName"`
	Module       string    `json:"module"`
	InputHash    string    `json:"inputHash"`
	Result       Result    `json:"result"`
	ErrorMessage string    `json:"errorMessage"`
	LatencyMs    *int64    `json:"latencyMs"` // nil: not measured (the original runner sends none)
	Seq          int       `json:"seq"`
	CreatedAt    time.Time `json:"createdAt"`

	// Evidence (issue 10), all optional: the call's arguments as JSON (secret-looking keys
	// redacted, at most MaxEvidence bytes), the start of its result or error text, and the class
	// of its failure.
	Arguments     json.RawMessage `json:"arguments,omitempty"`
	ResultPreview string          `json:"resultPreview,omitempty"`
	ErrorClass    ErrorClass      `json:"errorClass,omitempty"`
}

// Feedback is a persona's in-character rating of one module after one run.
type Feedback struct {
	ID        string    `json:"id"`
	PersonaID string    `json:"personaId"`
	TickID    string    `json:"tickId"`
	Module    string    `json:"module"`
	Rating    int       `json:"rating"`
	Notes     string    `json:"notes"`
	CreatedAt time.Time `json:"createdAt"`
}

// TickStatus is the state of one persona run.
type TickStatus string

const (
	TickRunning   TickStatus = "running"
	TickOK        TickStatus = "ok"
	TickDegraded  TickStatus = "degraded" // the calls worked, the rating reply was unusable
	TickFailed    TickStatus = "failed"
	TickTimeout   TickStatus = "timeout"
	TickCancelled TickStatus = "cancelled"
	// TickAbandoned is a run found `running` after its runner ended without finishing it (a
	// crash, kill -9): at that runner's restart, or when its lease ran out and the persona was
	// claimed again. Like cancelled it only releases the lease, so the persona runs again.
	TickAbandoned TickStatus = "abandoned"
)

// Valid reports whether s is a known status.
func (s TickStatus) Valid() bool {
	switch s {
	case TickRunning, TickOK, TickDegraded, TickFailed, TickTimeout, TickCancelled, TickAbandoned:
		return true
	}
	return false
}

// Completed reports whether s is a run that did its day: ok, or degraded (its ratings were
// unusable). Both count as the persona's activity for the schedule.
func (s TickStatus) Completed() bool { return s == TickOK || s == TickDegraded }

// Failure reports whether s counts as a failed run for back-off.
func (s TickStatus) Failure() bool { return s == TickFailed || s == TickTimeout }

// Tick is the record of one persona run (table persona_ticks).
type Tick struct {
	TickID       string          `json:"tickId"`
	PersonaID    string          `json:"personaId"`
	RunnerID     string          `json:"runnerId"`
	Status       TickStatus      `json:"status"`
	StartedAt    time.Time       `json:"startedAt"`
	FinishedAt   *time.Time      `json:"finishedAt"`
	ToolCalls    int             `json:"toolCalls"`
	Errors       int             `json:"errors"`
	Turns        int             `json:"turns"`
	InputTokens  int64           `json:"inputTokens"`
	OutputTokens int64           `json:"outputTokens"`
	CachedTokens int64           `json:"cachedTokens"`
	CostUSD      float64         `json:"costUsd"`
	Model        string          `json:"model"`
	Summary      string          `json:"summary"`
	Error        string          `json:"error"`
	Transcript   json.RawMessage `json:"transcript,omitempty"`

	// The app under test (SPEC §10): the target's name and the server's serverInfo name and
	// version as the MCP handshake gave them; empty when unknown.
	Target        string `json:"target,omitempty"`
	ServerName    string `json:"serverName,omitempty"`
	ServerVersion string `json:"serverVersion,omitempty"`

	// Stage is where a run that did not end ok stopped (login, space, mcp, model, tool, rating,
	// persist, …), so reports can tell an outage of the app's connection from a defect; empty
	// for ok runs and records that predate it.
	Stage string `json:"stage,omitempty"`
}

// Limits of the internal batch endpoints and of stored text (SPEC §4, §3).
const (
	MaxActionsPerBatch  = 500
	MaxFeedbackPerBatch = 100
	MaxErrorMessage     = 500
	// MaxErrorMessageBytes also bounds a stored error message in bytes (500 four-byte characters
	// would be 2,000): PostgreSQL's index of the failed calls holds the message beside the row's
	// keys, and a B-tree entry may not exceed 2,704 bytes.
	MaxErrorMessageBytes = 1000
	// MaxKeyText bounds the text that keys an action row (tickId, toolName, module) in bytes, so
	// the row's id and index entries stay within PostgreSQL's B-tree limit; MCP tool names
	// should be at most 128 characters.
	MaxKeyText       = 200
	MaxFeedbackNotes = 1000
)

// ActionID is the deterministic id of an action row: {tickId}-{seq}-{toolName}.
func ActionID(tickID string, seq int, toolName string) string {
	return fmt.Sprintf("%s-%d-%s", tickID, seq, toolName)
}

// FeedbackID is the deterministic id of a feedback row: {tickId}-{module}.
func FeedbackID(tickID, module string) string { return tickID + "-" + module }

// ModuleOf returns the module of an MCP tool name: the text before the first '.'.
func ModuleOf(toolName string) string {
	if i := strings.IndexByte(toolName, '.'); i >= 0 {
		return toolName[:i]
	}
	return toolName
}

// DefaultModule is the default module rule of SPEC §10: the text before the first '.', '_' or
// '-' of the tool name ("todo.create", "pantry_add", "recipes__find", "mood-log"); a name with
// none of them, or starting with one, is its own module.
func DefaultModule(name string) string {
	if i := strings.IndexAny(name, "._-"); i > 0 {
		return name[:i]
	}
	return name
}

// Latency returns a pointer to ms, for Action.LatencyMs.
func Latency(ms int64) *int64 { return &ms }

// sdkToolPrefix starts the tool names the Claude Agent SDK reports: mcp__<server>__<tool>.
const sdkToolPrefix = "mcp__"

// StripSDKPrefix returns the tool part of a Claude Agent SDK tool name ("mcp__mana__todo_create"
// → "todo_create", true); other names come back unchanged with false.
func StripSDKPrefix(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, sdkToolPrefix)
	if !ok {
		return name, false
	}
	i := strings.Index(rest, "__")
	if i < 1 || i+2 >= len(rest) {
		return name, false
	}
	return rest[i+2:], true
}

// ToolNameMap maps the names a model or an agent SDK sees for an app's tools back to the app's
// MCP tool names ("todo_create" → "todo.create"). Names two tools would share are left out.
type ToolNameMap map[string]string

// NewToolNameMap builds the map for the app's MCP tool names: each name, and each name with the
// characters a model refuses (outside [a-zA-Z0-9_-]) turned into '_' (SPEC §5.3).
func NewToolNameMap(mcpNames []string) ToolNameMap {
	m := ToolNameMap{}
	ambiguous := map[string]bool{}
	for _, n := range mcpNames {
		m[n] = n
	}
	for _, n := range mcpNames {
		s := modelSafeName(n)
		if s == n {
			continue
		}
		if prev, ok := m[s]; ok && prev != n {
			ambiguous[s] = true
			continue
		}
		m[s] = n
	}
	for s := range ambiguous {
		if m[s] != s { // an app tool of exactly that name keeps it
			delete(m, s)
		}
	}
	return m
}

// modelSafeName replaces every character outside [a-zA-Z0-9_-] with '_'.
func modelSafeName(n string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, n)
}

// ResolveSDKName files a tool name as the Claude Agent SDK reports it: for
// "mcp__<server>__<tool>" it returns the app's MCP name when tools knows <tool>
// ("mcp__mana__todo_create" → "todo.create"), else the name unchanged, and the module by the
// SPEC §10 default rule of the tool part ("todo"). Other names return unchanged with an empty
// module and false.
func ResolveSDKName(name string, tools ToolNameMap) (toolName, module string, ok bool) {
	if _, known := tools[name]; known {
		return name, "", false
	}
	rest, ok := StripSDKPrefix(name)
	if !ok {
		return name, "", false
	}
	if mcp, known := tools[rest]; known {
		return mcp, DefaultModule(mcp), true
	}
	return name, DefaultModule(rest), true
}

// Truncate cuts s to at most n runes.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// TruncateBytes cuts s to its first n characters and then to at most maxBytes bytes, never
// inside a character.
func TruncateBytes(s string, n, maxBytes int) string {
	s = Truncate(s, n)
	if len(s) <= maxBytes {
		return s
	}
	return cutAtRune(s, maxBytes)
}

var slugJunk = regexp.MustCompile(`[^a-z0-9-]+`)

// SlugBase derives the base slug of a user's personal space from an email (SPEC §3): local part,
// lowercased, runs of characters outside [a-z0-9-] turned into '-', trimmed of '-', at most 30
// characters. Collisions are resolved by the store with -2, -3, …
func SlugBase(email string) string {
	local := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		local = email[:i]
	}
	s := slugJunk.ReplaceAllString(strings.ToLower(local), "-")
	s = strings.Trim(s, "-")
	if len(s) > 30 {
		s = strings.TrimRight(s[:30], "-")
	}
	if s == "" {
		s = "space"
	}
	return s
}

// SlugWithSuffix returns base with the collision suffix n (n ≥ 2), still at most 30 characters.
func SlugWithSuffix(base string, n int) string {
	suf := fmt.Sprintf("-%d", n)
	if len(base)+len(suf) > 30 {
		base = strings.TrimRight(base[:30-len(suf)], "-")
	}
	return base + suf
}

// OfferedTool is a tool a target offered personas in one run, with its module as the target
// maps it; runs keep the list in their transcript (offeredTools) for per-target coverage.
type OfferedTool struct {
	Name   string `json:"name"`
	Module string `json:"module"`
}

// OfferedToolsOf reads the offeredTools of a tick record's transcript; nil when the run kept
// none (an older run, or one that never listed the tools).
func OfferedToolsOf(transcript json.RawMessage) []OfferedTool {
	var tr struct {
		OfferedTools []OfferedTool `json:"offeredTools"`
	}
	if len(transcript) == 0 || json.Unmarshal(transcript, &tr) != nil {
		return nil
	}
	return tr.OfferedTools
}
