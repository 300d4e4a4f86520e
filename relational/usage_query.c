/*
 * The usage report in SQL. Cost and time saved are computed here, at query
 * time, from the rollups' token sums × the price and FX versions known now,
 * so a price published late re-prices the past with no reprocessing.
 *
 * Price versions become ranges [effective_from, next effective_from) with
 * lead(); a rollup bucket takes the tenant's own range that covers it, else
 * the global one, else no price (cost 0). FX ranges likewise; no rate makes
 * cost_brl NULL, never 0. Buckets are 15 minutes, so a version takes effect
 * at the bucket its effective_from falls in (exact for versions on quarter
 * hours, which every whole-hour or whole-day effective_from is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "pg_internal.h"
#include "tally_common.h"
#include "tally_pg.h"

const char *const tally_metric_names[TALLY_M__COUNT] = {
    "requests", "errors",   "input_tokens",       "cached_tokens", "output_tokens", "audio_seconds",
    "cost_usd", "cost_brl", "time_saved_minutes", "likes",         "dislikes"};

_Static_assert(TALLY_USAGE__SOURCES == 1 + TALLY_HOURLY_ROLLUPS, "a source per hourly rollup");
const char *const tally_usage_source_names[TALLY_USAGE__SOURCES] = {"full", "model_hourly",
                                                                    "hourly"};
static atomic_llong source_count[TALLY_USAGE__SOURCES];

long long tally_usage_source_count(tally_usage_source src) {
    return atomic_load(&source_count[src]);
}

tally_code tally_usage_tenant(tally_pg *pg, const char *tenant_id, bool *known, char *zone,
                              size_t zone_len, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *p[] = {tenant_id};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "SELECT timezone FROM tenants WHERE tenant_id = $1"
        " UNION ALL SELECT NULL WHERE EXISTS"
        " (SELECT 1 FROM agg_interactions WHERE tenant_id = $1) LIMIT 1",
        1, NULL, p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "tenant", err);
    *known = PQntuples(res) > 0;
    snprintf(zone, zone_len, "%s",
             *known && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : TALLY_DEFAULT_TIMEZONE);
    PQclear(res);
    return TALLY_OK;
}

static const char *trunc_unit(tally_granularity g) { return tally_granularities[g].trunc_unit; }

/* The period starts of a window [f, t) as generate_series(...): local
 * timestamps for the calendar granularities (day, week, month), from the
 * one f falls in to the one just before t; for hours, instants from the
 * zone's hour start at or before f (f minus its local minutes), an hour
 * apart — real hours, so a repeated local hour is two. Not for "total". */
static void series_sql(tally_buf *sql, tally_granularity g, const char *f, const char *t,
                       const char *zone) {
    const char *unit = trunc_unit(g);
    if (tally_granularities[g].local)
        tally_buf_printf(sql,
                         "generate_series(date_trunc('%s', %s AT TIME ZONE %s),"
                         " (%s AT TIME ZONE %s) - interval '1 microsecond', interval '1 %s')",
                         unit, f, zone, t, zone, unit);
    else
        tally_buf_printf(sql,
                         "generate_series(%s - ((%s AT TIME ZONE %s)"
                         " - date_trunc('%s', %s AT TIME ZONE %s)),"
                         " %s - interval '1 microsecond', interval '1 %s')",
                         f, f, zone, unit, f, zone, t, unit);
}

/* SQL for one end as given, NULL when left out: $1 is the zone; the end's
 * own value is parameter $n. */
static void bound_sql(tally_buf *sql, const tally_bound *b, int n) {
    switch (b->kind) {
    case TALLY_BOUND_DATE:
        tally_buf_printf(sql, "($%d::date::timestamp AT TIME ZONE $1)", n);
        break;
    case TALLY_BOUND_INSTANT: tally_buf_printf(sql, "$%d::timestamptz", n); break;
    default: tally_buf_printf(sql, "NULL::timestamptz /* $%d unused */", n);
    }
}

tally_code tally_usage_window(tally_pg *pg, const char *zone, const tally_bound *from,
                              const tally_bound *to, tally_granularity g, tally_window *w,
                              tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char from_val[40] = "", to_val[40] = "";
    if (from->kind == TALLY_BOUND_DATE) snprintf(from_val, sizeof from_val, "%s", from->date);
    if (from->kind == TALLY_BOUND_INSTANT)
        tally_time_format_utc(from->instant, from_val, sizeof from_val);
    if (to->kind == TALLY_BOUND_DATE) snprintf(to_val, sizeof to_val, "%s", to->date);
    if (to->kind == TALLY_BOUND_INSTANT) tally_time_format_utc(to->instant, to_val, sizeof to_val);

    tally_buf sql = {0};
    tally_buf_puts(&sql, "SELECT (extract(epoch FROM f) * 1000000)::bigint,"
                         " (extract(epoch FROM t) * 1000000)::bigint,"
                         " tally_rfc3339(f, $1), tally_rfc3339(t, $1), ");
    if (trunc_unit(g)) {
        /* Periods that intersect [f, t). Windows too long to list are cut
         * short by LIMIT. */
        tally_buf_puts(&sql, "CASE WHEN f < t THEN (SELECT count(*) FROM (SELECT ");
        series_sql(&sql, g, "f", "t", "$1");
        tally_buf_puts(&sql, " LIMIT 100000) s) ELSE 0 END");
    } else {
        tally_buf_puts(&sql, "CASE WHEN f < t THEN 1 ELSE 0 END");
    }
    /* The defaults: no ends, the current month; from alone, until now
     * rounded up to the 15-minute grain; to alone, from the start of the
     * month of the window's last instant. */
    tally_buf_puts(
        &sql,
        " FROM (SELECT coalesce(f0, CASE WHEN t0 IS NULL"
        "   THEN date_trunc('month', now() AT TIME ZONE $1) AT TIME ZONE $1"
        "   ELSE date_trunc('month', (t0 AT TIME ZONE $1) - interval '1 microsecond')"
        "     AT TIME ZONE $1 END) AS f,"
        " coalesce(t0, CASE WHEN f0 IS NULL"
        "   THEN (date_trunc('month', now() AT TIME ZONE $1) + interval '1 month') AT TIME ZONE $1"
        "   ELSE to_timestamp(ceil(extract(epoch FROM now()) / 900) * 900) END) AS t"
        " FROM (SELECT ");
    bound_sql(&sql, from, 2);
    tally_buf_puts(&sql, " AS f0, ");
    bound_sql(&sql, to, 3);
    tally_buf_puts(&sql, " AS t0) b) w");
    const char *params[] = {zone, from_val[0] ? from_val : NULL, to_val[0] ? to_val : NULL};
    /* Typed as text: a default end does not mention its parameter, and
     * PostgreSQL only counts the parameters a statement mentions. */
    const Oid types[] = {25, 25, 25};
    PGresult *res = tally__pg_exec_prepared(pg, sql.data, 3, types, params);
    tally_buf_free(&sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = tally__pg_result_error(pg, res, "window", err);
        if (rc == TALLY_EINVAL)
            tally_err_set(err, TALLY_EINVAL, "from/to: not a valid date in zone %s", zone);
        return rc;
    }
    w->from = atoll(PQgetvalue(res, 0, 0));
    w->to = atoll(PQgetvalue(res, 0, 1));
    snprintf(w->from_text, sizeof w->from_text, "%s", PQgetvalue(res, 0, 2));
    snprintf(w->to_text, sizeof w->to_text, "%s", PQgetvalue(res, 0, 3));
    w->periods = atoll(PQgetvalue(res, 0, 4));
    PQclear(res);
    return TALLY_OK;
}

/* The periods of the window, from the one its start falls in: `starts`, the
 * UTC instants they begin at; `keys`, what a bucket's period is found by:
 * width_bucket(<period_key_sql>, keys); and `labels` and `ends`, each
 * period's start and end clipped to the window [$2, $3) and written in the
 * zone (computed once per period, not per row). For day/week/month the keys
 * are local times, so that a bucket goes to its local date even where DST
 * repeats a local midnight (e.g. America/Havana's fall-back at 01:00); for
 * hours they are the instants; for "total", one period, the window.
 * $2 from, $3 to, $4 zone. */
static void periods_sql(tally_buf *sql, tally_granularity g) {
    const char *unit = trunc_unit(g);
    if (!unit) {
        tally_buf_puts(sql,
                       "SELECT ARRAY[$2::timestamptz] AS starts, ARRAY[$2::timestamptz] AS keys,"
                       " ARRAY[tally_rfc3339($2::timestamptz, $4)] AS labels,"
                       " ARRAY[tally_rfc3339($3::timestamptz, $4)] AS ends");
        return;
    }
    char start[64], end[96];
    if (tally_granularities[g].local) {
        snprintf(start, sizeof start, "(l AT TIME ZONE $4)");
        snprintf(end, sizeof end, "((l + interval '1 %s') AT TIME ZONE $4)", unit);
    } else {
        snprintf(start, sizeof start, "l");
        snprintf(end, sizeof end, "(l + interval '1 %s')", unit);
    }
    tally_buf_printf(sql,
                     "SELECT array_agg(%s ORDER BY l) AS starts,"
                     " array_agg(l ORDER BY l) AS keys,"
                     " array_agg(tally_rfc3339(greatest(%s, $2::timestamptz), $4) ORDER BY l)"
                     " AS labels,"
                     " array_agg(tally_rfc3339(least(%s, $3::timestamptz), $4) ORDER BY l)"
                     " AS ends FROM ",
                     start, start, end);
    series_sql(sql, g, "$2::timestamptz", "$3::timestamptz", "$4");
    tally_buf_puts(sql, " l");
}

/* A rollup row's value to look up in the period keys (see periods_sql). */
static const char *period_key_sql(tally_granularity g) {
    return tally_granularities[g].local ? "(u.bucket AT TIME ZONE $4)" : "u.bucket";
}

/* Can the report be read from an hourly rollup? Only when no
 * boundary that matters falls inside an hour: the window's ends, its period
 * starts in the zone, and every price or FX version taking effect inside
 * the window. Then each hour lies wholly in one period and one version
 * segment, and the hourly rollup's answer equals the 15-minute one's. */
static tally_code hourly_is_exact(tally_pg *pg, const tally_usage_query *q, const char *from,
                                  const char *to, bool *exact, tally_err *err) {
    tally_buf sql = {0};
    tally_buf_puts(&sql, "WITH periods AS (");
    periods_sql(&sql, q->granularity);
    tally_buf_puts(
        &sql, "), edges AS ("
              "  SELECT unnest(starts) AS e FROM periods"
              "  UNION ALL SELECT $2::timestamptz UNION ALL SELECT $3::timestamptz"
              "  UNION ALL SELECT effective_from FROM model_prices"
              "    WHERE (tenant_key = $1 OR tenant_key = '') AND effective_from > $2::timestamptz"
              "    AND effective_from < $3::timestamptz"
              "  UNION ALL SELECT effective_from FROM fx_rates WHERE currency = 'BRL'"
              "    AND effective_from > $2::timestamptz AND effective_from < $3::timestamptz"
              ") SELECT bool_and(date_trunc('hour', e, 'UTC') = e) FROM edges");
    const char *params[] = {q->tenant_id, from, to, q->zone};
    const Oid types[] = {25, 25, 25, 25};
    PGresult *res = tally__pg_exec_prepared(pg, sql.data, 4, types, params);
    tally_buf_free(&sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "usage plan", err);
    /* The first period may start before the window (from mid-period): that
     * start is no boundary inside the window, but it is on an hour whenever
     * the zone's midnights are, so checking it costs nothing in practice. */
    *exact = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return TALLY_OK;
}

/* The narrowest hourly rollup that keeps every group and every filtered
 * dimension of q (FULL: none). */
static tally_usage_source narrowest_hourly(const tally_usage_query *q) {
    for (int k = 0; k < TALLY_HOURLY_ROLLUPS; k++) {
        bool keeps_all = true;
        /* Column names are no substrings of one another. */
        for (int i = 0; i < q->n_groups && keeps_all; i++)
            keeps_all = strstr(tally_hourly_rollups[k].columns,
                               tally_groups[q->groups[i]].column) != NULL;
        for (int g = 0; g < TALLY_GROUP__COUNT && keeps_all; g++)
            keeps_all = !q->filter[g] ||
                        strstr(tally_hourly_rollups[k].columns, tally_groups[g].column) != NULL;
        if (keeps_all) return (tally_usage_source)(k + 1);
    }
    return TALLY_USAGE_FULL;
}

static void group_list(tally_buf *sql, const tally_usage_query *q, const char *prefix) {
    for (int i = 0; i < q->n_groups; i++)
        tally_buf_printf(sql, ", %s%s", prefix, tally_groups[q->groups[i]].column);
}

static void build_sql(tally_buf *sql, const tally_usage_query *q, tally_usage_source src) {
    /* $1 tenant, $2 from, $3 to, $4 zone, then one comma list per filtered
     * dimension (in dimension order).
     * 1. seg: the rollup rows of the window summed per period, version
     *    segment (the stretch between two consecutive price/FX version
     *    starts) and group — one price lookup per seg row instead of one per
     *    rollup row; b is a bucket of the segment, whose versions are all
     *    the segment's.
     * 2. priced: each seg row × the tenant's price version in force at b,
     *    else the global one, else none; × the FX version in force at b.
     * 3. the rows per (period, groups) and the totals (GROUPING SETS). */
    tally_buf_puts(sql, "WITH periods AS (");
    periods_sql(sql, q->granularity);
    tally_buf_puts(
        sql,
        "), cuts AS ("
        "  SELECT array_agg(e ORDER BY e) AS at FROM ("
        "    SELECT effective_from AS e FROM model_prices WHERE tenant_key = $1 OR tenant_key = ''"
        "    UNION SELECT effective_from FROM fx_rates WHERE currency = 'BRL'"
        "    UNION SELECT '-infinity') c"
        "), seg AS ("
        "  SELECT width_bucket(");
    tally_buf_puts(sql, period_key_sql(q->granularity));
    tally_buf_puts(sql, ", periods.keys) AS pi,"
                        "    width_bucket(u.bucket, cuts.at) AS si, min(u.bucket) AS b, model_id");
    /* Prices are per model: seg keeps the model whether grouped by or not. */
    int n_keys = 4;
    for (int i = 0; i < q->n_groups; i++)
        if (q->groups[i] != TALLY_GROUP_MODEL) {
            tally_buf_printf(sql, ", %s", tally_groups[q->groups[i]].column);
            n_keys++;
        }
    for (int m = 0; m < TALLY_ROLLUP__COUNT; m++)
        tally_buf_printf(sql, ", sum(%s) AS %s", tally_rollup_metrics[m].column,
                         tally_rollup_metrics[m].column);
    tally_buf_printf(sql,
                     "  FROM %s u, periods, cuts"
                     "  WHERE u.tenant_id = $1 AND u.bucket >= $2 AND u.bucket < $3",
                     src == TALLY_USAGE_FULL ? "usage_rollup"
                                             : tally_hourly_rollups[src - 1].table);
    /* Filters: AND across dimensions, OR within one. A value is never '',
     * so a row without an agent or channel matches no filter on it. */
    int n_param = 4;
    for (int g = 0; g < TALLY_GROUP__COUNT; g++)
        if (q->filter[g])
            tally_buf_printf(sql, " AND u.%s = ANY (string_to_array($%d::text, ','))",
                             tally_groups[g].column, ++n_param);
    tally_buf_puts(sql, "  GROUP BY 1, 2");
    for (int k = 4; k <= n_keys; k++) tally_buf_printf(sql, ", %d", k);
    tally_buf_puts(
        sql,
        "), tp AS ("
        "  SELECT model_id, effective_from AS f, lead(effective_from) OVER w AS t,"
        "    input_usd_per_1m AS pi, cached_input_usd_per_1m AS pc, output_usd_per_1m AS po,"
        "    minutes_saved_per_100_output_tokens AS ms"
        "  FROM model_prices WHERE tenant_key = $1"
        "  WINDOW w AS (PARTITION BY model_id ORDER BY effective_from)"
        "), gp AS ("
        "  SELECT model_id, effective_from AS f, lead(effective_from) OVER w AS t,"
        "    input_usd_per_1m AS pi, cached_input_usd_per_1m AS pc, output_usd_per_1m AS po,"
        "    minutes_saved_per_100_output_tokens AS ms"
        "  FROM model_prices WHERE tenant_key = ''"
        "  WINDOW w AS (PARTITION BY model_id ORDER BY effective_from)"
        "), fx AS ("
        "  SELECT effective_from AS f, lead(effective_from) OVER (ORDER BY effective_from) AS t,"
        "    per_usd FROM fx_rates WHERE currency = 'BRL'"
        "), priced AS ("
        "  SELECT r.*,"
        "    CASE WHEN tp.model_id IS NOT NULL THEN"
        "      ((r.priced_input_tokens - r.priced_cached_tokens) * tp.pi"
        "       + r.priced_cached_tokens * tp.pc + r.priced_output_tokens * tp.po) / 1000000"
        "    WHEN gp.model_id IS NOT NULL THEN"
        "      ((r.priced_input_tokens - r.priced_cached_tokens) * gp.pi"
        "       + r.priced_cached_tokens * gp.pc + r.priced_output_tokens * gp.po) / 1000000"
        "    ELSE 0 END + r.supplied_cost_usd AS cost,"
        "    coalesce(tp.ms, gp.ms, 0) * r.unsaved_output_tokens / 100 + r.supplied_time_saved"
        "      AS saved,"
        "    fx.per_usd"
        "  FROM seg r"
        "  LEFT JOIN tp ON tp.model_id = r.model_id AND r.b >= tp.f AND (tp.t IS NULL OR r.b < tp.t)"
        "  LEFT JOIN gp ON gp.model_id = r.model_id AND r.b >= gp.f AND (gp.t IS NULL OR r.b < gp.t)"
        "  LEFT JOIN fx ON r.b >= fx.f AND (fx.t IS NULL OR r.b < fx.t)"
        ") SELECT GROUPING(pi) = 1, (SELECT labels[pi] FROM periods),"
        " (SELECT ends[pi] FROM periods)");
    for (int i = 0; i < q->n_groups; i++) {
        const char *col = tally_groups[q->groups[i]].column;
        if (tally_groups[q->groups[i]].blank_is_null)
            tally_buf_printf(sql, ", nullif(%s, '')", col);
        else
            tally_buf_printf(sql, ", %s", col);
    }
    tally_buf_puts(sql, ", sum(requests), sum(errors), sum(input_tokens), sum(cached_tokens),"
                        " sum(output_tokens), sum(audio_seconds), sum(cost),"
                        " CASE WHEN bool_and(per_usd IS NOT NULL) THEN sum(cost * per_usd) END,"
                        " sum(saved), sum(likes), sum(dislikes)"
                        " FROM priced GROUP BY GROUPING SETS ((pi");
    group_list(sql, q, "");
    tally_buf_puts(sql, "), ()) ORDER BY GROUPING(pi), pi");
    /* Byte order (COLLATE "C") so that the order does not depend on the
     * server's locale; NULL groups sort last. */
    for (int i = 0; i < q->n_groups; i++)
        tally_buf_printf(sql, ", nullif(%s, '') COLLATE \"C\" NULLS LAST",
                         tally_groups[q->groups[i]].column);
}

tally_code tally_usage_rows(tally_pg *pg, const tally_usage_query *q,
                            void (*fn)(const tally_usage_row *row, void *arg), void *arg,
                            tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char from[40], to[40];
    tally_time_format_utc(q->window->from, from, sizeof from);
    tally_time_format_utc(q->window->to, to, sizeof to);
    tally_usage_source src = narrowest_hourly(q);
    if (src != TALLY_USAGE_FULL) {
        bool exact = false;
        if ((rc = hourly_is_exact(pg, q, from, to, &exact, err)) != TALLY_OK) return rc;
        if (!exact) src = TALLY_USAGE_FULL;
    }
    atomic_fetch_add(&source_count[src], 1);
    tally_buf sql = {0};
    build_sql(&sql, q, src);
    const char *params[4 + TALLY_GROUP__COUNT] = {q->tenant_id, from, to, q->zone};
    int n_params = 4;
    for (int g = 0; g < TALLY_GROUP__COUNT; g++)
        if (q->filter[g]) params[n_params++] = q->filter[g];
    PGresult *res = tally__pg_exec_prepared(pg, sql.data, n_params, NULL, params);
    tally_buf_free(&sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "usage", err);
    int rows = PQntuples(res), base = 3 + q->n_groups;
    bool saw_total = false;
    for (int r = 0; r < rows; r++) {
        tally_usage_row row = {0};
        row.is_total = PQgetvalue(res, r, 0)[0] == 't';
        saw_total |= row.is_total;
        row.period_start = PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1);
        row.period_end = PQgetisnull(res, r, 2) ? NULL : PQgetvalue(res, r, 2);
        for (int g = 0; g < q->n_groups; g++)
            row.group[g] = PQgetisnull(res, r, 3 + g) ? NULL : PQgetvalue(res, r, 3 + g);
        for (int m = 0; m < TALLY_M__COUNT; m++)
            row.metric[m] = PQgetisnull(res, r, base + m) ? NULL : PQgetvalue(res, r, base + m);
        fn(&row, arg);
    }
    PQclear(res);
    if (!saw_total) {
        /* No usage at all: GROUPING SETS yields no row for (); totals are zeros. */
        tally_usage_row total = {.is_total = true};
        static const char *const zeros[TALLY_M__COUNT] = {"0", "0", "0", "0", "0", "0",
                                                          "0", "0", "0", "0", "0"};
        for (int m = 0; m < TALLY_M__COUNT; m++) total.metric[m] = zeros[m];
        fn(&total, arg);
    }
    return TALLY_OK;
}
