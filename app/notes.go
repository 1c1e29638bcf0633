package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

type noteCreateInput struct {
	Title string `json:"title" jsonschema:"A short title." schema:"maxLength=200"`
	Body  string `json:"body,omitempty" jsonschema:"The note's text (plain text or Markdown)." schema:"maxLength=10000"`
}

type noteSearchInput struct {
	Query string `json:"query,omitempty" jsonschema:"Words to look for in titles and bodies, case-insensitive. Leave out to get the newest notes." schema:"maxLength=100"`
	Limit int    `json:"limit,omitempty" jsonschema:"Maximum number of notes to return." schema:"minimum=1,maximum=50,default=20"`
}

type noteUpdateInput struct {
	ID    string `json:"id" jsonschema:"The note's id, as returned by notes.create or notes.search." schema:"format=uuid"`
	Title string `json:"title,omitempty" jsonschema:"New title." schema:"maxLength=200"`
	Body  string `json:"body,omitempty" jsonschema:"New text (replaces the old text)." schema:"maxLength=10000"`
}

type notePurgeInput struct {
	Confirm string `json:"confirm" jsonschema:"Type DELETE ALL NOTES to confirm." schema:"enum=DELETE ALL NOTES"`
}

type noteItem struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

const noteColumns = `id, title, body, created_by, created_at, updated_at`

func scanNote(row interface{ Scan(...any) error }) (noteItem, error) {
	var (
		n                    noteItem
		createdAt, updatedAt int64
	)
	if err := row.Scan(&n.ID, &n.Title, &n.Body, &n.CreatedBy, &createdAt, &updatedAt); err != nil {
		return noteItem{}, err
	}
	n.CreatedAt, n.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return n, nil
}

type notesModule struct{ *deps }

func notesTools(d *deps) []*tool {
	m := notesModule{d}
	return []*tool{
		define("notes.create", "Write a new note in the current space. Returns the note with its id.",
			ScopeUserSpace, PolicyWrite, m.create),
		define("notes.search", "Find notes in the current space whose title or text contains the query (newest first); without a query, the newest notes.",
			ScopeUserSpace, PolicyRead, m.search),
		define("notes.update", "Change a note's title or text. Give the id and only the fields to change.",
			ScopeUserSpace, PolicyWrite, m.update),
		// purgeAll is destructive: it stays in the registry to show the policy at work, and the
		// gateway never lists it nor lets anyone call it.
		define("notes.purgeAll", "Delete every note of the current space. Cannot be undone.",
			ScopeUserSpace, PolicyDestructive, m.purgeAll),
	}
}

func (m notesModule) create(ctx context.Context, in noteCreateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := micros(m.clock())
	row := m.db.queryRow(ctx, `INSERT INTO {app}notes (id, space_id, title, body, title_key, body_key, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+noteColumns,
		newID(), c.SpaceID, in.Title, in.Body, fold(in.Title), fold(in.Body), c.UserID, now)
	n, err := scanNote(row)
	if err != nil {
		return nil, fmt.Errorf("create note: %w", err)
	}
	return map[string]any{"note": n}, nil
}

func (m notesModule) search(ctx context.Context, in noteSearchInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	// The keys are the texts folded in Go (see fold), so the search ignores case the same way on
	// both engines: SQLite's lower() and LIKE fold A–Z only, PostgreSQL's follow its locale.
	rows, err := m.db.query(ctx, `SELECT `+noteColumns+` FROM {app}notes
		WHERE space_id = $1 AND (title_key LIKE $2 ESCAPE '\' OR body_key LIKE $2 ESCAPE '\')
		ORDER BY updated_at DESC, id LIMIT $3`, c.SpaceID, likePattern(in.Query), in.Limit)
	if err != nil {
		return nil, fmt.Errorf("search notes: %w", err)
	}
	defer rows.Close()
	notes := []noteItem{}
	for rows.Next() {
		n, err := scanNote(rows)
		if err != nil {
			return nil, fmt.Errorf("search notes: %w", err)
		}
		notes = append(notes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search notes: %w", err)
	}
	return map[string]any{"notes": notes, "count": len(notes), "query": in.Query}, nil
}

func (m notesModule) update(ctx context.Context, in noteUpdateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if in.Title == "" && in.Body == "" {
		return nil, invalid("id", "give title or body to change")
	}
	if blank(in.Title) {
		return nil, invalid("title", "must not be empty")
	}
	row := m.db.queryRow(ctx, `UPDATE {app}notes SET title = COALESCE($3, title), body = COALESCE($4, body),
		title_key = COALESCE($5, title_key), body_key = COALESCE($6, body_key), updated_at = $7
		WHERE id = $1 AND space_id = $2 RETURNING `+noteColumns,
		in.ID, c.SpaceID, nullString(in.Title), nullString(in.Body), nullString(fold(in.Title)), nullString(fold(in.Body)), micros(m.clock()))
	n, err := scanNote(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("note", in.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("update note: %w", err)
	}
	return map[string]any{"note": n}, nil
}

func (m notesModule) purgeAll(ctx context.Context, _ notePurgeInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	res, err := m.db.exec(ctx, `DELETE FROM {app}notes WHERE space_id = $1`, c.SpaceID)
	if err != nil {
		return nil, fmt.Errorf("purge notes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("purge notes: %w", err)
	}
	return map[string]any{"deleted": n}, nil
}
