-- The schema of SPEC §3 on SQLite. Times are INTEGER unix microseconds (UTC), so ordering and
-- comparisons are plain integer ones and the precision matches PostgreSQL's timestamptz.

-- +goose Up
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'service')),
    access_tier    TEXT NOT NULL DEFAULT 'public' CHECK (access_tier IN ('guest', 'public', 'beta', 'alpha', 'founder')),
    kind           TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'persona', 'system')),
    password_hash  TEXT NOT NULL DEFAULT '',
    deleted_at     INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE spaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL CHECK (type IN ('personal', 'brand', 'club', 'family', 'team', 'practice')),
    created_at INTEGER NOT NULL
);

CREATE TABLE members (
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (space_id, user_id)
);
CREATE INDEX members_user_idx ON members (user_id);

CREATE TABLE personas (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    archetype        TEXT NOT NULL,
    system_prompt    TEXT NOT NULL,
    module_mix       TEXT NOT NULL DEFAULT '{}',
    tick_cadence     TEXT NOT NULL DEFAULT 'daily' CHECK (tick_cadence IN ('hourly', 'daily', 'weekdays')),
    timezone         TEXT NOT NULL DEFAULT 'UTC',
    last_active_at   INTEGER,
    created_at       INTEGER NOT NULL,
    next_due_at      INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    failure_count    INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT ''
);
-- The due scan walks this index in due order (never run first, then oldest) and stops at the limit.
CREATE INDEX personas_due_idx ON personas (last_active_at, user_id);

CREATE TABLE persona_actions (
    id            TEXT PRIMARY KEY,
    persona_id    TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tick_id       TEXT NOT NULL,
    tool_name     TEXT NOT NULL,
    module        TEXT NOT NULL DEFAULT '',
    input_hash    TEXT NOT NULL DEFAULT '',
    result        TEXT NOT NULL CHECK (result IN ('ok', 'error')),
    error_message TEXT NOT NULL DEFAULT '' CHECK (length(error_message) <= 500),
    latency_ms    INTEGER NOT NULL DEFAULT 0,
    seq           INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX persona_actions_persona_created_idx ON persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick_idx ON persona_actions (tick_id);

CREATE TABLE persona_feedback (
    id         TEXT PRIMARY KEY,
    persona_id TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tick_id    TEXT NOT NULL,
    module     TEXT NOT NULL,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX persona_feedback_persona_created_idx ON persona_feedback (persona_id, created_at);
CREATE INDEX persona_feedback_module_created_idx ON persona_feedback (module, created_at);
CREATE INDEX persona_feedback_tick_idx ON persona_feedback (tick_id);

CREATE TABLE persona_ticks (
    tick_id       TEXT PRIMARY KEY,
    persona_id    TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    runner_id     TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'timeout', 'cancelled')),
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    tool_calls    INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    turns         INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    model         TEXT NOT NULL DEFAULT '',
    summary       TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    transcript    TEXT
);
CREATE INDEX persona_ticks_persona_started_idx ON persona_ticks (persona_id, started_at);
CREATE INDEX persona_ticks_started_idx ON persona_ticks (started_at);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE login_failures (
    email     TEXT NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);

CREATE TABLE login_locks (
    email        TEXT PRIMARY KEY,
    locked_until INTEGER NOT NULL
);

-- +goose Down
DROP TABLE login_locks;
DROP TABLE login_failures;
DROP TABLE signing_keys;
DROP TABLE sessions;
DROP TABLE persona_ticks;
DROP TABLE persona_feedback;
DROP TABLE persona_actions;
DROP TABLE personas;
DROP TABLE members;
DROP TABLE spaces;
DROP TABLE users;
