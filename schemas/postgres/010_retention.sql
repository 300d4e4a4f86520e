-- Retention (docs/arithmetic.md, "Retention and erasure"; docs/operations.md,
-- "Retention"): the two bounds of a tenant, and the record of every data
-- lifecycle run.
--
-- content_retention_days / user_retention_days: days, NULL = keep. Written by
-- the ingester's tenant upsert with the other fields (newest event time wins).
--
-- lifecycle_runs: one row per retention run (`tally retain`, tally-alerts'
-- daily schedule) and per erasure. A run inserts its row first and sets
-- finished_at last, so a run that was killed shows as unfinished. `touched`
-- says what was changed, counts per store/table and tenant; a retention run
-- writes {"interactions": {"<tenant>": n}, "users": {"<tenant>": n}} and
-- updates it after each tenant, so an interrupted run shows how far it got.
--
-- A retention run needs no other state to resume: it only removes what is
-- still there and older than the bound, so the next run finishes the work of
-- a killed one.
ALTER TABLE tenants
    ADD COLUMN content_retention_days integer CHECK (content_retention_days >= 1),
    ADD COLUMN user_retention_days    integer CHECK (user_retention_days >= 1);

CREATE TABLE lifecycle_runs (
    run_id       bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('retention', 'erasure')),
    requested_by text NOT NULL,          -- 'tally retain', 'schedule', 'api', 'event:<event id>'
    tenant_id    text,                   -- NULL: every tenant
    subject      text,                   -- erasure: the pseudonym, never the real id
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,            -- NULL: interrupted (or running)
    touched      jsonb NOT NULL DEFAULT '{}'::jsonb  -- what was changed, counts per store/table/tenant
);
-- `tally lifecycle` lists newest first; the schedule looks for the last
-- finished run of every tenant.
CREATE INDEX lifecycle_runs_by_kind ON lifecycle_runs (kind, started_at DESC, run_id DESC);
