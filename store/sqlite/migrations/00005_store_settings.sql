-- Facts the store keeps about itself, such as the catalog it was last seeded from (cleanup's
-- default: it keeps that catalog's personas).

-- +goose Up
CREATE TABLE IF NOT EXISTS store_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS store_settings;
