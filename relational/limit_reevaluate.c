/*
 * Limits moved by something other than an interaction (docs/limits.md): a
 * price or FX version published later re-prices the BRL usage of the days
 * from its effective_from; a budget, plan or subscription changes a limit.
 * Triggers queue such changes in limit_changes; this drains the queue in one
 * transaction: lock the tenants concerned (the aggregator takes the same
 * locks, so no batch is counted half before and half after), recompute
 * limit_usage.brl of the days concerned from the rollups (the same prices at
 * the same 15-minute buckets as counting used), then record every threshold
 * now reached and not yet announced, with crossed_at = when the change was
 * stored. An alert already recorded is never withdrawn or repeated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits_sql.h"
#include "pg_internal.h"
#include "tally_common.h"
#include "tally_pg.h"

/* The changes taken, per tenant: the earliest re-priced instant (NULL: none
 * to re-price), and the earliest instant whose periods are looked at again
 * (a version's effective_from, a subscription's start, a budget's or plan's
 * event time: usage counted before its limit was stored). All-tenant
 * changes spread to every tenant with usage or limits. $1 the ids of the
 * changes taken (those committed when the drain began; one committed later
 * waits for the next drain). Ordered by tenant (the lock order). */
static const char TAKE_SQL[] =
    "WITH c AS (SELECT * FROM limit_changes WHERE id = ANY($1::bigint[])),"
    " everyone AS (SELECT DISTINCT tenant_id FROM limit_usage WHERE user_id = ''"
    "   UNION SELECT tenant_id FROM budgets UNION SELECT tenant_id FROM subscriptions),"
    " per AS (SELECT c.tenant_id, c.kind, c.since FROM c WHERE c.tenant_id IS NOT NULL"
    "   UNION ALL SELECT e.tenant_id, c.kind, c.since FROM c, everyone e WHERE c.tenant_id IS NULL)"
    " SELECT tenant_id, min(since) FILTER (WHERE kind = 'reprice'), min(since)"
    " FROM per GROUP BY tenant_id ORDER BY tenant_id";

/* $1 tenants, $2 since (NULL: no re-pricing for that tenant). */
static const char REPRICE_SQL[] =
    "WITH t AS ("
    "  SELECT x.tenant_id, (x.since AT TIME ZONE z.zone)::date AS since_day, z.zone"
    "  FROM unnest($1::text[], $2::timestamptz[]) x(tenant_id, since)"
    "  CROSS JOIN LATERAL (SELECT coalesce((SELECT timezone FROM tenants tn"
    "    WHERE tn.tenant_id = x.tenant_id), '" TALLY_DEFAULT_TIMEZONE "') AS zone) z"
    "  WHERE x.since IS NOT NULL"
    "), r AS ("
    "  SELECT u.tenant_id, u.user_id, (u.bucket AT TIME ZONE t.zone)::date AS day, u.requests,"
    "    (coalesce(((u.priced_input_tokens - u.priced_cached_tokens) * p.pi"
    "      + u.priced_cached_tokens * p.pc + u.priced_output_tokens * p.po) * 0.000001, 0)"
    "      + u.supplied_cost_usd) * x.per_usd AS brl"
    "  FROM t JOIN usage_rollup u ON u.tenant_id = t.tenant_id"
    "    AND u.bucket >= (t.since_day::timestamp AT TIME ZONE t.zone)"
    "  LEFT JOIN LATERAL (SELECT input_usd_per_1m AS pi, cached_input_usd_per_1m AS pc,"
    "      output_usd_per_1m AS po FROM model_prices m"
    "    WHERE m.model_id = u.model_id AND (m.tenant_key = u.tenant_id OR m.tenant_key = '')"
    "      AND m.effective_from <= u.bucket"
    "    ORDER BY m.tenant_key = '', m.effective_from DESC LIMIT 1) p ON true"
    "  LEFT JOIN LATERAL (SELECT per_usd FROM fx_rates"
    "    WHERE currency = 'BRL' AND effective_from <= u.bucket"
    "    ORDER BY effective_from DESC LIMIT 1) x ON true"
    "), s AS ("
    "  SELECT r.tenant_id, k.user_id, r.day, coalesce(sum(r.brl), 0) AS brl,"
    "    coalesce(sum(r.requests) FILTER (WHERE r.brl IS NULL), 0) AS unpriced"
    "  FROM r CROSS JOIN LATERAL (VALUES (r.user_id), ('')) k(user_id) GROUP BY 1, 2, 3"
    ") UPDATE limit_usage l SET brl = s.brl, unpriced = s.unpriced FROM s"
    " WHERE l.tenant_id = s.tenant_id AND l.user_id = s.user_id AND l.day = s.day";

/* $1 tenants, $2 since, $3 when the change was stored. The periods looked at:
 * those holding a day with usage since `since` (NULL: none), and the one
 * holding $3. */
static const char EVALUATE_SQL[] =
    "WITH t AS ("
    "  SELECT x.tenant_id, x.since, z.zone"
    "  FROM unnest($1::text[], $2::timestamptz[]) x(tenant_id, since)"
    "  CROSS JOIN LATERAL (SELECT coalesce((SELECT timezone FROM tenants tn"
    "    WHERE tn.tenant_id = x.tenant_id), '" TALLY_DEFAULT_TIMEZONE "') AS zone) z"
    "), d AS ("
    "  SELECT DISTINCT u.tenant_id, u.day FROM t JOIN limit_usage u"
    "    ON u.tenant_id = t.tenant_id AND u.user_id = ''"
    "  WHERE t.since IS NOT NULL AND u.day >= (t.since AT TIME ZONE t.zone)::date"
    "  UNION SELECT t.tenant_id, ($3::timestamptz AT TIME ZONE t.zone)::date FROM t"
    "), lims AS (" TALLY__LIMITS_SQL(
        "t") "), per AS ("
             "  SELECT DISTINCT tenant_id, limit_id, user_id, ukey, metric, period, lim, thresholds,"
             "    pause_at_limit, webhook_url, zone, ps, pe, announced_from"
             "  FROM (SELECT l.*, t.zone, coalesce(l.user_id, '') AS ukey," TALLY__PERIOD_SQL(
                 "d.day") ""
                          "    FROM lims l JOIN t USING (tenant_id) JOIN d USING (tenant_id)) q"
                          "  WHERE valid_from IS NULL OR (valid_from < (pe::timestamp AT TIME ZONE zone)"
                          "    AND (valid_to IS NULL OR valid_to > (ps::timestamp AT TIME ZONE zone)))"
                          "), used AS ("
                          "  SELECT p.*, coalesce((SELECT sum(CASE p.metric WHEN 'requests' THEN x.requests"
                          "      WHEN 'tokens' THEN x.tokens ELSE x.brl END) FROM limit_usage x"
                          "    WHERE x.tenant_id = p.tenant_id AND x.user_id = p.ukey"
                          "      AND x.day >= p.ps AND x.day < p.pe), 0) AS used"
                          "  FROM per p"
                          "), crossing AS ("
                          "  SELECT u.*, th AS threshold, $3::timestamptz AS crossed_at"
                          "  FROM used u CROSS JOIN LATERAL unnest(u.thresholds) th"
                          "  WHERE u.used * 100 >= th * u.lim AND u.used > 0"
                          "    AND (u.announced_from IS NULL"
                          "      OR (u.pe::timestamp AT TIME ZONE u.zone) > u.announced_from)"
                          "), " TALLY__OUTBOX_SQL("crossing") "SELECT count(*) FROM raised";

static tally_code drain(tally_pg *pg, int *changes, tally_err *err) {
    PGresult *res = PQexec(pg->conn, "SELECT array_agg(id), count(*), max(applied_at) FROM"
                                     " limit_changes");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read limit changes", err);
    if (PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return TALLY_OK;
    }
    char applied[64];
    char *ids = strdup(PQgetvalue(res, 0, 0));
    *changes = atoi(PQgetvalue(res, 0, 1));
    snprintf(applied, sizeof applied, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);

    if (!ids) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return TALLY_ENOMEM;
    }
    const char *p1[] = {ids};
    res = PQexecParams(pg->conn, TAKE_SQL, 1, NULL, p1, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        free(ids);
        return tally__pg_result_error(pg, res, "limit changes per tenant", err);
    }
    tally_buf tenants = {0}, reprice = {0}, since = {0};
    tally_buf_putc(&tenants, '{');
    tally_buf_putc(&reprice, '{');
    tally_buf_putc(&since, '{');
    for (int r = 0; r < PQntuples(res); r++) {
        tally_buf_pg_array_elem(&tenants, PQgetvalue(res, r, 0), r == 0);
        tally_buf_pg_array_elem(&reprice, PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1),
                                r == 0);
        tally_buf_pg_array_elem(&since, PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2),
                                r == 0);
    }
    tally_buf_putc(&tenants, '}');
    tally_buf_putc(&reprice, '}');
    tally_buf_putc(&since, '}');
    PQclear(res);

    const char *p2[] = {tenants.data, reprice.data};
    const char *p3[] = {tenants.data, since.data, applied};
    tally_code rc = tally__limits_lock(pg, tenants.data, err);
    if (rc == TALLY_OK) rc = tally__pg_exec_params(pg, "re-price limits", REPRICE_SQL, 2, p2, err);
    if (rc == TALLY_OK) {
        res = PQexecParams(pg->conn, EVALUATE_SQL, 3, NULL, p3, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rc = tally__pg_result_error(pg, res, "re-evaluate limits", err);
        else
            PQclear(res);
    }
    if (rc == TALLY_OK)
        rc = tally__pg_exec_params(pg, "drop limit changes",
                                   "DELETE FROM limit_changes WHERE id = ANY($1::bigint[])", 1, p1,
                                   err);
    tally_buf_free(&tenants);
    tally_buf_free(&reprice);
    tally_buf_free(&since);
    free(ids);
    return rc;
}

tally_code tally_limits_reevaluate(tally_pg *pg, int *changes, tally_err *err) {
    *changes = 0;
    tally_code rc = tally_pg_begin(pg, err);
    if (rc != TALLY_OK) return rc;
    rc = drain(pg, changes, err);
    if (rc == TALLY_OK) rc = tally_pg_commit(pg, err);
    if (rc != TALLY_OK) {
        tally_pg_rollback(pg);
        *changes = 0;
    }
    return rc;
}
