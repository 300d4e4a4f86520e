-- Limits, budgets and alerts (docs/limits.md; docs/architecture.md, "Alerts
-- exactly once").
--
-- New values: the role `tutor`, the subscription status `suspended`.
ALTER TABLE users DROP CONSTRAINT users_role_check,
    ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'member', 'student', 'tutor'));
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check,
    ADD CONSTRAINT subscriptions_status_check
    CHECK (status IN ('active', 'trial', 'suspended', 'cancelled'));
CREATE INDEX subscriptions_by_plan ON subscriptions (plan_id);

-- What a limit counts, per tenant-local day: for each tenant one row of the
-- whole tenant (user_id = '', ids are never empty) and one per user. Kept by
-- tally-aggregate in the transaction that counts the interactions (so exactly
-- once, like the rollups); a period's usage is the sum of its days (a day, a
-- week from Monday, a month from the 1st: 1, 7 or at most 31 rows). `day` is
-- the interaction's date in the tenant's zone when it was counted. `brl`
-- follows the price and FX versions known now: a version published later
-- makes the alert sender recompute the days it changes from the rollups.
CREATE TABLE limit_usage (
    tenant_id  text NOT NULL,
    user_id    text NOT NULL,
    day        date NOT NULL,
    requests   bigint NOT NULL,
    tokens     bigint NOT NULL,   -- input_tokens + output_tokens
    brl        numeric NOT NULL,  -- cost_brl, exact; interactions without a rate add 0 ...
    unpriced   bigint NOT NULL,   -- ... and are counted here
    PRIMARY KEY (tenant_id, user_id, day)
);

-- Changes that can move a limit's usage or its limit without an interaction
-- being counted: a price or FX version (re-prices BRL from `since`), a
-- budget, plan or subscription (limits change). Filled by triggers, drained
-- by the alert sender (relational/limit_reevaluate.c), which then records
-- any threshold now reached; applied_at becomes those alerts' crossed_at.
CREATE TABLE limit_changes (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('reprice', 'limits')),
    tenant_id   text,                 -- NULL: every tenant
    since       timestamptz,          -- from when: a version's effective_from, a limit's start
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION tally_limit_change_price() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO limit_changes (kind, tenant_id, since)
    VALUES ('reprice', nullif(NEW.tenant_key, ''),
            LEAST(NEW.effective_from, CASE WHEN TG_OP = 'UPDATE' THEN OLD.effective_from END));
    RETURN NULL;
END $$;
CREATE TRIGGER model_prices_limit_change AFTER INSERT OR UPDATE ON model_prices
    FOR EACH ROW EXECUTE FUNCTION tally_limit_change_price();

CREATE FUNCTION tally_limit_change_fx() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO limit_changes (kind, tenant_id, since) VALUES ('reprice', NULL, NEW.effective_from);
    RETURN NULL;
END $$;
CREATE TRIGGER fx_rates_limit_change AFTER INSERT OR UPDATE ON fx_rates
    FOR EACH ROW EXECUTE FUNCTION tally_limit_change_fx();

-- A limit changed: the periods to look at start at the subscription's
-- starts_at, or the budget's or plan's event time (a budget created today does
-- not announce last year's months; one whose events raced ahead of it does).
CREATE FUNCTION tally_limit_change_limits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO limit_changes (kind, tenant_id, since)
    VALUES ('limits', NEW.tenant_id,
            coalesce((to_jsonb(NEW) ->> 'starts_at')::timestamptz, NEW.ev_time));
    RETURN NULL;
END $$;
CREATE TRIGGER budgets_limit_change AFTER INSERT OR UPDATE ON budgets
    FOR EACH ROW EXECUTE FUNCTION tally_limit_change_limits();
CREATE TRIGGER subscriptions_limit_change AFTER INSERT OR UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION tally_limit_change_limits();
CREATE TRIGGER plans_limit_change AFTER INSERT OR UPDATE ON plans
    FOR EACH ROW EXECUTE FUNCTION tally_limit_change_limits();

-- The alerts outbox: one row per (limit, user, period, threshold) crossing,
-- keyed by the alert's deterministic id, inserted (ON CONFLICT DO NOTHING) in
-- the transaction that counted the crossing. The sender publishes the rows to
-- tally.alerts and sets published_at.
CREATE TABLE alert_outbox (
    alert_id      text PRIMARY KEY,     -- tenant/limit/user or _/period start UTC/threshold
    seq           bigserial NOT NULL UNIQUE,
    tenant_id     text NOT NULL,
    limit_id      text NOT NULL,
    user_id       text,                 -- NULL unless the limit is a user's
    metric        text NOT NULL CHECK (metric IN ('requests', 'tokens', 'brl')),
    period        text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    zone          text NOT NULL,        -- the tenant's zone, for period_start/end as written
    threshold     integer NOT NULL,
    limit_value   numeric NOT NULL,
    used          numeric NOT NULL,     -- at the crossing
    paused        boolean NOT NULL,
    crossed_at    timestamptz NOT NULL,
    webhook_url   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX alert_outbox_unpublished ON alert_outbox (seq) WHERE published_at IS NULL;
CREATE INDEX alert_outbox_by_tenant ON alert_outbox (tenant_id, crossed_at DESC, alert_id DESC);

-- Webhook deliveries of alerts whose budget has a webhook_url, one row per
-- alert (created with the outbox row), every try in webhook_attempts.
CREATE TABLE webhook_deliveries (
    alert_id         text PRIMARY KEY REFERENCES alert_outbox (alert_id),
    tenant_id        text NOT NULL,
    url              text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    last_status      text,             -- "200", "500", "timeout", "refused: …", "no secret"
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    given_up_at      timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;

CREATE TABLE webhook_attempts (
    alert_id     text NOT NULL REFERENCES webhook_deliveries (alert_id),
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL,
    status       text NOT NULL,
    duration_ms  integer NOT NULL,
    PRIMARY KEY (alert_id, attempt)
);

-- Each tenant's webhook signing secret (POST /v1/admin/tenants/{id}/webhook-secret).
-- Kept as it is: HMAC needs the secret itself.
CREATE TABLE webhook_secrets (
    tenant_id   text PRIMARY KEY,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Interactions counted before this migration: their days, from the rollups
-- (BRL left at 0 and recomputed by the sender, through the change below).
INSERT INTO limit_usage (tenant_id, user_id, day, requests, tokens, brl, unpriced)
SELECT u.tenant_id, k.user_id, (u.bucket AT TIME ZONE coalesce(t.timezone, 'America/Sao_Paulo'))::date,
       sum(u.requests), sum(u.input_tokens + u.output_tokens), 0, 0
FROM usage_rollup u LEFT JOIN tenants t USING (tenant_id)
CROSS JOIN LATERAL (VALUES (u.user_id), ('')) k(user_id)
GROUP BY 1, 2, 3;
INSERT INTO limit_changes (kind, tenant_id, since)
SELECT 'reprice', NULL, '-infinity' WHERE EXISTS (SELECT 1 FROM limit_usage);
