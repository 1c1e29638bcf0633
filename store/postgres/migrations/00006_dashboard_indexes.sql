-- The dashboard's aggregates read a time window of every persona's rows: the tool statistics
-- scan the window's actions (a covering index, so an index-only scan serves them), the newest
-- notes walk the feedback by time.

-- +goose Up
CREATE INDEX IF NOT EXISTS persona_actions_created_idx ON auth.persona_actions (created_at)
    INCLUDE (tool_name, module, result, latency_ms);
CREATE INDEX IF NOT EXISTS persona_feedback_created_idx ON auth.persona_feedback (created_at);

-- +goose Down
DROP INDEX IF EXISTS auth.persona_feedback_created_idx;
DROP INDEX IF EXISTS auth.persona_actions_created_idx;
