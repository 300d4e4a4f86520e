/*
 * The alerts routes of tally-api over real HTTP: GET /v1/tenants/{id}/alerts
 * (the event objects, newest first, pages that neither skip nor repeat,
 * limit_id and from/to filters, parameter errors, another tenant's or an
 * unknown tenant's 404) and POST /v1/admin/tenants/{id}/webhook-secret
 * (admin only, a fresh secret each time).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include <cmocka.h>

#include "alerts_itest.h"

#define ADMIN_KEY "itest-admin-key-alerts-api"
#define N_A 25

static itest_ctx ctx;
static pid_t api;
static char base[64], key_a[128], key_b[128];

static void make_key(const char *tenant, char *out, size_t len) {
    char body[128];
    snprintf(body, sizeof body, "{\"tenant_id\": \"%s\"}", tenant);
    api_http r = api_http_do(base, "POST", "/v1/admin/keys", ADMIN_KEY, body, NULL);
    assert_int_equal(r.status, 201);
    json_t *j = api_http_json(&r);
    snprintf(out, len, "%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    api_http_free(&r);
}

static int group_setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_setup(&ctx, "alerts_api", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    itest_pg_exec(&ctx, false,
                  "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
                  " VALUES ('tenant-a', 'A', 'active', 'America/Sao_Paulo', now(), 0),"
                  " ('tenant-b', 'B', 'active', 'America/Sao_Paulo', now(), 0)");
    /* Tenant A: one alert a day from March 1st, 15:00 UTC; alerts 10 and 11
     * at the same instant (the id breaks the tie); even ones of a plan's
     * token limit, odd ones of a budget's BRL limit. */
    for (int i = 0; i < N_A; i++) {
        char id[128], at[40];
        bool plan = i % 2 == 0;
        int day = 1 + (i == 11 ? 10 : i);
        snprintf(id, sizeof id, "tenant-a/%s/_/2026-03-01T03:00:00Z/%02d",
                 plan ? "plan:p:tokens" : "budget:b:brl", i);
        snprintf(at, sizeof at, "2026-03-%02dT15:00:00Z", day);
        alerts_insert(&ctx, &(alerts_row){id, "tenant-a", plan ? "plan:p:tokens" : "budget:b:brl",
                                          NULL, plan ? "tokens" : "brl", i % 3 == 2 ? 100 : 80,
                                          plan ? "1000000" : "250.5",
                                          plan ? "800000" : "200.0000015", at, NULL});
    }
    alerts_insert(&ctx, &(alerts_row){"tenant-b/budget:x:tokens/u9/2026-03-01T03:00:00Z/90",
                                      "tenant-b", "budget:x:tokens", "u9", "tokens", 90, "10", "9",
                                      "2026-03-05T10:00:00Z", NULL});
    char log[512];
    snprintf(log, sizeof log, "%s/tests/%s.api.log", TALLY_BIN_DIR, ctx.name);
    api = api_start(&ctx, ADMIN_KEY, log, base, sizeof base);
    make_key("tenant-a", key_a, sizeof key_a);
    make_key("tenant-b", key_b, sizeof key_b);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (api > 0) itest_stop(api, SIGTERM, 10000);
    itest_teardown(&ctx);
    curl_global_cleanup();
    return 0;
}

static void expect_status(const char *method, const char *path, const char *key, long status,
                          const char *needle) {
    api_http r = api_http_do(base, method, path, key, NULL, NULL);
    if (r.status != status)
        fail_msg("%s %s: status %ld, expected %ld: %.300s", method, path, r.status, status, r.body);
    if (needle && !strstr(r.body, needle))
        fail_msg("%s %s: \"%s\" not in %.300s", method, path, needle, r.body);
    api_http_free(&r);
}

/* The event of one alert, as the contract writes it. */
static void event_shape(void **state) {
    (void)state;
    json_t *page = api_get_json(base, "/v1/tenants/tenant-a/alerts?limit=1", key_a);
    json_t *ev = json_array_get(json_object_get(page, "items"), 0);
    /* the newest: i = 24 (March 25th), a plan's tokens at 80 % */
    assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
    assert_string_equal(json_string_value(json_object_get(ev, "id")),
                        "tenant-a/plan:p:tokens/_/2026-03-01T03:00:00Z/24");
    assert_string_equal(json_string_value(json_object_get(ev, "source")), "tally");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "limit.threshold_reached");
    assert_string_equal(json_string_value(json_object_get(ev, "subject")), "tenant-a");
    assert_string_equal(json_string_value(json_object_get(ev, "time")),
                        "2026-03-25T15:00:00.000000Z");
    assert_string_equal(json_string_value(json_object_get(ev, "datacontenttype")),
                        "application/json");
    json_t *data = json_object_get(ev, "data");
    assert_true(json_is_null(json_object_get(data, "user_id")));
    assert_string_equal(json_string_value(json_object_get(data, "period_start")),
                        "2026-03-01T00:00:00-03:00");
    assert_string_equal(json_string_value(json_object_get(data, "period_end")),
                        "2026-04-01T00:00:00-03:00");
    assert_string_equal(json_string_value(json_object_get(data, "crossed_at")),
                        "2026-03-25T12:00:00-03:00");
    assert_true(json_is_integer(json_object_get(data, "limit")));
    assert_int_equal(json_integer_value(json_object_get(data, "limit")), 1000000);
    assert_int_equal(json_integer_value(json_object_get(data, "used")), 800000);
    assert_int_equal(json_integer_value(json_object_get(data, "threshold")), 80);
    assert_true(json_is_false(json_object_get(data, "paused")));
    assert_int_equal(json_array_size(json_object_get(ev, "deliveries")), 0);
    assert_true(json_is_string(json_object_get(page, "next_cursor")));
    json_decref(page);
    /* BRL: rounded half-even to 6 places, as reports write money; 100 % is "reached". */
    api_http r = api_http_do(base, "GET",
                             "/v1/tenants/tenant-a/alerts?limit_id=budget:b:brl&limit=1", key_a,
                             NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"limit\":250.5,\"used\":200.000002,"));
    assert_non_null(strstr(r.body, "\"type\":\"limit.reached\"")); /* i = 23: 23 % 3 == 2 */
    api_http_free(&r);
}

/* Pages of 10 then 5, newest first, nothing skipped or repeated, the last
 * one without a cursor. */
static void pages(void **state) {
    (void)state;
    json_t *all = api_get_json(base, "/v1/tenants/tenant-a/alerts?limit=1000", ADMIN_KEY);
    json_t *items = json_object_get(all, "items");
    assert_int_equal(json_array_size(items), N_A);
    assert_true(json_is_null(json_object_get(all, "next_cursor")));
    for (size_t i = 1; i < N_A; i++) {
        json_t *a = json_array_get(items, i - 1), *b = json_array_get(items, i);
        const char *ta = json_string_value(json_object_get(a, "time"));
        const char *tb = json_string_value(json_object_get(b, "time"));
        int c = strcmp(ta, tb);
        assert_true(c > 0 || (c == 0 && strcmp(json_string_value(json_object_get(a, "id")),
                                               json_string_value(json_object_get(b, "id"))) > 0));
    }
    char path[8192] = "/v1/tenants/tenant-a/alerts?limit=10";
    size_t seen = 0;
    for (int page = 0; page < 10; page++) {
        json_t *j = api_get_json(base, path, key_a);
        json_t *its = json_object_get(j, "items");
        for (size_t i = 0; i < json_array_size(its); i++)
            assert_true(json_equal(json_array_get(its, i), json_array_get(items, seen + i)));
        seen += json_array_size(its);
        const char *next = json_string_value(json_object_get(j, "next_cursor"));
        if (!next) {
            json_decref(j);
            break;
        }
        assert_int_equal(json_array_size(its), 10);
        snprintf(path, sizeof path, "/v1/tenants/tenant-a/alerts?limit=10&cursor=%s", next);
        json_decref(j);
    }
    assert_int_equal(seen, N_A);
    json_decref(all);
}

static size_t count_of(const char *path) {
    json_t *j = api_get_json(base, path, key_a);
    size_t n = json_array_size(json_object_get(j, "items"));
    json_decref(j);
    return n;
}

static void filters(void **state) {
    (void)state;
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?limit_id=plan:p:tokens"), 13);
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?limit_id=budget:b:brl"), 12);
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?limit_id=nope"), 0);
    /* Dates are local midnights (-03:00): March 5th to 10th holds days 5..9,
     * and day 11 twice (alerts 10 and 11) is outside. */
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?from=2026-03-05&to=2026-03-10"), 5);
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?from=2026-03-11&to=2026-03-12"), 2);
    /* RFC 3339: 15:00Z on the 20th is included from, excluded as to. */
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?from=2026-03-20T15:00:00Z"), 6);
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts?to=2026-03-02T15:00:00Z"), 1);
    assert_int_equal(
        count_of("/v1/tenants/tenant-a/alerts?from=2026-03-05&limit_id=budget:b:brl&limit=2"), 2);
}

static void errors_and_isolation(void **state) {
    (void)state;
    expect_status("GET", "/v1/tenants/tenant-a/alerts?limit=0", key_a, 400, "limit");
    expect_status("GET", "/v1/tenants/tenant-a/alerts?limit=1001", key_a, 400, "limit");
    expect_status("GET", "/v1/tenants/tenant-a/alerts?cursor=zz", key_a, 400, "cursor");
    expect_status("GET", "/v1/tenants/tenant-a/alerts?cursor=abcd", key_a, 400, "cursor");
    expect_status("GET", "/v1/tenants/tenant-a/alerts?from=yesterday", key_a, 400, "from");
    expect_status("GET", "/v1/tenants/tenant-a/alerts?from=2026-03-10&to=2026-03-05", key_a, 400,
                  "from");
    expect_status("GET", "/v1/tenants/tenant-a/alerts?foo=1", key_a, 400, "foo");
    expect_status("GET", "/v1/tenants/tenant-a/alerts", NULL, 401, NULL);
    /* Another tenant's alerts answer like an unknown tenant. */
    expect_status("GET", "/v1/tenants/tenant-a/alerts", key_b, 404, "tenant not found");
    expect_status("GET", "/v1/tenants/nobody/alerts", ADMIN_KEY, 404, "tenant not found");
    assert_int_equal(count_of("/v1/tenants/tenant-a/alerts") + 0, N_A);
    json_t *b = api_get_json(base, "/v1/tenants/tenant-b/alerts", key_b);
    assert_int_equal(json_array_size(json_object_get(b, "items")), 1);
    json_decref(b);
}

static void webhook_secret_admin_only(void **state) {
    (void)state;
    const char *path = "/v1/admin/tenants/tenant-a/webhook-secret";
    expect_status("POST", path, NULL, 401, NULL);
    expect_status("POST", path, key_a, 403, NULL);
    expect_status("GET", path, ADMIN_KEY, 405, NULL);
    char secrets[2][128];
    for (int i = 0; i < 2; i++) {
        api_http r = api_http_do(base, "POST", path, ADMIN_KEY, NULL, NULL);
        assert_int_equal(r.status, 201);
        json_t *j = api_http_json(&r);
        const char *s = json_string_value(json_object_get(j, "secret"));
        assert_non_null(s);
        assert_int_equal(strlen(s), 70);
        assert_int_equal(strncmp(s, "whsec_", 6), 0);
        assert_int_equal(strspn(s + 6, "0123456789abcdef"), 64);
        snprintf(secrets[i], sizeof secrets[i], "%s", s);
        json_decref(j);
        api_http_free(&r);
    }
    assert_string_not_equal(secrets[0], secrets[1]);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM webhook_secrets WHERE tenant_id = 'tenant-a' AND secret = '%s'",
             secrets[1]);
    assert_int_equal(itest_pg_scalar(&ctx, sql), 1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM webhook_secrets"), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_shape),
        cmocka_unit_test(pages),
        cmocka_unit_test(filters),
        cmocka_unit_test(errors_and_isolation),
        cmocka_unit_test(webhook_secret_admin_only),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
