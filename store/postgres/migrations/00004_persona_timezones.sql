-- Before persona validation refused it, a persona could be stored with Go's time zone "Local" (or
-- another name PostgreSQL's zone database lacks). The due query judges a weekday in the persona's
-- zone, so one such row made every due query and claim fail. Such rows get UTC, the zone the
-- domain has always judged unknown names in (persona.Location).

-- +goose Up
UPDATE auth.personas SET timezone = 'UTC'
WHERE timezone NOT IN (SELECT name FROM pg_timezone_names);

-- +goose Down
-- Nothing to undo: the old names were unusable.
