-- The dashboard's aggregates read a time window of every persona's rows: the tool statistics
-- scan the window's actions (a covering index, so the table itself is not read), the newest
-- notes walk the feedback by time.

-- +goose Up
CREATE INDEX IF NOT EXISTS persona_actions_created_idx ON persona_actions (created_at, tool_name, module, result, latency_ms);
CREATE INDEX IF NOT EXISTS persona_feedback_created_idx ON persona_feedback (created_at);

-- +goose Down
DROP INDEX IF EXISTS persona_feedback_created_idx;
DROP INDEX IF EXISTS persona_actions_created_idx;
