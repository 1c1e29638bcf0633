-- The read models (findings, report, dashboard) over a million action rows (issue 10): a compact
-- rollup of the action rows per run, tool, module, result and whether the call failed before the
-- app answered (infra: transport), kept by statement triggers (one aggregate upsert per INSERT,
-- from its transition table) in the transaction that writes or deletes the rows, so counts and
-- distinct personas per tool come from ~1 row per run and tool instead of every call.
-- first_at/last_at bound the rows of a rollup row, so a reader uses it only for a time span that
-- holds all of them and reads the raw rows of the few that straddle a boundary.
-- The indexes serve the queries that still read raw rows: the failed calls of a window (a
-- partial index), a tool's latencies from the top (p95 without reading every call), a tool's
-- first call in a window.

-- +goose Up
CREATE TABLE IF NOT EXISTS auth.persona_action_rollup (
    tick_id    text COLLATE "C" NOT NULL,
    persona_id text COLLATE "C" NOT NULL REFERENCES auth.personas (user_id) ON DELETE CASCADE,
    tool_name  text NOT NULL,
    module     text COLLATE "C" NOT NULL,
    result     text NOT NULL,
    infra      boolean NOT NULL,
    calls      integer NOT NULL,
    timed      integer NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (tick_id, tool_name, module, result, infra, persona_id)
);
CREATE INDEX IF NOT EXISTS persona_action_rollup_last_idx ON auth.persona_action_rollup (last_at, first_at, tick_id);
CREATE INDEX IF NOT EXISTS persona_action_rollup_persona_idx ON auth.persona_action_rollup (persona_id);

INSERT INTO auth.persona_action_rollup (tick_id, persona_id, tool_name, module, result, infra, calls, timed, first_at, last_at)
SELECT tick_id, persona_id, tool_name, module, result,
    result = 'error' AND (error_class = 'transport' OR left(error_message, 11) = 'transport: '),
    COUNT(*), COUNT(latency_ms), MIN(created_at), MAX(created_at)
FROM auth.persona_actions GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.persona_action_rollup AS r (tick_id, persona_id, tool_name, module, result, infra, calls, timed, first_at, last_at)
    SELECT tick_id, persona_id, tool_name, module, result,
        result = 'error' AND (error_class = 'transport' OR left(error_message, 11) = 'transport: '),
        COUNT(*), COUNT(latency_ms), MIN(created_at), MAX(created_at)
    FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (tick_id, tool_name, module, result, infra, persona_id) DO UPDATE SET
        calls = r.calls + excluded.calls, timed = r.timed + excluded.timed,
        first_at = LEAST(r.first_at, excluded.first_at), last_at = GREATEST(r.last_at, excluded.last_at);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The keys the deleted rows touched are counted again from the rows left.
    WITH keys AS (
        SELECT DISTINCT tick_id, persona_id, tool_name, module, result,
            result = 'error' AND (error_class = 'transport' OR left(error_message, 11) = 'transport: ') AS infra
        FROM old_rows
    ), left_rows AS (
        SELECT k.tick_id, k.persona_id, k.tool_name, k.module, k.result, k.infra,
            COUNT(a.id) AS calls, COUNT(a.latency_ms) AS timed, MIN(a.created_at) AS first_at, MAX(a.created_at) AS last_at
        FROM keys k LEFT JOIN auth.persona_actions a ON a.tick_id = k.tick_id AND a.persona_id = k.persona_id
            AND a.tool_name = k.tool_name AND a.module = k.module AND a.result = k.result
            AND (a.result = 'error' AND (a.error_class = 'transport' OR left(a.error_message, 11) = 'transport: ')) = k.infra
        GROUP BY 1, 2, 3, 4, 5, 6
    ), gone AS (
        DELETE FROM auth.persona_action_rollup r USING left_rows l
        WHERE l.calls = 0 AND r.tick_id = l.tick_id AND r.persona_id = l.persona_id AND r.tool_name = l.tool_name
            AND r.module = l.module AND r.result = l.result AND r.infra = l.infra
    )
    UPDATE auth.persona_action_rollup r SET calls = l.calls, timed = l.timed, first_at = l.first_at, last_at = l.last_at
    FROM left_rows l
    WHERE l.calls > 0 AND r.tick_id = l.tick_id AND r.persona_id = l.persona_id AND r.tool_name = l.tool_name
        AND r.module = l.module AND r.result = l.result AND r.infra = l.infra;
    RETURN NULL;
END $$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS persona_actions_rollup_insert ON auth.persona_actions;
CREATE TRIGGER persona_actions_rollup_insert AFTER INSERT ON auth.persona_actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION auth.persona_actions_rollup_insert();
DROP TRIGGER IF EXISTS persona_actions_rollup_delete ON auth.persona_actions;
CREATE TRIGGER persona_actions_rollup_delete AFTER DELETE ON auth.persona_actions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION auth.persona_actions_rollup_delete();

CREATE INDEX IF NOT EXISTS persona_actions_errors_idx ON auth.persona_actions (created_at) WHERE result = 'error';
CREATE INDEX IF NOT EXISTS persona_actions_tool_latency_idx ON auth.persona_actions (tool_name, latency_ms, created_at, tick_id);
CREATE INDEX IF NOT EXISTS persona_actions_tool_created_idx ON auth.persona_actions (tool_name, created_at);

-- +goose Down
DROP INDEX IF EXISTS auth.persona_actions_tool_created_idx;
DROP INDEX IF EXISTS auth.persona_actions_tool_latency_idx;
DROP INDEX IF EXISTS auth.persona_actions_errors_idx;
DROP TRIGGER IF EXISTS persona_actions_rollup_delete ON auth.persona_actions;
DROP TRIGGER IF EXISTS persona_actions_rollup_insert ON auth.persona_actions;
DROP FUNCTION IF EXISTS auth.persona_actions_rollup_delete();
DROP FUNCTION IF EXISTS auth.persona_actions_rollup_insert();
DROP TABLE IF EXISTS auth.persona_action_rollup;
