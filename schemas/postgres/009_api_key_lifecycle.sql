-- Keys with a lifecycle (docs/api.md, "Authentication and keys"): a key can be
-- named, limited in what it may do, made to expire, listed and revoked.
--
-- `id` is the key's public name ("key_" and 16 hex digits): what the listing
-- shows and DELETE /v1/admin/keys/{id} takes, so that nobody ever handles the
-- secret or its hash to manage a key. It is drawn at random by PostgreSQL
-- (64 bits hashed out of gen_random_uuid, built in since 13; the UNIQUE
-- constraint catches the unlikely clash), not derived from the hash, so an id
-- says nothing about the key; keys made before this migration get one here.
-- `scopes` says what the key may do: `read` the tenant's routes, `ingest`
-- (POST /v1/events). Keys made before had no scopes and could only read, so
-- they get {read}: nothing a client relied on stops working, and nothing new
-- is granted.
-- `revoked_at` and `expires_at` are checked on every request, in the same
-- lookup that finds the key (no cache), so a revocation is seen by every
-- tally-api at the next request. A revoked row is kept: the listing shows
-- when it was revoked, and its hash can never be reused.
-- `last_used_at` is written at most about once a minute per key (the
-- authenticating request updates it only when it is older than that), so a
-- busy key does not turn every read into a write.
CREATE FUNCTION tally_new_key_id() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT 'key_' || left(md5(gen_random_uuid()::text), 16)
$$;

ALTER TABLE api_keys
    ADD COLUMN id           text,
    ADD COLUMN name         text CHECK (length(name) BETWEEN 1 AND 128),
    ADD COLUMN scopes       text[] NOT NULL DEFAULT '{read}'
        CHECK (cardinality(scopes) > 0 AND scopes <@ '{read,ingest}'::text[]),
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN revoked_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;

UPDATE api_keys SET id = tally_new_key_id();

ALTER TABLE api_keys
    ALTER COLUMN id SET DEFAULT tally_new_key_id(),
    ALTER COLUMN id SET NOT NULL,
    ADD CONSTRAINT api_keys_id_check CHECK (id ~ '^key_[0-9a-f]{16}$'),
    ADD CONSTRAINT api_keys_id_key UNIQUE (id);

-- The listing pages newest first, across all tenants or one (the
-- api_keys_by_tenant index of 004 is replaced by one that also orders).
DROP INDEX api_keys_by_tenant;
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at DESC, id DESC);
CREATE INDEX api_keys_by_created ON api_keys (created_at DESC, id DESC);
