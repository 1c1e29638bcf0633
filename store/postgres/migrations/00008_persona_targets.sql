-- A persona tests the app its catalog entry names (SPEC §10): the runner that claims it, in this
-- process or another (serve runner), opens it on that target. The secrets column keeps where the
-- persona's secrets are read at run time — environment variable names and file paths
-- ({"token": {"env": "ANNA_TOKEN"}}) — never their values. An empty target is the runner's
-- default target, as before.

-- +goose Up
ALTER TABLE auth.personas ADD COLUMN IF NOT EXISTS target text NOT NULL DEFAULT '';
ALTER TABLE auth.personas ADD COLUMN IF NOT EXISTS secrets jsonb NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE auth.personas DROP COLUMN IF EXISTS secrets;
ALTER TABLE auth.personas DROP COLUMN IF EXISTS target;
