-- Room for targets, findings, hardening and the drop-in work (one rebuild, not one per feature):
-- tick records gain the target and the server's identity (SPEC §10), the stage a failed run
-- stopped at, and the statuses `degraded` (the calls worked, the ratings did not) and
-- `abandoned` (a run cut short by a crash, found by the next runner); action rows gain the call's
-- arguments and a result preview (the repro of a finding), an error class, and a latency that may
-- be unknown (NULL: the original runner sends none). SQLite cannot change a CHECK or a NOT NULL in
-- place, so both tables are rebuilt with their rows.

-- +goose Up
CREATE TABLE persona_ticks_new (
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
INSERT INTO persona_ticks_new (tick_id, persona_id, runner_id, status, started_at, finished_at,
    tool_calls, errors, turns, input_tokens, output_tokens, cached_tokens, cost_usd, model, summary,
    error, transcript)
SELECT tick_id, persona_id, runner_id, status, started_at, finished_at, tool_calls, errors, turns,
    input_tokens, output_tokens, cached_tokens, cost_usd, model, summary, error, transcript
FROM persona_ticks;
DROP TABLE persona_ticks;
ALTER TABLE persona_ticks_new RENAME TO persona_ticks;
CREATE INDEX persona_ticks_persona_started_idx ON persona_ticks (persona_id, started_at);
CREATE INDEX persona_ticks_started_idx ON persona_ticks (started_at);

CREATE TABLE persona_actions_new (
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
INSERT INTO persona_actions_new (id, persona_id, tick_id, tool_name, module, input_hash, result,
    error_message, latency_ms, seq, created_at)
SELECT id, persona_id, tick_id, tool_name, module, input_hash, result, error_message, latency_ms,
    seq, created_at
FROM persona_actions;
DROP TABLE persona_actions;
ALTER TABLE persona_actions_new RENAME TO persona_actions;
CREATE INDEX persona_actions_persona_created_idx ON persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick_idx ON persona_actions (tick_id);

-- +goose Down
-- Not reversible without losing the new statuses and evidence; restore a backup instead.
SELECT 1;
