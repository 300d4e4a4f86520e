/*
 * Counting interactions exactly once. The batch travels as PostgreSQL arrays
 * (one per column) into a single statement: DISTINCT ON drops copies inside
 * the batch, INSERT … ON CONFLICT DO NOTHING RETURNING on agg_interactions
 * keeps only ids never seen, and only those are summed into usage_rollup.
 * The offsets follow in the same transaction, so a crash anywhere replays
 * exactly the batches that were not committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits_sql.h"
#include "pg_internal.h"
#include "tally_common.h"
#include "tally_pg.h"

const tally_rollup_metric tally_rollup_metrics[TALLY_ROLLUP__COUNT] = {
    {"requests", "count(*)"},
    {"errors", "count(*) FILTER (WHERE is_error)"},
    {"input_tokens", "sum(input_tokens)"},
    {"cached_tokens", "sum(cached_tokens)"},
    {"output_tokens", "sum(output_tokens)"},
    {"audio_seconds", "coalesce(sum(audio_seconds), 0)"},
    /* tokens of the interactions priced at query time (no cost_usd of their own) */
    {"priced_input_tokens", "coalesce(sum(input_tokens) FILTER (WHERE cost_usd IS NULL), 0)"},
    {"priced_cached_tokens", "coalesce(sum(cached_tokens) FILTER (WHERE cost_usd IS NULL), 0)"},
    {"priced_output_tokens", "coalesce(sum(output_tokens) FILTER (WHERE cost_usd IS NULL), 0)"},
    {"supplied_cost_usd", "coalesce(sum(cost_usd), 0)"},
    /* output tokens whose time saved comes from the model's rate */
    {"unsaved_output_tokens", "coalesce(sum(output_tokens) FILTER (WHERE time_saved IS NULL), 0)"},
    {"supplied_time_saved", "coalesce(sum(time_saved), 0)"},
    {"likes", "sum(likes)"},
    {"dislikes", "sum(dislikes)"},
};
const tally_hourly_rollup tally_hourly_rollups[TALLY_HOURLY_ROLLUPS] = {
    {"usage_rollup_model_hourly", "model_id"},
    {"usage_rollup_hourly", "model_id, agent_id, kind, channel"},
};


/* "INSERT INTO table (keys, metrics) select ON CONFLICT (keys) DO UPDATE SET
 * m = t.m + EXCLUDED.m, …": select yields the keys, then the metrics. */
static void upsert_sql(tally_buf *sql, const char *table, const char *keys, const char *select) {
    tally_buf_printf(sql, "  INSERT INTO %s AS t (%s", table, keys);
    for (size_t i = 0; i < TALLY_ROLLUP__COUNT; i++)
        tally_buf_printf(sql, ", %s", tally_rollup_metrics[i].column);
    tally_buf_printf(sql, ") %s ON CONFLICT (%s) DO UPDATE SET ", select, keys);
    for (size_t i = 0; i < TALLY_ROLLUP__COUNT; i++)
        tally_buf_printf(sql, "%s%s = t.%s + EXCLUDED.%s", i ? ", " : "",
                         tally_rollup_metrics[i].column, tally_rollup_metrics[i].column,
                         tally_rollup_metrics[i].column);
    tally_buf_puts(sql, " RETURNING 1");
}

/* The counting statement: built once, on first use (by the aggregator's one
 * thread). */
static const char *apply_sql(void) {
    static tally_buf sql;
    if (sql.len) return sql.data;
    tally_buf_puts(
        &sql,
        "WITH input AS ("
        "  SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::timestamptz[],"
        "    $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[],"
        "    $10::bigint[], $11::bigint[], $12::bigint[], $13::numeric[], $14::numeric[],"
        "    $15::numeric[])"
        "  AS t(id, tenant_id, bucket, model_id, user_id, agent_id, kind, channel, is_error,"
        "       input_tokens, cached_tokens, output_tokens, audio_seconds, cost_usd, time_saved)"
        "  ORDER BY id"
        "), fresh AS ("
        "  INSERT INTO agg_interactions (interaction_id, tenant_id, bucket, model_id, user_id,"
        "    agent_id, kind, channel)"
        "  SELECT id, tenant_id, bucket, model_id, user_id, agent_id, kind, channel FROM input"
        "  ON CONFLICT DO NOTHING RETURNING interaction_id"
        "), rated AS ("
        /* Ratings that arrived before their interaction count from now on. */
        "  SELECT f.interaction_id, f.tenant_id,"
        "    count(*) FILTER (WHERE f.rating = 'like') AS likes,"
        "    count(*) FILTER (WHERE f.rating = 'dislike') AS dislikes"
        "  FROM agg_feedback f JOIN fresh n ON n.interaction_id = f.interaction_id"
        "  GROUP BY 1, 2"
        "), counted AS ("
        "  SELECT i.*, coalesce(r.likes, 0) AS likes, coalesce(r.dislikes, 0) AS dislikes"
        "  FROM input i JOIN fresh f ON f.interaction_id = i.id"
        "  LEFT JOIN rated r ON r.interaction_id = i.id AND r.tenant_id = i.tenant_id"
        "), sums AS ("
        "  SELECT tenant_id, bucket, model_id, user_id, agent_id, kind, channel");
    for (size_t i = 0; i < TALLY_ROLLUP__COUNT; i++)
        tally_buf_printf(&sql, ", %s AS %s", tally_rollup_metrics[i].sum,
                         tally_rollup_metrics[i].column);
    tally_buf_puts(&sql, "  FROM counted GROUP BY 1, 2, 3, 4, 5, 6, 7"
                         "), added AS (");
    static const char WIDE_KEYS[] = "tenant_id, bucket, model_id, user_id, agent_id, kind, channel";
    tally_buf wide = {0};
    tally_buf_printf(&wide, "SELECT %s", WIDE_KEYS); /* by name: sums' order is not relied on */
    for (size_t i = 0; i < TALLY_ROLLUP__COUNT; i++)
        tally_buf_printf(&wide, ", %s", tally_rollup_metrics[i].column);
    tally_buf_puts(&wide, " FROM sums");
    upsert_sql(&sql, "usage_rollup", WIDE_KEYS, wide.data);
    tally_buf_free(&wide);
    for (int k = 0; k < TALLY_HOURLY_ROLLUPS; k++) {
        const tally_hourly_rollup *h = &tally_hourly_rollups[k];
        tally_buf sel = {0}, keys = {0};
        tally_buf_printf(&sel, "SELECT tenant_id, date_trunc('hour', bucket, 'UTC'), %s",
                         h->columns);
        for (size_t i = 0; i < TALLY_ROLLUP__COUNT; i++)
            tally_buf_printf(&sel, ", sum(%s)", tally_rollup_metrics[i].column);
        tally_buf_printf(&sel, " FROM sums GROUP BY tenant_id, 2, %s", h->columns);
        tally_buf_printf(&keys, "tenant_id, bucket, %s", h->columns);
        tally_buf_printf(&sql, "), added_hourly_%d AS (", k);
        upsert_sql(&sql, h->table, keys.data, sel.data);
        tally_buf_free(&sel);
        tally_buf_free(&keys);
    }
    tally_buf_puts(&sql, ") SELECT count(*) FROM counted");
    return sql.data;
}

/*
 * Ratings: the newest (time, offset) per (interaction, user) wins, in
 * agg_feedback. `old` reads the rows as they were before this statement (all
 * parts of one statement share its snapshot), so each accepted rating moves
 * one count: -1 from the rating it replaces, +1 to its own — applied to the
 * rollup rows of the rated interaction when it is already counted (else the
 * counting of that interaction picks the rating up, see `rated` above).
 */
/* "p.a, p.b" for the columns "a, b". */
static void prefixed(tally_buf *sql, const char *prefix, const char *columns) {
    for (const char *c = columns; *c;) {
        size_t n = strcspn(c, ",");
        tally_buf_printf(sql, "%s%s%.*s", c == columns ? "" : ", ", prefix, (int)n, c);
        c += n;
        while (*c == ',' || *c == ' ') c++;
    }
}

/* Built once, on first use (by the aggregator's one thread). */
static const char *rate_sql(void) {
    static tally_buf sql;
    if (sql.len) return sql.data;
    tally_buf_puts(
        &sql,
        "WITH input AS ("
        "  SELECT DISTINCT ON (interaction_id, user_id) * FROM unnest($1::text[], $2::text[],"
        "    $3::text[], $4::text[], $5::timestamptz[], $6::bigint[])"
        "  AS t(interaction_id, user_id, tenant_id, rating, ev_time, ev_offset)"
        "  ORDER BY interaction_id, user_id, ev_time DESC, ev_offset DESC"
        "), old AS ("
        "  SELECT f.interaction_id, f.user_id, f.tenant_id, f.rating"
        "  FROM agg_feedback f JOIN input USING (interaction_id, user_id)"
        "), stored AS ("
        "  INSERT INTO agg_feedback AS x (interaction_id, user_id, tenant_id, rating, ev_time,"
        "    ev_offset) SELECT interaction_id, user_id, tenant_id, rating, ev_time, ev_offset"
        "  FROM input"
        "  ON CONFLICT (interaction_id, user_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id,"
        "    rating = EXCLUDED.rating, ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset"
        "  WHERE (x.ev_time, x.ev_offset) <= (EXCLUDED.ev_time, EXCLUDED.ev_offset)"
        "  RETURNING interaction_id, user_id, tenant_id, rating"
        "), delta AS ("
        "  SELECT interaction_id, tenant_id, rating, 1 AS d FROM stored"
        "  UNION ALL SELECT o.interaction_id, o.tenant_id, o.rating, -1"
        "  FROM old o JOIN stored s USING (interaction_id, user_id)"
        "), per_row AS ("
        "  SELECT i.tenant_id, i.bucket, i.model_id, i.user_id, i.agent_id, i.kind, i.channel,"
        "    coalesce(sum(d) FILTER (WHERE rating = 'like'), 0) AS likes,"
        "    coalesce(sum(d) FILTER (WHERE rating = 'dislike'), 0) AS dislikes"
        "  FROM delta JOIN agg_interactions i ON i.interaction_id = delta.interaction_id"
        "    AND i.tenant_id = delta.tenant_id"
        "  GROUP BY 1, 2, 3, 4, 5, 6, 7"
        "), wide AS ("
        "  UPDATE usage_rollup u SET likes = u.likes + r.likes, dislikes = u.dislikes + r.dislikes"
        "  FROM per_row r WHERE (u.tenant_id, u.bucket, u.model_id, u.user_id, u.agent_id, u.kind,"
        "    u.channel) = (r.tenant_id, r.bucket, r.model_id, r.user_id, r.agent_id, r.kind, r.channel)"
        "  RETURNING 1");
    for (int k = 0; k < TALLY_HOURLY_ROLLUPS; k++) {
        const tally_hourly_rollup *h = &tally_hourly_rollups[k];
        tally_buf_printf(
            &sql,
            "), hourly_%d AS ("
            "  UPDATE %s h SET likes = h.likes + r.likes,"
            "    dislikes = h.dislikes + r.dislikes"
            "  FROM (SELECT tenant_id, date_trunc('hour', bucket, 'UTC') AS bucket, %s,"
            "    sum(likes) AS likes, sum(dislikes) AS dislikes FROM per_row"
            "    GROUP BY tenant_id, 2, %s) r"
            "  WHERE (h.tenant_id, h.bucket, ",
            k, h->table, h->columns, h->columns);
        prefixed(&sql, "h.", h->columns);
        tally_buf_puts(&sql, ") = (r.tenant_id, r.bucket, ");
        prefixed(&sql, "r.", h->columns);
        tally_buf_puts(&sql, ") RETURNING 1");
    }
    tally_buf_puts(&sql, ") SELECT count(*) FROM stored");
    return sql.data;
}

static const char OFFSETS_SQL[] =
    "INSERT INTO consumer_offsets AS c (group_id, topic, partition, next_offset)"
    " SELECT $1, t.topic, t.partition, t.next_offset"
    " FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS t(topic, partition, next_offset)"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE SET"
    " next_offset = GREATEST(c.next_offset, EXCLUDED.next_offset), updated_at = now()";

#define N_COLS 15 /* of the counting statement; limits take one more, the times */
#define N_LIMIT_COLS 16

/* Column i of the batch as an array literal. */
static void column(tally_buf *b, int col, const tally_rollup_item *items, size_t n) {
    char num[48];
    tally_buf_putc(b, '{');
    for (size_t k = 0; k < n; k++) {
        const tally_rollup_item *it = &items[k];
        const char *v = NULL;
        switch (col) {
        case 0: v = it->interaction_id; break;
        case 1: v = it->tenant_id; break;
        case 2: {
            tally_usec t = it->time,
                       b0 = t - ((t % TALLY_BUCKET_USEC) + TALLY_BUCKET_USEC) % TALLY_BUCKET_USEC;
            tally_time_format_utc(b0, num, sizeof num);
            v = num;
            break;
        }
        case 3: v = it->model_id; break;
        case 4: v = it->user_id; break;
        case 5: v = it->agent_id ? it->agent_id : ""; break;
        case 6: v = it->kind; break;
        case 7: v = it->channel ? it->channel : ""; break;
        case 8: v = it->is_error ? "t" : "f"; break;
        case 9:
            snprintf(num, sizeof num, "%lld", (long long)it->input_tokens);
            v = num;
            break;
        case 10:
            snprintf(num, sizeof num, "%lld", (long long)it->cached_tokens);
            v = num;
            break;
        case 11:
            snprintf(num, sizeof num, "%lld", (long long)it->output_tokens);
            v = num;
            break;
        case 12: v = it->audio_seconds; break;
        case 13: v = it->cost_usd; break;
        case 14: v = it->time_saved_minutes; break;
        case 15:
            tally_time_format_utc(it->time, num, sizeof num);
            v = num;
            break;
        }
        tally_buf_pg_array_elem(b, v, k == 0);
    }
    tally_buf_putc(b, '}');
}

static tally_code apply_items(tally_pg *pg, const tally_rollup_item *items, size_t n,
                              int64_t *counted, int64_t *alerts, tally_err *err) {
    tally_buf cols[N_LIMIT_COLS] = {0};
    const char *params[N_LIMIT_COLS];
    for (int c = 0; c < N_LIMIT_COLS; c++) {
        column(&cols[c], c, items, n);
        params[c] = cols[c].data;
    }
    /* Limits first: they tell fresh from counted by agg_interactions as it
     * is before this batch, under the batch's tenant locks. */
    tally_code rc = tally__limits_lock(pg, params[1], err);
    if (rc == TALLY_OK) rc = tally__limits_count(pg, params, alerts, err);
    PGresult *res = NULL;
    if (rc == TALLY_OK) {
        res = PQexecParams(pg->conn, apply_sql(), N_COLS, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            rc = tally__pg_result_error(pg, res, "count interactions", err);
        else if (counted)
            *counted = atoll(PQgetvalue(res, 0, 0));
    }
    if (rc == TALLY_OK) PQclear(res);
    for (int c = 0; c < N_LIMIT_COLS; c++) tally_buf_free(&cols[c]);
    return rc;
}

/* The ratings of the batch as the six arrays of rate_sql(). */
static tally_code apply_ratings(tally_pg *pg, const tally_rollup_rating *r, size_t n,
                                int64_t *accepted, tally_err *err) {
    tally_buf cols[6] = {0};
    char text[48];
    for (int c = 0; c < 6; c++) tally_buf_putc(&cols[c], '{');
    for (size_t k = 0; k < n; k++) {
        tally_buf_pg_array_elem(&cols[0], r[k].interaction_id, k == 0);
        tally_buf_pg_array_elem(&cols[1], r[k].user_id, k == 0);
        tally_buf_pg_array_elem(&cols[2], r[k].tenant_id, k == 0);
        tally_buf_pg_array_elem(&cols[3], r[k].like ? "like" : "dislike", k == 0);
        tally_time_format_utc(r[k].time, text, sizeof text);
        tally_buf_pg_array_elem(&cols[4], text, k == 0);
        snprintf(text, sizeof text, "%lld", (long long)r[k].offset);
        tally_buf_pg_array_elem(&cols[5], text, k == 0);
    }
    const char *params[6];
    for (int c = 0; c < 6; c++) {
        tally_buf_putc(&cols[c], '}');
        params[c] = cols[c].data;
    }
    /* rate_sql's `old` is its snapshot, but ON CONFLICT updates the newest
     * committed row: two transactions storing the same pair at once (two
     * consumers overlapping in a rebalance) would each add +1 and neither
     * −1. So first lock every pair of the batch until commit (in one order,
     * no deadlock); rate_sql, a new statement, then sees what the other
     * committed. A hash collision only makes a transaction wait. */
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
                                 " hashtextextended(i || chr(31) || u, 1953) AS k"
                                 " FROM unnest($1::text[], $2::text[]) AS t(i, u) ORDER BY k) s",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        for (int c = 0; c < 6; c++) tally_buf_free(&cols[c]);
        return tally__pg_result_error(pg, res, "lock ratings", err);
    }
    PQclear(res);
    res = PQexecParams(pg->conn, rate_sql(), 6, NULL, params, NULL, NULL, 0);
    for (int c = 0; c < 6; c++) tally_buf_free(&cols[c]);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "count ratings", err);
    if (accepted) *accepted = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return TALLY_OK;
}

static tally_code store_offsets(tally_pg *pg, const char *group, const tally_partition_offset *o,
                                size_t n, tally_err *err) {
    tally_buf topics = {0}, parts = {0}, next = {0};
    tally_buf_putc(&topics, '{');
    tally_buf_putc(&parts, '{');
    tally_buf_putc(&next, '{');
    for (size_t i = 0; i < n; i++) {
        tally_buf_pg_array_elem(&topics, o[i].topic, i == 0);
        tally_buf_printf(&parts, "%s%d", i ? "," : "", (int)o[i].partition);
        tally_buf_printf(&next, "%s%lld", i ? "," : "", (long long)o[i].next_offset);
    }
    tally_buf_putc(&topics, '}');
    tally_buf_putc(&parts, '}');
    tally_buf_putc(&next, '}');
    const char *params[] = {group, topics.data, parts.data, next.data};
    tally_code rc = tally__pg_exec_params(pg, "store offsets", OFFSETS_SQL, 4, params, err);
    tally_buf_free(&topics);
    tally_buf_free(&parts);
    tally_buf_free(&next);
    return rc;
}

tally_code tally_rollup_apply(tally_pg *pg, const char *group, const tally_rollup_batch *batch,
                              tally_rollup_result *result, tally_err *err) {
    tally_rollup_result none = {0};
    if (result) *result = none;
    tally_code rc = tally_pg_begin(pg, err);
    if (rc != TALLY_OK) return rc;
    /* Erasures before the counting: they move what earlier batches counted;
     * this batch's events of the user are already under the pseudonym. */
    for (size_t i = 0; i < batch->n_erasures && rc == TALLY_OK; i++) {
        tally_pg_erasure_result er;
        rc = tally_pg_erasure_apply(pg, batch->erasure_cache, TALLY_ERASURE_AGGREGATE,
                                    &batch->erasures[i], &er, err);
        if (rc == TALLY_OK && er.fresh)
            tally_info("user erased", "tenant=%s pseudonym=%s event=%s run=%lld",
                       batch->erasures[i].tenant_id, er.pseudonym, batch->erasures[i].event_id,
                       (long long)er.run_id);
    }
    /* Interactions first, then ratings: either order is right (see rate_sql),
     * this one lets a rating in the same batch as its interaction move it. */
    if (rc == TALLY_OK && batch->n_items > 0)
        rc = apply_items(pg, batch->items, batch->n_items, result ? &result->counted : NULL,
                         result ? &result->alerts_raised : NULL, err);
    if (rc == TALLY_OK && batch->n_ratings > 0)
        rc = apply_ratings(pg, batch->ratings, batch->n_ratings,
                           result ? &result->ratings_accepted : NULL, err);
    if (rc == TALLY_OK && batch->n_offsets > 0)
        rc = store_offsets(pg, group, batch->offsets, batch->n_offsets, err);
    if (rc == TALLY_OK) rc = tally_pg_commit(pg, err);
    if (rc != TALLY_OK) {
        tally_pg_rollback(pg);
        if (result) *result = none;
    }
    return rc;
}

tally_code tally_rollup_load_offset(tally_pg *pg, const char *group, const char *topic,
                                    int32_t partition, int64_t *next_offset, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *params[] = {group, topic, part};
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT next_offset FROM consumer_offsets WHERE group_id = $1"
                                 " AND topic = $2 AND partition = $3",
                                 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "load offset", err);
    *next_offset = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return TALLY_OK;
}
