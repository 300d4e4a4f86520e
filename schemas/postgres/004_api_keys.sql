-- API keys of the report service (CONTRACT.md §3). A tenant key is made by
-- POST /v1/admin/keys and shown once; only its SHA-256 (lower-case hex of the
-- whole key text, "tly_" prefix included) is kept, so a copy of this table
-- gives no one a usable key. A lookup hashes the presented key and finds the
-- row by its primary key. The admin key is not stored: it is TALLY_ADMIN_KEY.
CREATE TABLE api_keys (
    key_hash    text PRIMARY KEY CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    tenant_id   text NOT NULL CHECK (length(tenant_id) BETWEEN 1 AND 128),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);
