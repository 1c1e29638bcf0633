package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

type habitCreateInput struct {
	Name    string `json:"name" jsonschema:"What the habit is, e.g. 'Drink water' or 'Run 5 km'. Unique in the space, ignoring case." schema:"maxLength=100"`
	Cadence string `json:"cadence,omitempty" jsonschema:"How often the habit is meant to happen." schema:"enum=daily|weekly,default=daily"`
}

type habitListInput struct{}

type habitLogInput struct {
	HabitID string `json:"habitId" jsonschema:"The habit's id, as returned by habits.create or habits.list." schema:"format=uuid"`
	Date    string `json:"date,omitempty" jsonschema:"The day it happened, YYYY-MM-DD; today's date in UTC when left out." schema:"format=date"`
	Count   int    `json:"count,omitempty" jsonschema:"How many times it happened that day." schema:"minimum=1,maximum=100,default=1"`
	Note    string `json:"note,omitempty" jsonschema:"Optional remark." schema:"maxLength=500"`
}

type habitRecentInput struct {
	HabitID string `json:"habitId,omitempty" jsonschema:"Only logs of this habit; all habits when left out." schema:"format=uuid"`
	Days    int    `json:"days,omitempty" jsonschema:"How many days back to look, today (UTC) included." schema:"minimum=1,maximum=90,default=7"`
}

type habitItem struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Cadence      string    `json:"cadence"`
	LoggedLast7  int64     `json:"loggedLast7Days"`
	LastLoggedOn string    `json:"lastLoggedOn,omitempty"`
	CreatedBy    string    `json:"createdBy"`
	CreatedAt    time.Time `json:"createdAt"`
}

type habitLog struct {
	ID        string    `json:"id"`
	HabitID   string    `json:"habitId"`
	HabitName string    `json:"habitName"`
	Date      string    `json:"date"`
	Count     int       `json:"count"`
	Note      string    `json:"note,omitempty"`
	CreatedBy string    `json:"createdBy"`
	CreatedAt time.Time `json:"createdAt"`
}

type habitsModule struct{ *deps }

func habitsTools(d *deps) []*tool {
	m := habitsModule{d}
	return []*tool{
		define("habits.create", "Start tracking a habit in the current space.",
			ScopeUserSpace, PolicyWrite, m.create),
		define("habits.list", "List the habits of the current space with how often each was logged in the last 7 days.",
			ScopeUserSpace, PolicyRead, m.list),
		define("habits.log", "Record that a habit happened (today, the UTC date, unless a date is given).",
			ScopeUserSpace, PolicyWrite, m.log),
		define("habits.recentLogs", "Show the habit logs of the last days, newest first, with totals per habit.",
			ScopeUserSpace, PolicyRead, m.recentLogs),
	}
}

func (m habitsModule) create(ctx context.Context, in habitCreateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := m.clock()
	h := habitItem{ID: newID(), Name: strings.TrimSpace(in.Name), Cadence: in.Cadence, CreatedBy: c.UserID, CreatedAt: now}
	// The unique (space_id, name_key) index decides duplicates, so two concurrent creates of the
	// same habit cannot both succeed.
	res, err := m.db.exec(ctx, `INSERT INTO {app}habits (id, space_id, name, name_key, cadence, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (space_id, name_key) DO NOTHING`,
		h.ID, c.SpaceID, h.Name, fold(h.Name), h.Cadence, h.CreatedBy, micros(now))
	if err != nil {
		return nil, fmt.Errorf("create habit: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("create habit: %w", err)
	} else if n == 0 {
		return nil, invalid("name", "a habit named %q already exists in this space; use habits.list to find its id", h.Name)
	}
	return map[string]any{"habit": h}, nil
}

func (m habitsModule) list(ctx context.Context, _ habitListInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	since := m.clock().AddDate(0, 0, -6).Format(dateLayout)
	rows, err := m.db.query(ctx, `SELECT h.id, h.name, h.cadence, h.created_by, h.created_at,
			COALESCE(SUM(CASE WHEN l.log_date >= $2 THEN l.count ELSE 0 END), 0), MAX(l.log_date)
		FROM {app}habits h LEFT JOIN {app}habit_logs l ON l.habit_id = h.id
		WHERE h.space_id = $1
		GROUP BY h.id, h.name, h.name_key, h.cadence, h.created_by, h.created_at
		ORDER BY h.name_key`, c.SpaceID, since)
	if err != nil {
		return nil, fmt.Errorf("list habits: %w", err)
	}
	defer rows.Close()
	habits := []habitItem{}
	for rows.Next() {
		var (
			h       habitItem
			created int64
			last    sql.NullString
		)
		if err := rows.Scan(&h.ID, &h.Name, &h.Cadence, &h.CreatedBy, &created, &h.LoggedLast7, &last); err != nil {
			return nil, fmt.Errorf("list habits: %w", err)
		}
		h.CreatedAt, h.LastLoggedOn = fromMicros(created), last.String
		habits = append(habits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list habits: %w", err)
	}
	return map[string]any{"habits": habits, "count": len(habits)}, nil
}

func (m habitsModule) log(ctx context.Context, in habitLogInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := m.clock()
	l := habitLog{ID: newID(), HabitID: in.HabitID, Date: in.Date, Count: in.Count, Note: in.Note, CreatedBy: c.UserID, CreatedAt: now}
	if l.Date == "" {
		l.Date = now.Format(dateLayout)
	}
	if l.Date > now.AddDate(0, 0, 1).Format(dateLayout) {
		return nil, invalid("date", "must not be in the future (today is %s)", now.Format(dateLayout))
	}
	err = m.db.queryRow(ctx, `SELECT name FROM {app}habits WHERE id = $1 AND space_id = $2`, in.HabitID, c.SpaceID).Scan(&l.HabitName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("habit", in.HabitID)
	}
	if err != nil {
		return nil, fmt.Errorf("log habit: %w", err)
	}
	if _, err := m.db.exec(ctx, `INSERT INTO {app}habit_logs (id, space_id, habit_id, log_date, count, note, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		l.ID, c.SpaceID, l.HabitID, l.Date, l.Count, l.Note, l.CreatedBy, micros(now)); err != nil {
		return nil, fmt.Errorf("log habit: %w", err)
	}
	var total int64
	if err := m.db.queryRow(ctx, `SELECT COALESCE(SUM(count), 0) FROM {app}habit_logs WHERE habit_id = $1 AND log_date = $2`,
		l.HabitID, l.Date).Scan(&total); err != nil {
		return nil, fmt.Errorf("log habit: %w", err)
	}
	return map[string]any{"log": l, "totalThatDay": total}, nil
}

func (m habitsModule) recentLogs(ctx context.Context, in habitRecentInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	since := m.clock().AddDate(0, 0, -(in.Days - 1)).Format(dateLayout)
	rows, err := m.db.query(ctx, `SELECT l.id, l.habit_id, h.name, l.log_date, l.count, l.note, l.created_by, l.created_at
		FROM {app}habit_logs l JOIN {app}habits h ON h.id = l.habit_id
		WHERE l.space_id = $1 AND l.log_date >= $2 AND ($3 = '' OR l.habit_id = $3)
		ORDER BY l.log_date DESC, l.created_at DESC, l.id LIMIT 500`, c.SpaceID, since, in.HabitID)
	if err != nil {
		return nil, fmt.Errorf("recent habit logs: %w", err)
	}
	defer rows.Close()
	logs := []habitLog{}
	totals := map[string]int{}
	for rows.Next() {
		var (
			l       habitLog
			created int64
		)
		if err := rows.Scan(&l.ID, &l.HabitID, &l.HabitName, &l.Date, &l.Count, &l.Note, &l.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("recent habit logs: %w", err)
		}
		l.CreatedAt = fromMicros(created)
		logs = append(logs, l)
		totals[l.HabitName] += l.Count
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent habit logs: %w", err)
	}
	if in.HabitID != "" && len(logs) == 0 {
		// Tell "no logs yet" from "no such habit", so a model does not keep logging into a typo.
		var one int
		err := m.db.queryRow(ctx, `SELECT 1 FROM {app}habits WHERE id = $1 AND space_id = $2`, in.HabitID, c.SpaceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("habit", in.HabitID)
		}
		if err != nil {
			return nil, fmt.Errorf("recent habit logs: %w", err)
		}
	}
	return map[string]any{"since": since, "logs": logs, "totals": totals}, nil
}
