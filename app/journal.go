package app

import (
	"context"
	"fmt"
	"time"
)

type journalAddInput struct {
	Body string `json:"body" jsonschema:"The entry: what happened, what you thought or felt." schema:"maxLength=5000"`
	Date string `json:"date,omitempty" jsonschema:"The day the entry is about, YYYY-MM-DD; today's date in UTC when left out." schema:"format=date"`
}

type journalListInput struct {
	From  string `json:"from,omitempty" jsonschema:"First day to include, YYYY-MM-DD." schema:"format=date"`
	To    string `json:"to,omitempty" jsonschema:"Last day to include, YYYY-MM-DD." schema:"format=date"`
	Limit int    `json:"limit,omitempty" jsonschema:"Maximum number of entries to return." schema:"minimum=1,maximum=100,default=20"`
}

type journalEntry struct {
	ID        string    `json:"id"`
	Date      string    `json:"date"`
	Body      string    `json:"body"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

type journalModule struct{ *deps }

func journalTools(d *deps) []*tool {
	m := journalModule{d}
	return []*tool{
		define("journal.add", "Write a journal entry in the current space, for today or another day.",
			ScopeUserSpace, PolicyWrite, m.add),
		define("journal.list", "Read journal entries of the current space, newest day first, optionally between two dates.",
			ScopeUserSpace, PolicyRead, m.list),
	}
}

func (m journalModule) add(ctx context.Context, in journalAddInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := m.clock()
	e := journalEntry{ID: newID(), Date: in.Date, Body: in.Body, CreatedBy: c.UserID, CreatedAt: now}
	if e.Date == "" {
		e.Date = now.Format(dateLayout)
	}
	if _, err := m.db.exec(ctx, `INSERT INTO {app}journal_entries (id, space_id, entry_date, body, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.ID, c.SpaceID, e.Date, e.Body, e.CreatedBy, micros(now)); err != nil {
		return nil, fmt.Errorf("add journal entry: %w", err)
	}
	return map[string]any{"entry": e}, nil
}

func (m journalModule) list(ctx context.Context, in journalListInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if in.From != "" && in.To != "" && in.To < in.From {
		return nil, invalid("to", "must not be before from (%s)", in.From)
	}
	rows, err := m.db.query(ctx, `SELECT id, entry_date, body, created_by, created_at FROM {app}journal_entries
		WHERE space_id = $1 AND ($2 = '' OR entry_date >= $2) AND ($3 = '' OR entry_date <= $3)
		ORDER BY entry_date DESC, created_at DESC, id LIMIT $4`, c.SpaceID, in.From, in.To, in.Limit)
	if err != nil {
		return nil, fmt.Errorf("list journal entries: %w", err)
	}
	defer rows.Close()
	entries := []journalEntry{}
	for rows.Next() {
		var (
			e       journalEntry
			created int64
		)
		if err := rows.Scan(&e.ID, &e.Date, &e.Body, &e.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("list journal entries: %w", err)
		}
		e.CreatedAt = fromMicros(created)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list journal entries: %w", err)
	}
	return map[string]any{"entries": entries, "count": len(entries)}, nil
}
