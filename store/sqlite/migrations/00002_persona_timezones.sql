-- Before persona validation refused it, a persona could be stored with Go's time zone "Local",
-- which Go reads as the machine's zone and PostgreSQL does not know. The domain judges it in UTC
-- now (persona.Location); the rows say so too, as on PostgreSQL (its migration 4).

-- +goose Up
UPDATE personas SET timezone = 'UTC' WHERE timezone IN ('Local', '');

-- +goose Down
-- Nothing to undo: the old name was unusable.
