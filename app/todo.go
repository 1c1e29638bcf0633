package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

type todoCreateInput struct {
	Title    string `json:"title" jsonschema:"What needs doing, as a short imperative phrase." schema:"maxLength=200"`
	Notes    string `json:"notes,omitempty" jsonschema:"Optional details." schema:"maxLength=2000"`
	DueDate  string `json:"dueDate,omitempty" jsonschema:"Optional due date, YYYY-MM-DD." schema:"format=date"`
	Priority string `json:"priority,omitempty" jsonschema:"How important it is." schema:"enum=low|normal|high,default=normal"`
}

type todoListInput struct {
	Status    string `json:"status,omitempty" jsonschema:"Which todos to list: open (not done), done, or all." schema:"enum=open|done|all,default=open"`
	DueBefore string `json:"dueBefore,omitempty" jsonschema:"Only todos due on or before this date, YYYY-MM-DD." schema:"format=date"`
	Limit     int    `json:"limit,omitempty" jsonschema:"Maximum number of todos to return." schema:"minimum=1,maximum=100,default=50"`
}

type todoIDInput struct {
	ID string `json:"id" jsonschema:"The todo's id, as returned by todo.create or todo.list." schema:"format=uuid"`
}

type todoUpdateInput struct {
	ID       string `json:"id" jsonschema:"The todo's id, as returned by todo.create or todo.list." schema:"format=uuid"`
	Title    string `json:"title,omitempty" jsonschema:"New title." schema:"maxLength=200"`
	Notes    string `json:"notes,omitempty" jsonschema:"New details (replaces the old ones)." schema:"maxLength=2000"`
	DueDate  string `json:"dueDate,omitempty" jsonschema:"New due date, YYYY-MM-DD." schema:"format=date"`
	Priority string `json:"priority,omitempty" jsonschema:"New priority." schema:"enum=low|normal|high"`
}

// todoItem is a todo as tools return it.
type todoItem struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Notes       string     `json:"notes,omitempty"`
	Priority    string     `json:"priority"`
	DueDate     string     `json:"dueDate,omitempty"`
	Done        bool       `json:"done"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	CreatedBy   string     `json:"createdBy"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

const todoColumns = `id, title, notes, priority, due_date, completed_at, created_by, created_at, updated_at`

func scanTodo(row interface{ Scan(...any) error }) (todoItem, error) {
	var (
		t                    todoItem
		due                  sql.NullString
		completed            sql.NullInt64
		createdAt, updatedAt int64
	)
	if err := row.Scan(&t.ID, &t.Title, &t.Notes, &t.Priority, &due, &completed, &t.CreatedBy, &createdAt, &updatedAt); err != nil {
		return todoItem{}, err
	}
	t.DueDate = due.String
	t.CompletedAt = nullMicros(completed)
	t.Done = t.CompletedAt != nil
	t.CreatedAt, t.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return t, nil
}

type todoModule struct{ *deps }

func todoTools(d *deps) []*tool {
	m := todoModule{d}
	return []*tool{
		define("todo.create", "Add a todo to the current space. Returns the new todo with its id.",
			ScopeUserSpace, PolicyWrite, m.create),
		define("todo.list", "List the todos of the current space: open ones by default, soonest due and most important first.",
			ScopeUserSpace, PolicyRead, m.list),
		define("todo.complete", "Mark a todo as done. Completing a todo that is already done changes nothing.",
			ScopeUserSpace, PolicyWrite, m.complete),
		define("todo.update", "Change a todo's title, notes, due date or priority. Give the id and only the fields to change.",
			ScopeUserSpace, PolicyWrite, m.update),
	}
}

func (m todoModule) create(ctx context.Context, in todoCreateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := micros(m.clock())
	row := m.db.queryRow(ctx, `INSERT INTO {app}todos (id, space_id, title, notes, priority, due_date, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+todoColumns,
		newID(), c.SpaceID, in.Title, in.Notes, in.Priority, nullString(in.DueDate), c.UserID, now)
	t, err := scanTodo(row)
	if err != nil {
		return nil, fmt.Errorf("create todo: %w", err)
	}
	return map[string]any{"todo": t}, nil
}

func (m todoModule) list(ctx context.Context, in todoListInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	// Open todos come first, then by due date (undated last), priority and age.
	rows, err := m.db.query(ctx, `SELECT `+todoColumns+` FROM {app}todos
		WHERE space_id = $1
		  AND ($2 = 'all' OR ($2 = 'open' AND completed_at IS NULL) OR ($2 = 'done' AND completed_at IS NOT NULL))
		  AND ($3 = '' OR due_date <= $3)
		ORDER BY (completed_at IS NOT NULL), (due_date IS NULL), due_date,
		         CASE priority WHEN 'high' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END, created_at, id
		LIMIT $4`, c.SpaceID, in.Status, in.DueBefore, in.Limit)
	if err != nil {
		return nil, fmt.Errorf("list todos: %w", err)
	}
	defer rows.Close()
	todos := []todoItem{}
	for rows.Next() {
		t, err := scanTodo(rows)
		if err != nil {
			return nil, fmt.Errorf("list todos: %w", err)
		}
		todos = append(todos, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list todos: %w", err)
	}
	return map[string]any{"todos": todos, "count": len(todos), "status": in.Status}, nil
}

func (m todoModule) complete(ctx context.Context, in todoIDInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := micros(m.clock())
	row := m.db.queryRow(ctx, `UPDATE {app}todos SET completed_at = COALESCE(completed_at, $3), updated_at = $3
		WHERE id = $1 AND space_id = $2 RETURNING `+todoColumns, in.ID, c.SpaceID, now)
	t, err := scanTodo(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("todo", in.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("complete todo: %w", err)
	}
	return map[string]any{"todo": t}, nil
}

func (m todoModule) update(ctx context.Context, in todoUpdateInput) (any, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if in.Title == "" && in.Notes == "" && in.DueDate == "" && in.Priority == "" {
		return nil, invalid("id", "give at least one of title, notes, dueDate or priority to change")
	}
	if blank(in.Title) {
		return nil, invalid("title", "must not be empty")
	}
	now := micros(m.clock())
	row := m.db.queryRow(ctx, `UPDATE {app}todos SET
		title = COALESCE($3, title), notes = COALESCE($4, notes), due_date = COALESCE($5, due_date),
		priority = COALESCE($6, priority), updated_at = $7
		WHERE id = $1 AND space_id = $2 RETURNING `+todoColumns,
		in.ID, c.SpaceID, nullString(in.Title), nullString(in.Notes), nullString(in.DueDate), nullString(in.Priority), now)
	t, err := scanTodo(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("todo", in.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("update todo: %w", err)
	}
	return map[string]any{"todo": t}, nil
}
