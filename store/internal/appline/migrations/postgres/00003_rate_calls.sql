-- Version 3: version 2 is the Go migration searchKeysVersion (migrate_search.go).
-- The per-user, per-tool rate limit's window on PostgreSQL (issue 13.6): one row per allowed
-- call, so that every replica of the app on this database counts the same calls. Rows older than
-- the window are deleted as calls come (and swept now and then). On SQLite the window stays in
-- the process.

-- +goose Up
CREATE TABLE app.rate_calls (
    user_id text   NOT NULL,
    tool    text   NOT NULL,
    at      bigint NOT NULL -- unix microseconds
);
CREATE INDEX rate_calls_key_idx ON app.rate_calls (user_id, tool, at);
CREATE INDEX rate_calls_at_idx ON app.rate_calls (at);

-- +goose Down
DROP TABLE app.rate_calls;
