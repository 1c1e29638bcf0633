-- The read models over a million action rows (issue 10; reserved number 00008, renumbered above
-- main's 00010): indexes that answer their queries without a look-up of the table row per entry.
-- persona_actions_errors_cover_idx holds every column the failed calls are read with (not their
-- arguments: ActionArguments reads the few samples' by id), in the order they are read; it
-- replaces the partial index on created_at alone. persona_action_rollup_span_idx is the
-- rollup's time index with the columns a span reads; it replaces persona_action_rollup_last_idx
-- (its first three columns). persona_ticks_target_idx answers a row's target (its run's, when
-- the run started in the window) from the index alone.

-- +goose Up
CREATE INDEX IF NOT EXISTS persona_actions_errors_cover_idx ON persona_actions
    (created_at, tick_id, seq, id, persona_id, tool_name, module, input_hash, result, error_message, latency_ms, error_class)
    WHERE result = 'error';
DROP INDEX IF EXISTS persona_actions_errors_idx;
CREATE INDEX IF NOT EXISTS persona_action_rollup_span_idx ON persona_action_rollup
    (last_at, first_at, tick_id, persona_id, tool_name, module, result, infra, calls, timed);
DROP INDEX IF EXISTS persona_action_rollup_last_idx;
CREATE INDEX IF NOT EXISTS persona_ticks_target_idx ON persona_ticks (tick_id, started_at, target);

-- +goose Down
DROP INDEX IF EXISTS persona_ticks_target_idx;
CREATE INDEX IF NOT EXISTS persona_action_rollup_last_idx ON persona_action_rollup (last_at, first_at, tick_id);
DROP INDEX IF EXISTS persona_action_rollup_span_idx;
CREATE INDEX IF NOT EXISTS persona_actions_errors_idx ON persona_actions (created_at) WHERE result = 'error';
DROP INDEX IF EXISTS persona_actions_errors_cover_idx;
