-- The read models (findings, report, dashboard) over a million action rows (issue 10): a compact
-- rollup of the action rows per run, tool, module, result and whether the call failed before the
-- app answered (infra: transport), kept in the transaction that writes (the store) or deletes
-- (a trigger) the rows, so counts and distinct personas per tool come from ~1 row per run and tool instead of
-- every call. first_at/last_at bound the rows of a rollup row, so a reader uses it only for a time
-- span that holds all of them and reads the raw rows of the few that straddle a boundary.
-- The indexes serve the queries that still read raw rows: the failed calls of a window (a
-- partial index), a tool's latencies from the top (p95 without reading every call), a tool's
-- first call in a window.

-- +goose Up
CREATE TABLE IF NOT EXISTS persona_action_rollup (
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
CREATE INDEX IF NOT EXISTS persona_action_rollup_last_idx ON persona_action_rollup (last_at, first_at, tick_id);
CREATE INDEX IF NOT EXISTS persona_action_rollup_persona_idx ON persona_action_rollup (persona_id);

INSERT OR IGNORE INTO persona_action_rollup (tick_id, persona_id, tool_name, module, result, infra, calls, timed, first_at, last_at)
SELECT tick_id, persona_id, tool_name, module, result,
    result = 'error' AND (error_class = 'transport' OR substr(error_message, 1, 11) = 'transport: '),
    COUNT(*), COUNT(latency_ms), MIN(created_at), MAX(created_at)
FROM persona_actions GROUP BY 1, 2, 3, 4, 5, 6;

-- The rows inserted are added by the store itself (insertActions: one upsert per run, tool,
-- module, result and outage of a batch, from the rows RETURNING names); a row trigger cost an
-- upsert per row. An earlier form of this migration had one.
DROP TRIGGER IF EXISTS persona_actions_rollup_insert;

-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS persona_actions_rollup_delete AFTER DELETE ON persona_actions
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
-- +goose StatementEnd

CREATE INDEX IF NOT EXISTS persona_actions_errors_idx ON persona_actions (created_at) WHERE result = 'error';
CREATE INDEX IF NOT EXISTS persona_actions_tool_latency_idx ON persona_actions (tool_name, latency_ms, created_at, tick_id);
CREATE INDEX IF NOT EXISTS persona_actions_tool_created_idx ON persona_actions (tool_name, created_at);

-- +goose Down
DROP INDEX IF EXISTS persona_actions_tool_created_idx;
DROP INDEX IF EXISTS persona_actions_tool_latency_idx;
DROP INDEX IF EXISTS persona_actions_errors_idx;
DROP TRIGGER IF EXISTS persona_actions_rollup_delete;
DROP TRIGGER IF EXISTS persona_actions_rollup_insert;
DROP TABLE IF EXISTS persona_action_rollup;
