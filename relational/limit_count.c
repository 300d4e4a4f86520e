/*
 * Counting for limits, and the alerts it raises (docs/limits.md), inside the
 * aggregator's transaction: the same batch arrays as the rollups, before
 * they are applied, so that "fresh" (never counted) is read from
 * agg_interactions as it stands.
 *
 * One statement:
 *  1. fresh: the batch's interactions not counted before (first copy of an id);
 *  2. ev: each with its tenant-local day, tokens (input + output) and cost in
 *     BRL with the price and FX versions in force at its 15-minute bucket —
 *     the same versions the reports use — NULL when there is no BRL rate;
 *  3. limit_usage += the days' sums, for the tenant ('' row) and the user;
 *  4. the limits that apply to each fresh interaction (the tenant's budgets,
 *     the plan limits of the subscriptions in force at its time for the
 *     tenant or its user), in the period that holds it — late events count
 *     in their own period;
 *  5. per (limit, subject, period): the usage before the batch (this
 *     statement's snapshot: limit_usage without step 3); where that plus
 *     the batch's sum crosses a threshold, the running sum of the batch in
 *     batch order: a threshold p is crossed by the interaction at which
 *     used × 100 >= p × limit first holds, compared exactly (numeric);
 *  6. each crossing into alert_outbox under its deterministic id, ON CONFLICT
 *     DO NOTHING (announced once, whoever found it), and into
 *     webhook_deliveries when its budget has a webhook_url.
 *
 * Two aggregators counting the same tenant at once would each miss the
 * other's uncommitted usage (and a crossing made by both): the caller first
 * takes a transaction lock per tenant of the batch (tally__limits_lock), so
 * a tenant's batches are counted one after the other and each statement
 * sees the usage of all committed ones.
 */
#include <stdio.h>
#include <stdlib.h>

#include "limits_sql.h"
#include "pg_internal.h"
#include "tally_common.h"
#include "tally_pg.h"

/* Advisory lock class of tenants (ratings use 1953, migrations their own key). */
#define TENANT_LOCK_SEED "7301"

tally_code tally__limits_lock(tally_pg *pg, const char *tenant_array, tally_err *err) {
    const char *p[] = {tenant_array};
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
                                 " hashtextextended(t, " TENANT_LOCK_SEED ") AS k"
                                 " FROM unnest($1::text[]) AS t ORDER BY k) s",
                                 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "lock tenants", err);
    PQclear(res);
    return TALLY_OK;
}

/* $1 id, $2 tenant, $3 bucket, $4 model, $5 user, $10 input, $11 cached,
 * $12 output, $14 cost_usd, $16 time (the rollup arrays, plus the times). */
static const char COUNT_SQL[] =
    "WITH input AS ("
    "  SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::timestamptz[],"
    "    $4::text[], $5::text[], $10::bigint[], $11::bigint[], $12::bigint[], $14::numeric[],"
    "    $16::timestamptz[]) WITH ORDINALITY"
    "  AS t(id, tenant_id, bucket, model_id, user_id, input_tokens, cached_tokens,"
    "       output_tokens, cost_usd, at, ord)"
    "  ORDER BY id, ord"
    "), fresh AS ("
    "  SELECT * FROM input i"
    "  WHERE NOT EXISTS (SELECT 1 FROM agg_interactions a WHERE a.interaction_id = i.id)"
    "), zones AS ("
    "  SELECT DISTINCT f.tenant_id, coalesce(t.timezone, '" TALLY_DEFAULT_TIMEZONE "') AS zone"
    "  FROM fresh f LEFT JOIN tenants t USING (tenant_id)"
    "), ev AS ("
    "  SELECT f.ord, f.tenant_id, f.user_id, f.at, z.zone,"
    "    (f.bucket AT TIME ZONE z.zone)::date AS day,"
    "    f.input_tokens + f.output_tokens AS tokens,"
    "    coalesce(f.cost_usd, ((f.input_tokens - f.cached_tokens) * p.pi"
    "      + f.cached_tokens * p.pc + f.output_tokens * p.po) * 0.000001, 0) * x.per_usd AS brl"
    "  FROM fresh f JOIN zones z USING (tenant_id)"
    "  LEFT JOIN LATERAL (SELECT input_usd_per_1m AS pi, cached_input_usd_per_1m AS pc,"
    "      output_usd_per_1m AS po FROM model_prices m"
    "    WHERE m.model_id = f.model_id AND (m.tenant_key = f.tenant_id OR m.tenant_key = '')"
    "      AND m.effective_from <= f.bucket"
    "    ORDER BY m.tenant_key = '', m.effective_from DESC LIMIT 1) p ON true"
    "  LEFT JOIN LATERAL (SELECT per_usd FROM fx_rates"
    "    WHERE currency = 'BRL' AND effective_from <= f.bucket"
    "    ORDER BY effective_from DESC LIMIT 1) x ON true"
    "), days AS ("
    "  INSERT INTO limit_usage AS l (tenant_id, user_id, day, requests, tokens, brl, unpriced)"
    "  SELECT ev.tenant_id, k.user_id, ev.day, count(*), sum(ev.tokens), coalesce(sum(ev.brl), 0),"
    "    count(*) FILTER (WHERE ev.brl IS NULL)"
    "  FROM ev CROSS JOIN LATERAL (VALUES (ev.user_id), ('')) k(user_id)"
    "  GROUP BY 1, 2, 3"
    "  ON CONFLICT (tenant_id, user_id, day) DO UPDATE SET requests = l.requests + EXCLUDED.requests,"
    "    tokens = l.tokens + EXCLUDED.tokens, brl = l.brl + EXCLUDED.brl,"
    "    unpriced = l.unpriced + EXCLUDED.unpriced"
    "  RETURNING 1"
    "), lims AS (" TALLY__LIMITS_SQL(
        "zones") "), hits AS ("
                 /* One row per (limit, its subject, interaction): two subscriptions to
     * one plan are one limit. */
                 "  SELECT DISTINCT ON (l.tenant_id, l.limit_id, l.user_id, e.ord) l.*, e.ord, e.at, e.zone,"
                 "    coalesce(l.user_id, '') AS ukey,"
                 "    CASE l.metric WHEN 'requests' THEN 1 WHEN 'tokens' THEN e.tokens"
                 "      ELSE coalesce(e.brl, 0) END AS c," TALLY__PERIOD_SQL(
                     "e.day") ""
                              "  FROM ev e JOIN lims l ON l.tenant_id = e.tenant_id"
                              "    AND (l.user_id IS NULL OR l.user_id = e.user_id)"
                              "    AND (l.valid_from IS NULL OR (e.at >= l.valid_from"
                              "      AND (l.valid_to IS NULL OR e.at < l.valid_to)))"
                              "  ORDER BY l.tenant_id, l.limit_id, l.user_id, e.ord"
                              "), spans AS ("
                              "  SELECT DISTINCT tenant_id, ukey, ps, pe FROM hits"
                              "), before AS ("
                              "  SELECT s.tenant_id, s.ukey, s.ps, coalesce(sum(u.requests), 0) AS r,"
                              "    coalesce(sum(u.tokens), 0) AS t, coalesce(sum(u.brl), 0) AS b"
                              "  FROM spans s LEFT JOIN limit_usage u ON u.tenant_id = s.tenant_id AND u.user_id = s.ukey"
                              "    AND u.day >= s.ps AND u.day < s.pe"
                              "  GROUP BY 1, 2, 3"
                              /* Only the (limit, subject, period)s whose batch crosses a
                               * threshold are walked event by event: most cross nothing,
                               * and joining every hit to its span is what costs. */
                              "), keyed AS ("
                              "  SELECT tenant_id, limit_id, ukey, ps, min(metric) AS metric,"
                              "    min(lim) AS lim, min(thresholds) AS thresholds, sum(c) AS total"
                              "  FROM hits GROUP BY 1, 2, 3, 4"
                              "), due AS ("
                              "  SELECT k.tenant_id, k.limit_id, k.ukey, k.ps, CASE k.metric WHEN 'requests'"
                              "    THEN b.r WHEN 'tokens' THEN b.t ELSE b.b END AS base"
                              "  FROM keyed k JOIN before b USING (tenant_id, ukey, ps)"
                              "  WHERE EXISTS (SELECT 1 FROM unnest(k.thresholds) p"
                              "    WHERE (CASE k.metric WHEN 'requests' THEN b.r WHEN 'tokens' THEN b.t"
                              "      ELSE b.b END + k.total) * 100 >= p * k.lim"
                              "    AND CASE k.metric WHEN 'requests' THEN b.r WHEN 'tokens' THEN b.t"
                              "      ELSE b.b END * 100 < p * k.lim)"
                              "), walk AS ("
                              "  SELECT h.*, d.base + sum(h.c) OVER (PARTITION BY h.tenant_id, h.limit_id,"
                              "    h.ukey, h.ps ORDER BY h.ord ROWS UNBOUNDED PRECEDING) AS used"
                              "  FROM due d JOIN hits h USING (tenant_id, limit_id, ukey, ps)"
                              "), crossing AS ("
                              "  SELECT w.*, p AS threshold, w.at AS crossed_at"
                              "  FROM walk w CROSS JOIN LATERAL unnest(w.thresholds) p"
                              "  WHERE w.used * 100 >= p * w.lim AND (w.used - w.c) * 100 < p * w.lim"
                              "    AND (w.announced_from IS NULL"
                              "      OR (w.pe::timestamp AT TIME ZONE w.zone) > w.announced_from)"
                              "), " TALLY__OUTBOX_SQL(
                                  "crossing") "SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM days),"
                                              " (SELECT count(*) FROM raised)";

tally_code tally__limits_count(tally_pg *pg, const char *const *params16, int64_t *alerts,
                               tally_err *err) {
    /* All typed as text (each is cast where used): the statement does not
     * mention the rollup columns limits do not need, and PostgreSQL cannot
     * infer the type of a parameter never mentioned. */
    static const Oid types[16] = {25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25};
    PGresult *res = tally__pg_exec_prepared(pg, COUNT_SQL, 16, types, params16);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "count limits", err);
    if (alerts) *alerts = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);
    return TALLY_OK;
}
