-- The demo app's tables on SQLite. They sit in the store's file next to its tables, prefixed app_
-- so that names never collide, and reference spaces(id) ON DELETE CASCADE: deleting a space (for
-- example with its persona) deletes every row of app data in it.
-- Times are unix microseconds (INTEGER) and calendar dates are 'YYYY-MM-DD' text, the same
-- representation as on PostgreSQL, so the app's SQL is the same on both engines.

-- +goose Up
CREATE TABLE app_todos (
    id           TEXT PRIMARY KEY,
    space_id     TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    notes        TEXT NOT NULL DEFAULT '',
    priority     TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
    due_date     TEXT,
    completed_at INTEGER,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX app_todos_space_idx ON app_todos (space_id, created_at);

CREATE TABLE app_notes (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX app_notes_space_idx ON app_notes (space_id, updated_at);

CREATE TABLE app_journal_entries (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    entry_date TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX app_journal_space_idx ON app_journal_entries (space_id, entry_date);

CREATE TABLE app_habits (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    cadence    TEXT NOT NULL DEFAULT 'daily' CHECK (cadence IN ('daily', 'weekly')),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (space_id, name_key)
);

CREATE TABLE app_habit_logs (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    habit_id   TEXT NOT NULL REFERENCES app_habits (id) ON DELETE CASCADE,
    log_date   TEXT NOT NULL,
    count      INTEGER NOT NULL CHECK (count > 0),
    note       TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX app_habit_logs_space_idx ON app_habit_logs (space_id, log_date);
CREATE INDEX app_habit_logs_habit_idx ON app_habit_logs (habit_id, log_date);

CREATE TABLE app_mood_entries (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    note       TEXT NOT NULL DEFAULT '',
    log_date   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX app_mood_space_idx ON app_mood_entries (space_id, log_date);

CREATE TABLE app_events (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL CHECK (ends_at > starts_at),
    location   TEXT NOT NULL DEFAULT '',
    notes      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX app_events_space_idx ON app_events (space_id, starts_at);

CREATE TABLE app_contacts (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    birthday   TEXT,
    notes      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX app_contacts_space_idx ON app_contacts (space_id, name);

-- +goose Down
DROP TABLE app_contacts;
DROP TABLE app_events;
DROP TABLE app_mood_entries;
DROP TABLE app_habit_logs;
DROP TABLE app_habits;
DROP TABLE app_journal_entries;
DROP TABLE app_notes;
DROP TABLE app_todos;
