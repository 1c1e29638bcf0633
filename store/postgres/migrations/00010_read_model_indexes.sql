-- The read models over a million action rows (issue 10): the failed calls of a window read from
-- the index alone (an index-only scan, as autovacuum keeps the visibility map of the inserted
-- rows) instead of one heap page per failed call, scattered over every page of the table. The
-- index holds every column they are read with (not their arguments: ActionArguments reads the
-- few samples' by id), keyed in the order they are read; it replaces the partial index on
-- created_at alone. Its entries carry the error message (at most 500 characters,
-- persona.MaxErrorMessage; PostgreSQL compresses an entry's long values): a failed call with a
-- tool name of several hundred characters and a long incompressible message could exceed the
-- B-tree's 2,704 bytes and fail to insert, as the primary key (which holds the tool name)
-- already would for longer names.

-- +goose Up
CREATE INDEX IF NOT EXISTS persona_actions_errors_cover_idx ON auth.persona_actions (created_at, tick_id, seq, id)
    INCLUDE (persona_id, tool_name, module, input_hash, result, error_message, latency_ms, error_class)
    WHERE result = 'error';
DROP INDEX IF EXISTS auth.persona_actions_errors_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS persona_actions_errors_idx ON auth.persona_actions (created_at) WHERE result = 'error';
DROP INDEX IF EXISTS auth.persona_actions_errors_cover_idx;
