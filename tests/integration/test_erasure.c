/*
 * Erasure of a user (user.erased) end to end on the real stack: Kafka,
 * tally-ingest, tally-aggregate, PostgreSQL, MongoDB.
 *
 * A user with a history, ratings, a subscription and rollups in three months,
 * beside another user of the same tenant and a user with the same id in
 * another tenant, is erased. Then: no document, rollup, rating, user,
 * subscription, limit or de-duplication row of that tenant holds the real id
 * or the texts from before the erasure; every report total is identical, and
 * group_by=user shows the pseudonym with the user's sums; events of the same
 * id after the erasure are stored normally; the other tenant's user is
 * untouched. The whole topic replayed from offset 0 into fresh consumer
 * groups and fresh databases gives the same. An erasure of an unknown user
 * or tenant is recorded and changes nothing. kill -9 of the aggregator while
 * it applies an erasure, a few rounds: the next run finishes it.
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

#include <mongoc/mongoc.h>

#include "itest.h"
#include "tally_analytics.h"
#include "tally_docs.h"
#include "tally_pg.h"

#define SECRET "test-pseudonym-secret"
#define TENANT "acme-erase"
#define OTHER "other-erase"
#define ALICE "alice-5511987654321"
#define BOB "bob-5511912345678"
#define ERASED_AT "2026-03-20T00:00:00-03:00"
#define ERASED_AT_SQL "'2026-03-20T03:00:00Z'"
#define MARK "SECRET-TEXT"

/* --- events ------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
} lines;

static void add(lines *l, const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    l->v[l->n++] = s;
}

static void publish(const itest_ctx *ctx, lines *l, const char *key) {
    const char **keys = calloc(l->n, sizeof *keys);
    size_t *lens = calloc(l->n, sizeof *lens);
    for (size_t i = 0; i < l->n; i++) {
        keys[i] = key;
        lens[i] = strlen(l->v[i]);
    }
    itest_produce(ctx, ctx->topic, keys, (const char *const *)l->v, lens, l->n);
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    free(keys);
    free(lens);
    memset(l, 0, sizeof *l);
}

static void interaction(lines *l, const char *id, const char *tenant, const char *user,
                        const char *model, const char *time, int in, int out) {
    add(l,
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"interaction.recorded\",\"time\":\"%s\","
        "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"%s\",\"model_id\":\"%s\","
        "\"input_tokens\":%d,\"output_tokens\":%d,\"agent_id\":\"agent-1\",\"channel\":\"whatsapp\","
        "\"question\":\"" MARK " q of %s\",\"answer\":\"" MARK " a of %s\","
        "\"params\":{\"temperature\":0.2},\"metadata\":{\"phone\":\"%s\"},"
        "\"attachments\":[{\"filename\":\"" MARK ".pdf\"}],\"intent\":\"billing\"}}",
        id, time, tenant, tenant, user, model, in, out, user, user, user);
}

static void rating(lines *l, const char *id, const char *tenant, const char *user,
                   const char *interaction_id, const char *time, bool like) {
    add(l,
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"feedback.recorded\",\"time\":\"%s\","
        "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"%s\","
        "\"interaction_id\":\"%s\",\"rating\":\"%s\"}}",
        id, time, tenant, tenant, user, interaction_id, like ? "like" : "dislike");
}

static void user_upsert(lines *l, const char *id, const char *tenant, const char *user,
                        const char *name, const char *time) {
    add(l,
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"user.upserted\",\"time\":\"%s\","
        "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"%s\",\"name\":\"%s\","
        "\"email\":\"%s@example.com\",\"role\":\"member\"}}",
        id, time, tenant, tenant, user, name, user);
}

static void erase(lines *l, const char *id, const char *tenant, const char *user,
                  const char *time) {
    add(l,
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"user.erased\",\"time\":\"%s\","
        "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"%s\"}}",
        id, time, tenant, tenant, user);
}

/* The history before the erasure: three months of ALICE and BOB in TENANT,
 * ratings both ways, a subscription of ALICE, and ALICE of OTHER. Returns the
 * interactions added. */
static int history(lines *l) {
    int n = 0;
    add(l, "{\"specversion\":\"1.0\",\"id\":\"t-1\",\"type\":\"tenant.upserted\","
           "\"time\":\"2026-01-01T00:00:00Z\",\"subject\":\"" TENANT "\","
           "\"data\":{\"tenant_id\":\"" TENANT "\",\"name\":\"Acme\"}}");
    user_upsert(l, "u-a1", TENANT, ALICE, "Alice Original", "2026-01-02T10:00:00Z");
    user_upsert(l, "u-b1", TENANT, BOB, "Bob Original", "2026-01-02T10:00:00Z");
    add(l, "{\"specversion\":\"1.0\",\"id\":\"p-1\",\"type\":\"plan.upserted\","
           "\"time\":\"2026-01-01T00:00:00Z\",\"subject\":\"" TENANT "\","
           "\"data\":{\"plan_id\":\"plan-erase\",\"tenant_id\":\"" TENANT "\",\"name\":\"P\","
           "\"monthly_request_limit\":1000}}");
    add(l, "{\"specversion\":\"1.0\",\"id\":\"s-1\",\"type\":\"subscription.upserted\","
           "\"time\":\"2026-01-03T00:00:00Z\",\"subject\":\"" TENANT "\","
           "\"data\":{\"subscription_id\":\"sub-alice\",\"tenant_id\":\"" TENANT "\","
           "\"user_id\":\"" ALICE "\",\"plan_id\":\"plan-erase\","
           "\"starts_at\":\"2026-01-01T00:00:00Z\"}}");
    const char *months[] = {"2026-01", "2026-02", "2026-03"};
    const char *models[] = {"openai/gpt-4o-mini", "anthropic/claude-haiku"};
    char id[64], t[64], rid[64];
    for (int m = 0; m < 3; m++) {
        for (int k = 0; k < 6; k++) {
            snprintf(t, sizeof t, "%s-%02dT%02d:%02d:00-03:00", months[m], 3 + k * 2, 9 + k,
                     7 * k % 60);
            snprintf(id, sizeof id, "ix-a-%d-%d", m, k);
            interaction(l, id, TENANT, ALICE, models[k % 2], t, 100 + 10 * k + m, 50 + k);
            n++;
            if (k % 2 == 0) { /* ALICE rates her own, BOB rates ALICE's */
                snprintf(rid, sizeof rid, "fb-a-%d-%d", m, k);
                rating(l, rid, TENANT, ALICE, id, t, k % 4 == 0);
                snprintf(rid, sizeof rid, "fb-ba-%d-%d", m, k);
                rating(l, rid, TENANT, BOB, id, t, true);
            }
            snprintf(id, sizeof id, "ix-b-%d-%d", m, k);
            interaction(l, id, TENANT, BOB, models[(k + 1) % 2], t, 200 + k, 70 + m);
            n++;
            if (k % 3 == 0) { /* ALICE rates BOB's */
                snprintf(rid, sizeof rid, "fb-ab-%d-%d", m, k);
                rating(l, rid, TENANT, ALICE, id, t, false);
            }
            snprintf(id, sizeof id, "ix-o-%d-%d", m, k);
            interaction(l, id, OTHER, ALICE, models[0], t, 300 + k, 90);
            n++;
        }
    }
    /* the straddling 15 minutes: just before the erasure */
    interaction(l, "ix-a-edge", TENANT, ALICE, models[0], "2026-03-19T23:59:59.999-03:00", 7, 7);
    return n + 1;
}

/* --- waiting ------------------------------------------------------------ */

typedef struct {
    long long want;
    const char *sql;
} goal;

static bool reached(const itest_ctx *ctx, void *arg) {
    const goal *g = arg;
    return itest_pg_scalar(ctx, g->sql) >= g->want;
}

static void wait_for(const itest_ctx *ctx, const char *sql, long long want) {
    goal g = {want, sql};
    if (!itest_wait_until(reached, ctx, &g, 180000))
        fail_msg("timed out waiting for %s >= %lld (now %lld)", sql, want,
                 itest_pg_scalar(ctx, sql));
}

static bool mongo_reached(const itest_ctx *ctx, void *arg) {
    return itest_mongo_count_try(ctx, NULL) >= *(long long *)arg;
}

/* --- reading what the stores hold -------------------------------------- */

static char *report(const itest_ctx *ctx, const char *tenant, const char *from, const char *to,
                    const char *gran, const char *group_by) {
    tally_err err;
    tally_pg *pg = tally_pg_open(ctx->pg_url, &err);
    if (!pg) fail_msg("%s", err.msg);
    tally_usage_request req = {tenant, from, to, gran, group_by, NULL, 0};
    json_t *rep = NULL;
    if (tally_report_usage(pg, &req, &rep, &err) != TALLY_OK) fail_msg("report: %s", err.msg);
    char *text = tally_report_json_text(rep);
    json_decref(rep);
    tally_pg_close(pg);
    return text;
}

/* The reports whose totals erasure must not change. */
#define N_REPORTS 4
static void reports(const itest_ctx *ctx, const char *to, char *out[N_REPORTS]) {
    out[0] = report(ctx, TENANT, "2026-01-01", to, "month", "model");
    out[1] = report(ctx, TENANT, "2026-01-01", to, "day", "model");
    out[2] = report(ctx, TENANT, "2026-01-01", to, "month", NULL);
    out[3] = report(ctx, OTHER, "2026-01-01", to, "month", "model,user");
}

static void same_reports(char *a[N_REPORTS], char *b[N_REPORTS], const char *what) {
    for (int i = 0; i < N_REPORTS; i++) {
        if (strcmp(a[i], b[i]) != 0)
            fail_msg("%s: report %d differs:\n%s\n%s", what, i, a[i], b[i]);
    }
}

static void free_reports(char *r[N_REPORTS]) {
    for (int i = 0; i < N_REPORTS; i++) free(r[i]);
}

/* The rows of a group_by=user month report, the user value replaced by "U",
 * for one user: what that user's numbers are, whatever their name. */
static char *user_rows(const char *report_text, const char *user) {
    json_t *rep = json_loads(report_text, 0, NULL);
    json_t *rows = json_object_get(rep, "rows"), *mine = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *group = json_object_get(row, "group");
        const char *v = json_string_value(json_object_get(group, "user"));
        if (!v || strcmp(v, user) != 0) continue;
        json_t *copy = json_deep_copy(row);
        json_object_set_new(json_object_get(copy, "group"), "user", json_string("U"));
        char *dump = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
        json_array_append_new(mine, json_string(dump));
        free(dump);
        json_decref(copy);
    }
    char *out = json_dumps(mine, JSON_COMPACT);
    json_decref(mine);
    json_decref(rep);
    return out;
}

static char *by_user(const itest_ctx *ctx, const char *to) {
    return report(ctx, TENANT, "2026-01-01", to, "month", "user");
}

/* Rows of the tenant in PostgreSQL that hold `needle` in any column and are
 * from before the erasure, per table; 0 when none anywhere. */
static long long pg_rows_with(const itest_ctx *ctx, const char *needle) {
    static const char *const tables[][2] = {
        {"users", "ev_time"},
        {"feedback", "ev_time"},
        {"subscriptions", "ev_time"},
        {"usage_rollup", "bucket"},
        {"agg_interactions", "bucket"},
        {"agg_feedback", "ev_time"},
        {"limit_usage", "day::timestamp AT TIME ZONE 'America/Sao_Paulo'"},
        {"erasures", "erased_at"},
        {"lifecycle_runs", "started_at"},
        {"alert_outbox", "crossed_at"},
    };
    long long total = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[512];
        snprintf(
            sql, sizeof sql,
            "SELECT count(*) FROM %s x WHERE x::text LIKE '%%%s%%' AND (x::text LIKE '%%" TENANT
            "%%') AND (%s < " ERASED_AT_SQL " OR '%s' IN ('erasures', 'lifecycle_runs'))",
            tables[i][0], needle, tables[i][1], tables[i][0]);
        long long n = itest_pg_scalar(ctx, sql);
        if (n) printf("  %s: %lld rows with %s\n", tables[i][0], n, needle);
        total += n;
    }
    return total;
}

/* MongoDB documents of TENANT: those from before the erasure that hold the
 * needle anywhere, and (out) how many are under `pseudonym`. */
static long long docs_with(const itest_ctx *ctx, const char *needle, const char *pseudonym,
                           long long *under_pseudonym, long long *after_real) {
    mongoc_uri_t *uri = mongoc_uri_new(ctx->mongo_url);
    mongoc_client_t *c = mongoc_client_new_from_uri(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, mongoc_uri_get_database(uri),
                                                             "interactions");
    bson_t *q = BCON_NEW("tenant_id", TENANT);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, q, NULL, NULL);
    const bson_t *doc;
    long long bad = 0, mine = 0, later = 0;
    const int64_t erased_ms = 1773975600000LL; /* 2026-03-20T03:00:00Z */
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        int64_t ms = bson_iter_init_find(&it, doc, "time") ? bson_iter_date_time(&it) : 0;
        char *s = bson_as_relaxed_extended_json(doc, NULL);
        bool anon = pseudonym && strstr(s, pseudonym);
        if ((ms < erased_ms && strstr(s, needle)) || (anon && strstr(s, MARK))) {
            if (!bad) printf("  a document holds what it must not: %s\n", s);
            bad++;
        }
        if (anon) mine++;
        if (ms >= erased_ms && strstr(s, needle) && strstr(s, MARK)) later++;
        bson_free(s);
    }
    bson_error_t e;
    if (mongoc_cursor_error(cur, &e)) fail_msg("mongo: %s", e.message);
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    mongoc_uri_destroy(uri);
    if (under_pseudonym) *under_pseudonym = mine;
    if (after_real) *after_real = later;
    return bad;
}

static void check_erased(const itest_ctx *ctx, const char *user, const char *pseudonym,
                         long long want_docs) {
    assert_int_equal(pg_rows_with(ctx, user), 0);
    assert_int_equal(pg_rows_with(ctx, "Alice Original"), 0); /* the personal fields */
    long long mine = 0;
    assert_int_equal(docs_with(ctx, user, pseudonym, &mine, NULL), 0);
    assert_int_equal(mine, want_docs);
    /* the pseudonym took the user's place */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage_rollup WHERE tenant_id = '" TENANT "' AND user_id = '%s'",
             pseudonym);
    assert_true(itest_pg_scalar(ctx, sql) > 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM users WHERE tenant_id = '" TENANT "' AND user_id = '%s'"
             " AND name IS NULL AND email IS NULL",
             pseudonym);
    assert_int_equal(itest_pg_scalar(ctx, sql), 1);
}

/* --- the pipeline -------------------------------------------------------- */

static pid_t spawn(const itest_ctx *ctx, const char *binary, const char *group) {
    const char *args[] = {"--batch-ms", "50", "--stats-interval", "0", "--group", group, NULL};
    return itest_spawn(ctx, binary, args);
}

/* A second PostgreSQL and MongoDB database for ctx's topic: the replay's. */
static void fresh_databases(const itest_ctx *ctx, itest_ctx *r) {
    *r = *ctx;
    snprintf(r->name, sizeof r->name, "%.50s_r", ctx->name);
    char old_db[96], new_db[96];
    snprintf(old_db, sizeof old_db, "itest_%s", ctx->name);
    snprintf(new_db, sizeof new_db, "itest_%s", r->name);
    char *urls[] = {r->pg_url, r->mongo_url};
    for (int i = 0; i < 2; i++) {
        char *at = strstr(urls[i], old_db);
        assert_non_null(at);
        char rest[512];
        snprintf(rest, sizeof rest, "%s", at + strlen(old_db));
        snprintf(at, sizeof r->pg_url - (size_t)(at - urls[i]), "%s%s", new_db, rest);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", new_db);
    itest_pg_exec(ctx, true, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", new_db);
    itest_pg_exec(ctx, true, sql);
}

static void drop_databases(itest_ctx *r) {
    tally_err err;
    tally_docs *d = tally_docs_open(r->mongo_url, &err);
    if (d) {
        tally_docs_drop_interactions(d, &err);
        tally_docs_close(d);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS itest_%s WITH (FORCE)", r->name);
    itest_pg_exec(r, true, sql);
}

static void erasure_end_to_end(void **state) {
    (void)state;
    setenv("TALLY_PSEUDONYM_SECRET", SECRET, 1);
    unsetenv("TALLY_PSEUDONYM_SECRET_PREVIOUS");
    itest_ctx ctx;
    itest_setup(&ctx, "erasure", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);

    char alice_p[TALLY_PSEUDONYM_SIZE], bob_p[TALLY_PSEUDONYM_SIZE], hash[65];
    tally_pg_pseudonym(SECRET, TENANT, ALICE, hash, alice_p);
    tally_pg_pseudonym(SECRET, TENANT, BOB, NULL, bob_p);
    assert_int_equal(strlen(alice_p), 23);
    assert_int_equal(strncmp(alice_p, "erased-", 7), 0);

    /* 1. the history, counted */
    lines l = {0};
    int n = history(&l);
    publish(&ctx, &l, TENANT);
    pid_t ing = spawn(&ctx, "ingest/tally-ingest", "erase-ingest");
    pid_t agg = spawn(&ctx, "analytics/tally-aggregate", "erase-aggregate");
    wait_for(&ctx, "SELECT count(*) FROM agg_interactions", n);
    wait_for(&ctx, "SELECT count(*) FROM feedback", 24);
    wait_for(&ctx, "SELECT count(*) FROM agg_feedback", 24);
    long long want_docs = n;
    assert_true(itest_wait_until(mongo_reached, &ctx, &want_docs, 120000));
    char *before[N_REPORTS];
    reports(&ctx, "2026-03-20", before);
    char *users_before = by_user(&ctx, "2026-03-20");
    char *alice_before = user_rows(users_before, ALICE);
    assert_true(strlen(alice_before) > 10);     /* she has rows */
    assert_true(pg_rows_with(&ctx, ALICE) > 0); /* the check can fail */

    /* 2. the erasure, then ALICE again as new data */
    erase(&l, "evt-erase-alice", TENANT, ALICE, ERASED_AT);
    interaction(&l, "ix-a-after-1", TENANT, ALICE, "openai/gpt-4o-mini",
                "2026-03-25T10:00:00-03:00", 11, 12);
    rating(&l, "fb-a-after", TENANT, ALICE, "ix-a-after-1", "2026-03-25T10:01:00-03:00", true);
    user_upsert(&l, "u-a2", TENANT, ALICE, "Alice Again", "2026-03-26T00:00:00Z");
    /* a late event from before the erasure, published after it */
    interaction(&l, "ix-a-late", TENANT, ALICE, "openai/gpt-4o-mini", "2025-12-10T08:00:00-03:00",
                5, 5);
    publish(&ctx, &l, TENANT);
    wait_for(&ctx,
             "SELECT count(*) FROM erasures WHERE ingest_run IS NOT NULL AND aggregate_run IS"
             " NOT NULL",
             1);
    wait_for(&ctx, "SELECT count(*) FROM agg_interactions", n + 2);
    wait_for(&ctx,
             "SELECT count(*) FROM lifecycle_runs WHERE kind = 'erasure' AND finished_at IS NOT"
             " NULL",
             2);
    wait_for(&ctx, "SELECT count(*) FROM users WHERE name = 'Alice Again'", 1);
    wait_for(&ctx, "SELECT count(*) FROM feedback WHERE event_id = 'fb-a-after'", 1);
    want_docs = n + 2;
    assert_true(itest_wait_until(mongo_reached, &ctx, &want_docs, 120000));

    /* the record holds no real id; the runs say what they touched */
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM erasures WHERE user_hash = '%s' AND pseudonym = '%s'"
             " AND erased_at = " ERASED_AT_SQL,
             hash, alice_p);
    assert_int_equal(itest_pg_scalar(&ctx, sql), 1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM lifecycle_runs WHERE"
                                           " requested_by = 'event:evt-erase-alice' AND"
                                           " (touched->>'usage_rollup')::int > 0 AND"
                                           " (touched->>'agg_feedback')::int > 0"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM lifecycle_runs WHERE"
                                           " requested_by = 'event:evt-erase-alice' AND"
                                           " (touched->>'interactions')::int > 0 AND"
                                           " (touched->>'users')::int = 1 AND"
                                           " (touched->>'subscriptions')::int = 1"),
                     1);
    /* 18 months×k + the edge + the late one, all under the pseudonym */
    check_erased(&ctx, ALICE, alice_p, 18 + 2);

    /* the late event from before the erasure went straight to the pseudonym */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM agg_interactions WHERE interaction_id = 'ix-a-late'"
             " AND user_id = '%s'",
             alice_p);
    assert_int_equal(itest_pg_scalar(&ctx, sql), 1);

    /* 3. totals identical (the window ends at the erasure; the late event
     * is in December, outside it); group_by=user shows the pseudonym with
     * ALICE's sums, and no row of the real id */
    char *after[N_REPORTS];
    reports(&ctx, "2026-03-20", after);
    same_reports(before, after, "after the erasure");
    free_reports(after);
    char *u_after = by_user(&ctx, "2026-03-20");
    char *pseudo_after = user_rows(u_after, alice_p), *real_after = user_rows(u_after, ALICE);
    assert_string_equal(real_after, "[]");
    assert_string_equal(alice_before, pseudo_after);
    free(real_after);
    free(u_after);

    /* 4. events after the erasure are stored normally */
    assert_int_equal(itest_pg_scalar(&ctx,
                                     "SELECT count(*) FROM agg_interactions WHERE"
                                     " interaction_id = 'ix-a-after-1' AND user_id = '" ALICE "'"),
                     1);
    long long later = 0;
    docs_with(&ctx, ALICE, NULL, NULL, &later);
    assert_int_equal(later, 1);
    assert_int_equal(itest_pg_scalar(&ctx,
                                     "SELECT count(*) FROM usage_rollup WHERE user_id = '" ALICE
                                     "' AND tenant_id = '" TENANT "' AND bucket >= " ERASED_AT_SQL),
                     1);
    /* the same id in another tenant is another person */
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions WHERE"
                                           " tenant_id = '" OTHER "' AND user_id = '" ALICE "'"),
                     18);

    /* 5. an erasure of an unknown user and of an unknown tenant: recorded,
     * nothing else changes */
    char *u_before_unknown = by_user(&ctx, "2026-04-01");
    erase(&l, "evt-erase-nobody", TENANT, "nobody", "2026-03-27T00:00:00Z");
    publish(&ctx, &l, TENANT);
    erase(&l, "evt-erase-ghost", "ghost-tenant", "x", "2026-03-27T00:00:00Z");
    publish(&ctx, &l, "ghost-tenant");
    wait_for(&ctx,
             "SELECT count(*) FROM erasures WHERE ingest_run IS NOT NULL AND aggregate_run IS"
             " NOT NULL",
             3);
    wait_for(&ctx,
             "SELECT count(*) FROM lifecycle_runs WHERE kind = 'erasure' AND finished_at IS NOT"
             " NULL",
             6);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM lifecycle_runs WHERE"
                                           " requested_by IN ('event:evt-erase-nobody',"
                                           " 'event:evt-erase-ghost') AND (SELECT sum(v::int) FROM"
                                           " jsonb_each_text(touched - 'consumer') e(k, v)) = 0"),
                     4);
    char *u_after_unknown = by_user(&ctx, "2026-04-01");
    assert_string_equal(u_before_unknown, u_after_unknown);
    free(u_before_unknown);
    free(u_after_unknown);

    assert_int_equal(itest_stop(ing, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);

    /* 6. the whole topic replayed from offset 0 into fresh consumer groups
     * and fresh databases: nothing of the real id comes back; every report
     * is the same */
    itest_ctx r;
    fresh_databases(&ctx, &r);
    assert_int_equal(itest_run(&r, "cli/tally", migrate), 0);
    ing = spawn(&r, "ingest/tally-ingest", "erase-replay-ingest");
    agg = spawn(&r, "analytics/tally-aggregate", "erase-replay-aggregate");
    wait_for(&r, "SELECT count(*) FROM agg_interactions", n + 2);
    wait_for(&r,
             "SELECT count(*) FROM erasures WHERE ingest_run IS NOT NULL AND aggregate_run IS"
             " NOT NULL",
             3);
    wait_for(&r,
             "SELECT count(*) FROM lifecycle_runs WHERE kind = 'erasure' AND finished_at IS NOT"
             " NULL",
             6);
    wait_for(&r, "SELECT count(*) FROM users WHERE name = 'Alice Again'", 1);
    wait_for(&r, "SELECT count(*) FROM feedback", 25);
    want_docs = n + 2;
    assert_true(itest_wait_until(mongo_reached, &r, &want_docs, 120000));
    assert_int_equal(itest_stop(ing, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    check_erased(&r, ALICE, alice_p, 18 + 2);
    char *replayed[N_REPORTS], *now[N_REPORTS];
    reports(&ctx, "2026-04-01", now);
    reports(&r, "2026-04-01", replayed);
    same_reports(now, replayed, "replay");
    free_reports(now);
    free_reports(replayed);
    reports(&r, "2026-03-20", now);
    same_reports(before, now, "replay, up to the erasure");
    free_reports(now);
    free_reports(before);
    char *u1 = by_user(&ctx, "2026-04-01"), *u2 = by_user(&r, "2026-04-01");
    assert_string_equal(u1, u2);
    free(u1);
    free(u2);

    /* 7. the same topic replayed into the first databases by fresh groups:
     * the erasure records keep the real id out */
    ing = spawn(&ctx, "ingest/tally-ingest", "erase-again-ingest");
    agg = spawn(&ctx, "analytics/tally-aggregate", "erase-again-aggregate");
    wait_for(&ctx,
             "SELECT coalesce(sum(next_offset), 0) - (SELECT sum(next_offset) FROM"
             " consumer_offsets WHERE group_id = 'erase-aggregate') + 1 FROM consumer_offsets"
             " WHERE group_id = 'erase-again-aggregate'",
             1);
    nanosleep(&(struct timespec){5, 0}, NULL);
    assert_int_equal(itest_stop(ing, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    check_erased(&ctx, ALICE, alice_p, 18 + 2);
    drop_databases(&r);

    /* 8. kill -9 of the aggregator while it applies an erasure (of BOB),
     * a few rounds: the next run finishes it, no total changes */
    char *k_before[N_REPORTS];
    reports(&ctx, "2026-04-01", k_before);
    for (int i = 0; i < 4000; i++) { /* work in front of it, so the kills land near it */
        char id[48], t[48];
        snprintf(id, sizeof id, "ix-fill-%d", i);
        snprintf(t, sizeof t, "2026-02-%02dT%02d:%02d:00Z", 1 + i % 27, i % 24, i % 60);
        interaction(&l, id, OTHER, "filler", "openai/gpt-4o-mini", t, 1, 1);
    }
    publish(&ctx, &l, OTHER);
    erase(&l, "evt-erase-bob", TENANT, BOB, ERASED_AT);
    publish(&ctx, &l, TENANT);
    unsigned seed = (unsigned)getpid();
    int rounds = getenv("TALLY_TEST_KILL_ROUNDS") ? atoi(getenv("TALLY_TEST_KILL_ROUNDS")) : 6;
    for (int i = 0; i < rounds; i++) {
        agg = spawn(&ctx, "analytics/tally-aggregate", "erase-aggregate");
        nanosleep(&(struct timespec){0, (long)(100 + rand_r(&seed) % 500) * 1000000L}, NULL);
        assert_int_equal(itest_stop(agg, SIGKILL, 10000), 128 + SIGKILL);
    }
    agg = spawn(&ctx, "analytics/tally-aggregate", "erase-aggregate");
    ing = spawn(&ctx, "ingest/tally-ingest", "erase-ingest");
    wait_for(&ctx, "SELECT count(*) FROM erasures WHERE aggregate_run IS NOT NULL", 4);
    wait_for(&ctx, "SELECT count(*) FROM erasures WHERE ingest_run IS NOT NULL", 4);
    wait_for(&ctx, "SELECT count(*) FROM agg_interactions", n + 2 + 4000);
    wait_for(&ctx,
             "SELECT count(*) FROM lifecycle_runs WHERE kind = 'erasure' AND finished_at IS NOT"
             " NULL",
             8);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(ing, SIGTERM, 30000), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM lifecycle_runs WHERE"
                                           " requested_by = 'event:evt-erase-bob'"),
                     2); /* once per consumer, however often it was killed */
    assert_int_equal(pg_rows_with(&ctx, BOB), 0);
    assert_int_equal(pg_rows_with(&ctx, "Bob Original"), 0);
    long long bobs = 0;
    assert_int_equal(docs_with(&ctx, BOB, bob_p, &bobs, NULL), 0);
    assert_int_equal(bobs, 18);
    char *k_after[N_REPORTS];
    reports(&ctx, "2026-04-01", k_after);
    for (int i = 0; i < 3; i++) assert_string_equal(k_before[i], k_after[i]);
    free_reports(k_before);
    free_reports(k_after);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage_rollup WHERE tenant_id = '" TENANT "' AND user_id = '%s'",
             bob_p);
    assert_true(itest_pg_scalar(&ctx, sql) > 0);

    free(users_before);
    free(alice_before);
    free(pseudo_after);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(erasure_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
