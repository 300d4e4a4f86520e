/*
 * Reading limits (GET /v1/tenants/{id}/limits, `tally limits`): the limits a
 * tenant — and one of its users — has at an instant, each with the usage of
 * the period that holds that instant, and what stands in the subject's way.
 * Everything is compared exactly here, in numeric; analytics/ only shapes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits_sql.h"
#include "pg_internal.h"
#include "tally_common.h"
#include "tally_pg.h"

/* $1 tenant, $2 user (NULL: the tenant's own limits only), $3 at. One
 * statement, one round trip (this is the gateway's hot path): the first row
 * is the subject's standing — the zone, `at` written in it, whether the
 * tenant is known (upserted, or with usage counted) and suspended, the
 * suspended subscriptions in force at `at` that apply (the tenant's or the
 * user's) — then one row per limit. All columns are text. */
static const char LIMITS_SQL[] =
    "WITH t AS ("
    "  SELECT $1::text AS tenant_id, coalesce((SELECT timezone FROM tenants"
    "    WHERE tenant_id = $1), '" TALLY_DEFAULT_TIMEZONE "') AS zone"
    "), lims AS (" TALLY__LIMITS_SQL(
        "t") "), p AS ("
             "  SELECT DISTINCT ON (l.source, l.limit_id, l.user_id) l.limit_id, l.source, l.metric,"
             "    l.user_id, l.period, l.lim, l.thresholds, l.pause_at_limit,"
             "    " TALLY__PERIOD_SQL(
                 "d.day") ""
                          "  FROM lims l, (SELECT ($3::timestamptz AT TIME ZONE zone)::date AS day FROM t) d"
                          "  WHERE (l.user_id IS NULL OR l.user_id = $2::text)"
                          "    AND (l.valid_from IS NULL OR ($3::timestamptz >= l.valid_from"
                          "      AND (l.valid_to IS NULL OR $3::timestamptz < l.valid_to)))"
                          "  ORDER BY l.source, l.limit_id, l.user_id"
                          "), u AS ("
                          "  SELECT p.*, coalesce(s.used, 0) AS used, coalesce(s.unpriced, 0) AS unpriced FROM p"
                          "  LEFT JOIN LATERAL (SELECT sum(CASE p.metric WHEN 'requests' THEN x.requests"
                          "      WHEN 'tokens' THEN x.tokens ELSE x.brl END) AS used,"
                          "      sum(x.unpriced) FILTER (WHERE p.metric = 'brl') AS unpriced"
                          "    FROM limit_usage x WHERE x.tenant_id = $1 AND x.user_id = coalesce(p.user_id, '')"
                          "      AND x.day >= p.ps AND x.day < p.pe) s ON true"
                          ") SELECT * FROM ("
                          " SELECT 0 AS k, t.zone AS c1, tally_rfc3339($3::timestamptz, t.zone) AS c2,"
                          "  (EXISTS (SELECT 1 FROM tenants WHERE tenant_id = $1)"
                          "   OR EXISTS (SELECT 1 FROM limit_usage WHERE tenant_id = $1))::text AS c3,"
                          "  coalesce((SELECT status = 'suspended' FROM tenants WHERE tenant_id = $1), false)::text"
                          "    AS c4,"
                          "  array_to_string(ARRAY(SELECT subscription_id FROM subscriptions"
                          "    WHERE tenant_id = $1 AND status = 'suspended' AND (user_id IS NULL OR user_id = $2::text)"
                          "      AND starts_at <= $3::timestamptz AND (ends_at IS NULL OR $3::timestamptz < ends_at)"
                          "    ORDER BY subscription_id COLLATE \"C\"), ','),"
                          "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
                          " FROM t"
                          " UNION ALL"
                          " SELECT 1, u.limit_id, u.source, u.metric, u.user_id, u.period,"
                          "  tally_rfc3339(u.ps::timestamp AT TIME ZONE t.zone, t.zone),"
                          "  tally_rfc3339(u.pe::timestamp AT TIME ZONE t.zone, t.zone),"
                          "  u.lim::text, u.used::text, greatest(u.lim - u.used, 0)::text,"
                          "  (CASE WHEN u.lim > 0 THEN u.used * 100 / u.lim END)::text,"
                          "  array_to_string(u.thresholds, ','),"
                          "  array_to_string(ARRAY(SELECT th FROM unnest(u.thresholds) th"
                          "    WHERE u.used * 100 >= th * u.lim ORDER BY th), ','),"
                          "  u.unpriced::text, u.pause_at_limit::text, (u.pause_at_limit AND u.used >= u.lim)::text,"
                          "  (u.used >= u.lim)::text"
                          /* limit rows: c1 limit_id, c2 source, c4 user_id */
                          " FROM u, t) r ORDER BY k, c2, c1 COLLATE \"C\", c4 NULLS FIRST";

/* "80,90,100" into ints. */
static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        out[n++] = (int)strtol(s, (char **)&s, 10);
        if (*s == ',') s++;
    }
    return n;
}

tally_code tally_limits_read(tally_pg *pg, const char *tenant_id, const char *user_id,
                             tally_usec at, tally_limits_standing *standing,
                             void (*fn)(const tally_limit_row *row, void *arg), void *arg,
                             tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char at_text[40];
    tally_time_format_utc(at, at_text, sizeof at_text);
    const char *params[] = {tenant_id, user_id, at_text};
    PGresult *res = tally__pg_exec_prepared(pg, LIMITS_SQL, 3, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "limits", err);
    memset(standing, 0, sizeof *standing);
    snprintf(standing->zone, sizeof standing->zone, "%s", PQgetvalue(res, 0, 1));
    snprintf(standing->at, sizeof standing->at, "%s", PQgetvalue(res, 0, 2));
    standing->known = PQgetvalue(res, 0, 3)[0] == 't';
    standing->tenant_suspended = PQgetvalue(res, 0, 4)[0] == 't';
    snprintf(standing->suspended_subscriptions, sizeof standing->suspended_subscriptions, "%s",
             PQgetvalue(res, 0, 5));
    for (int r = 1; r < PQntuples(res); r++) {
        tally_limit_row row = {0};
        const char *v[17];
        for (int c = 0; c < 17; c++)
            v[c] = PQgetisnull(res, r, c + 1) ? NULL : PQgetvalue(res, r, c + 1);
        row.limit_id = v[0];
        row.source = v[1];
        row.metric = v[2];
        row.user_id = v[3];
        row.period = v[4];
        row.period_start = v[5];
        row.period_end = v[6];
        row.limit = v[7];
        row.used = v[8];
        row.remaining = v[9];
        row.percent = v[10];
        row.n_thresholds = parse_list(v[11], row.thresholds, TALLY_MAX_THRESHOLDS);
        row.n_reached = parse_list(v[12], row.reached, TALLY_MAX_THRESHOLDS);
        row.unpriced = atoll(v[13]);
        row.pause_at_limit = v[14][0] == 't';
        row.paused = v[15][0] == 't';
        row.at_limit = v[16][0] == 't';
        fn(&row, arg);
    }
    PQclear(res);
    return TALLY_OK;
}
