package persona

import (
	"fmt"
	"maps"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// PersonaInput creates or updates a persona by email (admin upsert, seeding). Empty TickCadence
// and Timezone keep the stored values on update (daily and UTC on create).
type PersonaInput struct {
	Email        string    `json:"email"`
	Name         string    `json:"name,omitempty"`
	Password     string    `json:"password"`
	Archetype    string    `json:"archetype"`
	SystemPrompt string    `json:"systemPrompt"`
	ModuleMix    ModuleMix `json:"moduleMix"`
	TickCadence  Cadence   `json:"tickCadence,omitempty"`
	Timezone     string    `json:"timezone,omitempty"`
	// Target names the app the persona tests (SPEC §10); empty means the runner's default
	// target. Stored, so that a runner claiming the persona opens it on its own target.
	Target string `json:"target,omitempty"`
	// Secrets say where the persona's secrets are read at run time: environment variable names
	// and file paths, never the values. Stored as given (nil stores none).
	Secrets map[string]SecretRef `json:"secrets,omitempty"`
	// NoLogin makes the persona an account without a password, which the auth API's login
	// refuses like wrong credentials: personas of targets whose auth strategy is not mana never
	// log in there. Password must then be empty; an update turns an existing password off.
	NoLogin bool `json:"noLogin,omitempty"`
}

// Target and secret names as SPEC §10 and the catalog spell them.
var (
	targetNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	secretNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ValidTargetName reports whether s is a target's name: lowercase letters, digits, - and _,
// starting with a letter or digit, at most 63 characters.
func ValidTargetName(s string) bool { return targetNamePattern.MatchString(s) }

// MinPromptLength is the shortest system prompt accepted.
const MinPromptLength = 20

// account checks the fields every account has: email, name and password (bcrypt reads at most
// 72 bytes of it).
func (es *FieldErrors) account(email, name, password string) {
	if err := ValidateEmail(email); err != nil {
		es.Add("email", "%s", strings.TrimPrefix(err.Error(), "email: "))
	}
	es.Text("name", name)
	if password == "" {
		es.Add("password", "is required")
	} else if len(password) > 72 {
		es.Add("password", "must be at most 72 bytes")
	} else {
		es.Text("password", password)
	}
}

// Validate checks every field and returns all problems at once (FieldErrors), naming fields by
// their JSON names.
func (in PersonaInput) Validate() error {
	var es FieldErrors
	if in.NoLogin {
		if err := ValidateEmail(in.Email); err != nil {
			es.Add("email", "%s", strings.TrimPrefix(err.Error(), "email: "))
		}
		es.Text("name", in.Name)
		if in.Password != "" {
			es.Add("password", "must be empty with noLogin (a persona without a login has no password)")
		}
	} else {
		es.account(in.Email, in.Name, in.Password)
	}
	if in.Target != "" && !ValidTargetName(in.Target) {
		es.Add("target", "must be a target's name: lowercase letters, digits, - and _ (got %q)", in.Target)
	}
	for _, k := range slices.Sorted(maps.Keys(in.Secrets)) {
		ref := in.Secrets[k]
		switch {
		case !secretNamePattern.MatchString(k):
			es.Add("secrets."+k, "secret names are letters, digits and _ (got %q)", k)
		case (ref.Env == "") == (ref.File == ""):
			es.Add("secrets."+k, "must say where the secret is read: {env: VARIABLE} or {file: PATH}, one of them")
		default:
			es.Text("secrets."+k, ref.Env+ref.File)
		}
	}
	if strings.TrimSpace(in.Archetype) == "" {
		es.Add("archetype", "is required")
	} else {
		es.Text("archetype", in.Archetype)
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(in.SystemPrompt)); n < MinPromptLength {
		es.Add("systemPrompt", "must be at least %d characters (got %d)", MinPromptLength, n)
	} else {
		es.Text("systemPrompt", in.SystemPrompt)
	}
	validateMix(&es, "moduleMix", in.ModuleMix)
	if in.TickCadence != "" && !in.TickCadence.Valid() {
		es.Add("tickCadence", "must be one of hourly, daily, weekdays (got %q)", in.TickCadence)
	}
	// Empty means UTC on create and "keep" on update; anything else must be a zone both stores
	// evaluate alike (ValidTimezone).
	if in.Timezone != "" && !ValidTimezone(in.Timezone) {
		es.Add("timezone", "must be an IANA time zone such as Europe/Berlin (got %q)", in.Timezone)
	}
	return es.Err()
}

func validateMix(es *FieldErrors, field string, m ModuleMix) {
	if len(m) == 0 {
		es.Add(field, "needs at least one module with a weight")
		return
	}
	positive := false
	for k, w := range m {
		if strings.TrimSpace(k) == "" {
			es.Add(field, "has an empty module name")
		} else if msg := TextProblem(k); msg != "" {
			es.Add(field, "module names %s", msg)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			es.Add(field+"."+k, "weight must be a number ≥ 0 (got %v)", w)
		}
		if w > 0 {
			positive = true
		}
	}
	if !positive {
		es.Add(field, "needs at least one module with a weight above 0")
	}
}

// ValidateEmail checks that s is a plain address (no display name, no surrounding spaces).
func ValidateEmail(s string) error {
	if s == "" {
		return &FieldError{Field: "email", Message: "is required"}
	}
	if msg := TextProblem(s); msg != "" {
		return &FieldError{Field: "email", Message: msg}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return &FieldError{Field: "email", Message: "must be a plain email address"}
	}
	return nil
}

// UserInput creates or updates an account that is not a persona (operators, `admin create`).
type UserInput struct {
	Email    string
	Name     string
	Password string
	Role     Role
	Kind     Kind // human or system
}

// Validate checks a non-persona account; empty Role and Kind mean user and human.
func (in UserInput) Validate() error {
	var es FieldErrors
	es.account(in.Email, in.Name, in.Password)
	if in.Role != "" && in.Role != RoleUser && in.Role != RoleAdmin && in.Role != RoleService {
		es.Add("role", "must be one of user, admin, service (got %q)", in.Role)
	}
	if in.Kind != "" && in.Kind != KindHuman && in.Kind != KindSystem {
		es.Add("kind", "must be human or system (got %q)", in.Kind)
	}
	return es.Err()
}

// SpaceInput creates or updates a shared space by slug; Members are emails of existing users
// (personas of the same plan included). Membership is set to exactly this list; the first member
// is the space's owner, the others are members.
type SpaceInput struct {
	Slug    string    `json:"slug"`
	Name    string    `json:"name"`
	Type    SpaceType `json:"type"`
	Members []string  `json:"members"`
}

// MaxSlugLength is the longest space slug (SPEC §3).
const MaxSlugLength = 30

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// ValidSlug reports whether s is a space slug: 1–30 characters of a-z, 0-9 and single inner dashes.
func ValidSlug(s string) bool { return len(s) <= MaxSlugLength && slugPattern.MatchString(s) }

// Validate checks the fields of a shared space (not whether the members exist: that is the
// store's part) and returns every problem at once.
func (in SpaceInput) Validate() error {
	var es FieldErrors
	switch {
	case in.Slug == "":
		es.Add("slug", "is required")
	case !ValidSlug(in.Slug):
		es.Add("slug", "must be 1–%d characters of a-z, 0-9 and single inner dashes (got %q)", MaxSlugLength, in.Slug)
	}
	if strings.TrimSpace(in.Name) == "" {
		es.Add("name", "is required")
	} else {
		es.Text("name", in.Name)
	}
	if !slices.Contains(SharedSpaceTypes, in.Type) {
		es.Add("type", "must be one of brand, club, family, team, practice (got %q)", in.Type)
	}
	if len(in.Members) == 0 {
		es.Add("members", "needs at least one member")
	}
	seen := make(map[string]bool, len(in.Members))
	for i, m := range in.Members {
		field := fmt.Sprintf("members[%d]", i)
		if m == "" {
			es.Add(field, "is required")
			continue
		}
		if msg := TextProblem(m); msg != "" {
			es.Add(field, "%s", msg)
			continue
		}
		if seen[m] {
			es.Add(field, "lists %s twice", m)
		}
		seen[m] = true
	}
	return es.Err()
}

// Outcome says what an upsert did.
type Outcome string

const (
	Created   Outcome = "created"
	Updated   Outcome = "updated"
	Unchanged Outcome = "unchanged"
	Deleted   Outcome = "deleted"
)

// SeedPlan is what a catalog asks for: personas first, then shared spaces.
type SeedPlan struct {
	Personas []PersonaInput
	Spaces   []SpaceInput
}

// SeedChange is one line of a seed report.
type SeedChange struct {
	Kind    string  `json:"kind"` // "persona" or "space"
	Key     string  `json:"key"`  // email or slug
	Outcome Outcome `json:"outcome"`
	Detail  string  `json:"detail,omitempty"` // which fields changed
}

// PersonaSummary is a row of the admin persona list.
type PersonaSummary struct {
	UserID       string     `json:"userId"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Archetype    string     `json:"archetype"`
	TickCadence  Cadence    `json:"tickCadence"`
	Timezone     string     `json:"timezone"`
	LastActiveAt *time.Time `json:"lastActiveAt"`
	CreatedAt    time.Time  `json:"createdAt"`
	Actions7d    int        `json:"actions7d"`
	FailureCount int        `json:"failureCount"`
	LastError    string     `json:"lastError"`
	NextDueAt    *time.Time `json:"nextDueAt"`
}

// ModuleRating is the average rating of one module.
type ModuleRating struct {
	Module    string  `json:"module"`
	AvgRating float64 `json:"avgRating"`
	Count     int     `json:"count"`
}

// RunHistory is one finished run with its rows, for the memory digest.
type RunHistory struct {
	Tick     Tick       `json:"tick"`
	Actions  []Action   `json:"actions"`
	Feedback []Feedback `json:"feedback"`
}

// ActionQuery filters Actions; zero fields do not filter. Results are oldest first (created_at,
// then tick, then seq); Limit 0 means no limit.
type ActionQuery struct {
	PersonaID string
	TickID    string
	Module    string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	Limit     int
}

// FeedbackQuery filters Feedback like ActionQuery.
type FeedbackQuery struct {
	PersonaID string
	TickID    string
	Module    string
	Since     time.Time
	Until     time.Time
	Limit     int
}

// TickQuery filters Ticks; results are newest first (started_at desc).
type TickQuery struct {
	PersonaID string
	Status    TickStatus
	Since     time.Time
	Until     time.Time
	Limit     int
	// NoTranscript leaves the transcripts out (Transcript nil): they are most of a record's
	// bytes, and a caller that counts or lists runs has no use for them.
	NoTranscript bool
}

// Session is a refresh/session token. Only a hash of the token is stored.
type Session struct {
	ID        string
	UserID    string
	TokenHash string // hex SHA-256 of the opaque token
	ExpiresAt time.Time
	CreatedAt time.Time
}

// SigningKey is an Ed25519 key pair for JWTs. PrivateKey is the 32-byte seed.
type SigningKey struct {
	ID         string // the JWT kid
	Algorithm  string // "EdDSA"
	PrivateKey []byte
	PublicKey  []byte
	CreatedAt  time.Time
}

// LockoutPolicy is the login lockout rule (SPEC §4).
type LockoutPolicy struct {
	MaxFailures int
	Window      time.Duration
	LockFor     time.Duration
}

// DefaultLockout: 5 failures in 15 minutes lock the account for 30 minutes.
var DefaultLockout = LockoutPolicy{MaxFailures: 5, Window: 15 * time.Minute, LockFor: 30 * time.Minute}
