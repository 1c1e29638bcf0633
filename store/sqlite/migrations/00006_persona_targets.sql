-- A persona tests the app its catalog entry names (SPEC §10): the runner that claims it, in this
-- process or another (serve runner), opens it on that target. The secrets column keeps where the
-- persona's secrets are read at run time — environment variable names and file paths as JSON
-- ({"token": {"env": "ANNA_TOKEN"}}) — never their values. An empty target is the runner's
-- default target, as before.

-- +goose Up
ALTER TABLE personas ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE personas ADD COLUMN secrets TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE personas DROP COLUMN secrets;
ALTER TABLE personas DROP COLUMN target;
