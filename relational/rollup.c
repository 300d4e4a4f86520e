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

#include "pg_internal.h"
#include "tally_buf.h"
#include "tally_rollup.h"

static const char APPLY_SQL[] =
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
    "), counted AS ("
    "  SELECT i.* FROM input i JOIN fresh f ON f.interaction_id = i.id"
    "), added AS ("
    "  INSERT INTO usage_rollup AS u (tenant_id, bucket, model_id, user_id, agent_id, kind,"
    "    channel, requests, errors, input_tokens, cached_tokens, output_tokens, audio_seconds,"
    "    priced_input_tokens, priced_cached_tokens, priced_output_tokens, supplied_cost_usd,"
    "    unsaved_output_tokens, supplied_time_saved)"
    "  SELECT tenant_id, bucket, model_id, user_id, agent_id, kind, channel, count(*),"
    "    count(*) FILTER (WHERE is_error), sum(input_tokens), sum(cached_tokens),"
    "    sum(output_tokens), coalesce(sum(audio_seconds), 0),"
    "    coalesce(sum(input_tokens) FILTER (WHERE cost_usd IS NULL), 0),"
    "    coalesce(sum(cached_tokens) FILTER (WHERE cost_usd IS NULL), 0),"
    "    coalesce(sum(output_tokens) FILTER (WHERE cost_usd IS NULL), 0),"
    "    coalesce(sum(cost_usd), 0),"
    "    coalesce(sum(output_tokens) FILTER (WHERE time_saved IS NULL), 0),"
    "    coalesce(sum(time_saved), 0)"
    "  FROM counted GROUP BY tenant_id, bucket, model_id, user_id, agent_id, kind, channel"
    "  ON CONFLICT (tenant_id, bucket, model_id, user_id, agent_id, kind, channel) DO UPDATE SET"
    "    requests = u.requests + EXCLUDED.requests, errors = u.errors + EXCLUDED.errors,"
    "    input_tokens = u.input_tokens + EXCLUDED.input_tokens,"
    "    cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens,"
    "    output_tokens = u.output_tokens + EXCLUDED.output_tokens,"
    "    audio_seconds = u.audio_seconds + EXCLUDED.audio_seconds,"
    "    priced_input_tokens = u.priced_input_tokens + EXCLUDED.priced_input_tokens,"
    "    priced_cached_tokens = u.priced_cached_tokens + EXCLUDED.priced_cached_tokens,"
    "    priced_output_tokens = u.priced_output_tokens + EXCLUDED.priced_output_tokens,"
    "    supplied_cost_usd = u.supplied_cost_usd + EXCLUDED.supplied_cost_usd,"
    "    unsaved_output_tokens = u.unsaved_output_tokens + EXCLUDED.unsaved_output_tokens,"
    "    supplied_time_saved = u.supplied_time_saved + EXCLUDED.supplied_time_saved"
    "  RETURNING 1"
    ") SELECT count(*) FROM counted";

static const char OFFSETS_SQL[] =
    "INSERT INTO consumer_offsets AS c (group_id, topic, partition, next_offset)"
    " SELECT $1, t.topic, t.partition, t.next_offset"
    " FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS t(topic, partition, next_offset)"
    " ON CONFLICT (group_id, topic, partition) DO UPDATE SET"
    " next_offset = GREATEST(c.next_offset, EXCLUDED.next_offset), updated_at = now()";

#define N_COLS 15

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
            tally_usec t = it->time, b0 = t - ((t % TALLY_BUCKET_USEC) + TALLY_BUCKET_USEC) %
                                                   TALLY_BUCKET_USEC;
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
        case 9: snprintf(num, sizeof num, "%lld", (long long)it->input_tokens); v = num; break;
        case 10: snprintf(num, sizeof num, "%lld", (long long)it->cached_tokens); v = num; break;
        case 11: snprintf(num, sizeof num, "%lld", (long long)it->output_tokens); v = num; break;
        case 12: v = it->audio_seconds; break;
        case 13: v = it->cost_usd; break;
        case 14: v = it->time_saved_minutes; break;
        }
        tally_buf_pg_array_elem(b, v, k == 0);
    }
    tally_buf_putc(b, '}');
}

static tally_code apply_items(tally_pg *pg, const tally_rollup_item *items, size_t n,
                              int64_t *counted, tally_err *err) {
    tally_buf cols[N_COLS] = {0};
    const char *params[N_COLS];
    for (int c = 0; c < N_COLS; c++) {
        column(&cols[c], c, items, n);
        params[c] = cols[c].data;
    }
    PGresult *res = PQexecParams(pg->conn, APPLY_SQL, N_COLS, NULL, params, NULL, NULL, 0);
    for (int c = 0; c < N_COLS; c++) tally_buf_free(&cols[c]);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_result_error(pg, res, "count interactions", err);
    if (counted) *counted = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return TALLY_OK;
}

static tally_code store_offsets(tally_pg *pg, const char *group, const tally_rollup_offset *o,
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
    tally_code rc = pg_exec_params(pg, "store offsets", OFFSETS_SQL, 4, params, err);
    tally_buf_free(&topics);
    tally_buf_free(&parts);
    tally_buf_free(&next);
    return rc;
}

tally_code tally_rollup_apply(tally_pg *pg, const char *group, const tally_rollup_item *items,
                              size_t n, const tally_rollup_offset *offsets, size_t n_offsets,
                              int64_t *counted, tally_err *err) {
    if (counted) *counted = 0;
    tally_code rc = tally_pg_begin(pg, err);
    if (rc != TALLY_OK) return rc;
    if (n > 0) rc = apply_items(pg, items, n, counted, err);
    if (rc == TALLY_OK && n_offsets > 0) rc = store_offsets(pg, group, offsets, n_offsets, err);
    if (rc == TALLY_OK) rc = tally_pg_commit(pg, err);
    if (rc != TALLY_OK) {
        tally_pg_rollback(pg);
        if (counted) *counted = 0;
    }
    return rc;
}

tally_code tally_rollup_load_offset(tally_pg *pg, const char *group, const char *topic,
                                    int32_t partition, int64_t *next_offset, tally_err *err) {
    tally_code rc = pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *params[] = {group, topic, part};
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT next_offset FROM consumer_offsets WHERE group_id = $1"
                                 " AND topic = $2 AND partition = $3",
                                 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return pg_result_error(pg, res, "load offset", err);
    *next_offset = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return TALLY_OK;
}
