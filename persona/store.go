package persona

import (
	"context"
	"time"
)

// Store is everything persona-runner keeps: the contract store/sqlite and store/postgres implement
// and the one conformance suite in store/storetest holds them to. Code that uses a store does not
// take it whole but declares the few methods it calls, next to itself (runner.Store,
// authapi.Store, authapi/persist.LocalStore, app.Store, report.Source, findings.Source,
// web.Store); the documentation of each method, and the errors it returns, is here. Every method
// is safe for concurrent use. Times are the store's clock (an injectable Now in each adapter)
// unless given.
type Store interface {
	// UpsertPersona creates or updates the persona with in.Email in one transaction: a new user
	// (kind persona, role user, tier founder, email verified) with its personal space and owner
	// membership, or an update of name, password (re-hashed only when it no longer matches),
	// archetype, prompt, mix, and cadence/timezone when given. Returns Created, Updated or
	// Unchanged and the user id. Errors: ErrInvalid (FieldErrors) for bad input; ErrConflict when
	// the email belongs to a user whose kind is not persona (a human is never converted).
	UpsertPersona(ctx context.Context, in PersonaInput) (userID string, out Outcome, err error)

	// UpsertSpace creates or updates a shared space by slug, setting name, type and exactly the
	// given members (by email). Errors: ErrInvalid for a bad type, slug or an unknown member
	// email; ErrConflict when the slug is taken by a personal space.
	UpsertSpace(ctx context.Context, in SpaceInput) (spaceID string, out Outcome, err error)

	// ApplySeed upserts every persona, then every space, in one transaction, and returns one
	// change per entry in plan order. With dryRun the transaction is rolled back: the report says
	// what would change and nothing is written. Any error rolls everything back.
	ApplySeed(ctx context.Context, plan SeedPlan, dryRun bool) ([]SeedChange, error)

	// UpsertUser creates or updates a non-persona account (operators). An existing user gets the
	// new password, name (if given) and role. Errors: ErrInvalid; ErrConflict when the existing
	// user's kind differs from in.Kind.
	UpsertUser(ctx context.Context, in UserInput) (User, Outcome, error)

	// User returns a live (not deleted) user by id; ErrNotFound otherwise.
	User(ctx context.Context, id string) (User, error)
	// UserByEmail returns a live user by exact email; ErrNotFound otherwise.
	UserByEmail(ctx context.Context, email string) (User, error)

	// SpacesOfUser lists the spaces the user is a member of, personal space first, then by name.
	SpacesOfUser(ctx context.Context, userID string) ([]Space, error)
	// IsMember reports whether the user is a member of the space.
	IsMember(ctx context.Context, spaceID, userID string) (bool, error)

	// Persona returns a persona by user id; ErrNotFound when there is none.
	Persona(ctx context.Context, userID string) (Persona, error)
	// PersonaByEmail returns a persona by email; ErrNotFound when there is none.
	PersonaByEmail(ctx context.Context, email string) (Persona, error)
	// ListPersonas lists live personas by email with the count of actions since actionsSince.
	ListPersonas(ctx context.Context, actionsSince time.Time) ([]PersonaSummary, error)
	// DeletePersona deletes the persona's user and everything of theirs: the persona row, actions,
	// feedback, ticks, sessions, memberships and the spaces no other user is a member of (with the
	// app data in them, by foreign key). Errors: ErrNotFound; ErrNotPersona for other users.
	DeletePersona(ctx context.Context, userID string) error

	// DuePersonas returns up to limit personas due now (SPEC §6), in due order, and the store's
	// time of the query. Read-only. limit ≤ 0 means no limit.
	DuePersonas(ctx context.Context, limit int) ([]DuePersona, time.Time, error)
	// ClaimPersonas atomically leases up to limit due personas to runnerID until now+lease and
	// returns them in due order with LeaseExpiresAt set. No two callers ever get the same persona
	// while its lease holds.
	ClaimPersonas(ctx context.Context, runnerID string, limit int, lease time.Duration) ([]DuePersona, error)

	// InsertActions inserts rows for the persona, skipping ids that exist (ON CONFLICT DO NOTHING),
	// in one transaction. Empty ids are derived with ActionID; PersonaID is set from personaID;
	// empty CreatedAt gets now; a nil LatencyMs stays null. In the same transaction the persona is
	// marked active (last_active_at = now) unless a live lease holds it (a runner that claimed it
	// reports through RecordTick instead), as the original server does for runners that record
	// no ticks. Returns rows inserted and duplicates. Errors: ErrNotFound for an unknown persona;
	// ErrInvalid (naming the row) for a bad row, with nothing written.
	InsertActions(ctx context.Context, personaID string, rows []Action) (written, duplicates int, err error)
	// InsertFeedback is InsertActions for feedback rows (ids from FeedbackID).
	InsertFeedback(ctx context.Context, personaID string, rows []Feedback) (written, duplicates int, err error)

	// RecordTick upserts the tick record by TickID. A terminal status releases the persona's lease
	// (when held by t.RunnerID or expired) and updates its schedule: ok sets last_active_at to
	// FinishedAt (else now), clears back-off, failure_count and last_error; failed and timeout
	// increment failure_count, set last_error and next_due_at = now + Backoff(cadence, count);
	// cancelled only releases the lease. running only stores the record. Errors: ErrNotFound for
	// an unknown persona; ErrInvalid for a bad status or empty ids.
	RecordTick(ctx context.Context, t Tick) error
	// RecordRun writes a whole run in one transaction: run.Actions as InsertActions and
	// run.Feedback as InsertFeedback would for run.Tick.PersonaID, then run.Tick as RecordTick
	// would. All of it is written or none: ErrInvalid (every bad field, see ValidateRun) and
	// ErrNotFound write nothing, and so does a tick id of another persona. Existing row ids are
	// skipped and the tick record is upserted, so a retry is harmless. It is the runner's one
	// write per run on a store in the same process.
	RecordRun(ctx context.Context, run RunRecord) (RunWritten, error)
	// AbandonRuns marks every `running` tick record of runnerID abandoned (a runner that
	// restarts finds the runs its previous process left) and releases the leases runnerID holds,
	// so those personas are due again. ClaimPersonas does the same for the running records of
	// each persona it claims (their runner's lease ran out). Returns the records marked.
	AbandonRuns(ctx context.Context, runnerID string) (int, error)
	// Tick returns one tick record; ErrNotFound when absent.
	Tick(ctx context.Context, tickID string) (Tick, error)

	// Actions, Feedback and Ticks read rows for reports and the admin API (see the query types).
	Actions(ctx context.Context, q ActionQuery) ([]Action, error)
	Feedback(ctx context.Context, q FeedbackQuery) ([]Feedback, error)
	Ticks(ctx context.Context, q TickQuery) ([]Tick, error)
	// CostSince returns the summed cost (USD) of the tick records started at or after since,
	// of every runner: the daily budget's spend.
	CostSince(ctx context.Context, since time.Time) (float64, error)
	// RecentActions returns the persona's newest actions, newest first.
	RecentActions(ctx context.Context, personaID string, limit int) ([]Action, error)
	// FeedbackByModule returns the persona's average rating and count per module, by module name.
	FeedbackByModule(ctx context.Context, personaID string) ([]ModuleRating, error)
	// History returns the persona's last runs finished (any terminal status but cancelled),
	// newest first, each with its actions and feedback (for the memory digest).
	History(ctx context.Context, personaID string, runs int) ([]RunHistory, error)

	// CreateSession stores a session; SessionByTokenHash finds an unexpired one (ErrNotFound
	// otherwise); DeleteSession removes one (no error when absent).
	CreateSession(ctx context.Context, s Session) error
	SessionByTokenHash(ctx context.Context, tokenHash string) (Session, error)
	DeleteSession(ctx context.Context, id string) error

	// EnsureSigningKey stores candidate unless a signing key exists already, and returns the
	// current key (the newest). Safe when several replicas start at once: all get the same key.
	EnsureSigningKey(ctx context.Context, candidate SigningKey) (SigningKey, error)
	// SigningKeys lists every stored key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)

	// RecordLoginFailure counts a failed login for email at now; when failures within p.Window
	// reach p.MaxFailures the account is locked until now+p.LockFor. Returns the lock's end (zero
	// when not locked).
	RecordLoginFailure(ctx context.Context, email string, p LockoutPolicy) (lockedUntil time.Time, err error)
	// LoginLockedUntil returns the end of a current lock, or zero.
	LoginLockedUntil(ctx context.Context, email string) (time.Time, error)
	// ResetLoginFailures forgets the failures of email (after a successful login).
	ResetLoginFailures(ctx context.Context, email string) error

	// Close releases the store's resources.
	Close() error
}
