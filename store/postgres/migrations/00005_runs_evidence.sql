-- Room for targets, findings, hardening and the drop-in work: tick records gain the target and
-- the server's identity (SPEC §10), the stage a failed run stopped at, and the statuses `degraded`
-- (the calls worked, the ratings did not) and `abandoned` (a run cut short by a crash, found by the
-- next runner); action rows gain the call's arguments and a result preview (the repro of a
-- finding), an error class, and a latency that may be unknown (NULL: the original runner sends
-- none).

-- +goose Up
ALTER TABLE auth.persona_ticks DROP CONSTRAINT IF EXISTS persona_ticks_status_check;
ALTER TABLE auth.persona_ticks ADD CONSTRAINT persona_ticks_status_check
    CHECK (status IN ('running', 'ok', 'degraded', 'failed', 'timeout', 'cancelled', 'abandoned'));
ALTER TABLE auth.persona_ticks
    ADD COLUMN IF NOT EXISTS target         text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS server_name    text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS server_version text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS stage          text NOT NULL DEFAULT '';

ALTER TABLE auth.persona_actions
    ALTER COLUMN latency_ms DROP NOT NULL,
    ALTER COLUMN latency_ms DROP DEFAULT,
    ADD COLUMN IF NOT EXISTS error_class    text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS arguments      text,
    ADD COLUMN IF NOT EXISTS result_preview text;

-- +goose Down
ALTER TABLE auth.persona_actions
    DROP COLUMN result_preview,
    DROP COLUMN arguments,
    DROP COLUMN error_class;
UPDATE auth.persona_actions SET latency_ms = 0 WHERE latency_ms IS NULL;
ALTER TABLE auth.persona_actions ALTER COLUMN latency_ms SET DEFAULT 0, ALTER COLUMN latency_ms SET NOT NULL;
ALTER TABLE auth.persona_ticks DROP COLUMN stage, DROP COLUMN server_version, DROP COLUMN server_name, DROP COLUMN target;
ALTER TABLE auth.persona_ticks DROP CONSTRAINT IF EXISTS persona_ticks_status_check;
ALTER TABLE auth.persona_ticks ADD CONSTRAINT persona_ticks_status_check
    CHECK (status IN ('running', 'ok', 'failed', 'timeout', 'cancelled'));
