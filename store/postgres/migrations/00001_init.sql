-- The auth schema of persona-runner (SPEC §3). Every table lives in schema auth so the demo app can
-- keep its own tables in schema app with foreign keys to auth.spaces.

-- +goose Up
-- Columns whose order the API exposes use COLLATE "C" (byte order, as in Go and SQLite), so the
-- results do not depend on the database's locale.
CREATE TABLE auth.users (
    id             text COLLATE "C" PRIMARY KEY,
    email          text COLLATE "C" NOT NULL UNIQUE,
    name           text NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    role           text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin', 'service')),
    access_tier    text NOT NULL DEFAULT 'public'
                   CHECK (access_tier IN ('guest', 'public', 'beta', 'alpha', 'founder')),
    kind           text NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'persona', 'system')),
    password_hash  text NOT NULL DEFAULT '',
    deleted_at     timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE auth.spaces (
    id         text PRIMARY KEY,
    name       text COLLATE "C" NOT NULL,
    slug       text NOT NULL UNIQUE,
    type       text NOT NULL CHECK (type IN ('personal', 'brand', 'club', 'family', 'team', 'practice')),
    created_at timestamptz NOT NULL
);

CREATE TABLE auth.members (
    space_id   text NOT NULL REFERENCES auth.spaces (id) ON DELETE CASCADE,
    user_id    text COLLATE "C" NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (space_id, user_id)
);
CREATE INDEX members_user_idx ON auth.members (user_id);

CREATE TABLE auth.personas (
    user_id          text COLLATE "C" PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    archetype        text NOT NULL,
    system_prompt    text NOT NULL,
    module_mix       jsonb NOT NULL DEFAULT '{}',
    tick_cadence     text NOT NULL DEFAULT 'daily' CHECK (tick_cadence IN ('hourly', 'daily', 'weekdays')),
    timezone         text NOT NULL DEFAULT 'UTC',
    last_active_at   timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    next_due_at      timestamptz,
    lease_owner      text,
    lease_expires_at timestamptz,
    failure_count    integer NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    last_error       text NOT NULL DEFAULT ''
);
-- The due rule orders by never-run first, then the oldest last_active_at, then user id; this index
-- serves that order directly, so due and claim stop after the first limit matching rows.
CREATE INDEX personas_due_order_idx ON auth.personas (last_active_at ASC NULLS FIRST, user_id);

CREATE TABLE auth.persona_actions (
    id            text PRIMARY KEY,
    persona_id    text COLLATE "C" NOT NULL REFERENCES auth.personas (user_id) ON DELETE CASCADE,
    tick_id       text COLLATE "C" NOT NULL,
    tool_name     text NOT NULL,
    module        text COLLATE "C" NOT NULL DEFAULT '',
    input_hash    text NOT NULL DEFAULT '',
    result        text NOT NULL CHECK (result IN ('ok', 'error')),
    error_message text NOT NULL DEFAULT '' CHECK (char_length(error_message) <= 500),
    latency_ms    bigint NOT NULL DEFAULT 0,
    seq           integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL
);
CREATE INDEX persona_actions_persona_created_idx ON auth.persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick_idx ON auth.persona_actions (tick_id);

CREATE TABLE auth.persona_feedback (
    id         text PRIMARY KEY,
    persona_id text COLLATE "C" NOT NULL REFERENCES auth.personas (user_id) ON DELETE CASCADE,
    tick_id    text COLLATE "C" NOT NULL,
    module     text COLLATE "C" NOT NULL,
    rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX persona_feedback_persona_created_idx ON auth.persona_feedback (persona_id, created_at);
CREATE INDEX persona_feedback_module_created_idx ON auth.persona_feedback (module, created_at);
CREATE INDEX persona_feedback_tick_idx ON auth.persona_feedback (tick_id);

CREATE TABLE auth.persona_ticks (
    tick_id       text COLLATE "C" PRIMARY KEY,
    persona_id    text COLLATE "C" NOT NULL REFERENCES auth.personas (user_id) ON DELETE CASCADE,
    runner_id     text NOT NULL DEFAULT '',
    status        text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'timeout', 'cancelled')),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    tool_calls    integer NOT NULL DEFAULT 0,
    errors        integer NOT NULL DEFAULT 0,
    turns         integer NOT NULL DEFAULT 0,
    input_tokens  bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cached_tokens bigint NOT NULL DEFAULT 0,
    cost_usd      double precision NOT NULL DEFAULT 0,
    model         text NOT NULL DEFAULT '',
    summary       text NOT NULL DEFAULT '',
    error         text NOT NULL DEFAULT '',
    -- json, not jsonb: the transcript is returned byte for byte as the runner wrote it.
    transcript    json
);
CREATE INDEX persona_ticks_persona_started_idx ON auth.persona_ticks (persona_id, started_at DESC);
CREATE INDEX persona_ticks_started_idx ON auth.persona_ticks (started_at);

CREATE TABLE auth.sessions (
    id         text PRIMARY KEY,
    user_id    text COLLATE "C" NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON auth.sessions (user_id);

CREATE TABLE auth.signing_keys (
    id          text COLLATE "C" PRIMARY KEY,
    algorithm   text NOT NULL,
    private_key bytea NOT NULL,
    public_key  bytea NOT NULL,
    created_at  timestamptz NOT NULL
);

-- One row per failed login; the lockout counts the rows inside the policy window.
CREATE TABLE auth.login_failures (
    email     text NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX login_failures_email_idx ON auth.login_failures (email, failed_at);

CREATE TABLE auth.login_locks (
    email        text PRIMARY KEY,
    locked_until timestamptz NOT NULL
);

-- +goose Down
DROP TABLE auth.login_locks;
DROP TABLE auth.login_failures;
DROP TABLE auth.signing_keys;
DROP TABLE auth.sessions;
DROP TABLE auth.persona_ticks;
DROP TABLE auth.persona_feedback;
DROP TABLE auth.persona_actions;
DROP TABLE auth.personas;
DROP TABLE auth.members;
DROP TABLE auth.spaces;
DROP TABLE auth.users;
