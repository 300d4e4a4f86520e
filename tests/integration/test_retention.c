/*
 * Retention on the real stack (docs/arithmetic.md, "Retention and erasure"):
 * events through Kafka, tally-ingest and tally-aggregate, then `tally retain`.
 * Content older than the tenant's bound leaves the history and younger
 * content stays; ids, times, tokens and the rest stay; users idle past their
 * bound lose name and email; a tenant without bounds is untouched; every
 * usage report is byte-identical before and after; a second run touches
 * nothing; a run killed with SIGKILL half-way is finished by the next; bad
 * bounds go to the DLQ naming the field; runs are recorded and listed by
 * `tally lifecycle`; a lowered bound applies at the next pass, which
 * tally-alerts' schedule runs.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>
#include <mongoc/mongoc.h>

#include "itest.h"
#include "tally_analytics.h"
#include "tally_stream.h"

#define DAY_US 86400000000LL
#define N_OLD 40   /* t-ret interactions at now - 40 days (bound: 30) */
#define N_YOUNG 10 /* t-ret interactions at now - 10 days */
#define N_OTHER 10 /* t-keep interactions at now - 40 days (no bound) */
#define RET "t-ret"
#define KEEP "t-keep"

static const char *const CONTENT[] = {"question", "answer", "params", "attachments", "metadata"};
#define N_CONTENT (sizeof CONTENT / sizeof CONTENT[0])

static tally_usec now_us;

static void iso(tally_usec t, char *buf, size_t len) { tally_time_format_utc(t, buf, len); }

/* ---- events ---------------------------------------------------------------- */

typedef struct {
    char **values;
    const char **keys;
    size_t n, cap;
} event_list;

static void add(event_list *l, const char *key, char *value) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->values = realloc(l->values, l->cap * sizeof *l->values);
        l->keys = realloc(l->keys, l->cap * sizeof *l->keys);
    }
    l->keys[l->n] = key;
    l->values[l->n++] = value;
}

static char *dupf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) fail_msg("out of memory");
    va_end(ap);
    return s;
}

static void tenant(event_list *l, const char *id, const char *tenant_id, tally_usec at,
                   const char *bounds) {
    char t[40];
    iso(at, t, sizeof t);
    add(l, tenant_id,
        dupf("{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"tenant.upserted\",\"time\":\"%s\","
             "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"name\":\"%s\"%s}}",
             id, t, tenant_id, tenant_id, tenant_id, bounds));
}

static void user(event_list *l, const char *tenant_id, const char *user_id, tally_usec at) {
    char t[40];
    iso(at, t, sizeof t);
    add(l, tenant_id,
        dupf("{\"specversion\":\"1.0\",\"id\":\"user-%s-%s\",\"type\":\"user.upserted\","
             "\"time\":\"%s\",\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"%s\","
             "\"name\":\"Nome de %s\",\"email\":\"%s@example.com\"}}",
             tenant_id, user_id, t, tenant_id, tenant_id, user_id, user_id, user_id));
}

static void interaction(event_list *l, const char *id, const char *tenant_id, const char *user_id,
                        tally_usec at, int tokens) {
    char t[40];
    iso(at, t, sizeof t);
    add(l, tenant_id,
        dupf("{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"itest\",\"type\":"
             "\"interaction.recorded\",\"time\":\"%s\",\"subject\":\"%s\",\"data\":{"
             "\"tenant_id\":\"%s\",\"user_id\":\"%s\",\"model_id\":\"openai/gpt-4o-mini\","
             "\"channel\":\"whatsapp\",\"agent_id\":\"a1\",\"conversation_id\":\"c-%s\","
             "\"input_tokens\":%d,\"output_tokens\":%d,\"latency_ms\":420,\"intent\":\"billing\","
             "\"question\":\"Qual é o prazo de %s?\",\"answer\":\"Três dias úteis.\","
             "\"params\":{\"temperature\":0.2},\"attachments\":[{\"filename\":\"rg.pdf\"}],"
             "\"metadata\":{\"phone\":\"+5511999990000\"},\"custom_field\":{\"kept\":true}}}",
             id, t, tenant_id, tenant_id, user_id, user_id, tokens, tokens / 2, user_id));
}

/* Every event of the scenario, at times relative to now. */
static void scenario(event_list *l) {
    tally_usec day = DAY_US;
    tenant(l, "ten-ret", RET, now_us - 50 * day,
           ",\"content_retention_days\":30,\"user_retention_days\":30");
    tenant(l, "ten-keep", KEEP, now_us - 50 * day, "");
    /* Three bad bounds: to the DLQ, naming the field. */
    tenant(l, "bad-zero", "t-bad", now_us - day, ",\"content_retention_days\":0");
    tenant(l, "bad-text", "t-bad", now_us - day, ",\"content_retention_days\":\"x\"");
    tenant(l, "bad-real", "t-bad", now_us - day, ",\"user_retention_days\":1.5");
    user(l, RET, "u-idle", now_us - 50 * day);      /* last interaction 40 days ago */
    user(l, RET, "u-active", now_us - 50 * day);    /* interactions 10 days ago */
    user(l, RET, "u-never-old", now_us - 45 * day); /* no interaction, described 45 days ago */
    user(l, RET, "u-new", now_us - day);            /* no interaction, described yesterday */
    user(l, KEEP, "u-idle", now_us - 50 * day);     /* no bound: kept */
    for (int i = 0; i < N_OLD; i++) {
        char id[32];
        snprintf(id, sizeof id, "old-%02d", i);
        interaction(l, id, RET, i % 2 ? "u-active" : "u-idle", now_us - 40 * day + i * 60000000LL,
                    100 + i);
    }
    for (int i = 0; i < N_YOUNG; i++) {
        char id[32];
        snprintf(id, sizeof id, "young-%02d", i);
        interaction(l, id, RET, "u-active", now_us - 10 * day + i * 60000000LL, 200 + i);
    }
    for (int i = 0; i < N_OTHER; i++) {
        char id[32];
        snprintf(id, sizeof id, "keep-%02d", i);
        interaction(l, id, KEEP, "u-idle", now_us - 40 * day + i * 60000000LL, 300 + i);
    }
}

static void free_events(event_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->values[i]);
    free(l->values);
    free(l->keys);
}

/* ---- MongoDB ---------------------------------------------------------------- */

/* Documents matching a filter written as relaxed JSON. */
static long long mongo_count(const itest_ctx *ctx, const char *filter_json) {
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(ctx->mongo_url, &e);
    if (!uri) fail_msg("mongo uri: %s", e.message);
    mongoc_client_t *c = mongoc_client_new_from_uri(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, mongoc_uri_get_database(uri),
                                                             "interactions");
    bson_t *filter = bson_new_from_json((const uint8_t *)filter_json, -1, &e);
    if (!filter) fail_msg("filter %s: %s", filter_json, e.message);
    int64_t n = mongoc_collection_count_documents(coll, filter, NULL, NULL, NULL, &e);
    if (n < 0) fail_msg("mongo count: %s", e.message);
    bson_destroy(filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    mongoc_uri_destroy(uri);
    return n;
}

/* Documents of the tenant whose id starts with prefix that hold `field`. */
static long long with_field(const itest_ctx *ctx, const char *tenant_id, const char *prefix,
                            const char *field) {
    char f[256];
    snprintf(f, sizeof f,
             "{\"tenant_id\": \"%s\", \"_id\": {\"$regex\": \"^%s\"}, \"%s\": {\"$exists\": true}}",
             tenant_id, prefix, field);
    return mongo_count(ctx, f);
}

/* Of the tenant's documents with that prefix, how many hold any content field. */
static long long with_content(const itest_ctx *ctx, const char *tenant_id, const char *prefix) {
    char f[512];
    snprintf(f, sizeof f,
             "{\"tenant_id\": \"%s\", \"_id\": {\"$regex\": \"^%s\"}, \"$or\": ["
             "{\"data.question\": {\"$exists\": true}}, {\"data.answer\": {\"$exists\": true}},"
             "{\"data.params\": {\"$exists\": true}}, {\"data.attachments\": {\"$exists\": true}},"
             "{\"data.metadata\": {\"$exists\": true}}]}",
             tenant_id, prefix);
    return mongo_count(ctx, f);
}

/* The old documents lost every content field and kept everything else. */
static void assert_stripped(const itest_ctx *ctx, const char *tenant_id, const char *prefix,
                            long long n) {
    char field[64];
    for (size_t i = 0; i < N_CONTENT; i++) {
        snprintf(field, sizeof field, "data.%s", CONTENT[i]);
        assert_int_equal(with_field(ctx, tenant_id, prefix, field), 0);
    }
    static const char *const KEPT[] = {"time",
                                       "time_text",
                                       "source",
                                       "user_id",
                                       "conversation_id",
                                       "data.model_id",
                                       "data.input_tokens",
                                       "data.output_tokens",
                                       "data.latency_ms",
                                       "data.intent",
                                       "data.channel",
                                       "data.custom_field",
                                       "data.user_id"};
    for (size_t i = 0; i < sizeof KEPT / sizeof KEPT[0]; i++)
        if (with_field(ctx, tenant_id, prefix, KEPT[i]) != n)
            fail_msg("%s %s*: %s lost", tenant_id, prefix, KEPT[i]);
}

static void assert_whole(const itest_ctx *ctx, const char *tenant_id, const char *prefix,
                         long long n) {
    char field[64];
    for (size_t i = 0; i < N_CONTENT; i++) {
        snprintf(field, sizeof field, "data.%s", CONTENT[i]);
        if (with_field(ctx, tenant_id, prefix, field) != n)
            fail_msg("%s %s*: %s removed", tenant_id, prefix, field);
    }
}

/* ---- reports ---------------------------------------------------------------- */

#define MAX_REPORTS 64

typedef struct {
    char *text[MAX_REPORTS];
    int n;
} report_set;

/* Every report of both tenants over a few windows, granularities and groups. */
static void take_reports(const itest_ctx *ctx, report_set *out) {
    tally_err err;
    tally_pg *pg = tally_pg_open(ctx->pg_url, &err);
    if (!pg) fail_msg("%s", err.msg);
    char from[40], to[40], mid[40];
    iso(now_us - 60 * DAY_US, from, sizeof from);
    iso(now_us + 2 * DAY_US, to, sizeof to);
    iso(now_us - 20 * DAY_US, mid, sizeof mid);
    from[10] = to[10] = mid[10] = '\0'; /* dates: local midnights */
    const char *windows[][2] = {{from, to}, {from, mid}, {mid, to}};
    const char *grans[] = {"total", "day", "week", "month"};
    const char *groups[] = {NULL, "model", "user", "model,user,agent,kind,channel"};
    const char *tenants[] = {RET, KEEP};
    out->n = 0;
    for (size_t t = 0; t < 2; t++)
        for (size_t w = 0; w < 3; w++)
            for (size_t g = 0; g < 4; g++)
                for (size_t b = 0; b < 4; b++) {
                    if ((g + b + w) % 2) continue; /* a spread of them, not all 96 */
                    tally_usage_request req = {
                        tenants[t], windows[w][0], windows[w][1], grans[g], groups[b], NULL, 0};
                    json_t *rep;
                    if (tally_report_usage(pg, &req, &rep, &err) != TALLY_OK)
                        fail_msg("report: %s", err.msg);
                    assert_true(out->n < MAX_REPORTS);
                    out->text[out->n++] = tally_report_json_text(rep);
                    json_decref(rep);
                }
    tally_pg_close(pg);
}

static void assert_same_reports(const report_set *a, const report_set *b) {
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->text[i], b->text[i]) != 0)
            fail_msg("report %d changed:\n%s\n---\n%s", i, a->text[i], b->text[i]);
}

static void free_reports(report_set *r) {
    for (int i = 0; i < r->n; i++) free(r->text[i]);
    r->n = 0;
}

/* ---- the pipeline ------------------------------------------------------------- */

typedef struct {
    const char *sql;
    long long want;
} pg_goal;

static bool pg_reached(const itest_ctx *ctx, void *arg) {
    pg_goal *g = arg;
    return itest_pg_scalar(ctx, g->sql) >= g->want;
}

typedef struct {
    int seen;
    char reasons[3][256];
} dlq_seen;

static void on_dead_letter(const rd_kafka_message_t *m, void *arg) {
    dlq_seen *s = arg;
    rd_kafka_headers_t *h = NULL;
    const void *val;
    size_t len;
    if (s->seen < 3 && rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, "tally-error", &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(s->reasons[s->seen], sizeof s->reasons[0], "%.*s", (int)len, (const char *)val);
    s->seen++;
}

static bool has_reason(const dlq_seen *s, const char *reason) {
    for (int i = 0; i < 3; i++)
        if (strstr(s->reasons[i], reason)) return true;
    return false;
}

/* Every interaction stored in the history (the ingester's part; the
 * rollups are the aggregator's, which may finish first). */
static bool history_whole(const itest_ctx *ctx, void *arg) {
    (void)arg;
    return itest_mongo_count_try(ctx, NULL) >= N_OLD + N_YOUNG + N_OTHER;
}

static void ingest_and_count(const itest_ctx *ctx, long long tenants_sql_want, const char *sql) {
    const char *args[] = {"--batch-ms", "50", "--stats-interval", "0", NULL};
    pid_t ing = itest_spawn(ctx, "ingest/tally-ingest", args);
    pid_t agg = itest_spawn(ctx, "analytics/tally-aggregate", args);
    pg_goal g1 = {sql, tenants_sql_want};
    pg_goal g2 = {"SELECT coalesce(sum(requests), 0) FROM usage_rollup", N_OLD + N_YOUNG + N_OTHER};
    assert_true(itest_wait_until(pg_reached, ctx, &g1, 120000));
    assert_true(itest_wait_until(pg_reached, ctx, &g2, 120000));
    assert_true(itest_wait_until(history_whole, ctx, NULL, 120000));
    assert_int_equal(itest_stop(ing, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
}

/* stdout of `tally <args>` against the test's database. */
static char *tally_output(const itest_ctx *ctx, const char *args) {
    char bin[512], cmd[2048];
    itest_bin("cli/tally", bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "'%s' %s --pg-url '%s'", bin, args, ctx->pg_url);
    FILE *p = popen(cmd, "r");
    if (!p) fail_msg("popen %s", cmd);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) fwrite(buf, 1, got, m);
    fclose(m);
    if (pclose(p) != 0) fail_msg("%s failed", cmd);
    return text;
}

static long long touched(const itest_ctx *ctx, const char *run_sql, const char *table) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((touched->'%s'->>'" RET "')::bigint, -1) FROM (%s) r", table,
             run_sql);
    return itest_pg_scalar(ctx, sql);
}

#define LAST_RUN "SELECT * FROM lifecycle_runs ORDER BY run_id DESC LIMIT 1"
#define USER_HAS_NAME(t, u)                                                                        \
    "SELECT count(*) FROM users WHERE tenant_id = '" t "' AND user_id = '" u "'"                   \
    " AND name IS NOT NULL AND email IS NOT NULL"

static void retention_end_to_end(void **state) {
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    now_us = (tally_usec)ts.tv_sec * 1000000;
    itest_ctx ctx;
    itest_setup(&ctx, "retention", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);

    event_list events = {0};
    scenario(&events);
    itest_produce(&ctx, ctx.topic, events.keys, (const char *const *)events.values, NULL, events.n);
    ingest_and_count(&ctx, 4, "SELECT count(*) FROM users WHERE tenant_id = '" RET "'");
    assert_int_equal(itest_mongo_count(&ctx, RET), N_OLD + N_YOUNG);
    assert_int_equal(itest_mongo_count(&ctx, KEEP), N_OTHER);
    assert_int_equal(
        itest_pg_scalar(&ctx, "SELECT content_retention_days * 1000 + user_retention_days FROM"
                              " tenants WHERE tenant_id = '" RET "'"),
        30030);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM tenants WHERE tenant_id = '" KEEP
                                           "' AND content_retention_days IS NULL"
                                           " AND user_retention_days IS NULL"),
                     1);

    /* Bad bounds: dead letters naming the field, and no tenant. */
    dlq_seen dlq = {0};
    assert_int_equal(itest_consume_all(&ctx, ctx.dlq, on_dead_letter, &dlq, 3, 60000), 3);
    assert_true(has_reason(&dlq, "data.content_retention_days: must be an integer >= 1 or null"));
    assert_true(has_reason(&dlq, "data.user_retention_days: must be an integer >= 1 or null"));
    assert_int_equal(
        itest_pg_scalar(&ctx, "SELECT count(*) FROM tenants WHERE tenant_id = 't-bad'"), 0);

    report_set before = {0}, after = {0};
    take_reports(&ctx, &before);

    /* A dry run changes and records nothing. */
    char dry_args[1024];
    snprintf(dry_args, sizeof dry_args, "retain --dry-run --mongo-url '%s'", ctx.mongo_url);
    char *dry = tally_output(&ctx, dry_args);
    assert_non_null(strstr(dry, "40 documents to strip"));
    assert_non_null(strstr(dry, "2 users to anonymise"));
    free(dry);
    assert_int_equal(with_content(&ctx, RET, "old-"), N_OLD);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM lifecycle_runs"), 0);

    /* A run killed half-way: batches of one document, a pause after each. */
    const char *slow[] = {"retain", "--batch-size", "1", "--pause-ms", "150", NULL};
    pid_t killed = itest_spawn(&ctx, "cli/tally", slow);
    pg_goal started = {"SELECT count(*) FROM lifecycle_runs", 1};
    assert_true(itest_wait_until(pg_reached, &ctx, &started, 30000));
    for (int i = 0; i < 600 && with_content(&ctx, RET, "old-") > N_OLD - 5; i++) {
        struct timespec pause = {0, 50000000};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(itest_stop(killed, SIGKILL, 10000), 128 + SIGKILL);
    long long left = with_content(&ctx, RET, "old-");
    printf("  killed with %lld of %d old documents still holding content\n", left, N_OLD);
    assert_true(left <= N_OLD - 5 && left > 0);
    assert_int_equal(with_content(&ctx, RET, "young-"), N_YOUNG);
    assert_int_equal(itest_pg_scalar(&ctx,
                                     "SELECT count(*) FROM lifecycle_runs WHERE"
                                     " finished_at IS NULL AND requested_by = 'tally retain'"),
                     1);

    /* The next run finishes it. */
    const char *retain[] = {"retain", "--batch-size", "7", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", retain), 0);
    assert_stripped(&ctx, RET, "old-", N_OLD);
    assert_whole(&ctx, RET, "young-", N_YOUNG);
    assert_whole(&ctx, KEEP, "keep-", N_OTHER);
    assert_int_equal(itest_mongo_count(&ctx, RET), N_OLD + N_YOUNG);
    assert_int_equal(itest_pg_scalar(&ctx, USER_HAS_NAME(RET, "u-idle")), 0);
    assert_int_equal(itest_pg_scalar(&ctx, USER_HAS_NAME(RET, "u-never-old")), 0);
    assert_int_equal(itest_pg_scalar(&ctx, USER_HAS_NAME(RET, "u-active")), 1);
    assert_int_equal(itest_pg_scalar(&ctx, USER_HAS_NAME(RET, "u-new")), 1);
    assert_int_equal(itest_pg_scalar(&ctx, USER_HAS_NAME(KEEP, "u-idle")), 1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM users WHERE user_id = 'u-idle'"
                                           " AND tenant_id = '" RET "' AND name IS NULL"
                                           " AND email IS NULL"),
                     1);
    assert_int_equal(touched(&ctx, LAST_RUN, "interactions"), left);
    assert_int_equal(touched(&ctx, LAST_RUN, "users"), 2);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM (" LAST_RUN ") r WHERE"
                                           " finished_at IS NOT NULL AND tenant_id IS NULL"),
                     1);

    take_reports(&ctx, &after);
    assert_same_reports(&before, &after);
    free_reports(&after);

    /* Again: nothing left to touch. */
    assert_int_equal(itest_run(&ctx, "cli/tally", retain), 0);
    assert_int_equal(touched(&ctx, LAST_RUN, "interactions"), 0);
    assert_int_equal(touched(&ctx, LAST_RUN, "users"), 0);
    assert_stripped(&ctx, RET, "old-", N_OLD);
    assert_whole(&ctx, RET, "young-", N_YOUNG);

    /* An unknown tenant is an error of its own. */
    const char *unknown[] = {"retain", "--tenant", "nobody", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", unknown), 3);

    /* The runs, listed newest first. */
    char *list = tally_output(&ctx, "lifecycle -f json --kind retention");
    json_error_t je;
    json_t *runs = json_loads(list, 0, &je);
    if (!runs) fail_msg("tally lifecycle: %s: %s", je.text, list);
    assert_int_equal(json_array_size(runs), 3);
    assert_true(json_is_true(json_object_get(json_array_get(runs, 0), "finished")));
    assert_true(json_is_false(json_object_get(json_array_get(runs, 2), "finished")));
    assert_true(json_is_null(json_object_get(json_array_get(runs, 2), "finished_at")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "requested_by")),
                        "tally retain");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_array_get(runs, 1), "touched"), "users"), RET)),
        2);
    json_decref(runs);
    free(list);
    char *table = tally_output(&ctx, "lifecycle --tenant " RET);
    assert_non_null(strstr(table, "requested_by"));
    assert_non_null(strstr(table, "tally retain"));
    free(table);

    /* A lower bound applies at the next pass, here the one tally-alerts runs
     * at start because the last finished pass is older than its interval. */
    event_list lower = {0};
    tenant(&lower, "ten-ret-lower", RET, now_us - 5 * DAY_US,
           ",\"content_retention_days\":5,\"user_retention_days\":30");
    itest_produce(&ctx, ctx.topic, lower.keys, (const char *const *)lower.values, NULL, lower.n);
    ingest_and_count(&ctx, 1, "SELECT count(*) FROM tenants WHERE content_retention_days = 5");
    free_events(&lower);
    itest_pg_exec(&ctx, false,
                  "UPDATE lifecycle_runs SET finished_at = now() - interval '2 days'"
                  " WHERE finished_at IS NOT NULL");
    const char *alerts_args[] = {"--stats-interval", "0", NULL};
    pid_t alerts = itest_spawn(&ctx, "alerts/tally-alerts", alerts_args);
    pg_goal scheduled = {"SELECT count(*) FROM lifecycle_runs WHERE requested_by = 'schedule'"
                         " AND finished_at IS NOT NULL",
                         1};
    assert_true(itest_wait_until(pg_reached, &ctx, &scheduled, 60000));
    assert_int_equal(itest_stop(alerts, SIGTERM, 30000), 0);
    assert_stripped(&ctx, RET, "young-", N_YOUNG);
    assert_int_equal(touched(&ctx, LAST_RUN, "interactions"), N_YOUNG);
    assert_whole(&ctx, KEEP, "keep-", N_OTHER);
    take_reports(&ctx, &after);
    assert_same_reports(&before, &after);

    free_reports(&after);
    free_reports(&before);
    free_events(&events);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retention_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
