/*
 * tally-api on the real stack, over real HTTP (libcurl): health and metrics,
 * keys (only hashes stored), tenant isolation (another tenant's id answers
 * exactly like an unknown one), parameter rules and injection attempts in
 * every parameter and in the path, history paging, usage reports fed by the
 * real aggregator, the OpenAPI document against the route table, and a
 * graceful stop on SIGTERM.
 *
 * One server (and one set of databases and topics) is shared by the tests of
 * the group, in the order listed at the end; the last one stops it.
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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include <cmocka.h>

#include "api_routes.h"
#include "api_itest.h"
#include "tally_docs.h"

#define ADMIN_KEY "itest-admin-key-0123456789"
#define TENANT_A "tenant-a"
#define TENANT_B "tenant-b"
#define TENANT_USAGE "tenant-usage"

typedef struct {
    itest_ctx ctx;
    pid_t pid;
    char log[1024];
    char base[64];
    char key_a[128], key_b[128];
} api_env;

static api_env env; /* the group's shared server */

/* --- HTTP ------------------------------------------------------------------ */

/* One request to the group's server (api_itest.h). */
static api_http http(const char *method, const char *path, const char *key, const char *body) {
    return api_http_do(env.base, method, path, key, body, NULL);
}

/* Assert a status, and for errors that the body is an RFC 9457 problem
 * whose detail contains `needle` (when given). */
static void expect(const char *method, const char *path, const char *key, const char *body,
                   long status, const char *needle) {
    api_http r = http(method, path, key, body);
    if (r.status != status)
        fail_msg("%s %.200s: status %ld, expected %ld; body %.300s", method, path, r.status, status,
                 r.body);
    if (status >= 400) api_expect_problem(&r, status, needle, NULL);
    api_http_free(&r);
}

/* A problem's body without its request_id (which differs per request). */
static char *without_request_id(const api_http *r) {
    json_t *j = api_http_json(r);
    assert_non_null(json_object_get(j, "request_id"));
    json_object_del(j, "request_id");
    char *s = json_dumps(j, JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static char *escape(const char *s) {
    CURL *c = curl_easy_init();
    char *e = curl_easy_escape(c, s, (int)strlen(s));
    char *out = strdup(e);
    curl_free(e);
    curl_easy_cleanup(c);
    return out;
}

/* --- the server -------------------------------------------------------------- */

/* Interactions of tenant A stored straight into the history: five of user
 * u1 one minute apart (two share a time: the id breaks the tie), and one of
 * user u2. */
static const char *const A_IDS[] = {"a-1", "a-2", "a-3", "a-4", "a-4b", "a-5"};
#define N_A 6

static void store_history(const itest_ctx *ctx) {
    tally_err err;
    tally_docs *d = tally_docs_open(ctx->mongo_url, &err);
    if (!d) fail_msg("mongo: %s", err.msg);
    assert_int_equal(tally_docs_ensure_indexes(d, NULL, &err), TALLY_OK);
    static const char *const times[] = {"2026-03-10T12:01:00Z", "2026-03-10T12:02:00Z",
                                        "2026-03-10T12:03:00Z", "2026-03-10T12:04:00Z",
                                        "2026-03-10T12:04:00Z", "2026-03-11T02:30:00Z"};
    static const int64_t us[] = {1773144060000000, 1773144120000000, 1773144180000000,
                                 1773144240000000, 1773144240000000, 1773196200000000};
    tally_docs_interaction items[N_A];
    json_t *data[N_A];
    tally_json_doc *parsed[N_A];
    for (int i = 0; i < N_A; i++) {
        data[i] = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "tenant_id", TENANT_A, "user_id",
                            i == 5 ? "u2" : "u1", "conversation_id", i < 3 ? "c1" : "c2",
                            "model_id", "openai/gpt-4o-mini", "input_tokens", 100 + i,
                            "output_tokens", 50, "question", "Qual é o prazo?");
        char *text = json_dumps(data[i], JSON_COMPACT);
        parsed[i] = tally_json_parse(text, strlen(text), NULL);
        free(text);
        assert_non_null(parsed[i]);
        items[i] = (tally_docs_interaction){.id = A_IDS[i],
                                            .time_us = us[i],
                                            .time_text = times[i],
                                            .source = "itest",
                                            .subject = TENANT_A,
                                            .data = tally_json_root(parsed[i])};
    }
    size_t inserted = 0;
    assert_int_equal(tally_docs_insert_interactions(d, items, N_A, &inserted, NULL, &err),
                     TALLY_OK);
    assert_int_equal(inserted, N_A);
    for (int i = 0; i < N_A; i++) {
        json_decref(data[i]);
        tally_json_free(parsed[i]);
    }
    tally_docs_close(d);
}

static int group_setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_setup(&env.ctx, "api", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&env.ctx, "cli/tally", migrate), 0);
    itest_pg_exec(&env.ctx, false,
                  "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
                  " VALUES ('" TENANT_A "', 'A', 'active', 'America/Sao_Paulo', now(), 0),"
                  " ('" TENANT_B "', 'B', 'active', 'America/Manaus', now(), 0)");
    store_history(&env.ctx);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/%s-api.log", env.ctx.name);
    itest_bin(rel, env.log, sizeof env.log);
    setenv("TALLY_PSEUDONYM_SECRET", "itest-pseudonym-secret", 1); /* the erasure route */
    env.pid = api_start(&env.ctx, ADMIN_KEY, env.log, env.base, sizeof env.base);
    unsetenv("TALLY_PSEUDONYM_SECRET");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (env.pid > 0) itest_stop(env.pid, SIGKILL, 5000);
    itest_teardown(&env.ctx);
    curl_global_cleanup();
    return 0;
}

/* --- health and metrics ------------------------------------------------------- */

static void healthz_and_metrics(void **state) {
    (void)state;
    api_http r = http("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "application/json"));
    json_t *j = api_http_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "postgresql")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "mongodb")), "ok");
    json_decref(j);
    api_http_free(&r);

    r = http("GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/plain"));
    assert_non_null(strstr(r.body, "# TYPE tally_api_requests_total counter"));
    assert_non_null(
        strstr(r.body, "tally_api_requests_total{route=\"/healthz\",status=\"200\"} 1"));
    assert_non_null(strstr(r.body, "# TYPE tally_api_request_duration_seconds histogram"));
    assert_non_null(
        strstr(r.body, "tally_api_request_duration_seconds_count{route=\"/healthz\"} 1"));
    assert_non_null(strstr(r.body, "tally_consumer_lag_up{group=\"tally-ingest\"} 1"));
    assert_non_null(strstr(r.body, "tally_consumer_lag_up{group=\"tally-aggregate\"} 1"));
    api_http_free(&r);
}

/* --- keys and authentication ------------------------------------------------ */

static void create_key(const char *tenant, char *out, size_t len) {
    char body[256];
    snprintf(body, sizeof body, "{\"tenant_id\":\"%s\"}", tenant);
    api_http r = http("POST", "/v1/admin/keys", ADMIN_KEY, body);
    if (r.status != 201) fail_msg("create key: %ld %s", r.status, r.body);
    json_t *j = api_http_json(&r);
    const char *key = json_string_value(json_object_get(j, "key"));
    assert_non_null(key);
    assert_string_equal(json_string_value(json_object_get(j, "tenant_id")), tenant);
    assert_int_equal(strlen(key), 68);
    assert_memory_equal(key, "tly_", 4);
    assert_int_equal(strspn(key + 4, "0123456789abcdef"), 64);
    snprintf(out, len, "%s", key);
    json_decref(j);
    api_http_free(&r);
}

static void keys_are_made_once_and_stored_hashed(void **state) {
    (void)state;
    create_key(TENANT_A, env.key_a, sizeof env.key_a);
    create_key(TENANT_B, env.key_b, sizeof env.key_b);
    assert_string_not_equal(env.key_a, env.key_b);
    assert_int_equal(itest_pg_scalar(&env.ctx, "SELECT count(*) FROM api_keys"), 2);
    char sql[512];
    /* the row holds the SHA-256 of the key, and the key appears nowhere */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM api_keys WHERE key_hash = encode(sha256('%s'::bytea), 'hex')"
             " AND tenant_id = '" TENANT_A "'",
             env.key_a);
    assert_int_equal(itest_pg_scalar(&env.ctx, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM api_keys WHERE strpos(api_keys::text, '%s') > 0"
             " OR strpos(api_keys::text, '%s') > 0",
             env.key_a + 4, env.key_b + 4);
    assert_int_equal(itest_pg_scalar(&env.ctx, sql), 0);

    /* the body's rules */
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "not json", 400, "body");
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "[]", 400, "body");
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "{}", 400, "tenant_id");
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "{\"tenant_id\":7}", 400, "tenant_id");
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "{\"tenant_id\":\"\"}", 400, "tenant_id");
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "{\"tenant_id\":\"a\\u0001b\"}", 400, "tenant_id");
    expect("POST", "/v1/admin/keys", ADMIN_KEY, "{\"tenant_id\":\"a\",\"admin\":true}", 400,
           "admin");
    char long_id[400];
    snprintf(long_id, sizeof long_id, "{\"tenant_id\":\"%0129d\"}", 0);
    expect("POST", "/v1/admin/keys", ADMIN_KEY, long_id, 400, "tenant_id");
    assert_int_equal(itest_pg_scalar(&env.ctx, "SELECT count(*) FROM api_keys"), 2);
}

static void keys_are_required_and_checked(void **state) {
    (void)state;
    const char *paths[] = {"/v1/tenants/" TENANT_A "/usage",
                           "/v1/tenants/" TENANT_A "/interactions"};
    char zeros[80];
    snprintf(zeros, sizeof zeros, "tly_%064d", 0);
    for (int i = 0; i < 2; i++) {
        expect("GET", paths[i], NULL, NULL, 401, "Authorization");
        expect("GET", paths[i], "nope", NULL, 401, "invalid API key");
        expect("GET", paths[i], zeros, NULL, 401, "invalid API key");
        expect("GET", paths[i], "admin", NULL, 401, NULL);
    }
    /* malformed headers: another scheme, no token, two tokens */
    expect("GET", paths[0], "Authorization: Basic YWRtaW46YWRtaW4=", NULL, 401, "malformed");
    expect("GET", paths[0], "Authorization: Bearer", NULL, 401, "malformed");
    expect("GET", paths[0], "Authorization: Bearer " ADMIN_KEY " extra", NULL, 401, "malformed");
    /* the scheme is case-insensitive */
    expect("GET", paths[1], "Authorization: bearer " ADMIN_KEY, NULL, 200, NULL);
    expect("POST", "/v1/admin/keys", NULL, "{\"tenant_id\":\"x\"}", 401, NULL);
    expect("POST", "/v1/admin/keys", "wrong", "{\"tenant_id\":\"x\"}", 401, NULL);
    /* a tenant key on an admin route */
    expect("POST", "/v1/admin/keys", env.key_a, "{\"tenant_id\":\"x\"}", 403, "admin");
    assert_int_equal(itest_pg_scalar(&env.ctx, "SELECT count(*) FROM api_keys"), 2);
}

/* A's key reads A; on B and on a tenant nobody has it gets the same 404. */
static void tenant_keys_see_only_their_tenant(void **state) {
    (void)state;
    const char *routes[] = {"usage", "interactions"};
    for (int i = 0; i < 2; i++) {
        char own[256], other[256], unknown[256];
        snprintf(own, sizeof own, "/v1/tenants/%s/%s", TENANT_A, routes[i]);
        snprintf(other, sizeof other, "/v1/tenants/%s/%s", TENANT_B, routes[i]);
        snprintf(unknown, sizeof unknown, "/v1/tenants/%s/%s", "no-such-tenant", routes[i]);
        api_http a = http("GET", own, env.key_a, NULL);
        if (a.status != 200) fail_msg("%s: %ld %s", own, a.status, a.body);
        api_http_free(&a);
        api_http b = http("GET", other, env.key_a, NULL);
        api_http u = http("GET", unknown, env.key_a, NULL);
        api_http admin_u = http("GET", unknown, ADMIN_KEY, NULL);
        assert_int_equal(b.status, 404);
        assert_int_equal(u.status, 404);
        assert_int_equal(admin_u.status, 404);
        /* the same problem, but for the request id each answer has */
        char *b_body = without_request_id(&b), *ub = without_request_id(&u),
             *ab = without_request_id(&admin_u);
        assert_string_equal(b_body, ub);
        assert_string_equal(ub, ab);
        free(b_body), free(ub), free(ab);
        assert_string_equal(b.ctype, u.ctype);
        api_http_free(&b);
        api_http_free(&u);
        api_http_free(&admin_u);
        /* B's key reads B, the admin key reads both */
        api_http bb = http("GET", other, env.key_b, NULL);
        assert_int_equal(bb.status, 200);
        api_http_free(&bb);
        api_http aa = http("GET", own, ADMIN_KEY, NULL);
        assert_int_equal(aa.status, 200);
        api_http_free(&aa);
    }
    /* even with bad parameters, another tenant's id says only 404 */
    expect("GET", "/v1/tenants/" TENANT_B "/usage?granularity=hour", env.key_a, NULL, 404,
           "tenant not found");
}

/* --- parameters --------------------------------------------------------------- */

static void bad_parameters_are_named(void **state) {
    (void)state;
    static const struct {
        const char *query, *names;
    } usage[] = {
        {"granularity=year", "granularity"},
        {"from=2026-03-01T00:07:00Z", "from"},
        {"filter[planet]=mars", "filter[planet]"},
        {"group_by=planet", "group_by"},
        {"group_by=model,model", "group_by"},
        {"from=2026-13-01", "from"},
        {"to=2026-02-30", "to"},
        {"from=yesterday", "from"},
        {"from=2026-03-02&to=2026-03-01", "from"},
        {"from=2026-03-01&to=2026-03-01", "from"},
        {"format=xml", "format"},
        {"planet=mars", "planet"},
        {"from=2026-03-01&from=2026-03-02", "from"},
        {"from=", "from"},
        {"limit=5", "limit"}, /* not a parameter of /usage */
        {"granularity=day&from=2020-01-01&to=2026-01-01", "granularity"},
    };
    static const struct {
        const char *query, *names;
    } inter[] = {
        {"limit=0", "limit"},
        {"limit=501", "limit"},
        {"limit=-1", "limit"},
        {"limit=abc", "limit"},
        {"limit=1e2", "limit"},
        {"cursor=zzz", "cursor"},
        {"cursor=abc", "cursor"},
        {"cursor=00", "cursor"},
        {"from=2026-13-01", "from"},
        {"to=2026-03-10T25:00:00Z", "to"},
        {"from=2026-03-11&to=2026-03-10", "from"},
        {"user_id=", "user_id"},
        {"conversation_id=%01", "conversation_id"},
        {"granularity=day", "granularity"},
        {"user_id=%ZZ", "user_id"},
    };
    char path[512];
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        snprintf(path, sizeof path, "/v1/tenants/%s/usage?%s", TENANT_A, usage[i].query);
        expect("GET", path, env.key_a, NULL, 400, usage[i].names);
    }
    for (size_t i = 0; i < sizeof inter / sizeof inter[0]; i++) {
        snprintf(path, sizeof path, "/v1/tenants/%s/interactions?%s", TENANT_A, inter[i].query);
        expect("GET", path, env.key_a, NULL, 400, inter[i].names);
    }
    /* good values of each, for contrast */
    static const char *const good[] = {
        "usage?granularity=day&from=2026-03-01&to=2026-04-01&group_by=model,user",
        "usage?from=2026-03-01T00:00:00-03:00&to=2026-03-02T00:00:00Z&format=json",
        "interactions?limit=1",
        "interactions?limit=500&user_id=u1&conversation_id=c1",
        "interactions?from=2026-03-10&to=2026-03-11T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(path, sizeof path, "/v1/tenants/%s/%s", TENANT_A, good[i]);
        expect("GET", path, env.key_a, NULL, 200, NULL);
    }
    /* wrong methods and unknown routes */
    api_http r = http("DELETE", "/v1/tenants/" TENANT_A "/usage", env.key_a, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    api_http_free(&r);
    r = http("PUT", "/v1/admin/keys", ADMIN_KEY, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, GET, HEAD");
    api_http_free(&r);
    expect("POST", "/healthz", NULL, "{}", 405, NULL);
    expect("GET", "/v1/tenants/" TENANT_A, env.key_a, NULL, 404, "no such route");
    expect("GET", "/v1/tenants/" TENANT_A "/usage/", env.key_a, NULL, 404, "no such route");
    expect("GET", "/v1/tenants//usage", env.key_a, NULL, 404, "no such route");
    expect("GET", "/nope", NULL, NULL, 404, "no such route");
}

typedef struct {
    int tenants, keys;
    long long history;
} store_census;

static store_census census(void) {
    store_census c = {
        (int)itest_pg_scalar(&env.ctx, "SELECT count(*) FROM tenants"),
        (int)itest_pg_scalar(&env.ctx, "SELECT count(*) FROM api_keys"),
        itest_mongo_count(&env.ctx, NULL),
    };
    return c;
}

/* Whether an answer to an injection is a refusal (400), a miss (404), or —
 * for user_id and conversation_id, where any printable text up to 128
 * characters is a legal id (CONTRACT.md §1.1) — an empty page. */
static void expect_refused(const char *path, bool empty_page_ok) {
    api_http r = http("GET", path, env.key_a, NULL);
    bool ok = r.status == 400 || r.status == 404;
    if (!ok && empty_page_ok && r.status == 200) {
        json_t *j = api_http_json(&r);
        ok = json_array_size(json_object_get(j, "items")) == 0 &&
             json_is_null(json_object_get(j, "next_cursor"));
        json_decref(j);
    }
    if (!ok) fail_msg("%.300s: %ld %.300s", path, r.status, r.body);
    if (r.status != 200) api_expect_problem(&r, r.status, NULL, NULL);
    api_http_free(&r);
}

static void injection_attempts_are_refused(void **state) {
    (void)state;
    store_census before = census();
    char *long_value = malloc(5001);
    memset(long_value, 'a', 5000);
    long_value[5000] = '\0';
    /* sent percent-encoded, except "%00" and the raw ones, sent as written */
    const char *attacks[] = {
        "'; DROP TABLE tenants;--",  "../../etc/passwd", "' OR '1'='1", "{\"$gt\":\"\"}",
        "<script>alert(1)</script>", "tenant-a' --",     long_value};
    const char *raw[] = {"%00", "a%00b", "%", "%zz", "%C3%28", "..%2F..%2Fetc%2Fpasswd"};
    const char *usage_params[] = {"from", "to", "granularity", "group_by", "format"};
    const char *inter_params[] = {"from", "to", "user_id", "conversation_id", "limit", "cursor"};
    char *path = malloc(32768);
    size_t n_attacks = sizeof attacks / sizeof attacks[0], n_raw = sizeof raw / sizeof raw[0];
    for (size_t a = 0; a < n_attacks + n_raw; a++) {
        char *value = a < n_attacks ? escape(attacks[a]) : strdup(raw[a - n_attacks]);
        bool long_one = a == n_attacks - 1;
        for (size_t p = 0; p < sizeof usage_params / sizeof usage_params[0]; p++) {
            snprintf(path, 32768, "/v1/tenants/%s/usage?%s=%s", TENANT_A, usage_params[p], value);
            expect_refused(path, false);
        }
        for (size_t p = 0; p < sizeof inter_params / sizeof inter_params[0]; p++) {
            bool id_param = p == 2 || p == 3;
            snprintf(path, 32768, "/v1/tenants/%s/interactions?%s=%s", TENANT_A, inter_params[p],
                     value);
            expect_refused(path, id_param && !long_one);
        }
        /* as a parameter name, too */
        snprintf(path, 32768, "/v1/tenants/%s/interactions?%s=1", TENANT_A, value);
        expect_refused(path, false);
        /* in the tenant path */
        snprintf(path, 32768, "/v1/tenants/%s/usage", value);
        expect_refused(path, false);
        snprintf(path, 32768, "/v1/tenants/%s/interactions", value);
        expect_refused(path, false);
        free(value);
    }
    /* dot segments as written (not encoded) reach no route */
    expect("GET", "/v1/tenants/../../etc/passwd/usage", env.key_a, NULL, 404, NULL);
    expect("GET", "/v1/tenants/" TENANT_A "/../" TENANT_B "/usage", env.key_a, NULL, 404, NULL);
    free(path);
    free(long_value);

    store_census after = census();
    assert_int_equal(after.tenants, before.tenants);
    assert_int_equal(after.keys, before.keys);
    assert_int_equal(after.history, before.history);
    /* and the server is still well */
    expect("GET", "/healthz", NULL, NULL, 200, NULL);
}

/* --- history pages ------------------------------------------------------------ */

/* Page through with limit=2; returns the ids in order (caller frees). */
static json_t *page_through(const char *query, int *pages) {
    json_t *ids = json_array();
    char cursor[4096] = "", path[8192];
    *pages = 0;
    for (;;) {
        snprintf(path, sizeof path, "/v1/tenants/%s/interactions?limit=2%s%s%s%s", TENANT_A, query,
                 *cursor ? "&cursor=" : "", cursor, "");
        api_http r = http("GET", path, env.key_a, NULL);
        if (r.status != 200) fail_msg("%s: %ld %s", path, r.status, r.body);
        json_t *j = api_http_json(&r);
        json_t *items = json_object_get(j, "items");
        assert_true(json_is_array(items));
        assert_true(json_array_size(items) <= 2);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            assert_non_null(json_string_value(json_object_get(it, "time")));
            assert_true(json_is_object(json_object_get(it, "data")));
            json_array_append(ids, json_object_get(it, "id"));
        }
        (*pages)++;
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next)) {
            json_decref(j);
            api_http_free(&r);
            break;
        }
        assert_true(json_is_string(next));
        assert_true(json_array_size(items) == 2);
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(j);
        api_http_free(&r);
        assert_true(*pages < 20);
    }
    return ids;
}

static void history_pages_newest_first_without_overlap(void **state) {
    (void)state;
    int pages;
    json_t *ids = page_through("", &pages);
    /* newest first; a-4b and a-4 share a time, the greater id first */
    static const char *const want[] = {"a-5", "a-4b", "a-4", "a-3", "a-2", "a-1"};
    assert_int_equal(json_array_size(ids), N_A);
    for (int i = 0; i < N_A; i++)
        assert_string_equal(json_string_value(json_array_get(ids, (size_t)i)), want[i]);
    assert_int_equal(pages, 3);
    json_decref(ids);

    /* filters */
    ids = page_through("&user_id=u1&conversation_id=c2", &pages);
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "a-4b");
    json_decref(ids);
    /* a date is the tenant's local midnight: 2026-03-11 in São Paulo is
     * 03:00Z, so a-5 (02:30Z) is on the 10th */
    ids = page_through("&from=2026-03-10&to=2026-03-11", &pages);
    assert_int_equal(json_array_size(ids), N_A);
    json_decref(ids);
    ids = page_through("&from=2026-03-10T12:02:00Z&to=2026-03-10T12:04:00Z", &pages);
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "a-3");
    assert_string_equal(json_string_value(json_array_get(ids, 1)), "a-2");
    json_decref(ids);

    /* one page's content */
    api_http r = http("GET", "/v1/tenants/" TENANT_A "/interactions?limit=1", env.key_a, NULL);
    assert_int_equal(r.status, 200);
    json_t *j = api_http_json(&r);
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(item, "id")), "a-5");
    assert_string_equal(json_string_value(json_object_get(item, "time")),
                        "2026-03-11T02:30:00.000Z");
    assert_string_equal(json_string_value(json_object_get(item, "source")), "itest");
    json_t *data = json_object_get(item, "data");
    assert_string_equal(json_string_value(json_object_get(data, "question")), "Qual é o prazo?");
    assert_int_equal(json_integer_value(json_object_get(data, "input_tokens")), 105);
    json_decref(j);
    api_http_free(&r);

    /* a tenant with history but no row is known; B (a row, no history) is empty */
    r = http("GET", "/v1/tenants/" TENANT_B "/interactions", ADMIN_KEY, NULL);
    assert_int_equal(r.status, 200);
    j = api_http_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    api_http_free(&r);
}

/* --- usage reports through the real aggregator -------------------------------- */

#define N_USAGE 4

static bool usage_counted(const itest_ctx *ctx, void *arg) {
    (void)ctx, (void)arg;
    api_http r = http("GET", "/v1/tenants/" TENANT_USAGE "/usage?from=2026-03-01&to=2026-04-01",
                      ADMIN_KEY, NULL);
    bool done = false;
    if (r.status == 200) {
        json_t *j = api_http_json(&r);
        done = json_integer_value(json_object_get(json_object_get(j, "totals"), "requests")) ==
               N_USAGE;
        json_decref(j);
    }
    api_http_free(&r);
    return done;
}

/* The lag total of a group for the test's topic in a /metrics scrape, or -1. */
static long long lag_total(const char *group) {
    api_http r = http("GET", "/metrics", NULL, NULL);
    char needle[512];
    snprintf(needle, sizeof needle, "tally_consumer_lag_total{group=\"%s\",topic=\"%s\"} ", group,
             env.ctx.topic);
    const char *p = strstr(r.body, needle);
    long long v = p ? atoll(p + strlen(needle)) : -1;
    api_http_free(&r);
    return v;
}

static void usage_report_json_and_csv(void **state) {
    (void)state;
    char ev[N_USAGE][768];
    const char *vals[N_USAGE], *keys[N_USAGE];
    for (int i = 0; i < N_USAGE; i++) {
        snprintf(ev[i], sizeof ev[i],
                 "{\"specversion\":\"1.0\",\"id\":\"u-%d\",\"source\":\"itest\",\"type\":"
                 "\"interaction.recorded\",\"time\":\"2026-03-%02dT12:00:00-03:00\",\"subject\":"
                 "\"" TENANT_USAGE "\",\"data\":{\"tenant_id\":\"" TENANT_USAGE "\",\"user_id\":"
                 "\"u%d\",\"model_id\":\"%s\",\"input_tokens\":1000,\"output_tokens\":500,"
                 "\"cost_usd\":0.25}}",
                 i, 10 + i, i % 2, i < 3 ? "openai/gpt-4o-mini" : "anthropic/claude");
        vals[i] = ev[i];
        keys[i] = TENANT_USAGE;
    }
    itest_produce(&env.ctx, env.ctx.topic, keys, vals, NULL, N_USAGE);
    /* before anyone consumes: both groups lag by every event */
    assert_int_equal(lag_total("tally-ingest"), N_USAGE);
    assert_int_equal(lag_total("tally-aggregate"), N_USAGE);

    /* unknown until counted */
    expect("GET", "/v1/tenants/" TENANT_USAGE "/usage", ADMIN_KEY, NULL, 404, "tenant not found");
    const char *args[] = {"--batch-ms", "50", NULL};
    pid_t agg = itest_spawn(&env.ctx, "analytics/tally-aggregate", args);
    bool counted = itest_wait_until(usage_counted, &env.ctx, NULL, 60000);
    assert_int_equal(itest_stop(agg, SIGTERM, 20000), 0);
    assert_true(counted);
    assert_int_equal(lag_total("tally-aggregate"), 0);
    assert_int_equal(lag_total("tally-ingest"), N_USAGE);

    api_http r = http("GET",
                      "/v1/tenants/" TENANT_USAGE
                      "/usage?from=2026-03-01&to=2026-04-01&granularity=day&group_by=model",
                      ADMIN_KEY, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "application/json"));
    json_t *j = api_http_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "tenant_id")), TENANT_USAGE);
    assert_string_equal(json_string_value(json_object_get(j, "timezone")), "America/Sao_Paulo");
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2026-03-01T00:00:00-03:00");
    assert_string_equal(json_string_value(json_object_get(j, "granularity")), "day");
    json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), N_USAGE);
    json_t *row0 = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(row0, "period_start")),
                        "2026-03-10T00:00:00-03:00");
    assert_string_equal(json_string_value(json_object_get(json_object_get(row0, "group"), "model")),
                        "openai/gpt-4o-mini");
    json_t *totals = json_object_get(j, "totals");
    assert_int_equal(json_integer_value(json_object_get(totals, "input_tokens")), 4000);
    assert_true(json_real_value(json_object_get(totals, "cost_usd")) == 1.0);
    assert_non_null(strstr(r.body, "\"cost_usd\":0.25"));
    json_decref(j);
    api_http_free(&r);

    /* CSV, by parameter and by Accept */
    const char *csv_path = "/v1/tenants/" TENANT_USAGE
                           "/usage?from=2026-03-01&to=2026-04-01&group_by=model&granularity=day";
    char with_format[512];
    snprintf(with_format, sizeof with_format, "%s&format=csv", csv_path);
    api_http c1 = http("GET", with_format, ADMIN_KEY, NULL);
    api_http c2 = api_http_do(env.base, "GET", csv_path, ADMIN_KEY, NULL, "text/csv");
    assert_int_equal(c1.status, 200);
    assert_int_equal(c2.status, 200);
    assert_non_null(strstr(c1.ctype, "text/csv"));
    assert_non_null(strstr(c2.ctype, "text/csv"));
    assert_string_equal(c1.body, c2.body);
    assert_memory_equal(c1.body, "model,period_start,period_end,requests,", 39);
    int lines = 0;
    for (const char *p = c1.body; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 1 + N_USAGE);
    api_http_free(&c1);
    api_http_free(&c2);
    /* format=json wins over Accept */
    snprintf(with_format, sizeof with_format, "%s&format=json", csv_path);
    api_http c3 = api_http_do(env.base, "GET", with_format, ADMIN_KEY, NULL, "text/csv");
    assert_non_null(strstr(c3.ctype, "application/json"));
    api_http_free(&c3);
}

/* --- the id rule is one rule: characters, not bytes ---------------------------- */

/* 65 × "é": 65 characters, 130 bytes. Valid by the id rule (1–128
 * characters), so the decoder, the stores, the path check and the report
 * must all take it; the report once counted bytes and answered 404. */
typedef struct {
    const char *path, *id;
} unicode_goal;

/* Counted by the aggregator and stored by the ingester (either may be first). */
static bool unicode_tenant_counted(const itest_ctx *ctx, void *arg) {
    const unicode_goal *goal = arg;
    if (itest_mongo_count_try(ctx, goal->id) != 1) return false;
    api_http r = http("GET", goal->path, ADMIN_KEY, NULL);
    bool done = false;
    if (r.status == 200) {
        json_t *j = api_http_json(&r);
        done = json_integer_value(json_object_get(json_object_get(j, "totals"), "requests")) == 1;
        json_decref(j);
    }
    api_http_free(&r);
    return done;
}

static void tenant_id_of_65_two_byte_characters_gets_its_report(void **state) {
    (void)state;
    char id[2 * 65 + 1] = "", path_id[6 * 65 + 1] = "";
    for (int i = 0; i < 65; i++) {
        strcat(id, "\xc3\xa9");
        strcat(path_id, "%C3%A9");
    }
    char tenant_ev[1024], inter_ev[1024];
    snprintf(tenant_ev, sizeof tenant_ev,
             "{\"specversion\":\"1.0\",\"id\":\"uni-t\",\"source\":\"itest\",\"type\":"
             "\"tenant.upserted\",\"time\":\"2026-03-01T00:00:00Z\",\"subject\":\"%s\","
             "\"data\":{\"tenant_id\":\"%s\",\"name\":\"Unicode\",\"timezone\":"
             "\"America/Manaus\"}}",
             id, id);
    snprintf(inter_ev, sizeof inter_ev,
             "{\"specversion\":\"1.0\",\"id\":\"uni-i\",\"source\":\"itest\",\"type\":"
             "\"interaction.recorded\",\"time\":\"2026-03-10T12:00:00Z\",\"subject\":\"%s\","
             "\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"u\",\"model_id\":\"m\","
             "\"input_tokens\":10,\"output_tokens\":5}}",
             id, id);
    const char *vals[] = {tenant_ev, inter_ev}, *keys[] = {id, id};
    itest_produce(&env.ctx, env.ctx.topic, keys, vals, NULL, 2);

    char path[1024];
    snprintf(path, sizeof path, "/v1/tenants/%s/usage?from=2026-03-01&to=2026-04-01", path_id);
    const char *args[] = {"--batch-ms", "50", NULL};
    pid_t ing = itest_spawn(&env.ctx, "ingest/tally-ingest", args);
    pid_t agg = itest_spawn(&env.ctx, "analytics/tally-aggregate", args);
    unicode_goal goal = {path, id};
    bool counted = itest_wait_until(unicode_tenant_counted, &env.ctx, &goal, 60000);
    assert_int_equal(itest_stop(agg, SIGTERM, 20000), 0);
    assert_int_equal(itest_stop(ing, SIGTERM, 20000), 0);
    assert_true(counted); /* in the history (by the ingester) and in the report */

    api_http r = http("GET", path, ADMIN_KEY, NULL);
    assert_int_equal(r.status, 200);
    json_t *j = api_http_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "tenant_id")), id);
    /* the zone the ingester stored for it, so the entity path took the id too */
    assert_string_equal(json_string_value(json_object_get(j, "timezone")), "America/Manaus");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "totals"), "input_tokens")), 10);
    json_decref(j);
    api_http_free(&r);

    /* pending_events: what the counting has not reached yet, from tally-api's
     * lag refresher (at most a second behind): 0 once all is counted. */
    long long pending = -1;
    for (int tries = 0; tries < 50 && pending != 0; tries++) {
        api_http q = http("GET", path, ADMIN_KEY, NULL);
        json_t *d = api_http_json(&q);
        json_t *pe = json_object_get(d, "pending_events");
        pending = json_is_integer(pe) ? json_integer_value(pe) : -1;
        json_decref(d);
        api_http_free(&q);
        if (pending != 0) nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    assert_int_equal(pending, 0);

    /* 129 characters are refused by the same rule, naming the field */
    char long_path[2048];
    char *p = long_path + snprintf(long_path, sizeof long_path, "/v1/tenants/");
    for (int i = 0; i < 129; i++) p += sprintf(p, "%%C3%%A9");
    strcat(long_path, "/usage");
    expect("GET", long_path, ADMIN_KEY, NULL, 400,
           "tenant_id: must be at most 128 characters long");
}

/* --- the OpenAPI document and the route table --------------------------------- */

typedef struct {
    char method[8], path[128];
} doc_route;

/* The (method, path) pairs under `paths:` of docs/openapi.yaml, read line by
 * line: path keys are indented two spaces, operations four. */
static int read_openapi(doc_route *out, int max) {
    char file[1024];
    snprintf(file, sizeof file, "%s/docs/openapi.yaml", TALLY_SOURCE_DIR);
    itest_lines l = itest_read_lines(file);
    int n = 0;
    bool in_paths = false;
    char path[128] = "";
    for (size_t i = 0; i < l.n; i++) {
        const char *s = l.line[i];
        if (s[0] != ' ' && s[0] != '#') {
            in_paths = !strcmp(s, "paths:");
            continue;
        }
        if (!in_paths) continue;
        if (!strncmp(s, "  /", 3)) {
            snprintf(path, sizeof path, "%.*s", (int)(strcspn(s + 2, ":")), s + 2);
        } else if (s[0] == ' ' && s[1] == ' ' && s[2] == ' ' && s[3] == ' ' && s[4] != ' ') {
            static const char *const methods[] = {"get", "post", "put", "patch", "delete"};
            for (int m = 0; m < 5; m++) {
                size_t ml = strlen(methods[m]);
                if (!strncmp(s + 4, methods[m], ml) && s[4 + ml] == ':' && n < max) {
                    for (size_t k = 0; k < ml; k++) out[n].method[k] = (char)(methods[m][k] - 32);
                    out[n].method[ml] = '\0';
                    snprintf(out[n].path, sizeof out[n].path, "%s", path);
                    n++;
                }
            }
        }
    }
    itest_lines_free(&l);
    return n;
}

static void openapi_document_matches_the_routes(void **state) {
    (void)state;
    doc_route doc[32];
    int n = read_openapi(doc, 32);
    assert_int_equal((size_t)n, tally_api_routes_count);
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < tally_api_routes_count; k++)
            found |= !strcmp(doc[i].method, tally_api_routes[k].method) &&
                     !strcmp(doc[i].path, tally_api_routes[k].path);
        if (!found) fail_msg("documented %s %s is not served", doc[i].method, doc[i].path);
    }
    for (size_t k = 0; k < tally_api_routes_count; k++) {
        bool found = false;
        for (int i = 0; i < n; i++)
            found |= !strcmp(doc[i].method, tally_api_routes[k].method) &&
                     !strcmp(doc[i].path, tally_api_routes[k].path);
        if (!found)
            fail_msg("served %s %s is not documented", tally_api_routes[k].method,
                     tally_api_routes[k].path);
    }
    /* every documented operation reaches its handler */
    for (int i = 0; i < n; i++) {
        char path[256];
        const char *var = strstr(doc[i].path, "{tenant_id}");
        if (var)
            snprintf(path, sizeof path, "%.*s%s%s", (int)(var - doc[i].path), doc[i].path, TENANT_A,
                     var + strlen("{tenant_id}"));
        else
            snprintf(path, sizeof path, "%s", doc[i].path);
        const char *body = !strcmp(doc[i].method, "POST") ? "{\"tenant_id\":\"" TENANT_A "\"}"
                                                          : NULL;
        api_http r = http(doc[i].method, path, ADMIN_KEY, body);
        /* "{key_id}" names no key: the revoke handler's own 404 names it */
        bool no_key = r.status == 404 && strstr(doc[i].path, "{key_id}") &&
                      strstr(r.body, "\"param\":\"key_id\"");
        if ((r.status == 404 && !no_key) || r.status == 405 || r.status >= 500)
            fail_msg("%s %s: %ld %s", doc[i].method, path, r.status, r.body);
        api_http_free(&r);
    }
}

/* --- without an admin key, and stopping ----------------------------------------- */

static void admin_routes_refuse_without_admin_key(void **state) {
    (void)state;
    char log[1024], rel[256], base[64];
    snprintf(rel, sizeof rel, "tests/%s-api-noadmin.log", env.ctx.name);
    itest_bin(rel, log, sizeof log);
    pid_t pid = api_start(&env.ctx, NULL, log, base, sizeof base);
    api_http r = api_http_do(base, "POST", "/v1/admin/keys", ADMIN_KEY, "{\"tenant_id\":\"x\"}",
                             NULL);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "TALLY_ADMIN_KEY"));
    api_http_free(&r);
    /* the old admin key is just a bad key there; tenant keys still work */
    r = api_http_do(base, "GET", "/v1/tenants/" TENANT_A "/interactions", ADMIN_KEY, NULL, NULL);
    assert_int_equal(r.status, 401);
    api_http_free(&r);
    r = api_http_do(base, "GET", "/v1/tenants/" TENANT_A "/interactions", env.key_a, NULL, NULL);
    assert_int_equal(r.status, 200);
    api_http_free(&r);
    assert_int_equal(itest_stop(pid, SIGINT, 15000), 0);
}

/* A connection to the server with a request whose body is only half sent. */
static int start_slow_post(const char *body, size_t sent) {
    int port = atoi(strrchr(env.base, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) fail_msg("connect: %s", strerror(errno));
    char head[512];
    int n = snprintf(
        head, sizeof head,
        "POST /v1/admin/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " ADMIN_KEY
        "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
        strlen(body));
    assert_int_equal(write(fd, head, (size_t)n), n);
    assert_int_equal(write(fd, body, sent), (ssize_t)sent);
    return fd;
}

static void sigterm_stops_cleanly(void **state) {
    (void)state;
    /* a request log line per request, without the query string */
    expect("GET", "/v1/tenants/" TENANT_A "/interactions?cursor=secret-looking-value", env.key_a,
           NULL, 400, "cursor");
    /* a request in flight when SIGTERM comes is finished, new ones are refused */
    const char *body = "{\"tenant_id\":\"late-tenant\"}";
    int fd = start_slow_post(body, 5);
    api_sleep_ms(300);
    kill(env.pid, SIGTERM);
    api_sleep_ms(500);
    assert_int_equal(waitpid(env.pid, NULL, WNOHANG), 0); /* still draining */
    CURL *probe = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", env.base);
    curl_easy_setopt(probe, CURLOPT_URL, url);
    curl_easy_setopt(probe, CURLOPT_TIMEOUT, 5L);
    assert_int_not_equal(curl_easy_perform(probe), CURLE_OK); /* no longer listening */
    curl_easy_cleanup(probe);
    assert_int_equal(write(fd, body + 5, strlen(body) - 5), (ssize_t)(strlen(body) - 5));
    char answer[1024] = "";
    size_t got = 0;
    ssize_t k;
    while (got < sizeof answer - 1 && (k = read(fd, answer + got, sizeof answer - 1 - got)) > 0)
        got += (size_t)k;
    answer[got] = '\0';
    close(fd);
    if (strncmp(answer, "HTTP/1.1 201", 12)) fail_msg("in-flight request: %.300s", answer);
    assert_non_null(strstr(answer, "Connection: close"));
    assert_int_equal(itest_stop(env.pid, 0, 15000), 0);
    env.pid = 0;
    assert_int_equal(
        itest_pg_scalar(&env.ctx, "SELECT count(*) FROM api_keys WHERE tenant_id = 'late-tenant'"),
        1);
    itest_lines l = itest_read_lines(env.log);
    bool logged = false, stopped = false;
    for (size_t i = 0; i < l.n; i++) {
        const char *s = l.line[i];
        assert_null(strstr(s, "secret-looking-value"));
        assert_null(strstr(s, ADMIN_KEY));
        assert_null(strstr(s, env.key_a));
        logged |= strstr(s, "msg=\"request\" method=GET path=\"/v1/tenants/" TENANT_A
                            "/interactions\"") != NULL &&
                  strstr(s, "status=400") != NULL && strstr(s, "duration_ms=") != NULL;
        stopped |= strstr(s, "msg=\"stopped\"") != NULL;
    }
    itest_lines_free(&l);
    assert_true(logged);
    assert_true(stopped);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthz_and_metrics),
        cmocka_unit_test(keys_are_made_once_and_stored_hashed),
        cmocka_unit_test(keys_are_required_and_checked),
        cmocka_unit_test(tenant_keys_see_only_their_tenant),
        cmocka_unit_test(bad_parameters_are_named),
        cmocka_unit_test(injection_attempts_are_refused),
        cmocka_unit_test(history_pages_newest_first_without_overlap),
        cmocka_unit_test(usage_report_json_and_csv),
        cmocka_unit_test(tenant_id_of_65_two_byte_characters_gets_its_report),
        cmocka_unit_test(openapi_document_matches_the_routes),
        cmocka_unit_test(admin_routes_refuse_without_admin_key),
        cmocka_unit_test(sigterm_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
