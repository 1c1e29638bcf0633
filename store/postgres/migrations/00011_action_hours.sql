-- The dashboard's tool statistics over a million action rows (issue 11): an hourly rollup of the
-- action rows per UTC hour, tool, module and latency bucket (persona.LatencyBucket, computed here
-- by auth.persona_latency_bucket: the latency itself below 32 ms, then 16 buckets per power of
-- two, each under 1/16 of its lower bound wide; -1 for calls without a latency), with the calls,
-- the failed calls and the newest call's time, kept by statement triggers in the transaction that
-- writes or deletes the rows. A window's whole hours come from here (hours × tools × buckets rows,
-- not every call), its partial first and last hours from the rows; a percentile is found in its
-- bucket, then read exactly from the rows of that bucket (the latency index), so it is exact.
-- Two covering indexes serve the ratings per day (all modules, one module); the error samples
-- of a window use persona_actions_errors_cover_idx. An index on the runs' target lists the
-- targets (the filter's choices on every page) a step per target.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_latency_bucket(ms bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms IS NULL THEN -1 WHEN ms < 32 THEN ms WHEN ms < 64 THEN ms / 2 * 2 WHEN ms < 128 THEN ms / 4 * 4 WHEN ms < 256 THEN ms / 8 * 8
        WHEN ms < 512 THEN ms / 16 * 16 WHEN ms < 1024 THEN ms / 32 * 32 WHEN ms < 2048 THEN ms / 64 * 64 WHEN ms < 4096 THEN ms / 128 * 128
        WHEN ms < 8192 THEN ms / 256 * 256 WHEN ms < 16384 THEN ms / 512 * 512 WHEN ms < 32768 THEN ms / 1024 * 1024 WHEN ms < 65536 THEN ms / 2048 * 2048
        WHEN ms < 131072 THEN ms / 4096 * 4096 WHEN ms < 262144 THEN ms / 8192 * 8192 WHEN ms < 524288 THEN ms / 16384 * 16384 WHEN ms < 1048576 THEN ms / 32768 * 32768
        WHEN ms < 2097152 THEN ms / 65536 * 65536 WHEN ms < 4194304 THEN ms / 131072 * 131072 WHEN ms < 8388608 THEN ms / 262144 * 262144 WHEN ms < 16777216 THEN ms / 524288 * 524288
        WHEN ms < 33554432 THEN ms / 1048576 * 1048576 WHEN ms < 67108864 THEN ms / 2097152 * 2097152 WHEN ms < 134217728 THEN ms / 4194304 * 4194304 WHEN ms < 268435456 THEN ms / 8388608 * 8388608
        WHEN ms < 536870912 THEN ms / 16777216 * 16777216 WHEN ms < 1073741824 THEN ms / 33554432 * 33554432 WHEN ms < 2147483648 THEN ms / 67108864 * 67108864 WHEN ms < 4294967296 THEN ms / 134217728 * 134217728
        WHEN ms < 8589934592 THEN ms / 268435456 * 268435456 WHEN ms < 17179869184 THEN ms / 536870912 * 536870912 WHEN ms < 34359738368 THEN ms / 1073741824 * 1073741824 WHEN ms < 68719476736 THEN ms / 2147483648 * 2147483648
        WHEN ms < 137438953472 THEN ms / 4294967296 * 4294967296 WHEN ms < 274877906944 THEN ms / 8589934592 * 8589934592 WHEN ms < 549755813888 THEN ms / 17179869184 * 17179869184 WHEN ms < 1099511627776 THEN ms / 34359738368 * 34359738368
        WHEN ms < 2199023255552 THEN ms / 68719476736 * 68719476736 ELSE ms END
$$;
-- +goose StatementEnd

CREATE TABLE IF NOT EXISTS auth.persona_action_hours (
    hour      timestamptz NOT NULL,
    tool_name text NOT NULL,
    module    text COLLATE "C" NOT NULL,
    bucket    bigint NOT NULL,
    calls     bigint NOT NULL,
    errors    bigint NOT NULL,
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (hour, tool_name, module, bucket)
);

INSERT INTO auth.persona_action_hours (hour, tool_name, module, bucket, calls, errors, last_at)
SELECT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00'), tool_name, module,
    auth.persona_latency_bucket(latency_ms), count(*), count(*) FILTER (WHERE result = 'error'), max(created_at)
FROM auth.persona_actions GROUP BY 1, 2, 3, 4
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_hours_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.persona_action_hours AS h (hour, tool_name, module, bucket, calls, errors, last_at)
    SELECT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00'), tool_name, module,
        auth.persona_latency_bucket(latency_ms), count(*), count(*) FILTER (WHERE result = 'error'), max(created_at)
    FROM new_rows GROUP BY 1, 2, 3, 4
    ON CONFLICT (hour, tool_name, module, bucket) DO UPDATE SET
        calls = h.calls + excluded.calls, errors = h.errors + excluded.errors, last_at = GREATEST(h.last_at, excluded.last_at);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_hours_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The hours, tools and modules the deleted rows touched are counted again from the rows left.
    DELETE FROM auth.persona_action_hours h
    USING (SELECT DISTINCT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00') AS hour, tool_name, module FROM old_rows) k
    WHERE h.hour = k.hour AND h.tool_name = k.tool_name AND h.module = k.module;
    INSERT INTO auth.persona_action_hours (hour, tool_name, module, bucket, calls, errors, last_at)
    SELECT k.hour, k.tool_name, k.module, auth.persona_latency_bucket(a.latency_ms), count(*),
        count(*) FILTER (WHERE a.result = 'error'), max(a.created_at)
    FROM (SELECT DISTINCT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00') AS hour, tool_name, module FROM old_rows) k
    JOIN auth.persona_actions a ON a.tool_name = k.tool_name AND a.module = k.module
        AND a.created_at >= k.hour AND a.created_at < k.hour + interval '1 hour'
    GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END $$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS persona_actions_hours_insert ON auth.persona_actions;
CREATE TRIGGER persona_actions_hours_insert AFTER INSERT ON auth.persona_actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION auth.persona_actions_hours_insert();
DROP TRIGGER IF EXISTS persona_actions_hours_delete ON auth.persona_actions;
CREATE TRIGGER persona_actions_hours_delete AFTER DELETE ON auth.persona_actions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION auth.persona_actions_hours_delete();

-- The ratings per UTC day, module and value (RatingsByDay over every persona: whole days from
-- here, the partial first and last days from the ratings), kept by row triggers: a run writes a
-- few ratings, and they are never updated.
CREATE TABLE IF NOT EXISTS auth.persona_rating_days (
    day    timestamptz NOT NULL,
    module text COLLATE "C" NOT NULL,
    rating integer NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (day, module, rating)
);

INSERT INTO auth.persona_rating_days (day, module, rating, n)
SELECT date_bin('1 day', created_at, timestamptz '1970-01-01 00:00:00+00'), module, rating, count(*)
FROM auth.persona_feedback GROUP BY 1, 2, 3
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_feedback_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO auth.persona_rating_days AS d (day, module, rating, n)
        VALUES (date_bin('1 day', NEW.created_at, timestamptz '1970-01-01 00:00:00+00'), NEW.module, NEW.rating, 1)
        ON CONFLICT (day, module, rating) DO UPDATE SET n = d.n + 1;
    ELSE
        UPDATE auth.persona_rating_days SET n = n - 1
        WHERE day = date_bin('1 day', OLD.created_at, timestamptz '1970-01-01 00:00:00+00') AND module = OLD.module AND rating = OLD.rating;
        DELETE FROM auth.persona_rating_days
        WHERE n <= 0 AND day = date_bin('1 day', OLD.created_at, timestamptz '1970-01-01 00:00:00+00') AND module = OLD.module AND rating = OLD.rating;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS persona_feedback_days ON auth.persona_feedback;
CREATE TRIGGER persona_feedback_days AFTER INSERT OR DELETE ON auth.persona_feedback
    FOR EACH ROW EXECUTE FUNCTION auth.persona_feedback_days();

CREATE INDEX IF NOT EXISTS persona_feedback_day_idx ON auth.persona_feedback (created_at) INCLUDE (module, rating);
CREATE INDEX IF NOT EXISTS persona_feedback_module_day_idx ON auth.persona_feedback (module, created_at) INCLUDE (rating);
CREATE INDEX IF NOT EXISTS persona_ticks_target_only_idx ON auth.persona_ticks (target);

-- +goose Down
DROP TRIGGER IF EXISTS persona_feedback_days ON auth.persona_feedback;
DROP FUNCTION IF EXISTS auth.persona_feedback_days();
DROP TABLE IF EXISTS auth.persona_rating_days;
DROP INDEX IF EXISTS auth.persona_ticks_target_only_idx;
DROP INDEX IF EXISTS auth.persona_feedback_module_day_idx;
DROP INDEX IF EXISTS auth.persona_feedback_day_idx;
DROP TRIGGER IF EXISTS persona_actions_hours_delete ON auth.persona_actions;
DROP TRIGGER IF EXISTS persona_actions_hours_insert ON auth.persona_actions;
DROP FUNCTION IF EXISTS auth.persona_actions_hours_delete();
DROP FUNCTION IF EXISTS auth.persona_actions_hours_insert();
DROP TABLE IF EXISTS auth.persona_action_hours;
DROP FUNCTION IF EXISTS auth.persona_latency_bucket(bigint);
