/*
 * tally-ingest on the real stack: entities round-trip into PostgreSQL with
 * newest-time-wins, interactions land in MongoDB exactly once (duplicates,
 * kill -9, two ingesters sharing partitions), and poison goes to the DLQ
 * with a reason while the good events around it are stored.
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

#include "tally_stream.h"
#include "itest.h"

static const char *const INGEST = "ingest/tally-ingest";

/* --- small helpers ------------------------------------------------------ */

typedef struct {
    long long want;
    const char *tenant;
} mongo_goal;

/* Tolerant of a store that is restarting: a failed count is "not yet". */
static bool mongo_reached(const itest_ctx *ctx, void *arg) {
    mongo_goal *g = arg;
    return itest_mongo_count_try(ctx, g->tenant) >= g->want;
}

typedef struct {
    const char *sql;
    long long want;
} pg_goal;

static bool pg_reached(const itest_ctx *ctx, void *arg) {
    pg_goal *g = arg;
    return itest_pg_scalar(ctx, g->sql) >= g->want;
}

/* Migrate first, so that the tests may query the tables before the ingester
 * has done anything (it migrates too, idempotently). */
static pid_t start_ingest(const itest_ctx *ctx) {
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(ctx, "cli/tally", migrate), 0);
    const char *args[] = {"--batch-ms", "50", "--stats-interval", "1", NULL};
    return itest_spawn(ctx, INGEST, args);
}

/* Produce events keyed by their subject, like `tally produce` does. */
static void produce_events(const itest_ctx *ctx, const char *const *events, size_t n) {
    const char **keys = calloc(n, sizeof *keys);
    tally_event *evs = calloc(n, sizeof *evs);
    bool *ok = calloc(n, sizeof *ok);
    for (size_t i = 0; i < n; i++) {
        tally_err err;
        ok[i] = tally_event_decode(events[i], strlen(events[i]), &evs[i], &err) == TALLY_OK;
        keys[i] = ok[i] ? tally_event_key(&evs[i]) : "_global";
    }
    itest_produce(ctx, ctx->topic, keys, events, NULL, n);
    for (size_t i = 0; i < n; i++)
        if (ok[i]) tally_event_free(&evs[i]);
    free(keys);
    free(evs);
    free(ok);
}

static void interaction(char *buf, size_t len, const char *id, const char *tenant,
                        const char *time) {
    snprintf(buf, len,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"itest\",\"type\":"
             "\"interaction.recorded\",\"time\":\"%s\",\"subject\":\"%s\",\"data\":{"
             "\"tenant_id\":\"%s\",\"user_id\":\"u1\",\"model_id\":\"openai/gpt-4o-mini\","
             "\"input_tokens\":100,\"output_tokens\":50,\"question\":\"Qual é o prazo?\","
             "\"answer\":\"Três dias úteis.\",\"custom_field\":{\"kept\":true}}}",
             id, time, tenant, tenant);
}

/* --- entities ------------------------------------------------------------ */

static void entities_round_trip_and_newest_wins(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "entities", 6);
    const char *events[] = {
        "{\"specversion\":\"1.0\",\"id\":\"e1\",\"type\":\"tenant.upserted\",\"time\":\"2026-03-02T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\",\"name\":\"Newer name\",\"timezone\":\"America/Manaus\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e2\",\"type\":\"tenant.upserted\",\"time\":\"2026-03-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\",\"name\":\"Older name\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e3\",\"type\":\"user.upserted\",\"time\":\"2026-03-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\",\"user_id\":\"u1\",\"name\":\"Ana\",\"email\":\"ana@example.com\",\"role\":\"admin\",\"active\":true}}",
        "{\"specversion\":\"1.0\",\"id\":\"e4\",\"type\":\"plan.upserted\",\"time\":\"2026-03-01T10:00:00Z\",\"data\":{\"plan_id\":\"p-global\",\"name\":\"Básico\",\"monthly_request_limit\":1000,\"monthly_token_limit\":null}}",
        "{\"specversion\":\"1.0\",\"id\":\"e5\",\"type\":\"subscription.upserted\",\"time\":\"2026-03-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"subscription_id\":\"s1\",\"tenant_id\":\"t1\",\"plan_id\":\"p-global\",\"starts_at\":\"2026-03-01T00:00:00-03:00\",\"status\":\"trial\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e6\",\"type\":\"model.priced\",\"time\":\"2026-03-01T10:00:00Z\",\"data\":{\"model_id\":\"openai/gpt-4o-mini\",\"input_usd_per_1m\":0.15,\"output_usd_per_1m\":\"0.60\",\"effective_from\":\"2026-03-01T00:00:00Z\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e7\",\"type\":\"model.priced\",\"time\":\"2026-03-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"model_id\":\"openai/gpt-4o-mini\",\"tenant_id\":\"t1\",\"input_usd_per_1m\":0.1,\"output_usd_per_1m\":0.4,\"cached_input_usd_per_1m\":0.05,\"minutes_saved_per_100_output_tokens\":1.5,\"effective_from\":\"2026-03-01T00:00:00Z\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e8\",\"type\":\"fx.rate_set\",\"time\":\"2026-03-01T10:00:00Z\",\"data\":{\"currency\":\"BRL\",\"per_usd\":5.42,\"effective_from\":\"2026-03-01T00:00:00Z\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e9\",\"type\":\"budget.set\",\"time\":\"2026-03-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\",\"budget_id\":\"b1\",\"kind\":\"both\",\"period\":\"monthly\",\"token_limit\":1000000,\"brl_limit\":\"250.00\",\"pause_at_limit\":true}}",
        "{\"specversion\":\"1.0\",\"id\":\"e10\",\"type\":\"user.upserted\",\"time\":\"2026-02-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\",\"user_id\":\"u1\",\"name\":\"Stale\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"e11\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-01T10:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\",\"interaction_id\":\"i1\",\"user_id\":\"u1\",\"rating\":\"like\"}}",
    };
    size_t n = sizeof events / sizeof events[0];
    produce_events(&ctx, events, n);
    pid_t pid = start_ingest(&ctx);
    /* the last event of t1's partition, and the last of the global one
     * (plan, price and rate are keyed "_global": another partition) */
    pg_goal g = {"SELECT count(*) FROM feedback", 1};
    assert_true(itest_wait_until(pg_reached, &ctx, &g, 60000));
    pg_goal global = {"SELECT count(*) FROM fx_rates", 1};
    assert_true(itest_wait_until(pg_reached, &ctx, &global, 60000));
    assert_int_equal(itest_stop(pid, SIGTERM, 20000), 0);

    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM tenants WHERE name = 'Newer name'"
                                           " AND timezone = 'America/Manaus'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM users WHERE name = 'Ana' AND"
                                           " role = 'admin' AND active"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM plans WHERE tenant_id IS NULL"
                                           " AND monthly_request_limit = 1000 AND"
                                           " monthly_token_limit IS NULL AND name = 'Básico'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM subscriptions WHERE status ="
                                           " 'trial' AND user_id IS NULL AND starts_at ="
                                           " '2026-03-01T03:00:00Z'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM model_prices WHERE tenant_key = ''"
                                           " AND input_usd_per_1m = 0.15 AND output_usd_per_1m ="
                                           " 0.60 AND cached_input_usd_per_1m = 0.15 AND"
                                           " minutes_saved_per_100_output_tokens = 0"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM model_prices WHERE tenant_key ="
                                           " 't1' AND cached_input_usd_per_1m = 0.05 AND"
                                           " minutes_saved_per_100_output_tokens = 1.5"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM fx_rates WHERE per_usd = 5.42"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM budgets WHERE brl_limit = 250 AND"
                                           " thresholds = '{80,90,100}' AND pause_at_limit"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM feedback WHERE rating = 'like'"),
                     1);
    itest_teardown(&ctx);
}

/* --- duplicates ------------------------------------------------------------ */

static void same_id_twice_is_stored_once(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "dupes", 6);
    char a[1024], b[1024], c[1024];
    interaction(a, sizeof a, "dup-1", "t1", "2026-03-05T12:00:00Z");
    interaction(b, sizeof b, "other-1", "t1", "2026-03-05T12:00:01Z");
    interaction(c, sizeof c, "dup-1", "t1", "2026-03-05T12:00:00Z");
    /* The copy goes through another key, so another partition and offset. */
    const char *events[] = {a, b};
    produce_events(&ctx, events, 2);
    const char *keys[] = {"some-other-key"};
    const char *vals[] = {c};
    itest_produce(&ctx, ctx.topic, keys, vals, NULL, 1);
    pid_t pid = start_ingest(&ctx);
    mongo_goal g = {2, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &g, 60000));
    /* Give the duplicate every chance to be (wrongly) stored. */
    const char *more[] = {b};
    itest_produce(&ctx, ctx.topic, keys, more, NULL, 1);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    assert_int_equal(itest_stop(pid, SIGTERM, 20000), 0);
    assert_int_equal(itest_mongo_count(&ctx, NULL), 2);
    itest_teardown(&ctx);
}

/* --- poison ---------------------------------------------------------------- */

typedef struct {
    int n;
    char reasons[16][512];
    char sources[16][256];
    size_t big_len;
} dlq_seen;

static void collect_dlq(const rd_kafka_message_t *m, void *arg) {
    dlq_seen *s = arg;
    if (s->n >= 16) return;
    rd_kafka_headers_t *h = NULL;
    const void *val;
    size_t len;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rd_kafka_header_get_last(h, "tally-error", &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(s->reasons[s->n], sizeof s->reasons[0], "%.*s", (int)len, (const char *)val);
        if (rd_kafka_header_get_last(h, "tally-source-offset", &val, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
            snprintf(s->sources[s->n], sizeof s->sources[0], "%.*s", (int)len, (const char *)val);
    }
    if (m->len > 1000000) s->big_len = m->len;
    s->n++;
}

static bool reason_present(const dlq_seen *s, const char *needle) {
    for (int i = 0; i < s->n; i++)
        if (strstr(s->reasons[i], needle)) return true;
    return false;
}

static void poison_goes_to_dlq_and_good_events_are_stored(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "poison", 6);
    char good[6][1024];
    for (int i = 0; i < 6; i++) {
        char id[32];
        snprintf(id, sizeof id, "good-%d", i);
        interaction(good[i], sizeof good[i], id, "t1", "2026-03-05T12:00:00Z");
    }
    const char *malformed = "{\"specversion\":\"1.0\",\"id\":";
    const char *missing =
        "{\"specversion\":\"1.0\",\"id\":\"p2\",\"type\":\"interaction.recorded\",\"time\":"
        "\"2026-03-05T12:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\","
        "\"model_id\":\"m\"}}";
    const char *wrong_type =
        "{\"specversion\":\"1.0\",\"id\":\"p3\",\"type\":\"interaction.recorded\",\"time\":"
        "\"2026-03-05T12:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\","
        "\"user_id\":\"u\",\"model_id\":\"m\",\"input_tokens\":\"many\"}}";
    const char *bad_utf8 =
        "{\"specversion\":\"1.0\",\"id\":\"p4\",\"type\":\"interaction.recorded\",\"time\":"
        "\"2026-03-05T12:00:00Z\",\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\","
        "\"user_id\":\"u\",\"model_id\":\"m\",\"question\":\"ol\xc3\x28\"}}";
    const char *unknown =
        "{\"specversion\":\"1.0\",\"id\":\"p5\",\"type\":\"invoice.paid\",\"time\":"
        "\"2026-03-05T12:00:00Z\",\"subject\":\"t1\",\"data\":{}}";
    size_t big_len = 2 * 1024 * 1024;
    char *big = malloc(big_len + 1);
    int head = snprintf(big, big_len,
                        "{\"specversion\":\"1.0\",\"id\":\"p6\",\"type\":"
                        "\"interaction.recorded\",\"time\":\"2026-03-05T12:00:00Z\","
                        "\"subject\":\"t1\",\"data\":{\"tenant_id\":\"t1\","
                        "\"user_id\":\"u\",\"model_id\":\"m\",\"question\":\"");
    memset(big + head, 'a', big_len - (size_t)head - 4);
    memcpy(big + big_len - 4, "\"}}\n", 4);
    big[big_len - 1] = '\0';
    const char *vals[] = {good[0], malformed, good[1], missing, good[2], wrong_type,
                          good[3], bad_utf8,  good[4], big,     good[5], unknown};
    const char *keys[12];
    for (int i = 0; i < 12; i++) keys[i] = "t1";
    itest_produce(&ctx, ctx.topic, keys, vals, NULL, 12);
    free(big);

    pid_t pid = start_ingest(&ctx);
    mongo_goal g = {6, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &g, 60000));
    dlq_seen seen = {0};
    size_t n = itest_consume_all(&ctx, ctx.dlq, collect_dlq, &seen, 6, 60000);
    assert_int_equal(itest_stop(pid, SIGTERM, 20000), 0);
    for (int i = 0; i < seen.n; i++) printf("  dlq: %s  [%s]\n", seen.reasons[i], seen.sources[i]);
    assert_int_equal(n, 6);
    assert_int_equal(itest_mongo_count(&ctx, NULL), 6);
    assert_true(reason_present(&seen, "JSON") || reason_present(&seen, "json"));
    assert_true(reason_present(&seen, "data.user_id"));
    assert_true(reason_present(&seen, "data.input_tokens"));
    assert_true(reason_present(&seen, "UTF-8") || reason_present(&seen, "utf-8"));
    assert_true(reason_present(&seen, "bytes"));
    assert_true(reason_present(&seen, "invoice.paid"));
    assert_int_equal(seen.big_len, big_len - 1);
    for (int i = 0; i < seen.n; i++) assert_non_null(strstr(seen.sources[i], ctx.topic));
    itest_teardown(&ctx);
}

/* --- crash and restart --------------------------------------------------- */

static int cmp_strp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Distinct interaction ids in a generated file (the generator's duplicates
 * repeat an earlier id). */
static long long distinct_ids(const itest_lines *l) {
    char **ids = calloc(l->n, sizeof *ids);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        tally_event ev;
        tally_err err;
        if (tally_event_decode(l->line[i], strlen(l->line[i]), &ev, &err) != TALLY_OK) continue;
        if (ev.type == TALLY_EV_INTERACTION_RECORDED) ids[k++] = strdup(ev.id);
        tally_event_free(&ev);
    }
    qsort(ids, k, sizeof *ids, cmp_strp);
    long long n = 0;
    for (size_t i = 0; i < k; i++) n += i == 0 || strcmp(ids[i], ids[i - 1]) != 0;
    for (size_t i = 0; i < k; i++) free(ids[i]);
    free(ids);
    return n;
}

static void kill_9_mid_stream_loses_nothing_and_stores_once(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "crash", 6);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    const char *gen[] = {"--events", "100000", "--tenants", "10", "--duplicates",
                         "3",        "--seed", "7",         NULL};
    itest_generate(&ctx, path, gen);
    itest_lines lines = itest_read_lines(path);
    long long want = distinct_ids(&lines);
    printf("  %zu events, %lld distinct interactions\n", lines.n, want);
    itest_lines_free(&lines);
    itest_produce_file(&ctx, path);

    pid_t pid = start_ingest(&ctx);
    mongo_goal partway = {want / 4, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &partway, 300000));
    assert_int_equal(itest_stop(pid, SIGKILL, 10000), 128 + SIGKILL);
    long long at_kill = itest_mongo_count(&ctx, NULL);
    printf("  killed with %lld stored\n", at_kill);
    assert_true(at_kill < want);

    pid = start_ingest(&ctx);
    mongo_goal all = {want, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &all, 600000));
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    assert_int_equal(itest_stop(pid, SIGTERM, 30000), 0);
    assert_int_equal(itest_mongo_count(&ctx, NULL), want);
    remove(path);
    itest_teardown(&ctx);
}

/* --- a store restarting under load ---------------------------------------- */

static void restart_store(const char *server) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/stack restart %s >/dev/null 2>&1", TALLY_SOURCE_DIR,
             server);
    if (system(cmd) != 0) fail_msg("could not restart %s: %s", server, cmd);
}

static void store_restarts_mid_stream_lose_nothing(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "restarts", 6);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    const char *gen[] = {"--events", "30000", "--tenants", "6", "--seed", "5", NULL};
    itest_generate(&ctx, path, gen);
    itest_lines lines = itest_read_lines(path);
    long long want = distinct_ids(&lines);
    itest_lines_free(&lines);
    itest_produce_file(&ctx, path);

    pid_t pid = start_ingest(&ctx);
    mongo_goal first = {want / 5, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &first, 300000));
    restart_store("pg");
    mongo_goal second = {want / 2, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &second, 300000));
    restart_store("ferretdb");
    mongo_goal all = {want, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &all, 600000));
    nanosleep(&(struct timespec){2, 0}, NULL);
    assert_int_equal(itest_stop(pid, SIGTERM, 30000), 0);
    assert_int_equal(itest_mongo_count(&ctx, NULL), want);
    /* The entities, all written before or across the PostgreSQL restart. */
    assert_true(itest_pg_scalar(&ctx, "SELECT count(*) FROM tenants") == 6);
    assert_true(itest_pg_scalar(&ctx, "SELECT count(*) FROM model_prices") > 0);
    remove(path);
    itest_teardown(&ctx);
}

/* --- two ingesters, one group ------------------------------------------------ */

static void two_ingesters_share_partitions(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "shared", 6);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    const char *gen[] = {"--events", "20000", "--tenants", "12", "--seed", "11", NULL};
    itest_generate(&ctx, path, gen);
    itest_lines lines = itest_read_lines(path);
    long long want = distinct_ids(&lines);
    itest_lines_free(&lines);

    char log_a[512], log_b[512];
    snprintf(log_a, sizeof log_a, "%s/tests/%s.a.log", TALLY_BIN_DIR, ctx.name);
    snprintf(log_b, sizeof log_b, "%s/tests/%s.b.log", TALLY_BIN_DIR, ctx.name);
    /* Both join before the data arrives, so the group has settled on two members. */
    /* Two live members of one group need two instance names. */
    const char *args_a[] = {"--batch-ms", "50",      "--stats-interval", "0", "--instance",
                            "a",          "--group", ctx.name,           NULL};
    const char *args_b[] = {"--batch-ms", "50",      "--stats-interval", "0", "--instance",
                            "b",          "--group", ctx.name,           NULL};
    pid_t a = itest_spawn_logged(&ctx, INGEST, args_a, log_a);
    pid_t b = itest_spawn_logged(&ctx, INGEST, args_b, log_b);
    struct timespec ts = {6, 0};
    nanosleep(&ts, NULL);
    itest_produce_file(&ctx, path);
    mongo_goal all = {want, NULL};
    assert_true(itest_wait_until(mongo_reached, &ctx, &all, 300000));
    nanosleep(&(struct timespec){2, 0}, NULL);
    assert_int_equal(itest_stop(a, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(b, SIGTERM, 30000), 0);
    long long ea = itest_log_last_value(log_a, "events="),
              eb = itest_log_last_value(log_b, "events=");
    printf("  ingester a: %lld events, b: %lld events, distinct %lld\n", ea, eb, want);
    assert_true(ea > 0);
    assert_true(eb > 0);
    assert_int_equal(itest_mongo_count(&ctx, NULL), want);
    remove(path);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entities_round_trip_and_newest_wins),
        cmocka_unit_test(same_id_twice_is_stored_once),
        cmocka_unit_test(poison_goes_to_dlq_and_good_events_are_stored),
        cmocka_unit_test(two_ingesters_share_partitions),
        cmocka_unit_test(kill_9_mid_stream_loses_nothing_and_stores_once),
        cmocka_unit_test(store_restarts_mid_stream_lose_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
