package app

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

type contactCreateInput struct {
	Name     string `json:"name" jsonschema:"The person's name." schema:"maxLength=100"`
	Email    string `json:"email,omitempty" jsonschema:"Email address." schema:"format=email,maxLength=254"`
	Phone    string `json:"phone,omitempty" jsonschema:"Phone number, as written." schema:"maxLength=40"`
	Birthday string `json:"birthday,omitempty" jsonschema:"Birthday, YYYY-MM-DD." schema:"format=date"`
	Notes    string `json:"notes,omitempty" jsonschema:"How you know them, what to remember." schema:"maxLength=1000"`
}

type contactSearchInput struct {
	Query string `json:"query,omitempty" jsonschema:"Part of a name, email, phone number or note, case-insensitive. Leave out to list contacts by name." schema:"maxLength=100"`
	Limit int    `json:"limit,omitempty" jsonschema:"Maximum number of contacts to return." schema:"minimum=1,maximum=100,default=20"`
}

type contactItem struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	Birthday  string    `json:"birthday,omitempty"`
	Notes     string    `json:"notes,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

type contactsModule struct{ *deps }

func contactsTools(d *deps) []*tool {
	m := contactsModule{d}
	return []*tool{
		define("contacts.create", "Add a person to the current space's contacts.",
			ScopeUserSpace, PolicyWrite, m.create),
		define("contacts.search", "Find contacts in the current space by name, email, phone or notes; without a query, all contacts by name.",
			ScopeUserSpace, PolicyRead, m.search),
	}
}

func (m contactsModule) create(ctx context.Context, in contactCreateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := m.clock()
	p := contactItem{ID: newID(), Name: in.Name, Email: in.Email, Phone: in.Phone, Birthday: in.Birthday, Notes: in.Notes, CreatedBy: c.UserID, CreatedAt: now}
	if _, err := m.db.exec(ctx, `INSERT INTO {app}contacts (id, space_id, name, email, phone, birthday, notes,
			name_key, email_key, phone_key, notes_key, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		p.ID, c.SpaceID, p.Name, p.Email, p.Phone, nullString(p.Birthday), p.Notes,
		fold(p.Name), fold(p.Email), fold(p.Phone), fold(p.Notes), p.CreatedBy, micros(now)); err != nil {
		return nil, fmt.Errorf("create contact: %w", err)
	}
	return map[string]any{"contact": p}, nil
}

func (m contactsModule) search(ctx context.Context, in contactSearchInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	// The keys are folded in Go, as for notes.search, so case is ignored alike on both engines.
	rows, err := m.db.query(ctx, `SELECT id, name, email, phone, birthday, notes, created_by, created_at FROM {app}contacts
		WHERE space_id = $1 AND (name_key LIKE $2 ESCAPE '\' OR email_key LIKE $2 ESCAPE '\'
		                         OR phone_key LIKE $2 ESCAPE '\' OR notes_key LIKE $2 ESCAPE '\')
		ORDER BY name_key, id LIMIT $3`, c.SpaceID, likePattern(in.Query), in.Limit)
	if err != nil {
		return nil, fmt.Errorf("search contacts: %w", err)
	}
	defer rows.Close()
	contacts := []contactItem{}
	for rows.Next() {
		var (
			p        contactItem
			birthday sql.NullString
			created  int64
		)
		if err := rows.Scan(&p.ID, &p.Name, &p.Email, &p.Phone, &birthday, &p.Notes, &p.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("search contacts: %w", err)
		}
		p.Birthday, p.CreatedAt = birthday.String, fromMicros(created)
		contacts = append(contacts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search contacts: %w", err)
	}
	return map[string]any{"contacts": contacts, "count": len(contacts), "query": in.Query}, nil
}
