-- The dashboard's tool statistics over a million action rows (issue 11; reserved number 00009,
-- renumbered above main's 00011): an hourly rollup of the
-- action rows per UTC hour, tool, module and latency bucket (persona.LatencyBucket: the latency
-- itself below 32 ms, then 16 buckets per power of two, each under 1/16 of its lower bound wide;
-- -1 for calls without a latency), with the calls, the failed calls and the newest call's time.
-- A window's whole hours come from here (hours × tools × buckets rows, not every call), its
-- partial first and last hours from the rows; a percentile is found in its bucket, then read
-- exactly from the rows of that bucket (the latency index), so it is exact.
-- The store adds each batch's written rows (insertActions); a trigger handles deletes.
-- Two covering indexes serve the ratings per day (all modules, one module) without a table
-- look-up per row (the error samples of a window use persona_actions_errors_cover_idx); an index
-- on the runs' target lists the targets (the filter's choices on every page) a step per target.

-- +goose Up
CREATE TABLE IF NOT EXISTS persona_action_hours (
    hour      INTEGER NOT NULL, -- the UTC hour's start, Unix microseconds
    tool_name TEXT NOT NULL,
    module    TEXT NOT NULL,
    bucket    INTEGER NOT NULL, -- the latency bucket's lower bound; -1: no latency
    calls     INTEGER NOT NULL,
    errors    INTEGER NOT NULL,
    last_at   INTEGER NOT NULL, -- the hour's newest call of the tool and module (at least this bucket's; after a delete, the hour's)
    PRIMARY KEY (hour, tool_name, module, bucket)
) WITHOUT ROWID;

INSERT OR IGNORE INTO persona_action_hours (hour, tool_name, module, bucket, calls, errors, last_at)
SELECT created_at / 3600000000 * 3600000000, tool_name, module,
    CASE WHEN latency_ms IS NULL THEN -1 WHEN latency_ms < 32 THEN latency_ms WHEN latency_ms < 64 THEN latency_ms / 2 * 2 WHEN latency_ms < 128 THEN latency_ms / 4 * 4 WHEN latency_ms < 256 THEN latency_ms / 8 * 8 WHEN latency_ms < 512 THEN latency_ms / 16 * 16 WHEN latency_ms < 1024 THEN latency_ms / 32 * 32 WHEN latency_ms < 2048 THEN latency_ms / 64 * 64 WHEN latency_ms < 4096 THEN latency_ms / 128 * 128 WHEN latency_ms < 8192 THEN latency_ms / 256 * 256 WHEN latency_ms < 16384 THEN latency_ms / 512 * 512 WHEN latency_ms < 32768 THEN latency_ms / 1024 * 1024 WHEN latency_ms < 65536 THEN latency_ms / 2048 * 2048 WHEN latency_ms < 131072 THEN latency_ms / 4096 * 4096 WHEN latency_ms < 262144 THEN latency_ms / 8192 * 8192 WHEN latency_ms < 524288 THEN latency_ms / 16384 * 16384 WHEN latency_ms < 1048576 THEN latency_ms / 32768 * 32768 WHEN latency_ms < 2097152 THEN latency_ms / 65536 * 65536 WHEN latency_ms < 4194304 THEN latency_ms / 131072 * 131072 WHEN latency_ms < 8388608 THEN latency_ms / 262144 * 262144 WHEN latency_ms < 16777216 THEN latency_ms / 524288 * 524288 WHEN latency_ms < 33554432 THEN latency_ms / 1048576 * 1048576 WHEN latency_ms < 67108864 THEN latency_ms / 2097152 * 2097152 WHEN latency_ms < 134217728 THEN latency_ms / 4194304 * 4194304 WHEN latency_ms < 268435456 THEN latency_ms / 8388608 * 8388608 WHEN latency_ms < 536870912 THEN latency_ms / 16777216 * 16777216 WHEN latency_ms < 1073741824 THEN latency_ms / 33554432 * 33554432 WHEN latency_ms < 2147483648 THEN latency_ms / 67108864 * 67108864 WHEN latency_ms < 4294967296 THEN latency_ms / 134217728 * 134217728 WHEN latency_ms < 8589934592 THEN latency_ms / 268435456 * 268435456 WHEN latency_ms < 17179869184 THEN latency_ms / 536870912 * 536870912 WHEN latency_ms < 34359738368 THEN latency_ms / 1073741824 * 1073741824 WHEN latency_ms < 68719476736 THEN latency_ms / 2147483648 * 2147483648 WHEN latency_ms < 137438953472 THEN latency_ms / 4294967296 * 4294967296 WHEN latency_ms < 274877906944 THEN latency_ms / 8589934592 * 8589934592 WHEN latency_ms < 549755813888 THEN latency_ms / 17179869184 * 17179869184 WHEN latency_ms < 1099511627776 THEN latency_ms / 34359738368 * 34359738368 WHEN latency_ms < 2199023255552 THEN latency_ms / 68719476736 * 68719476736 ELSE latency_ms END,
    COUNT(*), SUM(result = 'error'), MAX(created_at)
FROM persona_actions GROUP BY 1, 2, 3, 4;

-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS persona_actions_hours_delete AFTER DELETE ON persona_actions
BEGIN
    UPDATE persona_action_hours SET calls = calls - 1, errors = errors - (OLD.result = 'error')
    WHERE hour = OLD.created_at / 3600000000 * 3600000000 AND tool_name = OLD.tool_name AND module = OLD.module
        AND bucket = (CASE WHEN OLD.latency_ms IS NULL THEN -1 WHEN OLD.latency_ms < 32 THEN OLD.latency_ms WHEN OLD.latency_ms < 64 THEN OLD.latency_ms / 2 * 2 WHEN OLD.latency_ms < 128 THEN OLD.latency_ms / 4 * 4 WHEN OLD.latency_ms < 256 THEN OLD.latency_ms / 8 * 8 WHEN OLD.latency_ms < 512 THEN OLD.latency_ms / 16 * 16 WHEN OLD.latency_ms < 1024 THEN OLD.latency_ms / 32 * 32 WHEN OLD.latency_ms < 2048 THEN OLD.latency_ms / 64 * 64 WHEN OLD.latency_ms < 4096 THEN OLD.latency_ms / 128 * 128 WHEN OLD.latency_ms < 8192 THEN OLD.latency_ms / 256 * 256 WHEN OLD.latency_ms < 16384 THEN OLD.latency_ms / 512 * 512 WHEN OLD.latency_ms < 32768 THEN OLD.latency_ms / 1024 * 1024 WHEN OLD.latency_ms < 65536 THEN OLD.latency_ms / 2048 * 2048 WHEN OLD.latency_ms < 131072 THEN OLD.latency_ms / 4096 * 4096 WHEN OLD.latency_ms < 262144 THEN OLD.latency_ms / 8192 * 8192 WHEN OLD.latency_ms < 524288 THEN OLD.latency_ms / 16384 * 16384 WHEN OLD.latency_ms < 1048576 THEN OLD.latency_ms / 32768 * 32768 WHEN OLD.latency_ms < 2097152 THEN OLD.latency_ms / 65536 * 65536 WHEN OLD.latency_ms < 4194304 THEN OLD.latency_ms / 131072 * 131072 WHEN OLD.latency_ms < 8388608 THEN OLD.latency_ms / 262144 * 262144 WHEN OLD.latency_ms < 16777216 THEN OLD.latency_ms / 524288 * 524288 WHEN OLD.latency_ms < 33554432 THEN OLD.latency_ms / 1048576 * 1048576 WHEN OLD.latency_ms < 67108864 THEN OLD.latency_ms / 2097152 * 2097152 WHEN OLD.latency_ms < 134217728 THEN OLD.latency_ms / 4194304 * 4194304 WHEN OLD.latency_ms < 268435456 THEN OLD.latency_ms / 8388608 * 8388608 WHEN OLD.latency_ms < 536870912 THEN OLD.latency_ms / 16777216 * 16777216 WHEN OLD.latency_ms < 1073741824 THEN OLD.latency_ms / 33554432 * 33554432 WHEN OLD.latency_ms < 2147483648 THEN OLD.latency_ms / 67108864 * 67108864 WHEN OLD.latency_ms < 4294967296 THEN OLD.latency_ms / 134217728 * 134217728 WHEN OLD.latency_ms < 8589934592 THEN OLD.latency_ms / 268435456 * 268435456 WHEN OLD.latency_ms < 17179869184 THEN OLD.latency_ms / 536870912 * 536870912 WHEN OLD.latency_ms < 34359738368 THEN OLD.latency_ms / 1073741824 * 1073741824 WHEN OLD.latency_ms < 68719476736 THEN OLD.latency_ms / 2147483648 * 2147483648 WHEN OLD.latency_ms < 137438953472 THEN OLD.latency_ms / 4294967296 * 4294967296 WHEN OLD.latency_ms < 274877906944 THEN OLD.latency_ms / 8589934592 * 8589934592 WHEN OLD.latency_ms < 549755813888 THEN OLD.latency_ms / 17179869184 * 17179869184 WHEN OLD.latency_ms < 1099511627776 THEN OLD.latency_ms / 34359738368 * 34359738368 WHEN OLD.latency_ms < 2199023255552 THEN OLD.latency_ms / 68719476736 * 68719476736 ELSE OLD.latency_ms END);
    -- last_at of every bucket of the hour is the hour's newest call left.
    UPDATE persona_action_hours SET last_at = COALESCE((SELECT MAX(a.created_at) FROM persona_actions a
            WHERE a.tool_name = OLD.tool_name AND a.created_at >= OLD.created_at / 3600000000 * 3600000000
            AND a.created_at < OLD.created_at / 3600000000 * 3600000000 + 3600000000 AND a.module = OLD.module), last_at)
    WHERE hour = OLD.created_at / 3600000000 * 3600000000 AND tool_name = OLD.tool_name AND module = OLD.module;
    DELETE FROM persona_action_hours WHERE calls <= 0 AND hour = OLD.created_at / 3600000000 * 3600000000
        AND tool_name = OLD.tool_name;
END;
-- +goose StatementEnd

-- The ratings per UTC day, module and value (RatingsByDay over every persona: whole days from
-- here, the partial first and last days from the ratings), kept by row triggers: a run writes a
-- few ratings, and they are never updated.
CREATE TABLE IF NOT EXISTS persona_rating_days (
    day    INTEGER NOT NULL, -- the UTC day's start, Unix microseconds
    module TEXT NOT NULL,
    rating INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (day, module, rating)
) WITHOUT ROWID;

INSERT OR IGNORE INTO persona_rating_days (day, module, rating, n)
SELECT created_at / 86400000000 * 86400000000, module, rating, COUNT(*) FROM persona_feedback GROUP BY 1, 2, 3;

-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS persona_feedback_days_insert AFTER INSERT ON persona_feedback
BEGIN
    INSERT INTO persona_rating_days (day, module, rating, n) VALUES (NEW.created_at / 86400000000 * 86400000000, NEW.module, NEW.rating, 1)
    ON CONFLICT (day, module, rating) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER IF NOT EXISTS persona_feedback_days_delete AFTER DELETE ON persona_feedback
BEGIN
    UPDATE persona_rating_days SET n = n - 1
    WHERE day = OLD.created_at / 86400000000 * 86400000000 AND module = OLD.module AND rating = OLD.rating;
    DELETE FROM persona_rating_days
    WHERE n <= 0 AND day = OLD.created_at / 86400000000 * 86400000000 AND module = OLD.module AND rating = OLD.rating;
END;
-- +goose StatementEnd

CREATE INDEX IF NOT EXISTS persona_feedback_day_idx ON persona_feedback (created_at, module, rating);
CREATE INDEX IF NOT EXISTS persona_feedback_module_day_idx ON persona_feedback (module, created_at, rating);
CREATE INDEX IF NOT EXISTS persona_ticks_target_only_idx ON persona_ticks (target);

-- +goose Down
DROP TRIGGER IF EXISTS persona_feedback_days_delete;
DROP TRIGGER IF EXISTS persona_feedback_days_insert;
DROP TABLE IF EXISTS persona_rating_days;
DROP INDEX IF EXISTS persona_ticks_target_only_idx;
DROP INDEX IF EXISTS persona_feedback_module_day_idx;
DROP INDEX IF EXISTS persona_feedback_day_idx;
DROP TRIGGER IF EXISTS persona_actions_hours_delete;
DROP TABLE IF EXISTS persona_action_hours;
