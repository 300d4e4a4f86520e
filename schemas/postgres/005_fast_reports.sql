-- Fast reports (docs/architecture.md, "Two rollups"): ratings counted into
-- the rollups by tally-aggregate instead of joined at query time, and a
-- narrow hourly rollup per tenant × model for the common reports.
--
-- Existing rollups are filled in here from what the stores hold, so an
-- upgrade needs no replay. Run it with tally-aggregate stopped and
-- tally-ingest caught up (`tally migrate` before starting the daemons): the
-- ratings are copied from the ingester's feedback table.

-- Ratings as tally-aggregate has consumed them: the newest (ev_time,
-- ev_offset) per (interaction, user) wins, the rule the ingester's feedback
-- table follows. Kept by the aggregator so that a rating and the rollup
-- increment it causes commit together with the offsets.
CREATE TABLE agg_feedback (
    interaction_id  text NOT NULL,
    user_id         text NOT NULL,
    tenant_id       text NOT NULL,
    rating          text NOT NULL CHECK (rating IN ('like', 'dislike')),
    ev_time         timestamptz NOT NULL,
    ev_offset       bigint NOT NULL,
    PRIMARY KEY (interaction_id, user_id)
);
INSERT INTO agg_feedback (interaction_id, user_id, tenant_id, rating, ev_time, ev_offset)
SELECT interaction_id, user_id, tenant_id, rating, ev_time, ev_offset FROM feedback;

-- likes/dislikes of the counted interactions in each rollup row: a rating
-- counts in the groups of the interaction it rates, once that interaction
-- is counted, and only when both name the same tenant.
ALTER TABLE usage_rollup
    ADD COLUMN likes    bigint NOT NULL DEFAULT 0,
    ADD COLUMN dislikes bigint NOT NULL DEFAULT 0;
UPDATE usage_rollup u SET likes = r.likes, dislikes = r.dislikes
FROM (
    SELECT i.tenant_id, i.bucket, i.model_id, i.user_id, i.agent_id, i.kind, i.channel,
           count(*) FILTER (WHERE f.rating = 'like') AS likes,
           count(*) FILTER (WHERE f.rating = 'dislike') AS dislikes
    FROM agg_interactions i
    JOIN agg_feedback f ON f.interaction_id = i.interaction_id AND f.tenant_id = i.tenant_id
    GROUP BY 1, 2, 3, 4, 5, 6, 7
) r
WHERE (u.tenant_id, u.bucket, u.model_id, u.user_id, u.agent_id, u.kind, u.channel)
    = (r.tenant_id, r.bucket, r.model_id, r.user_id, r.agent_id, r.kind, r.channel);

-- The same sums per tenant × UTC hour × model: what a report without the
-- user, agent, kind or channel groups needs, at a twentieth of the rows. It
-- is used only when every boundary of the report (its ends, its periods in
-- the tenant's zone, every price and FX version in the window) falls on a
-- whole UTC hour — always true for Brazil's zones and whole-hour versions —
-- so that its answers equal usage_rollup's (relational/usage_query.c).
CREATE TABLE usage_rollup_model_hourly (
    tenant_id              text NOT NULL,
    bucket                 timestamptz NOT NULL, -- a whole UTC hour
    model_id               text NOT NULL,
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
    PRIMARY KEY (tenant_id, bucket, model_id)
);
INSERT INTO usage_rollup_model_hourly
SELECT tenant_id, date_trunc('hour', bucket, 'UTC'), model_id, sum(requests), sum(errors),
       sum(input_tokens), sum(cached_tokens), sum(output_tokens), sum(audio_seconds),
       sum(priced_input_tokens), sum(priced_cached_tokens), sum(priced_output_tokens),
       sum(supplied_cost_usd), sum(unsaved_output_tokens), sum(supplied_time_saved),
       sum(likes), sum(dislikes)
FROM usage_rollup GROUP BY 1, 2, 3;
