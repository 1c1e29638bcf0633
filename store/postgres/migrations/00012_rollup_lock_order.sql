-- Writers of different personas share the rollups' rows (an hour, tool, module and latency
-- bucket; a day, module and rating). 00009 and 00011 upserted them in the order a hash
-- aggregate or the batch happened to give, so two runners writing at once could each hold a
-- row the other waited for: PostgreSQL broke the deadlock by aborting one batch (40P01), and
-- its rows were lost. Every trigger here takes its rollup rows in key order (ORDER BY before
-- the upsert, rows locked FOR UPDATE in key order before a delete), so concurrent writers queue
-- instead. The ratings per day become statement triggers (one upsert per batch, not per row).

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_hours_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.persona_action_hours AS h (hour, tool_name, module, bucket, calls, errors, last_at)
    SELECT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00'), tool_name, module,
        auth.persona_latency_bucket(latency_ms), count(*), count(*) FILTER (WHERE result = 'error'), max(created_at)
    FROM new_rows GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, tool_name, module, bucket) DO UPDATE SET
        calls = h.calls + excluded.calls, errors = h.errors + excluded.errors, last_at = GREATEST(h.last_at, excluded.last_at);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_hours_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The hours, tools and modules the deleted rows touched are locked in key order, then
    -- counted again from the rows left.
    PERFORM 1 FROM auth.persona_action_hours h
    WHERE (h.hour, h.tool_name, h.module) IN (
        SELECT DISTINCT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00'), tool_name, module FROM old_rows)
    ORDER BY h.hour, h.tool_name, h.module, h.bucket FOR UPDATE;
    DELETE FROM auth.persona_action_hours h
    USING (SELECT DISTINCT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00') AS hour, tool_name, module FROM old_rows) k
    WHERE h.hour = k.hour AND h.tool_name = k.tool_name AND h.module = k.module;
    INSERT INTO auth.persona_action_hours AS h (hour, tool_name, module, bucket, calls, errors, last_at)
    SELECT k.hour, k.tool_name, k.module, auth.persona_latency_bucket(a.latency_ms), count(*),
        count(*) FILTER (WHERE a.result = 'error'), max(a.created_at)
    FROM (SELECT DISTINCT date_bin('1 hour', created_at, timestamptz '1970-01-01 00:00:00+00') AS hour, tool_name, module FROM old_rows) k
    JOIN auth.persona_actions a ON a.tool_name = k.tool_name AND a.module = k.module
        AND a.created_at >= k.hour AND a.created_at < k.hour + interval '1 hour'
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, tool_name, module, bucket) DO UPDATE SET
        calls = h.calls + excluded.calls, errors = h.errors + excluded.errors, last_at = GREATEST(h.last_at, excluded.last_at);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_actions_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.persona_action_rollup AS r (tick_id, persona_id, tool_name, module, result, infra, calls, timed, first_at, last_at)
    SELECT tick_id, persona_id, tool_name, module, result,
        result = 'error' AND (error_class = 'transport' OR left(error_message, 11) = 'transport: '),
        COUNT(*), COUNT(latency_ms), MIN(created_at), MAX(created_at)
    FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 3, 4, 5, 6, 2
    ON CONFLICT (tick_id, tool_name, module, result, infra, persona_id) DO UPDATE SET
        calls = r.calls + excluded.calls, timed = r.timed + excluded.timed,
        first_at = LEAST(r.first_at, excluded.first_at), last_at = GREATEST(r.last_at, excluded.last_at);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_feedback_days_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO auth.persona_rating_days AS d (day, module, rating, n)
    SELECT date_bin('1 day', created_at, timestamptz '1970-01-01 00:00:00+00'), module, rating, count(*)
    FROM new_rows GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (day, module, rating) DO UPDATE SET n = d.n + excluded.n;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION auth.persona_feedback_days_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH gone AS (
        SELECT date_bin('1 day', created_at, timestamptz '1970-01-01 00:00:00+00') AS day, module, rating, count(*) AS n
        FROM old_rows GROUP BY 1, 2, 3
    ), locked AS (
        SELECT d.day, d.module, d.rating FROM auth.persona_rating_days d JOIN gone g USING (day, module, rating)
        ORDER BY 1, 2, 3 FOR UPDATE OF d
    )
    UPDATE auth.persona_rating_days d SET n = d.n - g.n FROM gone g, locked l
    WHERE d.day = g.day AND d.module = g.module AND d.rating = g.rating
        AND l.day = g.day AND l.module = g.module AND l.rating = g.rating;
    DELETE FROM auth.persona_rating_days WHERE n <= 0;
    RETURN NULL;
END $$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS persona_feedback_days ON auth.persona_feedback;
DROP FUNCTION IF EXISTS auth.persona_feedback_days();
DROP TRIGGER IF EXISTS persona_feedback_days_insert ON auth.persona_feedback;
CREATE TRIGGER persona_feedback_days_insert AFTER INSERT ON auth.persona_feedback
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION auth.persona_feedback_days_insert();
DROP TRIGGER IF EXISTS persona_feedback_days_delete ON auth.persona_feedback;
CREATE TRIGGER persona_feedback_days_delete AFTER DELETE ON auth.persona_feedback
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION auth.persona_feedback_days_delete();

-- +goose Down
DROP TRIGGER IF EXISTS persona_feedback_days_delete ON auth.persona_feedback;
DROP TRIGGER IF EXISTS persona_feedback_days_insert ON auth.persona_feedback;
DROP FUNCTION IF EXISTS auth.persona_feedback_days_delete();
DROP FUNCTION IF EXISTS auth.persona_feedback_days_insert();
-- The triggers of 00009 and 00011 as they were (without the ordering).
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
