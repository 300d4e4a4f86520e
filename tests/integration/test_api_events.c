/*
 * POST /v1/events on the real stack, over real HTTP (libcurl) and real
 * Kafka: a batch read back from the topic holds exactly the valid events of
 * a mixed batch, each invalid one answered with the decoder's own reason;
 * a batch of interactions (and the tenant, price and rate they need) goes
 * through tally-ingest and tally-aggregate into the usage report, twice
 * posted and counted once; structured mode; the content types, size and
 * count limits; tenant keys confined to their own tenant; and a second
 * tally-api whose Kafka is a closed port answering 503 with Retry-After
 * within its bounded wait.
 *
 * One server (and one set of databases and topics) is shared by the tests
 * of the group, in the order listed at the end: the mixed batch comes first,
 * so that the topic then holds nothing but what it published.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include <cmocka.h>

#include "api_itest.h"
#include "tally_pg.h"
#include "tally_stream.h"

#define ADMIN_KEY "itest-admin-key-events-0123"
#define ONE "application/cloudevents+json"
#define BATCH "application/cloudevents-batch+json"
#define MIB (1024 * 1024)
#define E2E_TENANT "ev-e2e"
#define E2E_N 10 /* interactions in the end-to-end batch, one of them an error */

#define PSEUDONYM_SECRET "itest-pseudonym-secret"

static itest_ctx ctx;
static pid_t api;
static char base[64], api_log[1024];

/* --- HTTP: POST with a Content-Type of our choosing ------------------------- */

typedef struct {
    long status;
    char *body;
    size_t len;
    char ctype[128];
    char retry_after[32];
    double seconds;
} post_result;

/* POST body (len bytes) to /v1/events of `at` with Content-Type ctype (NULL:
 * none) and key (NULL: none); `chunked`: without a Content-Length. */
static post_result post_to(const char *at, const char *key, const char *ctype, const char *body,
                           size_t len, bool chunked) {
    char ct[256];
    snprintf(ct, sizeof ct, "Content-Type:%s%s", ctype ? " " : "", ctype ? ctype : "");
    const char *headers[] = {ct, "Expect:", chunked ? "Transfer-Encoding: chunked" : NULL, NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    api_http h = api_http_do_h(at, "POST", "/v1/events", key, body, len, headers);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    post_result r = {.status = h.status, .body = h.body, .len = h.len};
    r.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    snprintf(r.ctype, sizeof r.ctype, "%s", h.ctype);
    api_http_header(&h, "Retry-After", r.retry_after, sizeof r.retry_after);
    free(h.headers);
    return r;
}

static post_result post(const char *key, const char *ctype, const char *body) {
    return post_to(base, key, ctype, body, strlen(body), false);
}

static json_t *result_json(const post_result *r) {
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (!j) fail_msg("not JSON (%s): %.300s", e.text, r->body);
    return j;
}

/* Expect `status` and return the JSON answer (caller decrefs). */
static json_t *post_expect(const char *key, const char *ctype, const char *body, long status) {
    post_result r = post(key, ctype, body);
    if (r.status != status)
        fail_msg("POST /v1/events (%s): status %ld, expected %ld: %.400s", ctype ? ctype : "-",
                 r.status, status, r.body);
    json_t *j = result_json(&r);
    free(r.body);
    return j;
}

/* The message of an error answer: `detail` of a problem document (or the
 * older {"error": ...}); the test fails when there is neither. */
static const char *error_message(json_t *j) {
    const char *m = json_string_value(json_object_get(j, "detail"));
    if (!m) m = json_string_value(json_object_get(j, "error"));
    if (!m) fail_msg("no error message in %s", json_dumps(j, JSON_COMPACT));
    return m;
}

static void expect_error(json_t *j, const char *starts_with) {
    const char *m = error_message(j);
    if (strncmp(m, starts_with, strlen(starts_with)))
        fail_msg("error \"%s\" does not begin with \"%s\"", m, starts_with);
}

/* What the consumers' decoder says of one event (NULL: valid). */
static const char *decoder_says(const char *ev, char *buf, size_t len) {
    tally_event e;
    tally_err err = {0};
    if (tally_event_decode(ev, strlen(ev), &e, &err) == TALLY_OK) {
        tally_event_free(&e);
        return NULL;
    }
    snprintf(buf, len, "%s", err.msg);
    return buf;
}

/* --- events ---------------------------------------------------------------- */

static void interaction(char *out, size_t len, const char *id, const char *tenant, int day,
                        const char *extra) {
    snprintf(out, len,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"itest\",\"type\":"
             "\"interaction.recorded\",\"time\":\"2026-03-%02dT12:00:00-03:00\",\"subject\":\"%s\","
             "\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"u1\",\"model_id\":\"ev/model\","
             "\"input_tokens\":1000,\"output_tokens\":500%s}}",
             id, day, tenant, tenant, extra ? extra : "");
}

static void tenant_upserted(char *out, size_t len, const char *id, const char *subject,
                            const char *tenant) {
    snprintf(out, len,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"itest\",\"type\":"
             "\"tenant.upserted\",\"time\":\"2026-03-01T00:00:00Z\",\"subject\":\"%s\","
             "\"data\":{\"tenant_id\":\"%s\",\"name\":\"T\",\"timezone\":\"America/Sao_Paulo\"}}",
             id, subject, tenant);
}

static const char FX_EVENT[] =
    "{\"specversion\":\"1.0\",\"id\":\"ev-fx\",\"source\":\"itest\",\"type\":\"fx.rate_set\","
    "\"time\":\"2026-01-01T00:00:00Z\",\"data\":{\"currency\":\"BRL\",\"per_usd\":5,"
    "\"effective_from\":\"2026-01-01T00:00:00Z\"}}";
static const char PRICE_EVENT[] =
    "{\"specversion\":\"1.0\",\"id\":\"ev-price\",\"source\":\"itest\",\"type\":\"model.priced\","
    "\"time\":\"2026-01-01T00:00:00Z\",\"data\":{\"model_id\":\"ev/model\",\"input_usd_per_1m\":2,"
    "\"output_usd_per_1m\":8,\"minutes_saved_per_100_output_tokens\":1,"
    "\"effective_from\":\"2026-01-01T00:00:00Z\"}}";

/* "[a,b,...]" of n events; caller frees. */
static char *batch_of(const char *const *ev, size_t n) {
    size_t len = 3;
    for (size_t i = 0; i < n; i++) len += strlen(ev[i]) + 3; /* ",\n " before it */
    char *b = malloc(len);
    strcpy(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(b, ",\n ");
        strcat(b, ev[i]);
    }
    strcat(b, "]");
    return b;
}

/* --- the topic --------------------------------------------------------------- */

typedef struct {
    char ids[64][64];
    char keys[64][64];
    char values[64][1024];
    size_t n;
} topic_copy;

static void keep_message(const rd_kafka_message_t *m, void *arg) {
    topic_copy *t = arg;
    if (t->n == 64) return;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    snprintf(t->ids[t->n], sizeof t->ids[0], "%s",
             j ? json_string_value(json_object_get(j, "id")) : "?");
    snprintf(t->keys[t->n], sizeof t->keys[0], "%.*s", (int)m->key_len, (const char *)m->key);
    snprintf(t->values[t->n], sizeof t->values[0], "%.*s", (int)m->len, (const char *)m->payload);
    json_decref(j);
    t->n++;
}

/* --- the group's server -------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_setup(&ctx, "api_events", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/%s-api.log", ctx.name);
    itest_bin(rel, api_log, sizeof api_log);
    setenv("TALLY_PSEUDONYM_SECRET", PSEUDONYM_SECRET, 1); /* for the erasure route */
    api = api_start(&ctx, ADMIN_KEY, api_log, base, sizeof base);
    unsetenv("TALLY_PSEUDONYM_SECRET");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (api > 0) itest_stop(api, SIGKILL, 5000);
    itest_teardown(&ctx);
    curl_global_cleanup();
    return 0;
}

/* --- a mixed batch: per-event answers, only the valid ones in the topic ------- */

static void mixed_batch_publishes_only_valid_events(void **state) {
    (void)state;
    char ok1[1024], bad_tokens[1024], ok2[1024], bad_tenant[1024], no_id[1024];
    interaction(ok1, sizeof ok1, "mix-ok-1", "ev-mix", 2, NULL);
    interaction(bad_tokens, sizeof bad_tokens, "mix-bad-tokens", "ev-mix", 2,
                ",\"cached_tokens\":-1");
    tenant_upserted(ok2, sizeof ok2, "mix-ok-2", "ev-mix", "ev-mix");
    interaction(bad_tenant, sizeof bad_tenant, "mix-bad-tenant", "ev-mix", 2, NULL);
    /* data.tenant_id differs from subject: the decoder refuses it */
    char *p = strstr(bad_tenant, "\"tenant_id\":\"ev-mix\"");
    assert_non_null(p);
    memcpy(p + 13, "ev-xxx", 6);
    snprintf(no_id, sizeof no_id, "{\"specversion\":\"1.0\",\"type\":\"fx.rate_set\"}");
    const char *ev[] = {ok1, bad_tokens, ok2, "7", bad_tenant, no_id};
    char *body = batch_of(ev, 6);

    json_t *j = post_expect(ADMIN_KEY, BATCH, body, 202);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "rejected")), 4);
    json_t *results = json_object_get(j, "results");
    assert_int_equal(json_array_size(results), 6);
    const char *ids[] = {"mix-ok-1", "mix-bad-tokens", "mix-ok-2", NULL, "mix-bad-tenant", NULL};
    for (size_t i = 0; i < 6; i++) {
        json_t *res = json_array_get(results, i);
        assert_int_equal(json_integer_value(json_object_get(res, "index")), (json_int_t)i);
        json_t *id = json_object_get(res, "id");
        if (ids[i])
            assert_string_equal(json_string_value(id), ids[i]);
        else
            assert_true(json_is_null(id));
        char why[512];
        const char *expected = decoder_says(ev[i], why, sizeof why);
        const char *status = json_string_value(json_object_get(res, "status"));
        if (!expected) {
            assert_string_equal(status, "accepted");
            assert_null(json_object_get(res, "error"));
        } else {
            assert_string_equal(status, "rejected");
            assert_string_equal(json_string_value(json_object_get(res, "error")), expected);
        }
    }
    /* the reasons name the field at fault */
    assert_memory_equal(json_string_value(json_object_get(json_array_get(results, 1), "error")),
                        "data.cached_tokens: ", 20);
    assert_memory_equal(json_string_value(json_object_get(json_array_get(results, 4), "error")),
                        "data.tenant_id: ", 16);
    json_decref(j);

    /* Read back: the two valid ones, byte for byte as sent, keyed by tenant; asking for
     * one more than that proves there is no other. */
    topic_copy t = {0};
    assert_int_equal(itest_consume_all(&ctx, ctx.topic, keep_message, &t, 3, 8000), 2);
    for (size_t i = 0; i < t.n; i++) {
        const char *want = !strcmp(t.ids[i], "mix-ok-1") ? ok1 : ok2;
        assert_true(!strcmp(t.ids[i], "mix-ok-1") || !strcmp(t.ids[i], "mix-ok-2"));
        assert_string_equal(t.values[i], want);
        assert_string_equal(t.keys[i], "ev-mix");
    }
    assert_string_not_equal(t.ids[0], t.ids[1]);
    free(body);
}

/* --- end to end: published over HTTP, counted once, reported ----------------- */

/* The lag total of a group for the test's topic in a /metrics scrape, or -1. */
static long long lag_total(const char *group) {
    api_http r = api_http_do(base, "GET", "/metrics", NULL, NULL, NULL);
    char needle[512];
    snprintf(needle, sizeof needle, "tally_consumer_lag_total{group=\"%s\",topic=\"%s\"} ", group,
             ctx.topic);
    const char *p = strstr(r.body, needle);
    long long v = p ? atoll(p + strlen(needle)) : -1;
    api_http_free(&r);
    return v;
}

#define E2E_USAGE "/v1/tenants/" E2E_TENANT "/usage?from=2026-03-01&to=2026-04-01"

/* Everything published was stored and counted. */
/* A report's money or minutes: rounded to 6 places by the service. */
static void expect_number(json_t *obj, const char *name, double want) {
    double got = json_number_value(json_object_get(obj, name));
    if (!json_is_number(json_object_get(obj, name)) || got < want - 1e-9 || got > want + 1e-9)
        fail_msg("%s: %.9f, expected %.9f", name, got, want);
}

static bool all_counted(const itest_ctx *c, void *arg) {
    (void)arg;
    if (lag_total("tally-ingest") != 0 || lag_total("tally-aggregate") != 0) return false;
    if (itest_mongo_count_try(c, E2E_TENANT) != E2E_N) return false;
    api_http r = api_http_do(base, "GET", E2E_USAGE, ADMIN_KEY, NULL, NULL);
    bool done = r.status == 200;
    api_http_free(&r);
    return done;
}

static void batch_counted_end_to_end_once(void **state) {
    (void)state;
    char ev_buf[E2E_N + 3][1024];
    const char *ev[E2E_N + 3];
    tenant_upserted(ev_buf[0], sizeof ev_buf[0], "e2e-tenant", E2E_TENANT, E2E_TENANT);
    snprintf(ev_buf[1], sizeof ev_buf[1], "%s", PRICE_EVENT);
    snprintf(ev_buf[2], sizeof ev_buf[2], "%s", FX_EVENT);
    for (int i = 0; i < E2E_N; i++) {
        char id[32];
        snprintf(id, sizeof id, "e2e-%02d", i);
        interaction(ev_buf[3 + i], sizeof ev_buf[0], id, E2E_TENANT, 10 + i % 5,
                    i == 0 ? ",\"status\":\"error\"" : NULL);
    }
    for (int i = 0; i < E2E_N + 3; i++) ev[i] = ev_buf[i];
    char *body = batch_of(ev, E2E_N + 3);
    /* the same batch twice: the client's retry after, say, a lost answer */
    for (int round = 0; round < 2; round++) {
        json_t *j = post_expect(ADMIN_KEY, BATCH, body, 202);
        assert_int_equal(json_integer_value(json_object_get(j, "accepted")), E2E_N + 3);
        assert_int_equal(json_integer_value(json_object_get(j, "rejected")), 0);
        json_decref(j);
    }
    free(body);
    /* published: both copies are in the topic, on top of the mixed test's two */
    assert_int_equal(itest_consume_all(&ctx, ctx.topic, NULL, NULL, 2 * (E2E_N + 3) + 2, 15000),
                     2 * (E2E_N + 3) + 2);

    const char *args[] = {"--batch-ms", "50", NULL};
    pid_t ing = itest_spawn(&ctx, "ingest/tally-ingest", args);
    pid_t agg = itest_spawn(&ctx, "analytics/tally-aggregate", args);
    bool counted = itest_wait_until(all_counted, &ctx, NULL, 90000);
    assert_int_equal(itest_stop(agg, SIGTERM, 20000), 0);
    assert_int_equal(itest_stop(ing, SIGTERM, 20000), 0);
    assert_true(counted);

    json_t *j = api_get_json(base, E2E_USAGE, ADMIN_KEY);
    assert_string_equal(json_string_value(json_object_get(j, "timezone")), "America/Sao_Paulo");
    json_t *tot = json_object_get(j, "totals");
    assert_int_equal(json_integer_value(json_object_get(tot, "requests")), E2E_N);
    assert_int_equal(json_integer_value(json_object_get(tot, "errors")), 1);
    assert_int_equal(json_integer_value(json_object_get(tot, "input_tokens")), E2E_N * 1000);
    assert_int_equal(json_integer_value(json_object_get(tot, "output_tokens")), E2E_N * 500);
    /* per interaction 1000 × 2/1M + 500 × 8/1M = 0.006 USD, 0.03 BRL at 5, 5 minutes */
    expect_number(tot, "cost_usd", E2E_N * 0.006);
    expect_number(tot, "cost_brl", E2E_N * 0.03);
    expect_number(tot, "time_saved_minutes", E2E_N * 5.0);
    json_decref(j);
    assert_int_equal(itest_mongo_count(&ctx, E2E_TENANT), E2E_N);
}

/* --- structured mode ------------------------------------------------------------ */

static void single_event_structured_mode(void **state) {
    (void)state;
    char ev[1024];
    interaction(ev, sizeof ev, "one-1", "ev-one", 3, NULL);
    json_t *j = post_expect(ADMIN_KEY, ONE "; charset=utf-8", ev, 202);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "one-1");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "accepted");
    json_decref(j);

    /* invalid: 400 with exactly the decoder's message, which names the field */
    char bad[1024], why[512];
    interaction(bad, sizeof bad, "one-2", "ev-one", 3, ",\"latency_ms\":\"slow\"");
    assert_non_null(decoder_says(bad, why, sizeof why));
    j = post_expect(ADMIN_KEY, ONE, bad, 400);
    assert_string_equal(error_message(j), why);
    expect_error(j, "data.latency_ms: ");
    json_decref(j);
    j = post_expect(ADMIN_KEY, ONE, "[", 400);
    expect_error(j, "event: ");
    json_decref(j);
    /* an array is no single event */
    j = post_expect(ADMIN_KEY, ONE, "[]", 400);
    expect_error(j, "event: ");
    json_decref(j);
    /* no key: refused before anything is read */
    post_result r = post(NULL, ONE, ev);
    assert_int_equal(r.status, 401);
    free(r.body);
}

/* --- content types and limits ------------------------------------------------- */

static void other_content_types_are_415(void **state) {
    (void)state;
    char ev[1024];
    interaction(ev, sizeof ev, "ct-1", "ev-ct", 3, NULL);
    const char *types[] = {"application/json", "text/plain", NULL, "application/cloudevents+jsonx",
                           "application/cloudevents"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        json_t *j = post_expect(ADMIN_KEY, types[i], ev, 415);
        expect_error(j, "Content-Type: ");
        json_t *param = json_object_get(j, "param");
        if (param) assert_string_equal(json_string_value(param), "Content-Type");
        json_decref(j);
    }
    /* media types are case-insensitive */
    json_t *j = post_expect(ADMIN_KEY, "Application/CloudEvents+JSON", ev, 202);
    json_decref(j);
}

/* [{},{},...] of n events, padded with spaces to `size` bytes (0: none). */
static char *empty_events(size_t n, size_t size, size_t *len) {
    size_t core = 2 + 2 * n + (n ? n - 1 : 0);
    size_t total = size > core ? size : core;
    char *b = malloc(total + 1);
    size_t o = 0;
    b[o++] = '[';
    for (size_t i = 0; i < total - core; i++) b[o++] = ' ';
    for (size_t i = 0; i < n; i++) {
        if (i) b[o++] = ',';
        b[o++] = '{', b[o++] = '}';
    }
    b[o++] = ']';
    b[o] = '\0';
    *len = o;
    return b;
}

static void bodies_over_1_mib_are_413(void **state) {
    (void)state;
    size_t len;
    /* exactly 1 MiB is taken: 1000 events (none valid, nothing published) */
    char *b = empty_events(1000, MIB, &len);
    assert_int_equal(len, MIB);
    post_result r = post_to(base, ADMIN_KEY, BATCH, b, len, false);
    assert_int_equal(r.status, 202);
    json_t *j = result_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "rejected")), 1000);
    json_decref(j);
    free(r.body);
    free(b);
    /* one byte more is not, announced (Content-Length) or not (chunked) */
    b = empty_events(1000, MIB + 1, &len);
    for (int chunked = 0; chunked < 2; chunked++) {
        r = post_to(base, ADMIN_KEY, BATCH, b, len, chunked);
        if (r.status != 413) fail_msg("chunked=%d: status %ld: %.300s", chunked, r.status, r.body);
        j = result_json(&r);
        expect_error(j, "body: ");
        json_decref(j);
        free(r.body);
    }
    free(b);
}

static void batch_shape_and_count_are_checked(void **state) {
    (void)state;
    size_t len;
    char *b = empty_events(1001, 0, &len);
    json_t *j = post_expect(ADMIN_KEY, BATCH, b, 400);
    expect_error(j, "body: ");
    assert_non_null(strstr(error_message(j), "1000"));
    json_decref(j);
    free(b);
    b = empty_events(1000, 0, &len);
    j = post_expect(ADMIN_KEY, BATCH, b, 202);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 1000);
    json_decref(j);
    free(b);
    const char *bad[] = {"[]", " [ ] ", "{}", "\"x\"", "[{}", "", "[{},]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = post_expect(ADMIN_KEY, BATCH, bad[i], 400);
        expect_error(j, "body: ");
        json_decref(j);
    }
}

/* --- tenant keys --------------------------------------------------------------- */

static void make_key(const char *tenant, const char *scopes, char *out, size_t len) {
    char body[256];
    snprintf(body, sizeof body, "{\"tenant_id\":\"%s\"%s%s}", tenant, scopes ? ",\"scopes\":" : "",
             scopes ? scopes : "");
    api_http r = api_http_do(base, "POST", "/v1/admin/keys", ADMIN_KEY, body, NULL);
    if (r.status != 201) fail_msg("create key: %ld %s", r.status, r.body);
    json_t *j = api_http_json(&r);
    snprintf(out, len, "%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    api_http_free(&r);
}

static void tenant_keys_publish_only_their_tenant(void **state) {
    (void)state;
    char key[128], read_key[128];
    make_key("ev-own", "[\"ingest\"]", key, sizeof key);
    make_key("ev-own", NULL, read_key, sizeof read_key);
    char own[1024], other[1024], own_tenant[1024], forged[1024];
    interaction(own, sizeof own, "own-1", "ev-own", 4, NULL);
    interaction(other, sizeof other, "other-1", "ev-other", 4, NULL);
    tenant_upserted(own_tenant, sizeof own_tenant, "own-t", "ev-own", "ev-own");
    /* its own subject, another tenant's entity: the decoder lets it pass */
    tenant_upserted(forged, sizeof forged, "forged-t", "ev-own", "ev-other");

    json_t *j = post_expect(key, ONE, own, 202);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "own-1");
    json_decref(j);
    j = post_expect(key, ONE, other, 403);
    expect_error(j, "subject: ");
    json_decref(j);
    j = post_expect(key, ONE, FX_EVENT, 403); /* global: admin only */
    expect_error(j, "subject: ");
    json_decref(j);
    j = post_expect(key, ONE, PRICE_EVENT, 403);
    expect_error(j, "subject: ");
    json_decref(j);
    j = post_expect(key, ONE, forged, 403);
    expect_error(j, "data.tenant_id: ");
    json_decref(j);
    /* an erasure's time bounds what it erases, for good: a tenant key asks
     * through the erasure route (which sets the time), never as an event */
    j = post_expect(key, ONE,
                    "{\"specversion\":\"1.0\",\"id\":\"own-erase\",\"source\":\"t\",\"type\":"
                    "\"user.erased\",\"time\":\"9999-01-01T00:00:00Z\",\"subject\":\"ev-own\","
                    "\"data\":{\"tenant_id\":\"ev-own\",\"user_id\":\"u1\"}}",
                    403);
    expect_error(j, "type: ");
    json_decref(j);
    /* a key without the ingest scope publishes nothing */
    post_result r = post(read_key, ONE, own);
    assert_int_equal(r.status, 403);
    free(r.body);

    const char *ev[] = {own_tenant, other, FX_EVENT, forged, own};
    char *body = batch_of(ev, 5);
    j = post_expect(key, BATCH, body, 202);
    free(body);
    assert_int_equal(json_integer_value(json_object_get(j, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "rejected")), 3);
    json_t *res = json_object_get(j, "results");
    const char *want[] = {NULL, "subject: ", "subject: ", "data.tenant_id: ", NULL};
    for (size_t i = 0; i < 5; i++) {
        json_t *it = json_array_get(res, i);
        const char *status = json_string_value(json_object_get(it, "status"));
        if (!want[i]) {
            assert_string_equal(status, "accepted");
            continue;
        }
        assert_string_equal(status, "rejected");
        const char *err = json_string_value(json_object_get(it, "error"));
        assert_non_null(err);
        if (strncmp(err, want[i], strlen(want[i])))
            fail_msg("result %zu: \"%s\" does not begin with \"%s\"", i, err, want[i]);
    }
    json_decref(j);

    /* in the topic: own-1 twice (single, then batch) and own-t, nothing else of theirs */
    topic_copy t = {0};
    itest_consume_all(&ctx, ctx.topic, keep_message, &t, 64, 8000);
    int own_1 = 0, own_t = 0;
    for (size_t i = 0; i < t.n; i++) {
        own_1 += !strcmp(t.ids[i], "own-1");
        own_t += !strcmp(t.ids[i], "own-t");
        assert_string_not_equal(t.ids[i], "other-1");
        assert_string_not_equal(t.ids[i], "forged-t");
        assert_string_not_equal(t.ids[i], "own-erase");
    }
    assert_int_equal(own_1, 2);
    assert_int_equal(own_t, 1);
}

/* --- Kafka down ---------------------------------------------------------------- */

/* --- the erasure route: user.erased published, the pseudonym answered -------- */

typedef struct {
    const char *id;
    char key[64], value[1024];
    int found;
} find_one;

static void find_by_id(const rd_kafka_message_t *m, void *arg) {
    find_one *f = arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (id && !strcmp(id, f->id)) {
        f->found++;
        snprintf(f->key, sizeof f->key, "%.*s", (int)m->key_len, (const char *)m->key);
        snprintf(f->value, sizeof f->value, "%.*s", (int)m->len, (const char *)m->payload);
    }
    json_decref(j);
}

static void erasure_route_publishes_user_erased(void **state) {
    (void)state;
    char key[128], other_key[128];
    make_key("ev-erase", NULL, key, sizeof key);
    make_key("ev-erase-other", NULL, other_key, sizeof other_key);
    const char *path = "/v1/tenants/ev-erase/users/%2B55%2011%2098765-4321/erasure";
    char expected[TALLY_PSEUDONYM_SIZE];
    tally_pg_pseudonym(PSEUDONYM_SECRET, "ev-erase", "+55 11 98765-4321", NULL, expected);
    char first_id[64] = "";
    for (int i = 0; i < 2; i++) { /* twice: the same pseudonym, another event */
        api_http r = api_http_do(base, "POST", path, key, NULL, NULL);
        if (r.status != 202) fail_msg("erasure: %ld %.300s", r.status, r.body);
        json_t *j = api_http_json(&r);
        const char *event_id = json_string_value(json_object_get(j, "event_id"));
        assert_non_null(event_id);
        assert_string_equal(json_string_value(json_object_get(j, "pseudonym")), expected);
        assert_string_not_equal(event_id, first_id);
        if (i == 0) snprintf(first_id, sizeof first_id, "%s", event_id);
        json_decref(j);
        api_http_free(&r);
    }
    /* the event in the topic: keyed by the tenant, decoded as user.erased */
    find_one f = {.id = first_id};
    itest_consume_all(&ctx, ctx.topic, find_by_id, &f, 100000, 8000);
    assert_int_equal(f.found, 1);
    assert_string_equal(f.key, "ev-erase");
    tally_event ev;
    tally_err err;
    assert_int_equal(tally_event_decode(f.value, strlen(f.value), &ev, &err), TALLY_OK);
    assert_int_equal(ev.type, TALLY_EV_USER_ERASED);
    assert_string_equal(ev.u.erased.user_id, "+55 11 98765-4321");
    assert_string_equal(ev.u.erased.tenant_id, "ev-erase");
    tally_event_free(&ev);
    /* another tenant's key: the answer of an unknown tenant; a bad user id: 400 */
    api_http r = api_http_do(base, "POST", path, other_key, NULL, NULL);
    api_expect_problem(&r, 404, "tenant not found", "");
    api_http_free(&r);
    r = api_http_do(base, "POST", "/v1/tenants/ev-erase/users/a%00b/erasure", key, NULL, NULL);
    api_expect_problem(&r, 400, NULL, "user_id");
    api_http_free(&r);
}

static void kafka_down_is_503_with_retry_after(void **state) {
    (void)state;
    itest_ctx down = ctx;
    snprintf(down.brokers, sizeof down.brokers, "127.0.0.1:1"); /* nothing listens there */
    char log[1024], rel[256], at[64];
    snprintf(rel, sizeof rel, "tests/%s-api-down.log", ctx.name);
    itest_bin(rel, log, sizeof log);
    pid_t pid = api_start(&down, ADMIN_KEY, log, at, sizeof at);
    char ev[1024];
    interaction(ev, sizeof ev, "down-1", "ev-down", 5, NULL);
    const char *evs[] = {ev, "{}"};
    char *batch = batch_of(evs, 2);
    const char *bodies[] = {ev, batch}, *types[] = {ONE, BATCH};
    for (int i = 0; i < 2; i++) {
        post_result r = post_to(at, ADMIN_KEY, types[i], bodies[i], strlen(bodies[i]), false);
        if (r.status != 503) fail_msg("%s: status %ld: %.300s", types[i], r.status, r.body);
        assert_true(atoi(r.retry_after) > 0);
        assert_true(r.seconds < 10.0); /* bounded: a few seconds, not librdkafka's default 300 */
        json_t *j = result_json(&r);
        error_message(j);
        json_decref(j);
        free(r.body);
    }
    free(batch);
    /* this instance has no pseudonym secret: erasure says it is not configured */
    api_http e = api_http_do(at, "POST", "/v1/tenants/ev-down/users/u1/erasure", ADMIN_KEY, NULL,
                             NULL);
    api_expect_problem(&e, 503, "not configured", "");
    api_http_free(&e);
    assert_int_equal(itest_stop(pid, SIGTERM, 15000), 0);
    /* and nothing of it reached the real topic */
    topic_copy t = {0};
    itest_consume_all(&ctx, ctx.topic, keep_message, &t, 64, 5000);
    for (size_t i = 0; i < t.n; i++) assert_string_not_equal(t.ids[i], "down-1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mixed_batch_publishes_only_valid_events),
        cmocka_unit_test(batch_counted_end_to_end_once),
        cmocka_unit_test(single_event_structured_mode),
        cmocka_unit_test(other_content_types_are_415),
        cmocka_unit_test(bodies_over_1_mib_are_413),
        cmocka_unit_test(batch_shape_and_count_are_checked),
        cmocka_unit_test(tenant_keys_publish_only_their_tenant),
        cmocka_unit_test(erasure_route_publishes_user_erased),
        cmocka_unit_test(kafka_down_is_503_with_retry_after),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
