-- Due and claim walk the personas in due order (never run first, then the oldest) and stop at the
-- limit. On a weekend every weekday persona is due by time, but none may run in a zone where it is
-- Saturday or Sunday, so one index over all personas made a weekend walk (and reject) every
-- weekday persona: 8.4 s for a due query at 100k personas. The due order index is now split: the
-- hourly and daily personas in one, the weekday personas in another led by their time zone. The
-- due query merges the first with one range of the second per zone where it is a weekday now
-- (SQLite's ordered UNION ALL), so a zone's weekend is never read. Existing rows are indexed by
-- the CREATE INDEX statements themselves; nothing else changes.

-- +goose Up
CREATE INDEX IF NOT EXISTS personas_due_other_idx ON personas (last_active_at, user_id) WHERE tick_cadence <> 'weekdays';
CREATE INDEX IF NOT EXISTS personas_due_weekdays_idx ON personas (timezone, last_active_at, user_id) WHERE tick_cadence = 'weekdays';
DROP INDEX IF EXISTS personas_due_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS personas_due_idx ON personas (last_active_at, user_id);
DROP INDEX IF EXISTS personas_due_weekdays_idx;
DROP INDEX IF EXISTS personas_due_other_idx;
