/*
 * test_api_http — what every answer of tally-api has, over real HTTP against
 * the stack: RFC 9457 problems with the request id, X-Request-Id taken or
 * made (and in the access log), HEAD, CORS for configured origins only,
 * gzip when accepted, /livez and /readyz, /openapi.yaml as built, --version,
 * and no 503 for the first requests after PostgreSQL restarted.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <cmocka.h>
#include <zlib.h>

#include "api_itest.h"
#include "tally_common.h"

#define ADMIN_KEY "itest-admin-key-api-http"
#define ORIGIN "https://dash.example"

static itest_ctx ctx;
static pid_t api;
static char base[64], log_path[512];
static const char USAGE[] = "/v1/tenants/tenant-a/usage?from=2026-03-01&to=2026-04-01";

static int group_setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_setup(&ctx, "api_http", 1);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    itest_pg_exec(&ctx, false,
                  "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
                  " VALUES ('tenant-a', 'A', 'active', 'America/Sao_Paulo', now(), 0)");
    snprintf(log_path, sizeof log_path, "%s/tests/%s.api.log", TALLY_BIN_DIR, ctx.name);
    setenv("TALLY_CORS_ORIGINS", "https://other.example, " ORIGIN, 1);
    api = api_start(&ctx, ADMIN_KEY, log_path, base, sizeof base);
    unsetenv("TALLY_CORS_ORIGINS");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (api > 0) itest_stop(api, SIGTERM, 10000);
    itest_teardown(&ctx);
    curl_global_cleanup();
    return 0;
}

static api_http get_h(const char *path, const char *key, const char *const *headers) {
    return api_http_do_h(base, "GET", path, key, NULL, 0, headers);
}

static bool header(const api_http *r, const char *name, char *out, size_t len) {
    return api_http_header(r, name, out, len);
}

/* Every error of every kind is a problem with the request id; `param`
 * names the parameter at fault. */
static void errors_are_problems(void **state) {
    (void)state;
    struct {
        const char *method, *path, *key;
        long status;
        const char *needle, *param;
    } cases[] = {
        {"GET", "/nowhere", NULL, 404, "no such route", ""},
        {"DELETE", "/v1/tenants/tenant-a/usage", ADMIN_KEY, 405, "not allowed", ""},
        {"GET", USAGE, NULL, 401, "Authorization", ""},
        {"GET", USAGE, "tly_0000", 401, "invalid API key", ""},
        {"GET", "/v1/tenants/tenant-a/usage?granularity=fortnight", ADMIN_KEY, 400, "granularity",
         "granularity"},
        {"GET", "/v1/tenants/tenant-a/usage?from=2026-13-01", ADMIN_KEY, 400, "from", "from"},
        {"GET", "/v1/tenants/tenant-a/usage?planet=mars", ADMIN_KEY, 400, "planet", "planet"},
        {"GET", "/v1/tenants/nobody/usage", ADMIN_KEY, 404, "tenant not found", ""},
        {"POST", "/v1/admin/keys", ADMIN_KEY, 400, "tenant_id", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        api_http r = api_http_do(base, cases[i].method, cases[i].path, cases[i].key,
                                 !strcmp(cases[i].method, "POST") ? "{}" : NULL, NULL);
        api_expect_problem(&r, cases[i].status, cases[i].needle, cases[i].param);
        api_http_free(&r);
    }
    /* bodies are held before the key is checked: 16 KiB unless the route
     * takes more (POST /v1/events: 1 MiB, test_api_events) */
    size_t big = 16 * 1024 + 1;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    body[big] = '\0';
    api_http r = api_http_do(base, "POST", "/v1/admin/keys", NULL, body, NULL);
    api_expect_problem(&r, 413, "at most 16384 bytes", "body");
    api_http_free(&r);
    free(body);
}

/* X-Request-Id: the client's when it is sane, else one made here; the
 * access log line carries it. */
static void request_ids(void **state) {
    (void)state;
    const char *given[] = {"X-Request-Id: trace-abc.123", NULL};
    api_http r = get_h("/livez", NULL, given);
    char id[160];
    assert_true(header(&r, "X-Request-Id", id, sizeof id));
    assert_string_equal(id, "trace-abc.123");
    api_http_free(&r);

    const char *bad[] = {"X-Request-Id: has spaces and \"quotes\"", NULL};
    char id1[160], id2[160];
    r = get_h("/livez", NULL, bad);
    assert_true(header(&r, "X-Request-Id", id1, sizeof id1));
    api_http_free(&r);
    r = get_h("/livez", NULL, NULL);
    assert_true(header(&r, "X-Request-Id", id2, sizeof id2));
    api_http_free(&r);
    assert_int_equal(strlen(id1), 32);
    assert_int_equal(strspn(id1, "0123456789abcdef"), 32);
    assert_string_not_equal(id1, id2);

    /* the log line of the request names it (the line is written when the
     * request completes: poll a little) */
    bool found = false;
    for (int i = 0; i < 100 && !found; i++) {
        FILE *f = fopen(log_path, "r");
        char line[2048];
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "request_id=trace-abc.123") && strstr(line, "path=\"/livez\""))
                found = true;
        if (f) fclose(f);
        if (!found) api_sleep_ms(20);
    }
    assert_true(found);
}

/* HEAD where GET is: the GET's status and headers, no body. */
static void head_requests(void **state) {
    (void)state;
    api_http r = api_http_do(base, "HEAD", USAGE, ADMIN_KEY, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_non_null(strstr(r.ctype, "application/json"));
    api_http_free(&r);
    r = api_http_do(base, "HEAD", USAGE, NULL, NULL, NULL);
    assert_int_equal(r.status, 401);
    api_http_free(&r);
    r = api_http_do(base, "PUT", "/livez", NULL, NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    api_http_free(&r);
}

/* CORS: an allowed origin gets its own value back, on answers and on
 * preflights; any other origin gets no CORS header at all. */
static void cors(void **state) {
    (void)state;
    char v[256];
    const char *allowed[] = {"Origin: " ORIGIN, NULL};
    api_http r = get_h(USAGE, ADMIN_KEY, allowed);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    assert_string_equal(v, ORIGIN);
    assert_true(header(&r, "Access-Control-Expose-Headers", v, sizeof v));
    assert_non_null(strstr(v, "X-Request-Id"));
    api_http_free(&r);

    const char *preflight[] = {"Origin: " ORIGIN, "Access-Control-Request-Method: POST",
                               "Access-Control-Request-Headers: authorization, content-type", NULL};
    r = api_http_do_h(base, "OPTIONS", "/v1/events", NULL, NULL, 0, preflight);
    assert_int_equal(r.status, 204);
    assert_true(header(&r, "Access-Control-Allow-Methods", v, sizeof v));
    assert_string_equal(v, "POST");
    assert_true(header(&r, "Access-Control-Allow-Headers", v, sizeof v));
    assert_non_null(strstr(v, "Authorization"));
    assert_true(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    api_http_free(&r);

    const char *other[] = {"Origin: https://evil.example", NULL};
    r = get_h(USAGE, ADMIN_KEY, other);
    assert_int_equal(r.status, 200);
    assert_false(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    api_http_free(&r);
    r = api_http_do_h(base, "OPTIONS", "/v1/events", NULL, NULL, 0, other);
    assert_int_equal(r.status, 204);
    assert_false(header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    api_http_free(&r);
}

/* gzip when the client accepts it (q-values read), the same bytes once
 * inflated; not when it refuses it. /openapi.yaml is the big answer here. */
static void gzip_answers(void **state) {
    (void)state;
    api_http plain = get_h("/openapi.yaml", NULL, NULL);
    assert_int_equal(plain.status, 200);
    char v[128];
    assert_false(header(&plain, "Content-Encoding", v, sizeof v));

    const char *accepts[] = {"Accept-Encoding: br;q=1.0, gzip;q=0.8", NULL};
    api_http z = get_h("/openapi.yaml", NULL, accepts);
    assert_int_equal(z.status, 200);
    assert_true(header(&z, "Content-Encoding", v, sizeof v));
    assert_string_equal(v, "gzip");
    assert_true(header(&z, "Vary", v, sizeof v));
    assert_true(z.len < plain.len / 2);
    size_t cap = plain.len + 1;
    unsigned char *out = malloc(cap);
    z_stream s = {0};
    assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
    s.next_in = (Bytef *)z.body;
    s.avail_in = (uInt)z.len;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, plain.len);
    assert_memory_equal(out, plain.body, plain.len);
    inflateEnd(&s);
    free(out);
    api_http_free(&z);

    const char *refuses[] = {"Accept-Encoding: *, gzip;q=0", NULL};
    z = get_h("/openapi.yaml", NULL, refuses);
    assert_false(header(&z, "Content-Encoding", v, sizeof v));
    assert_int_equal(z.len, plain.len);
    api_http_free(&z);
    api_http_free(&plain);
}

/* The served OpenAPI document is docs/openapi.yaml of this build. */
static void openapi_served(void **state) {
    (void)state;
    api_http r = get_h("/openapi.yaml", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "yaml"));
    FILE *f = fopen(TALLY_SOURCE_DIR "/docs/openapi.yaml", "rb");
    assert_non_null(f);
    char *doc = malloc(r.len + 2);
    size_t n = fread(doc, 1, r.len + 1, f);
    fclose(f);
    assert_int_equal(n, r.len);
    assert_memory_equal(doc, r.body, r.len);
    free(doc);
    api_http_free(&r);
}

/* POST one valid event to the server at arg (a base URL); the status. */
static void *post_event_to(void *arg) {
    static const char ev[] =
        "{\"specversion\":\"1.0\",\"id\":\"wait-1\",\"source\":\"t\",\"type\":"
        "\"fx.rate_set\",\"time\":\"2026-01-01T00:00:00Z\",\"data\":{\"currency\":\"BRL\","
        "\"per_usd\":5.4,\"effective_from\":\"2026-01-01T00:00:00Z\"}}";
    const char *headers[] = {"Content-Type: application/cloudevents+json", NULL};
    api_http r = api_http_do_h(arg, "POST", "/v1/events", ADMIN_KEY, ev, strlen(ev), headers);
    long status = r.status;
    api_http_free(&r);
    return (void *)(intptr_t)status;
}

static void live_and_ready(void **state) {
    (void)state;
    json_t *j = api_get_json(base, "/livez", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);
    j = api_get_json(base, "/readyz", NULL);
    assert_string_equal(json_string_value(json_object_get(j, "kafka")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "postgresql")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "mongodb")), "ok");
    json_decref(j);

    /* An instance whose Kafka is not there: alive, not ready. */
    itest_ctx no_kafka = ctx;
    snprintf(no_kafka.brokers, sizeof no_kafka.brokers, "127.0.0.1:1");
    char log2[600], base2[64];
    snprintf(log2, sizeof log2, "%s.nokafka", log_path);
    pid_t other = api_start(&no_kafka, ADMIN_KEY, log2, base2, sizeof base2);
    api_http r = api_http_do(base2, "GET", "/livez", NULL, NULL, NULL);
    assert_int_equal(r.status, 200);
    api_http_free(&r);
    r = api_http_do(base2, "GET", "/readyz", NULL, NULL, NULL);
    assert_int_equal(r.status, 503);
    j = api_http_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "kafka")), "unavailable");
    json_decref(j);
    api_http_free(&r);

    /* Eight event requests waiting for the absent Kafka (several seconds
     * each) hold up only their own connections: /livez answers at once. */
    pthread_t waiting[8];
    for (int i = 0; i < 8; i++) pthread_create(&waiting[i], NULL, post_event_to, base2);
    api_sleep_ms(500); /* all of them in the server, waiting */
    int64_t t0 = tally_time_monotonic_us();
    r = api_http_do(base2, "GET", "/livez", NULL, NULL, NULL);
    int64_t took_ms = (tally_time_monotonic_us() - t0) / 1000;
    assert_int_equal(r.status, 200);
    api_http_free(&r);
    if (took_ms > 1000)
        fail_msg("/livez took %lld ms while events waited for Kafka", (long long)took_ms);
    for (int i = 0; i < 8; i++) {
        void *status;
        pthread_join(waiting[i], &status);
        assert_int_equal((long)(intptr_t)status, 503);
    }
    itest_stop(other, SIGTERM, 10000);
}

static void version_flag(void **state) {
    (void)state;
    char cmd[1024], out[256] = "";
    snprintf(cmd, sizeof cmd, "%s/analytics/tally-api --version", TALLY_BIN_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof out, p));
    assert_int_equal(pclose(p), 0);
    assert_int_equal(strncmp(out, "tally-api ", 10), 0);
}

/* After PostgreSQL restarts, every pooled connection is dead; the first
 * requests still answer 200: a connection the server closed is replaced
 * before the request's statement is sent. */
static void reconnect_after_pg_restart(void **state) {
    (void)state;
    for (int i = 0; i < 8; i++) { /* every handle of the pool connected */
        api_http r = api_http_do(base, "GET", USAGE, ADMIN_KEY, NULL, NULL);
        assert_int_equal(r.status, 200);
        api_http_free(&r);
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/stack restart pg >/dev/null 2>&1", TALLY_SOURCE_DIR);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 12; i++) {
        api_http r = api_http_do(base, "GET", USAGE, ADMIN_KEY, NULL, NULL);
        if (r.status != 200)
            fail_msg("request %d after the restart: status %ld: %.300s", i + 1, r.status, r.body);
        api_http_free(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(errors_are_problems),
        cmocka_unit_test(request_ids),
        cmocka_unit_test(head_requests),
        cmocka_unit_test(cors),
        cmocka_unit_test(gzip_answers),
        cmocka_unit_test(openapi_served),
        cmocka_unit_test(live_and_ready),
        cmocka_unit_test(version_flag),
        cmocka_unit_test(reconnect_after_pg_restart),
    };
    /* TALLY_TEST_FILTER=pattern runs only the matching cases (cmocka's
     * wildcards), e.g. to leave PostgreSQL alone while others use it. */
    if (getenv("TALLY_TEST_FILTER")) cmocka_set_test_filter(getenv("TALLY_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
