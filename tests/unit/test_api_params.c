/*
 * The parts of tally-api that need no server: percent-decoding, from/to
 * forms, route matching, key shapes (the text rules: test_text.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api_internal.h"

static void url_decoding(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(tally__api_url_decode("a%2Fb+c", 7, out, true), 5);
    assert_string_equal(out, "a/b c");
    assert_int_equal(tally__api_url_decode("a%2fb+c", 7, out, false), 5);
    assert_string_equal(out, "a/b+c");
    assert_int_equal(tally__api_url_decode("%C3%A9", 6, out, true), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(tally__api_url_decode("%00x", 4, out, true),
                     2); /* a NUL, left for the rules */
    assert_int_equal(out[0], 0);
    assert_int_equal(tally__api_url_decode("%", 1, out, true), (size_t)-1);
    assert_int_equal(tally__api_url_decode("%4", 2, out, true), (size_t)-1);
    assert_int_equal(tally__api_url_decode("%zz", 3, out, true), (size_t)-1);
    assert_int_equal(tally__api_url_decode("ab%", 3, out, true), (size_t)-1);
    assert_int_equal(tally__api_url_decode("", 0, out, true), 0);
}

static void time_forms(void **state) {
    (void)state;
    int64_t t = 0;
    assert_int_equal(tally__api_time_parse("2026-03-01", &t), API_TIME_DATE);
    assert_int_equal(tally__api_time_parse("2024-02-29", &t), API_TIME_DATE);
    assert_int_equal(tally__api_time_parse("2026-02-29", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("2026-13-01", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("2026-04-31", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("2026-3-1", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("0000-01-01", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("yesterday", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("'; DROP TABLE x;--", &t), API_TIME_BAD);
    assert_int_equal(tally__api_time_parse("2026-03-01T00:00:00Z", &t), API_TIME_INSTANT);
    assert_int_equal(t, 1772323200000000LL);
    assert_int_equal(tally__api_time_parse("2026-03-01T00:00:00-03:00", &t), API_TIME_INSTANT);
    assert_int_equal(t, 1772323200000000LL + 3LL * 3600 * 1000000);
}

static void routes(void **state) {
    (void)state;
    const api_route *r = NULL;
    api_path_vars v;
    char allow[32];
    assert_int_equal(tally__api_route_match("GET", "/healthz", &r, &v, allow, sizeof allow),
                     API_MATCH_OK);
    assert_string_equal(r->path, "/healthz");
    assert_int_equal(v.n, 0);
    assert_int_equal(
        tally__api_route_match("GET", "/v1/tenants/a%2Fb/usage", &r, &v, allow, sizeof allow),
        API_MATCH_OK);
    assert_string_equal(r->path, "/v1/tenants/{tenant_id}/usage");
    assert_int_equal(v.n, 1);
    assert_int_equal(v.raw_len[0], 5);
    assert_memory_equal(v.raw[0], "a%2Fb", 5);
    assert_int_equal(v.name_len[0], 9);
    assert_memory_equal(v.name[0], "tenant_id", 9);
    /* the index is the route's place in the table (metrics labels) */
    assert_ptr_equal(&tally_api_routes[tally__api_route_index(r)], r);
    assert_true(tally__api_route_index(r) < tally_api_routes_count);
    /* the usage route takes filter[<key>] names and nothing like them */
    bool has_filter = false;
    for (const char *const *p = r->params; *p; p++) has_filter |= !strcmp(*p, "filter[]");
    assert_true(has_filter);
    /* two variables */
    assert_int_equal(tally__api_route_match("POST", "/v1/tenants/t1/users/u%20x/erasure", &r, &v,
                                            allow, sizeof allow),
                     API_MATCH_OK);
    assert_int_equal(v.n, 2);
    assert_memory_equal(v.name[1], "user_id", 7);
    assert_int_equal(v.raw_len[1], 5);
    assert_memory_equal(v.raw[1], "u%20x", 5);
    assert_int_equal(
        tally__api_route_match("POST", "/v1/tenants/x/usage", &r, &v, allow, sizeof allow),
        API_MATCH_NO_METHOD);
    assert_string_equal(allow, "GET, HEAD");
    assert_int_equal(
        tally__api_route_match("DELETE", "/v1/admin/keys", &r, &v, allow, sizeof allow),
        API_MATCH_NO_METHOD);
    assert_string_equal(allow, "POST, GET, HEAD");
    static const char *const misses[] = {"/",
                                         "",
                                         "/healthz/",
                                         "/healthzz",
                                         "//healthz",
                                         "/v1/tenants//usage",
                                         "/v1/tenants/a/b/usage",
                                         "/v1/tenants/a/usage/",
                                         "/v1/tenants/a",
                                         "/V1/tenants/a/usage",
                                         "/v1/tenants/../../etc/passwd"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
        assert_int_equal(tally__api_route_match("GET", misses[i], &r, &v, allow, sizeof allow),
                         API_MATCH_NO_PATH);
    /* every route has a handler and a parameter list */
    for (size_t i = 0; i < tally_api_routes_count; i++) {
        assert_non_null(tally_api_routes[i].handler);
        assert_non_null(tally_api_routes[i].params);
        assert_int_equal(tally_api_routes[i].path[0], '/');
    }
}

static void key_shapes(void **state) {
    (void)state;
    char key[80], hash[65];
    strcpy(key, "tly_");
    for (int i = 0; i < 64; i++) key[4 + i] = "0123456789abcdef"[i % 16];
    key[68] = '\0';
    assert_true(tally__api_key_wellformed(key, 68));
    assert_false(tally__api_key_wellformed(key, 67));
    key[10] = 'A';
    assert_false(tally__api_key_wellformed(key, 68));
    key[10] = 'a';
    key[0] = 'T';
    assert_false(tally__api_key_wellformed(key, 68));
    tally__api_sha256_hex("abc", 3, hash);
    assert_string_equal(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_decoding),
        cmocka_unit_test(time_forms),
        cmocka_unit_test(routes),
        cmocka_unit_test(key_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
