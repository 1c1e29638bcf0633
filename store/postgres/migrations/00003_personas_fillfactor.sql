-- Every claim and every tick record rewrites a persona row (lease, schedule). With free space left
-- in each page PostgreSQL updates the lease columns, which no index covers, in place (HOT), so
-- lease churn adds no index entries the due scan would have to step over.

-- +goose Up
ALTER TABLE auth.personas SET (fillfactor = 80);

-- +goose Down
ALTER TABLE auth.personas RESET (fillfactor);
