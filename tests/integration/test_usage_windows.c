/*
 * Usage windows that say exactly what they count (docs/arithmetic.md,
 * "Windows, periods and time zones"): bounds off the 15-minute grain are
 * refused, every row carries period_end and its period is clipped to
 * [from, to), from-alone and to-alone windows, granularity=hour in a zone
 * with DST and in a +05:30 zone, filters on the group dimensions (and the
 * rollup a filtered report is read from), group_by repeated, and the CSV
 * answer: Accept q-values, Content-Disposition, formula cells.
 *
 * Rollup rows are written with tally_rollup_apply (as test_report_dst.c
 * does) into the test's own database; reports are asked for in process
 * (tally_report_usage) and over HTTP from a real tally-api.
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
#include <curl/curl.h>

#include "api_itest.h"
#include "itest.h"
#include "tally_analytics.h"
#include "tally_pg.h"

#define ADMIN_KEY "itest-admin-key-usage-windows"
#define SP "win-sp" /* America/Sao_Paulo */
#define IN "win-in" /* Asia/Kolkata, +05:30 */
#define HOUR_US (3600LL * 1000000)

typedef struct {
    itest_ctx ctx;
    tally_pg *pg;
    pid_t api;
    char log[1024], base[64];
} windows_env;

static windows_env env;

/* One interaction of the seed: time, tenant, model, user, agent, kind, channel. */
typedef struct {
    const char *time, *tenant, *model, *user, *agent, *kind, *channel;
} seed;

/* 2026-03-01 is a Sunday; São Paulo is −03:00 all of 2026 and had DST until
 * 2019 (2019-02-17 00:00 −02:00 fell back to 2019-02-16 23:00 −03:00, so
 * 23:00–00:00 on the 16th happened twice). */
static const seed SEED[] = {
    {"2026-03-01T03:00:00Z", SP, "m-a", "u1", "a1", "chat", "web"}, /* Sun 00:00 */
    {"2026-03-01T10:20:00Z", SP, "m-b", "u2", NULL, "chat", NULL},  /* Sun 07:20 */
    {"2026-03-02T15:00:00Z", SP, "m-a", "u2", NULL, "tts", NULL},   /* Mon 12:00 */
    {"2026-03-05T12:05:00Z", SP, "m-c", "=cmd()", NULL, "chat", "whatsapp"},
    {"2026-03-10T13:44:00Z", SP, "m-a", "u1", NULL, "chat", NULL}, /* 10:44 */
    {"2026-03-10T14:00:00Z", SP, "m-b", "u1", "a2", "chat", NULL}, /* 11:00 */
    {"2019-02-17T01:30:00Z", SP, "m-a", "u1", NULL, "chat", NULL}, /* 23:30 −02:00 */
    {"2019-02-17T02:30:00Z", SP, "m-a", "u1", NULL, "chat", NULL}, /* 23:30 −03:00 */
    {"2026-03-10T04:40:00Z", IN, "m-a", "u1", NULL, "chat", NULL}, /* 10:10 IST */
    {"2026-03-10T05:20:00Z", IN, "m-a", "u1", NULL, "chat", NULL}, /* 10:50 IST */
    {"2026-03-10T05:35:00Z", IN, "m-a", "u1", NULL, "chat", NULL}, /* 11:05 IST */
};
#define N_SEED (sizeof SEED / sizeof SEED[0])

static int group_setup(void **state) {
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    itest_setup(&env.ctx, "windows", 1);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&env.ctx, "cli/tally", migrate), 0);
    itest_pg_exec(&env.ctx, false,
                  "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
                  " VALUES ('" SP "', 'SP', 'active', 'America/Sao_Paulo', now(), 0),"
                  " ('" IN "', 'IN', 'active', 'Asia/Kolkata', now(), 0)");
    tally_err err;
    env.pg = tally_pg_open(env.ctx.pg_url, &err);
    if (!env.pg) fail_msg("%s", err.msg);
    tally_rollup_item items[N_SEED];
    char ids[N_SEED][16];
    for (size_t i = 0; i < N_SEED; i++) {
        snprintf(ids[i], sizeof ids[i], "w%zu", i);
        items[i] = (tally_rollup_item){.interaction_id = ids[i],
                                       .tenant_id = SEED[i].tenant,
                                       .model_id = SEED[i].model,
                                       .user_id = SEED[i].user,
                                       .kind = SEED[i].kind,
                                       .agent_id = SEED[i].agent,
                                       .channel = SEED[i].channel,
                                       .input_tokens = 10 * (int64_t)(i + 1),
                                       .output_tokens = 1,
                                       .cost_usd = "0.25"};
        assert_true(tally_time_parse_rfc3339(SEED[i].time, &items[i].time));
    }
    tally_rollup_batch batch = {.items = items, .n_items = N_SEED};
    if (tally_rollup_apply(env.pg, "windows", &batch, NULL, &err) != TALLY_OK)
        fail_msg("rollup: %s", err.msg);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/%s-api.log", env.ctx.name);
    itest_bin(rel, env.log, sizeof env.log);
    env.api = api_start(&env.ctx, ADMIN_KEY, env.log, env.base, sizeof env.base);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (env.api > 0) itest_stop(env.api, SIGTERM, 10000);
    tally_pg_close(env.pg);
    itest_teardown(&env.ctx);
    curl_global_cleanup();
    return 0;
}

/* --- helpers ------------------------------------------------------------------ */

/* A report in process; fails the test unless it is TALLY_OK. */
static json_t *report(const char *tenant, const char *from, const char *to, const char *gran,
                      const char *group_by, const tally_usage_filter *filters, size_t n_filters) {
    tally_usage_request req = {tenant, from, to, gran, group_by, filters, n_filters};
    json_t *rep = NULL;
    tally_err err;
    if (tally_report_usage(env.pg, &req, &rep, &err) != TALLY_OK)
        fail_msg("%s %s..%s %s: %s", tenant, from ? from : "-", to ? to : "-",
                 gran ? gran : "total", err.msg);
    return rep;
}

/* A report that must be refused with TALLY_EINVAL and a message that starts
 * with "<param>: " and contains needle. */
static void refused(const char *from, const char *to, const char *gran,
                    const tally_usage_filter *filters, size_t n_filters, const char *param,
                    const char *needle) {
    tally_usage_request req = {SP, from, to, gran, NULL, filters, n_filters};
    json_t *rep = NULL;
    tally_err err = {0};
    tally_code rc = tally_report_usage(env.pg, &req, &rep, &err);
    if (rc != TALLY_EINVAL)
        fail_msg("%s..%s: code %d, expected EINVAL", from ? from : "-", to ? to : "-", rc);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", param);
    if (strncmp(err.msg, prefix, strlen(prefix)) || !strstr(err.msg, needle))
        fail_msg("message \"%s\", expected \"%s…%s…\"", err.msg, prefix, needle);
}

static const char *str_of(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    if (!s) fail_msg("no string \"%s\"", k);
    return s;
}

static long long int_of(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) fail_msg("no integer \"%s\"", k);
    return (long long)json_integer_value(v);
}

static long long total_requests(const json_t *rep) {
    return int_of(json_object_get(rep, "totals"), "requests");
}

/* Rows as expected: period_start, period_end and requests of each. */
typedef struct {
    const char *start, *end;
    long long requests;
} want_row;

static void expect_rows(const json_t *rep, const want_row *want, size_t n, const char *what) {
    const json_t *rows = json_object_get(rep, "rows");
    if (json_array_size(rows) != n) {
        char *dump = json_dumps(rows, JSON_COMPACT);
        fail_msg("%s: %zu rows, expected %zu: %s", what, json_array_size(rows), n, dump);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(rows, i);
        if (strcmp(str_of(row, "period_start"), want[i].start) ||
            strcmp(str_of(row, "period_end"), want[i].end) ||
            int_of(row, "requests") != want[i].requests)
            fail_msg("%s: row %zu is %s..%s with %lld, expected %s..%s with %lld", what, i,
                     str_of(row, "period_start"), str_of(row, "period_end"),
                     int_of(row, "requests"), want[i].start, want[i].end, want[i].requests);
    }
}

/* Which rollup the next report is read from. */
typedef struct {
    long long before[TALLY_USAGE__SOURCES];
} source_probe;

static source_probe probe(void) {
    source_probe p;
    for (int k = 0; k < TALLY_USAGE__SOURCES; k++) p.before[k] = tally_usage_source_count(k);
    return p;
}

static void expect_source(const source_probe *p, tally_usage_source want, const char *what) {
    int used = -1;
    for (int k = 0; k < TALLY_USAGE__SOURCES; k++)
        if (tally_usage_source_count(k) > p->before[k]) used = k;
    if (used != (int)want)
        fail_msg("%s: read from %s, expected %s", what,
                 used < 0 ? "nothing" : tally_usage_source_names[used],
                 tally_usage_source_names[want]);
}

static api_http get(const char *path, const char *accept) {
    return api_http_do(env.base, "GET", path, ADMIN_KEY, NULL, accept);
}

/* --- the grain ------------------------------------------------------------------ */

static void off_grain_bounds_are_refused(void **state) {
    (void)state;
    refused("2026-03-01T00:07:00Z", "2026-03-02T00:00:00Z", NULL, NULL, 0, "from", "15-minute");
    refused("2026-03-01T00:00:00Z", "2026-03-01T10:15:30Z", NULL, NULL, 0, "to", "15-minute");
    refused("2026-03-01T00:00:00.5Z", "2026-03-02", NULL, NULL, 0, "from", "15-minute");
    /* the one-minute window that used to answer 0 */
    refused("2026-03-01T10:20:00Z", "2026-03-01T10:21:00Z", NULL, NULL, 0, "from", "15-minute");
    /* on the grain in any offset, :45 included */
    json_t *rep = report(SP, "2026-03-01T10:15:00Z", "2026-03-01T17:00:00+05:45", NULL, NULL, NULL,
                         0);
    assert_string_equal(str_of(rep, "from"), "2026-03-01T07:15:00-03:00");
    assert_string_equal(str_of(rep, "to"), "2026-03-01T08:15:00-03:00");
    assert_int_equal(total_requests(rep), 1);
    json_decref(rep);
    /* dates stay local midnights */
    rep = report(IN, "2026-03-10", "2026-03-11", NULL, NULL, NULL, 0);
    assert_string_equal(str_of(rep, "from"), "2026-03-10T00:00:00+05:30");
    json_decref(rep);

    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/%s/usage?from=2026-03-01T00:07:00Z&to=2026-03-02", SP);
    api_http r = get(path, NULL);
    api_expect_problem(&r, 400, "15-minute", "from");
    api_http_free(&r);
}

/* --- period_end and clipping ---------------------------------------------------------- */

static void rows_are_clipped_to_the_window(void **state) {
    (void)state;
    /* weeks from a Sunday: the first row is that Sunday alone, the last
     * ends at `to` */
    json_t *rep = report(SP, "2026-03-01", "2026-03-11", "week", NULL, NULL, 0);
    const want_row weeks[] = {
        {"2026-03-01T00:00:00-03:00", "2026-03-02T00:00:00-03:00", 2},
        {"2026-03-02T00:00:00-03:00", "2026-03-09T00:00:00-03:00", 2},
        {"2026-03-09T00:00:00-03:00", "2026-03-11T00:00:00-03:00", 2},
    };
    expect_rows(rep, weeks, 3, "weeks from a Sunday");
    assert_int_equal(total_requests(rep), 6);
    json_decref(rep);

    /* days between instants: both ends clipped */
    rep = report(SP, "2026-03-01T10:15:00Z", "2026-03-02T16:00:00Z", "day", NULL, NULL, 0);
    const want_row days[] = {
        {"2026-03-01T07:15:00-03:00", "2026-03-02T00:00:00-03:00", 1},
        {"2026-03-02T00:00:00-03:00", "2026-03-02T13:00:00-03:00", 1},
    };
    expect_rows(rep, days, 2, "days between instants");
    json_decref(rep);

    /* a month from mid-month, and total: the window itself */
    rep = report(SP, "2026-03-02", "2026-03-10", "month", NULL, NULL, 0);
    const want_row month[] = {{"2026-03-02T00:00:00-03:00", "2026-03-10T00:00:00-03:00", 2}};
    expect_rows(rep, month, 1, "a month from mid-month");
    json_decref(rep);
    rep = report(SP, "2026-03-01", "2026-04-01", NULL, "model", NULL, 0);
    const json_t *rows = json_object_get(rep, "rows");
    assert_int_equal(json_array_size(rows), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(str_of(json_array_get(rows, i), "period_start"),
                            "2026-03-01T00:00:00-03:00");
        assert_string_equal(str_of(json_array_get(rows, i), "period_end"),
                            "2026-04-01T00:00:00-03:00");
    }
    /* totals carry no period */
    assert_null(json_object_get(json_object_get(rep, "totals"), "period_end"));
    json_decref(rep);
}

/* --- defaults ----------------------------------------------------------------------- */

static void from_alone_and_to_alone(void **state) {
    (void)state;
    /* from alone: until now rounded up to the grain */
    time_t before = time(NULL);
    json_t *rep = report(SP, "2026-03-01", NULL, NULL, NULL, NULL, 0);
    time_t after = time(NULL);
    tally_usec to;
    assert_true(tally_time_parse_rfc3339(str_of(rep, "to"), &to));
    assert_int_equal(to % (900LL * 1000000), 0);
    assert_true(to >= (tally_usec)before * 1000000);
    assert_true(to < ((tally_usec)after + 900) * 1000000);
    assert_string_equal(str_of(rep, "from"), "2026-03-01T00:00:00-03:00");
    assert_int_equal(total_requests(rep), 6);
    json_decref(rep);

    /* to alone: from the start of the local month of the window's end */
    rep = report(SP, NULL, "2026-03-05", NULL, NULL, NULL, 0);
    assert_string_equal(str_of(rep, "from"), "2026-03-01T00:00:00-03:00");
    assert_string_equal(str_of(rep, "to"), "2026-03-05T00:00:00-03:00");
    assert_int_equal(total_requests(rep), 3);
    json_decref(rep);
    rep = report(SP, NULL, "2026-03-10T14:00:00Z", NULL, NULL, NULL, 0);
    assert_string_equal(str_of(rep, "from"), "2026-03-01T00:00:00-03:00");
    assert_int_equal(total_requests(rep), 5);
    json_decref(rep);
    /* to on a month's first midnight: the month before it */
    rep = report(SP, NULL, "2026-04-01", "month", NULL, NULL, 0);
    assert_string_equal(str_of(rep, "from"), "2026-03-01T00:00:00-03:00");
    assert_int_equal(total_requests(rep), 6);
    json_decref(rep);
    /* in another zone: its own month (March 1st 00:00 IST is Feb 28th in UTC) */
    rep = report(IN, NULL, "2026-03-10T06:00:00Z", NULL, NULL, NULL, 0);
    assert_string_equal(str_of(rep, "from"), "2026-03-01T00:00:00+05:30");
    assert_int_equal(total_requests(rep), 3);
    json_decref(rep);

    /* no bounds: the current month, as before */
    rep = report(SP, NULL, NULL, NULL, NULL, NULL, 0);
    assert_non_null(strstr(str_of(rep, "from"), "-01T00:00:00-03:00"));
    assert_non_null(strstr(str_of(rep, "to"), "-01T00:00:00-03:00"));
    json_decref(rep);
    /* from alone in the future: nothing to count, a 400 */
    refused("2999-01-01", NULL, NULL, NULL, 0, "from", "before");
}

/* --- hours ---------------------------------------------------------------------------- */

static void hours_in_sao_paulo(void **state) {
    (void)state;
    source_probe p = probe();
    json_t *rep = report(SP, "2026-03-10T10:00:00-03:00", "2026-03-10T12:00:00-03:00", "hour", NULL,
                         NULL, 0);
    expect_source(&p, TALLY_USAGE_MODEL_HOURLY, "whole hours");
    const want_row hours[] = {
        {"2026-03-10T10:00:00-03:00", "2026-03-10T11:00:00-03:00", 1},
        {"2026-03-10T11:00:00-03:00", "2026-03-10T12:00:00-03:00", 1},
    };
    expect_rows(rep, hours, 2, "hours");
    assert_string_equal(str_of(rep, "granularity"), "hour");
    json_decref(rep);

    /* from on a half hour: the first hour clipped, read from the 15-minute rollup */
    p = probe();
    rep = report(SP, "2026-03-10T10:30:00-03:00", "2026-03-10T12:00:00-03:00", "hour", NULL, NULL,
                 0);
    expect_source(&p, TALLY_USAGE_FULL, "from on a half hour");
    const want_row clipped[] = {
        {"2026-03-10T10:30:00-03:00", "2026-03-10T11:00:00-03:00", 1},
        {"2026-03-10T11:00:00-03:00", "2026-03-10T12:00:00-03:00", 1},
    };
    expect_rows(rep, clipped, 2, "clipped hours");
    json_decref(rep);

    /* the repeated hour of 2019's fall-back is two rows, one per pass */
    rep = report(SP, "2019-02-16T22:00:00-02:00", "2019-02-17", "hour", NULL, NULL, 0);
    const want_row repeated[] = {
        {"2019-02-16T23:00:00-02:00", "2019-02-16T23:00:00-03:00", 1},
        {"2019-02-16T23:00:00-03:00", "2019-02-17T00:00:00-03:00", 1},
    };
    expect_rows(rep, repeated, 2, "the repeated hour");
    json_decref(rep);

    /* the 1000-bucket cap counts hours */
    refused("2026-03-01", "2026-04-15", "hour", NULL, 0, "granularity", "1000");
    rep = report(SP, "2026-03-01", "2026-04-10", "hour", NULL, NULL, 0); /* 960 hours */
    assert_int_equal(total_requests(rep), 6);
    json_decref(rep);
}

static void hours_in_a_half_hour_zone(void **state) {
    (void)state;
    source_probe p = probe();
    json_t *rep = report(IN, "2026-03-10", "2026-03-11", "hour", NULL, NULL, 0);
    /* local hours start at :30 UTC: not the hourly rollup's */
    expect_source(&p, TALLY_USAGE_FULL, "a +05:30 zone");
    const want_row hours[] = {
        {"2026-03-10T10:00:00+05:30", "2026-03-10T11:00:00+05:30", 2},
        {"2026-03-10T11:00:00+05:30", "2026-03-10T12:00:00+05:30", 1},
    };
    expect_rows(rep, hours, 2, "IST hours");
    json_decref(rep);
    rep = report(IN, "2026-03-10T10:30:00+05:30", "2026-03-10T11:15:00+05:30", "hour", NULL, NULL,
                 0);
    const want_row part[] = {
        {"2026-03-10T10:30:00+05:30", "2026-03-10T11:00:00+05:30", 1},
        {"2026-03-10T11:00:00+05:30", "2026-03-10T11:15:00+05:30", 1},
    };
    expect_rows(rep, part, 2, "IST hours, clipped");
    json_decref(rep);
}

/* --- filters -------------------------------------------------------------------------- */

static void filters_on_dimensions(void **state) {
    (void)state;
    const char *mar = "2026-03-01", *apr = "2026-04-01";
    source_probe p = probe();
    tally_usage_filter model_a[] = {{"model", "m-a"}};
    json_t *rep = report(SP, mar, apr, NULL, NULL, model_a, 1);
    expect_source(&p, TALLY_USAGE_MODEL_HOURLY, "filter[model]");
    assert_int_equal(total_requests(rep), 3);
    assert_int_equal(int_of(json_object_get(rep, "totals"), "input_tokens"), 10 + 30 + 50);
    json_t *echo = json_object_get(json_object_get(rep, "filters"), "model");
    assert_int_equal(json_array_size(echo), 1);
    json_decref(rep);

    tally_usage_filter model_ab[] = {{"model", "m-a,m-b"}};
    rep = report(SP, mar, apr, NULL, NULL, model_ab, 1);
    assert_int_equal(total_requests(rep), 5);
    json_decref(rep);
    /* the same filter twice is one list (OR) */
    tally_usage_filter model_a_b[] = {{"model", "m-a"}, {"model", "m-b"}};
    rep = report(SP, mar, apr, NULL, NULL, model_a_b, 2);
    assert_int_equal(total_requests(rep), 5);
    json_decref(rep);

    /* two dimensions AND, whether grouped or not; rows and totals filtered */
    p = probe();
    tally_usage_filter a_u1[] = {{"model", "m-a"}, {"user", "u1"}};
    rep = report(SP, mar, apr, "day", "model", a_u1, 2);
    expect_source(&p, TALLY_USAGE_FULL, "filter[user]");
    const want_row days[] = {
        {"2026-03-01T00:00:00-03:00", "2026-03-02T00:00:00-03:00", 1},
        {"2026-03-10T00:00:00-03:00", "2026-03-11T00:00:00-03:00", 1},
    };
    expect_rows(rep, days, 2, "model m-a and user u1");
    assert_int_equal(total_requests(rep), 2);
    json_decref(rep);

    rep = report(SP, mar, apr, NULL, "user", model_a, 1);
    const json_t *rows = json_object_get(rep, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(str_of(json_object_get(json_array_get(rows, 0), "group"), "user"), "u1");
    assert_int_equal(int_of(json_array_get(rows, 0), "requests"), 2);
    assert_int_equal(int_of(json_array_get(rows, 1), "requests"), 1);
    json_decref(rep);

    p = probe();
    tally_usage_filter agent[] = {{"agent", "a1,a2"}}, kind[] = {{"kind", "tts"}},
                       channel[] = {{"channel", "whatsapp"}};
    rep = report(SP, mar, apr, NULL, NULL, agent, 1);
    expect_source(&p, TALLY_USAGE_HOURLY, "filter[agent]");
    assert_int_equal(total_requests(rep), 2); /* no agent matches no filter */
    json_decref(rep);
    rep = report(SP, mar, apr, NULL, NULL, kind, 1);
    assert_int_equal(total_requests(rep), 1);
    json_decref(rep);
    rep = report(SP, mar, apr, NULL, "channel", channel, 1);
    assert_int_equal(total_requests(rep), 1);
    json_decref(rep);
    tally_usage_filter none[] = {{"model", "nobody"}};
    rep = report(SP, mar, apr, "day", NULL, none, 1);
    assert_int_equal(json_array_size(json_object_get(rep, "rows")), 0);
    assert_int_equal(total_requests(rep), 0);
    json_decref(rep);

    tally_usage_filter planet[] = {{"planet", "mars"}}, empty[] = {{"model", "m-a,,m-b"}};
    refused(mar, apr, NULL, planet, 1, "filter[planet]", "unknown");
    refused(mar, apr, NULL, empty, 1, "filter[model]", "empty");

    /* over HTTP: brackets plain or encoded, repeated, unknown */
    char path[512];
    snprintf(path, sizeof path,
             "/v1/tenants/%s/usage?from=%s&to=%s&filter[model]=m-a&filter%%5Buser%%5D=u1", SP, mar,
             apr);
    json_t *j = api_get_json(env.base, path, ADMIN_KEY);
    assert_int_equal(total_requests(j), 2);
    json_decref(j);
    snprintf(path, sizeof path,
             "/v1/tenants/%s/usage?from=%s&to=%s&filter[model]=m-a&filter[model]=m-c", SP, mar,
             apr);
    j = api_get_json(env.base, path, ADMIN_KEY);
    assert_int_equal(total_requests(j), 4);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/tenants/%s/usage?filter[planet]=mars", SP);
    api_http r = get(path, NULL);
    api_expect_problem(&r, 400, "filter[planet]", "filter[planet]");
    api_http_free(&r);
    snprintf(path, sizeof path, "/v1/tenants/%s/usage?filter[model]=", SP);
    r = get(path, NULL);
    assert_int_equal(r.status, 400);
    api_http_free(&r);
}

/* --- group_by repeated ------------------------------------------------------------------ */

static void group_by_repeated_equals_comma_list(void **state) {
    (void)state;
    char a[256], b[256];
    snprintf(a, sizeof a,
             "/v1/tenants/%s/usage?from=2026-03-01&to=2026-04-01&group_by=model&group_by=user", SP);
    snprintf(b, sizeof b, "/v1/tenants/%s/usage?from=2026-03-01&to=2026-04-01&group_by=model,user",
             SP);
    json_t *ja = api_get_json(env.base, a, ADMIN_KEY), *jb = api_get_json(env.base, b, ADMIN_KEY);
    assert_true(json_equal(json_object_get(ja, "rows"), json_object_get(jb, "rows")));
    assert_true(json_equal(json_object_get(ja, "group_by"), json_object_get(jb, "group_by")));
    assert_int_equal(json_array_size(json_object_get(ja, "group_by")), 2);
    assert_int_equal(json_array_size(json_object_get(ja, "rows")), 5);
    json_decref(ja);
    json_decref(jb);
    snprintf(a, sizeof a, "/v1/tenants/%s/usage?group_by=model&group_by=model", SP);
    api_http r = get(a, NULL);
    api_expect_problem(&r, 400, "twice", "group_by");
    api_http_free(&r);
    /* other parameters still may not repeat */
    snprintf(a, sizeof a, "/v1/tenants/%s/usage?granularity=day&granularity=day", SP);
    r = get(a, NULL);
    api_expect_problem(&r, 400, "more than once", "granularity");
    api_http_free(&r);
}

/* --- CSV ------------------------------------------------------------------------------ */

static bool is_csv(const char *accept) {
    char path[256];
    snprintf(path, sizeof path, "/v1/tenants/%s/usage?from=2026-03-01&to=2026-04-01", SP);
    api_http r = get(path, accept);
    assert_int_equal(r.status, 200);
    bool csv = strstr(r.ctype, "text/csv") != NULL;
    if (!csv) assert_non_null(strstr(r.ctype, "application/json"));
    api_http_free(&r);
    return csv;
}

static void csv_negotiation_and_cells(void **state) {
    (void)state;
    assert_false(is_csv("application/json;q=0.9, text/csv;q=0.5"));
    assert_false(is_csv("text/csv;q=0"));
    assert_false(is_csv("text/csv; q=0.0, */*"));
    assert_false(is_csv("*/*"));
    assert_false(is_csv(NULL));
    assert_true(is_csv("text/csv"));
    assert_true(is_csv("TEXT/CSV; charset=utf-8"));
    assert_true(is_csv("application/json;q=0.2, text/csv;q=0.8"));
    assert_true(is_csv("text/*, application/json;q=0.5"));
    assert_true(is_csv("text/html, text/csv;q=0.9"));

    char path[256];
    snprintf(path, sizeof path,
             "/v1/tenants/%s/usage?from=2026-03-01&to=2026-04-01&group_by=user&format=csv", SP);
    api_http r = get(path, NULL);
    assert_int_equal(r.status, 200);
    char disp[256];
    assert_true(api_http_header(&r, "Content-Disposition", disp, sizeof disp));
    assert_string_equal(
        disp,
        "attachment; filename=\"usage-win-sp-2026-03-01T000000-0300-2026-04-01T000000-0300.csv\"");
    assert_memory_equal(r.body, "user,period_start,period_end,requests,", 38);
    /* the user "=cmd()" as a text cell, and the same in JSON as it is */
    assert_non_null(
        strstr(r.body, "\r\n'=cmd(),2026-03-01T00:00:00-03:00,2026-04-01T00:00:00-03:00,1,"));
    assert_null(strstr(r.body, "\n=cmd()"));
    api_http_free(&r);
    snprintf(path, sizeof path, "/v1/tenants/%s/usage?from=2026-03-01&to=2026-04-01&group_by=user",
             SP);
    json_t *j = api_get_json(env.base, path, ADMIN_KEY);
    const json_t *rows = json_object_get(j, "rows");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(rows); i++)
        seen |= !strcmp(str_of(json_object_get(json_array_get(rows, i), "group"), "user"),
                        "=cmd()");
    assert_true(seen);
    json_decref(j);
    /* JSON answers carry no Content-Disposition */
    r = get(path, NULL);
    assert_false(api_http_header(&r, "Content-Disposition", disp, sizeof disp));
    api_http_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(off_grain_bounds_are_refused),
        cmocka_unit_test(rows_are_clipped_to_the_window),
        cmocka_unit_test(from_alone_and_to_alone),
        cmocka_unit_test(hours_in_sao_paulo),
        cmocka_unit_test(hours_in_a_half_hour_zone),
        cmocka_unit_test(filters_on_dimensions),
        cmocka_unit_test(group_by_repeated_equals_comma_list),
        cmocka_unit_test(csv_negotiation_and_cells),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
