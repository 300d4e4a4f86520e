-- Rollups kept by tally-aggregate (CONTRACT.md §2, DESIGN.md "Correctness model").
--
-- usage_rollup: per tenant, 15-minute UTC bucket and every group dimension,
-- the sums of the interactions received. Fifteen minutes divides every UTC
-- offset in use, so day, week and month boundaries are exact in any tenant's
-- zone. Absent agent_id/channel are stored as '' (ids are never empty) and
-- reported as null. Cost and time saved are NOT stored: they are derived at
-- query time from the token sums of the events that did not bring their own
-- value (priced_* / unsaved_*) × the price and FX versions known now, plus
-- the sums of the values events brought (supplied_*).
CREATE TABLE usage_rollup (
    tenant_id              text NOT NULL,
    bucket                 timestamptz NOT NULL,
    model_id               text NOT NULL,
    user_id                text NOT NULL,
    agent_id               text NOT NULL,
    kind                   text NOT NULL,
    channel                text NOT NULL,
    requests               bigint NOT NULL,
    errors                 bigint NOT NULL,
    input_tokens           bigint NOT NULL,
    cached_tokens          bigint NOT NULL,
    output_tokens          bigint NOT NULL,
    audio_seconds          numeric NOT NULL,
    priced_input_tokens    bigint NOT NULL,  -- of events without cost_usd
    priced_cached_tokens   bigint NOT NULL,
    priced_output_tokens   bigint NOT NULL,
    supplied_cost_usd      numeric NOT NULL, -- sum of the events' own cost_usd
    unsaved_output_tokens  bigint NOT NULL,  -- of events without time_saved_minutes
    supplied_time_saved    numeric NOT NULL, -- sum of the events' own time_saved_minutes
    PRIMARY KEY (tenant_id, bucket, model_id, user_id, agent_id, kind, channel)
);

-- Every interaction counted, by id: the de-duplication record (an id already
-- here is never counted again) and where a rating finds the bucket and groups
-- of the interaction it rates.
CREATE TABLE agg_interactions (
    interaction_id  text PRIMARY KEY,
    tenant_id       text NOT NULL,
    bucket          timestamptz NOT NULL,
    model_id        text NOT NULL,
    user_id         text NOT NULL,
    agent_id        text NOT NULL,
    kind            text NOT NULL,
    channel         text NOT NULL
);
CREATE INDEX agg_interactions_by_tenant ON agg_interactions (tenant_id, bucket);

-- "2026-03-01T00:00:00-03:00": an instant written in a zone, as reports show it.
CREATE FUNCTION tally_rfc3339(t timestamptz, zone text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_char(t AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN off = interval '0' THEN 'Z'
                ELSE (CASE WHEN off < interval '0' THEN '-' ELSE '+' END)
                     || to_char(abs(extract(epoch FROM off))::int / 3600, 'FM00') || ':'
                     || to_char(abs(extract(epoch FROM off))::int % 3600 / 60, 'FM00')
           END
    FROM (SELECT (t AT TIME ZONE zone) - (t AT TIME ZONE 'UTC') AS off) o
$$;
