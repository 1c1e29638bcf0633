package app

import (
	"context"
	"fmt"
	"math"
	"time"
)

type moodLogInput struct {
	Rating int    `json:"rating" jsonschema:"How you feel right now, from 1 (awful) to 5 (great)." schema:"minimum=1,maximum=5"`
	Note   string `json:"note,omitempty" jsonschema:"Optional: what is behind the mood." schema:"maxLength=500"`
}

type moodTodayInput struct{}

type moodRecentInput struct {
	Days int `json:"days,omitempty" jsonschema:"How many days back to look, today (UTC) included." schema:"minimum=1,maximum=90,default=7"`
}

type moodEntry struct {
	ID        string    `json:"id"`
	Rating    int       `json:"rating"`
	Note      string    `json:"note,omitempty"`
	Date      string    `json:"date"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

type moodDay struct {
	Date    string  `json:"date"`
	Average float64 `json:"average"`
	Entries int     `json:"entries"`
}

type moodModule struct{ *deps }

func moodTools(d *deps) []*tool {
	m := moodModule{d}
	return []*tool{
		define("mood.log", "Record your current mood (1–5) in the current space, with an optional note. It is filed under today's date in UTC.",
			ScopeUserSpace, PolicyWrite, m.log),
		define("mood.today", "Show today's mood entries (today being the UTC date) in the current space and their average.",
			ScopeUserSpace, PolicyRead, m.today),
		define("mood.recent", "Show the mood entries of the last days with an average per day, newest first.",
			ScopeUserSpace, PolicyRead, m.recent),
	}
}

func (m moodModule) log(ctx context.Context, in moodLogInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := m.clock()
	e := moodEntry{ID: newID(), Rating: in.Rating, Note: in.Note, Date: now.Format(dateLayout), CreatedBy: c.UserID, CreatedAt: now}
	if _, err := m.db.exec(ctx, `INSERT INTO {app}mood_entries (id, space_id, rating, note, log_date, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, c.SpaceID, e.Rating, e.Note, e.Date, e.CreatedBy, micros(now)); err != nil {
		return nil, fmt.Errorf("log mood: %w", err)
	}
	return map[string]any{"entry": e}, nil
}

func (m moodModule) today(ctx context.Context, _ moodTodayInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	today := m.deps.today()
	entries, err := m.entries(ctx, c.SpaceID, today)
	if err != nil {
		return nil, fmt.Errorf("mood today: %w", err)
	}
	days := summarise(entries)
	out := map[string]any{"date": today, "entries": entries, "count": len(entries)}
	if len(days) == 1 {
		out["average"] = days[0].Average
	}
	return out, nil
}

func (m moodModule) recent(ctx context.Context, in moodRecentInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	since := m.clock().AddDate(0, 0, -(in.Days - 1)).Format(dateLayout)
	entries, err := m.entries(ctx, c.SpaceID, since)
	if err != nil {
		return nil, fmt.Errorf("recent moods: %w", err)
	}
	return map[string]any{"since": since, "days": summarise(entries), "entries": entries}, nil
}

// entries returns the space's mood entries from the day since on, newest first (at most 500).
func (m moodModule) entries(ctx context.Context, spaceID, since string) ([]moodEntry, error) {
	rows, err := m.db.query(ctx, `SELECT id, rating, note, log_date, created_by, created_at FROM {app}mood_entries
		WHERE space_id = $1 AND log_date >= $2 ORDER BY created_at DESC, id LIMIT 500`, spaceID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	entries := []moodEntry{}
	for rows.Next() {
		var (
			e       moodEntry
			created int64
		)
		if err := rows.Scan(&e.ID, &e.Rating, &e.Note, &e.Date, &e.CreatedBy, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMicros(created)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// summarise averages entries (newest first) per day, newest day first, to two decimals.
func summarise(entries []moodEntry) []moodDay {
	days := []moodDay{}
	sums := []int{}
	for _, e := range entries {
		if n := len(days); n == 0 || days[n-1].Date != e.Date {
			days = append(days, moodDay{Date: e.Date})
			sums = append(sums, 0)
		}
		days[len(days)-1].Entries++
		sums[len(sums)-1] += e.Rating
	}
	for i := range days {
		days[i].Average = math.Round(float64(sums[i])/float64(days[i].Entries)*100) / 100
	}
	return days
}
