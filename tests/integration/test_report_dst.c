/*
 * Reports in a zone whose DST change repeats a local midnight: in
 * America/Havana, 2024-11-03 01:00 CDT fell back to 00:00 CST, so 00:00–01:00
 * on November 3rd happened twice (04:00–05:00Z and 05:00–06:00Z). Both
 * passes are November 3rd there; a window may even start inside the first.
 * Each report is read from the hourly rollup (no group) and from the
 * 15-minute one (by user); both must put every interaction in its local day.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "itest.h"
#include "tally_analytics.h"
#include "tally_pg.h"

static const char *const TIMES[] = {
    "2024-11-02T12:00:00Z", /* Nov 2, 08:00 CDT */
    "2024-11-03T04:30:00Z", /* Nov 3, 00:30 CDT, the first pass */
    "2024-11-03T05:30:00Z", /* Nov 3, 00:30 CST, the second pass */
    "2024-11-03T12:00:00Z", /* Nov 3, 07:00 CST */
};

/* The requests of each row of the report, in order, and that every row has
 * a period_start. */
static void expect_days(tally_pg *pg, const char *from, const char *to, const char *group_by,
                        const long long *want, size_t n_want) {
    tally_usage_request req = {"havana-co", from, to, "day", group_by, NULL, 0};
    json_t *rep;
    tally_err err;
    if (tally_report_usage(pg, &req, &rep, &err) != TALLY_OK) fail_msg("%s: %s", from, err.msg);
    const json_t *rows = json_object_get(rep, "rows");
    if (json_array_size(rows) != n_want)
        fail_msg("%s..%s by %s: %zu rows, expected %zu", from, to, group_by ? group_by : "-",
                 json_array_size(rows), n_want);
    for (size_t i = 0; i < n_want; i++) {
        const json_t *row = json_array_get(rows, i);
        assert_true(json_is_string(json_object_get(row, "period_start")));
        assert_int_equal(json_integer_value(json_object_get(row, "requests")), want[i]);
    }
    json_decref(rep);
}

static void repeated_local_midnight(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "dst", 1);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    itest_pg_exec(&ctx, false,
                  "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
                  " VALUES ('havana-co', 'Havana Co', 'active', 'America/Havana', now(), 0)");
    tally_err err;
    tally_pg *pg = tally_pg_open(ctx.pg_url, &err);
    assert_non_null(pg);
    tally_rollup_item items[4];
    char ids[4][8];
    for (int i = 0; i < 4; i++) {
        snprintf(ids[i], sizeof ids[i], "h%d", i);
        items[i] = (tally_rollup_item){.interaction_id = ids[i],
                                       .tenant_id = "havana-co",
                                       .model_id = "m",
                                       .user_id = "u",
                                       .kind = "chat",
                                       .input_tokens = 10,
                                       .output_tokens = 1};
        assert_true(tally_time_parse_rfc3339(TIMES[i], &items[i].time));
    }
    tally_rollup_batch batch = {.items = items, .n_items = 4};
    assert_int_equal(tally_rollup_apply(pg, "dst", &batch, NULL, &err), TALLY_OK);

    long long before_hourly = tally_usage_source_count(TALLY_USAGE_MODEL_HOURLY);
    static const long long two_days[] = {1, 3};
    expect_days(pg, "2024-11-02", "2024-11-04", NULL, two_days, 2);
    expect_days(pg, "2024-11-02", "2024-11-04", "user", two_days, 2);
    /* From inside the first pass of the repeated hour. */
    static const long long from_inside[] = {3};
    expect_days(pg, "2024-11-03T04:30:00Z", "2024-11-04", "user", from_inside, 1);
    expect_days(pg, "2024-11-03T04:00:00Z", "2024-11-04", NULL, from_inside, 1);
    assert_int_equal(tally_usage_source_count(TALLY_USAGE_MODEL_HOURLY), before_hourly + 2);
    tally_pg_close(pg);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(repeated_local_midnight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
