-- Facts the store keeps about itself, such as the catalog it was last seeded from (cleanup's
-- default: it keeps that catalog's personas).

-- +goose Up
CREATE TABLE IF NOT EXISTS auth.store_settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS auth.store_settings;
