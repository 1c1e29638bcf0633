package app

import (
	"context"
	"fmt"
	"time"
)

type eventCreateInput struct {
	Title    string `json:"title" jsonschema:"What the event is." schema:"maxLength=200"`
	Start    string `json:"start" jsonschema:"When it starts, RFC 3339 date-time with offset, e.g. 2025-06-01T09:30:00+02:00." schema:"format=date-time"`
	End      string `json:"end" jsonschema:"When it ends, RFC 3339 date-time; after start, at most 14 days later." schema:"format=date-time"`
	Location string `json:"location,omitempty" jsonschema:"Where it takes place." schema:"maxLength=200"`
	Notes    string `json:"notes,omitempty" jsonschema:"Optional details." schema:"maxLength=2000"`
}

type eventListInput struct {
	From  string `json:"from" jsonschema:"First day of the range, YYYY-MM-DD (UTC)." schema:"format=date"`
	To    string `json:"to" jsonschema:"Last day of the range, included, YYYY-MM-DD (UTC); at most 366 days after from." schema:"format=date"`
	Limit int    `json:"limit,omitempty" jsonschema:"Maximum number of events to return." schema:"minimum=1,maximum=200,default=100"`
}

type eventItem struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Location  string    `json:"location,omitempty"`
	Notes     string    `json:"notes,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

// maxEventLength bounds an event's duration, so a typo in a year cannot block a calendar for ages.
const maxEventLength = 14 * 24 * time.Hour

type calendarModule struct{ *deps }

func calendarTools(d *deps) []*tool {
	m := calendarModule{d}
	return []*tool{
		define("calendar.createEvent", "Put an event in the current space's calendar. The answer lists the existing events it overlaps, if any.",
			ScopeUserSpace, PolicyWrite, m.createEvent),
		define("calendar.listEvents", "List the events of the current space's calendar that touch a date range, in start order.",
			ScopeUserSpace, PolicyRead, m.listEvents),
	}
}

func (m calendarModule) createEvent(ctx context.Context, in eventCreateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	// The formats were validated; parsing cannot fail here.
	start, _ := time.Parse(time.RFC3339, in.Start)
	end, _ := time.Parse(time.RFC3339, in.End)
	start, end = start.UTC().Truncate(time.Microsecond), end.UTC().Truncate(time.Microsecond)
	if !end.After(start) {
		return nil, invalid("end", "must be after start (%s)", in.Start)
	}
	if end.Sub(start) > maxEventLength {
		return nil, invalid("end", "must be at most 14 days after start")
	}
	overlaps, err := m.between(ctx, c.SpaceID, start, end, 50)
	if err != nil {
		return nil, fmt.Errorf("create event: %w", err)
	}
	now := m.clock()
	e := eventItem{ID: newID(), Title: in.Title, Start: start, End: end, Location: in.Location, Notes: in.Notes, CreatedBy: c.UserID, CreatedAt: now}
	if _, err := m.db.exec(ctx, `INSERT INTO {app}events (id, space_id, title, starts_at, ends_at, location, notes, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.ID, c.SpaceID, e.Title, micros(start), micros(end), e.Location, e.Notes, e.CreatedBy, micros(now)); err != nil {
		return nil, fmt.Errorf("create event: %w", err)
	}
	out := map[string]any{"event": e, "overlaps": overlaps}
	if len(overlaps) > 0 {
		out["warning"] = fmt.Sprintf("this event overlaps %d existing event(s) in the calendar", len(overlaps))
	}
	return out, nil
}

func (m calendarModule) listEvents(ctx context.Context, in eventListInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	from, _ := time.Parse(dateLayout, in.From)
	to, _ := time.Parse(dateLayout, in.To)
	if to.Before(from) {
		return nil, invalid("to", "must not be before from (%s)", in.From)
	}
	if to.Sub(from) > 366*24*time.Hour {
		return nil, invalid("to", "must be at most 366 days after from")
	}
	events, err := m.between(ctx, c.SpaceID, from, to.AddDate(0, 0, 1), in.Limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return map[string]any{"from": in.From, "to": in.To, "events": events, "count": len(events)}, nil
}

// between returns the space's events that overlap [start, end), in start order.
func (m calendarModule) between(ctx context.Context, spaceID string, start, end time.Time, limit int) ([]eventItem, error) {
	rows, err := m.db.query(ctx, `SELECT id, title, starts_at, ends_at, location, notes, created_by, created_at FROM {app}events
		WHERE space_id = $1 AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at, id LIMIT $4`,
		spaceID, micros(start), micros(end), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	events := []eventItem{}
	for rows.Next() {
		var (
			e                     eventItem
			startsAt, endsAt, cAt int64
		)
		if err := rows.Scan(&e.ID, &e.Title, &startsAt, &endsAt, &e.Location, &e.Notes, &e.CreatedBy, &cAt); err != nil {
			return nil, err
		}
		e.Start, e.End, e.CreatedAt = fromMicros(startsAt), fromMicros(endsAt), fromMicros(cAt)
		events = append(events, e)
	}
	return events, rows.Err()
}
