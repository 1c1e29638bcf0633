-- The due rule orders by last_active_at, and personas_due_order_idx serves that order well while
-- many personas are due. When few or none are due (the usual state between ticks) walking that
-- order means reading every persona. due_at is the earliest moment the cadence and back-off allow
-- the next run (-infinity for a persona that never ran); its index lets PostgreSQL find the few
-- due personas by range instead. Leases and weekdays are still checked by the full rule.

-- +goose Up
-- The cadence periods are whole hours, which PostgreSQL adds the same way in every time zone, so
-- this function is truly immutable although timestamptz + interval in general is only stable.
-- +goose StatementBegin
CREATE FUNCTION auth.persona_due_at(last_active_at timestamptz, cadence text, next_due_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT greatest(
        coalesce(last_active_at + CASE cadence WHEN 'hourly' THEN interval '1 hour' ELSE interval '24 hours' END,
                 '-infinity'::timestamptz),
        next_due_at)
$$;
-- +goose StatementEnd

ALTER TABLE auth.personas
    ADD COLUMN due_at timestamptz NOT NULL
    GENERATED ALWAYS AS (auth.persona_due_at(last_active_at, tick_cadence, next_due_at)) STORED;

CREATE INDEX personas_due_at_idx ON auth.personas (due_at);

-- +goose Down
DROP INDEX auth.personas_due_at_idx;
ALTER TABLE auth.personas DROP COLUMN due_at;
DROP FUNCTION auth.persona_due_at(timestamptz, text, timestamptz);
