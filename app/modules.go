package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/persona-runner/persona-runner/persona"
)

// Store is what the app needs of the store (store.DB implements it): the spaces and their
// members, and the handle on the app's own tables. The store creates and migrates those tables
// (the app's migration line, applied when the store opens); the app writes no SQL against the
// store's tables.
type Store interface {
	// IsMember reports whether the user is a member of the space.
	IsMember(ctx context.Context, spaceID, userID string) (bool, error)
	// SpacesOfUser lists the spaces the user is a member of, personal space first.
	SpacesOfUser(ctx context.Context, userID string) ([]persona.Space, error)
	// AllSpaces lists every space by slug, at most limit of them.
	AllSpaces(ctx context.Context, limit int) ([]persona.Space, error)
	// Space returns a space by id; persona.ErrNotFound when there is none.
	Space(ctx context.Context, id string) (persona.Space, error)
	// AddSpace stores a space without members unless its id or slug is taken (then it returns
	// false and writes nothing).
	AddSpace(ctx context.Context, s persona.Space) (bool, error)
	// AppTables returns the handle on the app's tables and the dialect of their SQL, "sqlite"
	// (tables prefixed app_) or "postgres" (schema app).
	AppTables() (db *sql.DB, dialect string)
}

// deps is what the modules' handlers work with.
type deps struct {
	db    *sqlDB
	store Store
	now   func() time.Time
}

// clock returns the current time at the precision stored (microseconds), in UTC.
func (d *deps) clock() time.Time { return d.now().UTC().Truncate(time.Microsecond) }

// today is the current date in UTC, as stored. The app knows no user's time zone (the token
// carries none, and a shared space's members may live in different zones), so every "today" of
// the tools is the UTC date, and the tools' descriptions and the server's instructions say so; a
// persona told its local date (SPEC §5.3) can pass that date explicitly where a tool takes one.
func (d *deps) today() string { return d.clock().Format(dateLayout) }

// allTools is the registry, in the order clients list the tools. It is the single place where
// tools are defined: each module's file adds its own.
func allTools(d *deps) []*tool {
	var out []*tool
	for _, module := range []func(*deps) []*tool{
		todoTools, notesTools, journalTools, habitsTools, moodTools, calendarTools, contactsTools, spacesTools,
	} {
		out = append(out, module(d)...)
	}
	return out
}

// callerOf returns the caller a handler runs for; the gateway always sets one.
func callerOf(ctx context.Context) (Caller, error) {
	c, ok := CallerFrom(ctx)
	if !ok || c.UserID == "" || c.SpaceID == "" {
		return Caller{}, errors.New("no caller in context")
	}
	return c, nil
}

func newID() string { return uuid.NewString() }

// notFoundError is a record that does not exist in the caller's space. Records of other spaces
// are reported the same way, so a caller cannot learn that they exist.
type notFoundError struct{ what, id string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("%s %s not found in this space", e.what, e.id)
}

// Is makes errors.Is(err, persona.ErrNotFound) true.
func (e *notFoundError) Is(target error) bool { return target == persona.ErrNotFound }

// blank reports whether an optional text was given but holds only white space: a new title
// must not be empty, as the required title of a create must not be.
func blank(s string) bool { return s != "" && strings.TrimSpace(s) == "" }

func notFound(what, id string) error { return &notFoundError{what: what, id: id} }

// invalid is a problem with one field that only the handler can see (a rule across fields, or a
// rule that needs the data).
func invalid(field, format string, args ...any) error {
	return &persona.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}
