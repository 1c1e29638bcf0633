-- The demo app's tables on PostgreSQL, in schema app next to the store's schema auth. Every row
-- references auth.spaces(id) ON DELETE CASCADE: deleting a space (for example with its persona)
-- deletes every row of app data in it.
-- Times are unix microseconds (bigint) and calendar dates are 'YYYY-MM-DD' text, the same
-- representation as on SQLite, so the app's SQL is the same on both engines.

-- +goose Up
CREATE TABLE app.todos (
    id           text PRIMARY KEY,
    space_id     text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    title        text NOT NULL,
    notes        text NOT NULL DEFAULT '',
    priority     text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high')),
    due_date     text,
    completed_at bigint,
    created_by   text NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL
);
CREATE INDEX todos_space_idx ON app.todos (space_id, created_at);

CREATE TABLE app.notes (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE INDEX notes_space_idx ON app.notes (space_id, updated_at);

CREATE TABLE app.journal_entries (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    entry_date text NOT NULL,
    body       text NOT NULL,
    created_by text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX journal_space_idx ON app.journal_entries (space_id, entry_date);

CREATE TABLE app.habits (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    name       text NOT NULL,
    name_key   text NOT NULL,
    cadence    text NOT NULL DEFAULT 'daily' CHECK (cadence IN ('daily', 'weekly')),
    created_by text NOT NULL,
    created_at bigint NOT NULL,
    UNIQUE (space_id, name_key)
);

CREATE TABLE app.habit_logs (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    habit_id   text NOT NULL REFERENCES app.habits (id) ON DELETE CASCADE,
    log_date   text NOT NULL,
    count      integer NOT NULL CHECK (count > 0),
    note       text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX habit_logs_space_idx ON app.habit_logs (space_id, log_date);
CREATE INDEX habit_logs_habit_idx ON app.habit_logs (habit_id, log_date);

CREATE TABLE app.mood_entries (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    note       text NOT NULL DEFAULT '',
    log_date   text NOT NULL,
    created_by text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX mood_space_idx ON app.mood_entries (space_id, log_date);

CREATE TABLE app.events (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    title      text NOT NULL,
    starts_at  bigint NOT NULL,
    ends_at    bigint NOT NULL CHECK (ends_at > starts_at),
    location   text NOT NULL DEFAULT '',
    notes      text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX events_space_idx ON app.events (space_id, starts_at);

CREATE TABLE app.contacts (
    id         text PRIMARY KEY,
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    name       text NOT NULL,
    email      text NOT NULL DEFAULT '',
    phone      text NOT NULL DEFAULT '',
    birthday   text,
    notes      text NOT NULL DEFAULT '',
    created_by text NOT NULL,
    created_at bigint NOT NULL
);
CREATE INDEX contacts_space_idx ON app.contacts (space_id, name);

-- +goose Down
DROP TABLE app.contacts;
DROP TABLE app.events;
DROP TABLE app.mood_entries;
DROP TABLE app.habit_logs;
DROP TABLE app.habits;
DROP TABLE app.journal_entries;
DROP TABLE app.notes;
DROP TABLE app.todos;
