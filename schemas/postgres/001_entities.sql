-- Entities of CONTRACT.md §1.2. Upserts are guarded by the event's time and,
-- for equal times, by its Kafka position (ev_time, ev_offset): a late, older
-- event never rolls state back, and a replay rewrites the same row.

CREATE TABLE tenants (
    tenant_id    text PRIMARY KEY,
    name         text NOT NULL,
    slug         text,
    status       text NOT NULL CHECK (status IN ('active', 'suspended')),
    timezone     text NOT NULL,
    contact      text,
    ev_time      timestamptz NOT NULL,
    ev_offset    bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    tenant_id    text NOT NULL,
    user_id      text NOT NULL,
    name         text,
    email        text,
    role         text NOT NULL CHECK (role IN ('admin', 'member', 'student')),
    active       boolean,
    ev_time      timestamptz NOT NULL,
    ev_offset    bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE plans (
    plan_id                text PRIMARY KEY,
    tenant_id              text,               -- NULL: a global plan
    name                   text NOT NULL,
    monthly_request_limit  bigint,             -- NULL: unlimited
    monthly_token_limit    bigint,
    description            text,
    ev_time                timestamptz NOT NULL,
    ev_offset              bigint NOT NULL,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plans_by_tenant ON plans (tenant_id);

CREATE TABLE subscriptions (
    subscription_id  text PRIMARY KEY,
    tenant_id        text NOT NULL,
    user_id          text,                     -- NULL: the whole tenant
    plan_id          text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz,
    status           text NOT NULL CHECK (status IN ('active', 'trial', 'cancelled')),
    ev_time          timestamptz NOT NULL,
    ev_offset        bigint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant_id, user_id);

-- Price versions: each in force from effective_from until the next version of
-- the same (model_id, tenant_key). tenant_key is '' for the global price.
CREATE TABLE model_prices (
    model_id                             text NOT NULL,
    tenant_key                           text NOT NULL,
    effective_from                       timestamptz NOT NULL,
    provider                             text,
    input_usd_per_1m                     numeric NOT NULL,
    output_usd_per_1m                    numeric NOT NULL,
    cached_input_usd_per_1m              numeric NOT NULL,
    minutes_saved_per_100_output_tokens  numeric NOT NULL,
    ev_time                              timestamptz NOT NULL,
    ev_offset                            bigint NOT NULL,
    PRIMARY KEY (model_id, tenant_key, effective_from)
);

CREATE TABLE fx_rates (
    currency        text NOT NULL,
    effective_from  timestamptz NOT NULL,
    per_usd         numeric NOT NULL CHECK (per_usd > 0),
    ev_time         timestamptz NOT NULL,
    ev_offset       bigint NOT NULL,
    PRIMARY KEY (currency, effective_from)
);

CREATE TABLE budgets (
    tenant_id       text NOT NULL,
    budget_id       text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('tokens', 'brl', 'both')),
    period          text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    token_limit     bigint,
    brl_limit       numeric,
    thresholds      integer[] NOT NULL,
    pause_at_limit  boolean NOT NULL,
    webhook_url     text,
    ev_time         timestamptz NOT NULL,
    ev_offset       bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, budget_id)
);

-- Ratings: the newest rating of an (interaction, user) pair wins.
CREATE TABLE feedback (
    interaction_id  text NOT NULL,
    user_id         text NOT NULL,
    tenant_id       text NOT NULL,
    rating          text NOT NULL CHECK (rating IN ('like', 'dislike')),
    event_id        text NOT NULL,
    ev_time         timestamptz NOT NULL,
    ev_offset       bigint NOT NULL,
    PRIMARY KEY (interaction_id, user_id)
);
CREATE INDEX feedback_by_tenant ON feedback (tenant_id, ev_time);
