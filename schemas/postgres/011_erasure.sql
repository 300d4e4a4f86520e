-- Erasure of a user (user.erased; docs/arithmetic.md, "Retention and
-- erasure"; docs/architecture.md, "Erasure").
--
-- One row per user.erased event, written by whichever consumer reaches it
-- first (ON CONFLICT DO NOTHING on the event id) and read by both before they
-- store anything of a user: an interaction, rating, user or subscription of
-- (tenant_id, user) with a time before erased_at is stored under the
-- pseudonym and without its texts, so a replay of the topic brings nothing
-- back. The real user id is never stored: user_hash is the full HMAC-SHA256
-- (hex) of tenant_id || 0x00 || user_id under the pseudonym secret whose
-- fingerprint is key_id (the first 8 hex digits of SHA-256 of the secret), so
-- the record of a user can be found again only with that secret
-- (docs/operations.md, "Pseudonym secret").
--
-- ingest_run / aggregate_run: the lifecycle_runs row of each consumer's
-- application (NULL: not applied yet by that consumer). Each consumer sets
-- its own in the transaction that applies the erasure to its tables, so the
-- work and its record commit together and happen once per database.
CREATE TABLE erasures (
    event_id       text PRIMARY KEY,
    seq            bigserial NOT NULL UNIQUE,   -- consumers reload their cache when it grows
    tenant_id      text NOT NULL,
    user_hash      text NOT NULL,               -- HMAC-SHA256 hex, never the real id
    key_id         text NOT NULL,               -- which secret made user_hash and pseudonym
    pseudonym      text NOT NULL,               -- erased-<16 hex>
    erased_at      timestamptz NOT NULL,        -- the event's time
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    ingest_run     bigint,
    aggregate_run  bigint
);
CREATE INDEX erasures_by_user ON erasures (tenant_id, user_hash);
