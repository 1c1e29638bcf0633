PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE goose_db_version (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		version_id INTEGER NOT NULL,
		is_applied INTEGER NOT NULL,
		tstamp TIMESTAMP DEFAULT (datetime('now'))
	);
INSERT INTO goose_db_version VALUES(1,0,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(2,1,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(3,2,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(4,3,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(5,4,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(6,5,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(7,6,1,'2026-12-06 02:30:15');
INSERT INTO goose_db_version VALUES(8,7,1,'2026-12-06 02:30:15');
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
INSERT INTO users VALUES('2ccead0d-470c-4ea2-91de-a797d2b5a744','old@example.com','Old Main',1,'user','founder','persona','$2a$04$yA4stFa7IsLaG2OmskLEguK.SBS16UHRGzGJ8QoIJNYNowcaUOhrW',NULL,1796524215848268,1796524215848268);
CREATE TABLE spaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL CHECK (type IN ('personal', 'brand', 'club', 'family', 'team', 'practice')),
    created_at INTEGER NOT NULL
);
INSERT INTO spaces VALUES('d87ab960-2e3a-478c-95c5-1bf023e4a861','Old Main','old','personal',1796524215848268);
CREATE TABLE members (
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (space_id, user_id)
);
INSERT INTO members VALUES('d87ab960-2e3a-478c-95c5-1bf023e4a861','2ccead0d-470c-4ea2-91de-a797d2b5a744','owner',1796524215848268);
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
, target TEXT NOT NULL DEFAULT '', secrets TEXT NOT NULL DEFAULT '{}');
INSERT INTO personas VALUES('2ccead0d-470c-4ea2-91de-a797d2b5a744','tester','You test the store as main left it.','{"notes":1}','daily','UTC',NULL,1796524215848268,NULL,NULL,NULL,0,'','','{}');
CREATE TABLE persona_feedback (
    id         TEXT PRIMARY KEY,
    persona_id TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tick_id    TEXT NOT NULL,
    module     TEXT NOT NULL,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
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
CREATE TABLE login_locks (
    email        TEXT PRIMARY KEY,
    locked_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS "persona_ticks" (
    tick_id        TEXT PRIMARY KEY,
    persona_id     TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    runner_id      TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (status IN ('running', 'ok', 'degraded', 'failed', 'timeout', 'cancelled', 'abandoned')),
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    tool_calls     INTEGER NOT NULL DEFAULT 0,
    errors         INTEGER NOT NULL DEFAULT 0,
    turns          INTEGER NOT NULL DEFAULT 0,
    input_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens  INTEGER NOT NULL DEFAULT 0,
    cached_tokens  INTEGER NOT NULL DEFAULT 0,
    cost_usd       REAL NOT NULL DEFAULT 0,
    model          TEXT NOT NULL DEFAULT '',
    summary        TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    transcript     TEXT,
    target         TEXT NOT NULL DEFAULT '',
    server_name    TEXT NOT NULL DEFAULT '',
    server_version TEXT NOT NULL DEFAULT '',
    stage          TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS "persona_actions" (
    id             TEXT PRIMARY KEY,
    persona_id     TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tick_id        TEXT NOT NULL,
    tool_name      TEXT NOT NULL,
    module         TEXT NOT NULL DEFAULT '',
    input_hash     TEXT NOT NULL DEFAULT '',
    result         TEXT NOT NULL CHECK (result IN ('ok', 'error')),
    error_message  TEXT NOT NULL DEFAULT '' CHECK (length(error_message) <= 500),
    latency_ms     INTEGER,
    seq            INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    error_class    TEXT NOT NULL DEFAULT '',
    arguments      TEXT,
    result_preview TEXT
);
CREATE TABLE store_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE persona_action_rollup (
    tick_id    TEXT NOT NULL,
    persona_id TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tool_name  TEXT NOT NULL,
    module     TEXT NOT NULL,
    result     TEXT NOT NULL,
    infra      INTEGER NOT NULL,
    calls      INTEGER NOT NULL,
    timed      INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (tick_id, tool_name, module, result, infra, persona_id)
);
CREATE TABLE app_goose_db_version (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		version_id INTEGER NOT NULL,
		is_applied INTEGER NOT NULL,
		tstamp TIMESTAMP DEFAULT (datetime('now'))
	);
INSERT INTO app_goose_db_version VALUES(1,0,1,'2026-12-06 02:30:15');
INSERT INTO app_goose_db_version VALUES(2,1,1,'2026-12-06 02:30:15');
INSERT INTO app_goose_db_version VALUES(3,2,1,'2026-12-06 02:30:15');
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
CREATE TABLE app_notes (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
, title_key text NOT NULL DEFAULT '', body_key text NOT NULL DEFAULT '');
INSERT INTO app_notes VALUES('00000000-0000-4000-8000-000000000001','d87ab960-2e3a-478c-95c5-1bf023e4a861','Ärger im Büro','Written by main before 12.2','2ccead0d-470c-4ea2-91de-a797d2b5a744',1796522400000000,1796522400000000,'ärger im büro','written by main before 12.2');
CREATE TABLE app_journal_entries (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    entry_date TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
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
CREATE TABLE app_mood_entries (
    id         TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    note       TEXT NOT NULL DEFAULT '',
    log_date   TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
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
, name_key text NOT NULL DEFAULT '', email_key text NOT NULL DEFAULT '', phone_key text NOT NULL DEFAULT '', notes_key text NOT NULL DEFAULT '');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('goose_db_version',8);
INSERT INTO sqlite_sequence VALUES('app_goose_db_version',3);
CREATE INDEX members_user_idx ON members (user_id);
CREATE INDEX personas_due_idx ON personas (last_active_at, user_id);
CREATE INDEX persona_feedback_persona_created_idx ON persona_feedback (persona_id, created_at);
CREATE INDEX persona_feedback_module_created_idx ON persona_feedback (module, created_at);
CREATE INDEX persona_feedback_tick_idx ON persona_feedback (tick_id);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);
CREATE INDEX persona_ticks_persona_started_idx ON persona_ticks (persona_id, started_at);
CREATE INDEX persona_ticks_started_idx ON persona_ticks (started_at);
CREATE INDEX persona_actions_persona_created_idx ON persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick_idx ON persona_actions (tick_id);
CREATE INDEX persona_actions_created_idx ON persona_actions (created_at, tool_name, module, result, latency_ms);
CREATE INDEX persona_feedback_created_idx ON persona_feedback (created_at);
CREATE INDEX persona_action_rollup_last_idx ON persona_action_rollup (last_at, first_at, tick_id);
CREATE INDEX persona_action_rollup_persona_idx ON persona_action_rollup (persona_id);
CREATE TRIGGER persona_actions_rollup_delete AFTER DELETE ON persona_actions
BEGIN
    UPDATE persona_action_rollup SET calls = calls - 1, timed = timed - (OLD.latency_ms IS NOT NULL),
        first_at = COALESCE((SELECT MIN(a.created_at) FROM persona_actions a WHERE a.tick_id = OLD.tick_id
            AND a.tool_name = OLD.tool_name AND a.module = OLD.module AND a.result = OLD.result AND a.persona_id = OLD.persona_id), first_at),
        last_at = COALESCE((SELECT MAX(a.created_at) FROM persona_actions a WHERE a.tick_id = OLD.tick_id
            AND a.tool_name = OLD.tool_name AND a.module = OLD.module AND a.result = OLD.result AND a.persona_id = OLD.persona_id), last_at)
    WHERE tick_id = OLD.tick_id AND tool_name = OLD.tool_name AND module = OLD.module AND result = OLD.result
        AND persona_id = OLD.persona_id
        AND infra = (OLD.result = 'error' AND (OLD.error_class = 'transport' OR substr(OLD.error_message, 1, 11) = 'transport: '));
    DELETE FROM persona_action_rollup WHERE calls <= 0 AND tick_id = OLD.tick_id;
END;
CREATE INDEX persona_actions_errors_idx ON persona_actions (created_at) WHERE result = 'error';
CREATE INDEX persona_actions_tool_latency_idx ON persona_actions (tool_name, latency_ms, created_at, tick_id);
CREATE INDEX persona_actions_tool_created_idx ON persona_actions (tool_name, created_at);
CREATE INDEX app_todos_space_idx ON app_todos (space_id, created_at);
CREATE INDEX app_notes_space_idx ON app_notes (space_id, updated_at);
CREATE INDEX app_journal_space_idx ON app_journal_entries (space_id, entry_date);
CREATE INDEX app_habit_logs_space_idx ON app_habit_logs (space_id, log_date);
CREATE INDEX app_habit_logs_habit_idx ON app_habit_logs (habit_id, log_date);
CREATE INDEX app_mood_space_idx ON app_mood_entries (space_id, log_date);
CREATE INDEX app_events_space_idx ON app_events (space_id, starts_at);
CREATE INDEX app_contacts_space_idx ON app_contacts (space_id, name);
COMMIT;
