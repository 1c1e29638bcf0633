-- Due and claim on a weekend: while it is Saturday or Sunday in the zone of every persona of
-- cadence weekdays (found by walking their zones on personas_weekday_zone_idx), the statements
-- add "tick_cadence <> 'weekdays'" (schedule.go), and two partial indexes that hold only the
-- other personas let them skip every weekday persona instead of reading each one (their due_at
-- passed on Friday) to drop it: one for the due order, one for the due time.

-- +goose Up
CREATE INDEX IF NOT EXISTS personas_due_order_other_idx ON auth.personas (last_active_at ASC NULLS FIRST, user_id)
    WHERE tick_cadence <> 'weekdays';
CREATE INDEX IF NOT EXISTS personas_due_at_other_idx ON auth.personas (due_at) WHERE tick_cadence <> 'weekdays';
CREATE INDEX IF NOT EXISTS personas_weekday_zone_idx ON auth.personas (timezone) WHERE tick_cadence = 'weekdays';

-- +goose Down
DROP INDEX IF EXISTS auth.personas_weekday_zone_idx;
DROP INDEX IF EXISTS auth.personas_due_at_other_idx;
DROP INDEX IF EXISTS auth.personas_due_order_other_idx;
