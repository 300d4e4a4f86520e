/*
 * Internal to relational/: the SQL that counting, re-evaluating and reading
 * limits share, so that "which limits a tenant has", "which period holds a
 * day" and "how a crossing is recorded" are written once (docs/limits.md).
 */
#ifndef TALLY_LIMITS_SQL_H
#define TALLY_LIMITS_SQL_H

#include "tally_pg.h"

/* The limits of the tenants in relation `tenants` (a CTE or table with a
 * tenant_id column), one row each: tenant_id, limit_id, source ('budget' |
 * 'plan'), user_id (NULL: the whole tenant), metric ('requests' | 'tokens' |
 * 'brl'), period, lim (numeric), thresholds (int[]), pause_at_limit,
 * webhook_url, the instants a plan limit is in force [valid_from,
 * valid_to) (NULL: always / no end), and announced_from: a budget's event
 * time — its alerts are for periods that end after it (a budget set today
 * does not announce last year's months; NULL for plan limits, whose
 * subscriptions bound them). Plan limits come from subscriptions `active` or
 * `trial`; null limits are unlimited and not listed. */
#define TALLY__LIMITS_SQL(tenants)                                                                 \
    "  SELECT b.tenant_id, 'budget:' || b.budget_id || ':' || m.metric AS limit_id,"               \
    "    'budget' AS source, NULL::text AS user_id, m.metric, b.period, m.lim, b.thresholds,"      \
    "    b.pause_at_limit, b.webhook_url, NULL::timestamptz AS valid_from,"                        \
    "    NULL::timestamptz AS valid_to, b.ev_time AS announced_from"                               \
    "  FROM budgets b JOIN " tenants " USING (tenant_id)"                                          \
    "  CROSS JOIN LATERAL (VALUES ('tokens', b.token_limit::numeric), ('brl', b.brl_limit))"       \
    "    m(metric, lim)"                                                                           \
    "  WHERE (b.kind = m.metric OR b.kind = 'both') AND m.lim IS NOT NULL"                         \
    "  UNION ALL"                                                                                  \
    "  SELECT s.tenant_id, 'plan:' || p.plan_id || ':' || m.metric, 'plan', s.user_id, m.metric,"  \
    "    'monthly', m.lim, '{80,90,100}'::integer[], false, NULL, s.starts_at, s.ends_at, NULL"    \
    "  FROM subscriptions s JOIN " tenants " USING (tenant_id) JOIN plans p USING (plan_id)"       \
    "  CROSS JOIN LATERAL (VALUES ('requests', p.monthly_request_limit::numeric),"                 \
    "    ('tokens', p.monthly_token_limit::numeric)) m(metric, lim)"                               \
    "  WHERE s.status IN ('active', 'trial') AND m.lim IS NOT NULL"

/* ps, pe: the tenant-local dates [ps, pe) of the period of a limit row `l`
 * (column l.period) that holds the local date `day`: the day, the week from
 * Monday, the month from the 1st. */
#define TALLY__PERIOD_SQL(day)                                                                     \
    " CASE l.period WHEN 'daily' THEN " day " WHEN 'weekly' THEN " day                             \
    "   - (extract(isodow FROM " day ")::integer - 1)"                                             \
    "   ELSE date_trunc('month', " day "::timestamp)::date END AS ps,"                             \
    " CASE l.period WHEN 'daily' THEN " day " + 1 WHEN 'weekly' THEN " day                         \
    "   - (extract(isodow FROM " day ")::integer - 1) + 7"                                         \
    "   ELSE (date_trunc('month', " day "::timestamp) + interval '1 month')::date END AS pe"

/* The CTEs `raised` (alerts recorded now) and `hooked` (their webhook
 * deliveries), from relation `rel` with the columns tenant_id, limit_id,
 * user_id, metric, period, ps, pe, zone, threshold, lim, used,
 * pause_at_limit, crossed_at, webhook_url. The id is the contract's:
 * <tenant>/<limit>/<user or _>/<period start in UTC, RFC 3339>/<threshold>;
 * an id already recorded is left as it is (announced once). */
#define TALLY__OUTBOX_SQL(rel)                                                                     \
    "raised AS ("                                                                                  \
    "  INSERT INTO alert_outbox (alert_id, tenant_id, limit_id, user_id, metric, period,"          \
    "    period_start, period_end, zone, threshold, limit_value, used, paused, crossed_at,"        \
    "    webhook_url)"                                                                             \
    "  SELECT c.tenant_id || '/' || c.limit_id || '/' || coalesce(c.user_id, '_') || '/'"          \
    "      || to_char((c.ps::timestamp AT TIME ZONE c.zone) AT TIME ZONE 'UTC',"                   \
    "                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '/' || c.threshold,"                    \
    "    c.tenant_id, c.limit_id, c.user_id, c.metric, c.period,"                                  \
    "    c.ps::timestamp AT TIME ZONE c.zone, c.pe::timestamp AT TIME ZONE c.zone, c.zone,"        \
    "    c.threshold, c.lim, c.used, c.pause_at_limit AND c.used >= c.lim, c.crossed_at,"          \
    "    c.webhook_url"                                                                            \
    "  FROM " rel " c"                                                                             \
    "  ON CONFLICT (alert_id) DO NOTHING"                                                          \
    "  RETURNING alert_id, tenant_id, webhook_url"                                                 \
    "), hooked AS ("                                                                               \
    "  INSERT INTO webhook_deliveries (alert_id, tenant_id, url)"                                  \
    "  SELECT alert_id, tenant_id, webhook_url FROM raised WHERE webhook_url IS NOT NULL"          \
    "  RETURNING 1"                                                                                \
    ") "

/* Lock the tenants of a batch ($1-style text array literal) until the
 * transaction ends, in one order (limit_count.c says why). */
tally_code tally__limits_lock(tally_pg *pg, const char *tenant_array, tally_err *err);

/* Count the batch for limits and record the crossings it makes
 * (limit_count.c); params16: the rollup arrays plus the events' times. */
tally_code tally__limits_count(tally_pg *pg, const char *const *params16, int64_t *alerts,
                               tally_err *err);

#endif
