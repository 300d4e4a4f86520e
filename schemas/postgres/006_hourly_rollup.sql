-- A third rollup (docs/architecture.md, "Three rollups"): per tenant × UTC
-- hour × model × agent × kind × channel — every group but the user — for
-- reports that group by agent, kind or channel. Same columns and the same
-- whole-hour rule as usage_rollup_model_hourly; filled here from usage_rollup
-- so an upgrade needs no replay.
CREATE TABLE usage_rollup_hourly (
    tenant_id              text NOT NULL,
    bucket                 timestamptz NOT NULL, -- a whole UTC hour
    model_id               text NOT NULL,
    agent_id               text NOT NULL,        -- '' when absent
    kind                   text NOT NULL,
    channel                text NOT NULL,        -- '' when absent
    requests               bigint NOT NULL,
    errors                 bigint NOT NULL,
    input_tokens           bigint NOT NULL,
    cached_tokens          bigint NOT NULL,
    output_tokens          bigint NOT NULL,
    audio_seconds          numeric NOT NULL,
    priced_input_tokens    bigint NOT NULL,
    priced_cached_tokens   bigint NOT NULL,
    priced_output_tokens   bigint NOT NULL,
    supplied_cost_usd      numeric NOT NULL,
    unsaved_output_tokens  bigint NOT NULL,
    supplied_time_saved    numeric NOT NULL,
    likes                  bigint NOT NULL,
    dislikes               bigint NOT NULL,
    PRIMARY KEY (tenant_id, bucket, model_id, agent_id, kind, channel)
);
INSERT INTO usage_rollup_hourly
SELECT tenant_id, date_trunc('hour', bucket, 'UTC'), model_id, agent_id, kind, channel,
       sum(requests), sum(errors), sum(input_tokens), sum(cached_tokens), sum(output_tokens),
       sum(audio_seconds), sum(priced_input_tokens), sum(priced_cached_tokens),
       sum(priced_output_tokens), sum(supplied_cost_usd), sum(unsaved_output_tokens),
       sum(supplied_time_saved), sum(likes), sum(dislikes)
FROM usage_rollup GROUP BY 1, 2, 3, 4, 5, 6;
