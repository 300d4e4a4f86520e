/*
 * tally migrate on a database that already holds data: `--to 4` builds the
 * schema of the previous release, rows are written the way its aggregator
 * and ingester wrote them, and migrations 005 and 006 must fill the new
 * rating record, the likes of usage_rollup and the hourly rollups from them.
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

/* The number of the newest file in schemas/postgres/. */
#define TALLY_TEST_NEWEST_MIGRATION 11

/* Three counted interactions of tenant "acme": two of model m1 in the 10:00
 * hour (10:00 and 10:15 buckets, users u1 and u2), one of m2 at 11:30. */
static const char *const OLD_ROWS =
    "INSERT INTO agg_interactions VALUES"
    " ('i1', 'acme', '2026-03-10T10:00:00Z', 'm1', 'u1', '', 'chat', ''),"
    " ('i2', 'acme', '2026-03-10T10:15:00Z', 'm1', 'u2', 'a1', 'chat', 'web'),"
    " ('i3', 'acme', '2026-03-10T11:30:00Z', 'm2', 'u1', '', 'tts', '');"
    "INSERT INTO usage_rollup VALUES"
    " ('acme', '2026-03-10T10:00:00Z', 'm1', 'u1', '', 'chat', '', 1, 0, 100, 10, 50, 0,"
    "  100, 10, 50, 0, 50, 0),"
    " ('acme', '2026-03-10T10:15:00Z', 'm1', 'u2', 'a1', 'chat', 'web', 1, 1, 200, 0, 70, 0,"
    "  0, 0, 0, 0.25, 70, 0),"
    " ('acme', '2026-03-10T11:30:00Z', 'm2', 'u1', '', 'tts', '', 1, 0, 30, 0, 5, 12.5,"
    "  30, 0, 5, 0, 0, 1.5);"
    /* Ratings as the ingester kept them: i1 liked twice (two users), i2
     * disliked, i3 rated under another tenant (never counts), i9 not counted
     * yet (kept, counted when i9 is). */
    "INSERT INTO feedback VALUES"
    " ('i1', 'r1', 'acme', 'like', 'f1', '2026-03-11T00:00:00Z', 10),"
    " ('i1', 'r2', 'acme', 'like', 'f2', '2026-03-11T00:00:00Z', 11),"
    " ('i2', 'r1', 'acme', 'dislike', 'f3', '2026-03-11T00:00:00Z', 12),"
    " ('i3', 'r1', 'other', 'like', 'f4', '2026-03-11T00:00:00Z', 13),"
    " ('i9', 'r1', 'acme', 'like', 'f5', '2026-03-11T00:00:00Z', 14);";

static void migration_005_fills_from_stored_rows(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "migrate", 1);
    const char *to4[] = {"migrate", "--to", "4", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", to4), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT max(version) FROM schema_migrations"), 4);
    itest_pg_exec(&ctx, false, OLD_ROWS);

    /* 005 and 006 are the ones under test; the newest applies too. */
    const char *to6[] = {"migrate", "--to", "6", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", to6), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT max(version) FROM schema_migrations"), 6);
    const char *all[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", all), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT max(version) FROM schema_migrations"),
                     TALLY_TEST_NEWEST_MIGRATION);

    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_feedback"), 5);
    /* Likes in the rows of the interactions rated. */
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT likes * 10 + dislikes FROM usage_rollup"
                                           " WHERE user_id = 'u1' AND model_id = 'm1'"),
                     20);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT likes * 10 + dislikes FROM usage_rollup"
                                           " WHERE user_id = 'u2'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT likes * 10 + dislikes FROM usage_rollup"
                                           " WHERE model_id = 'm2'"),
                     0);
    /* The hourly rollup: both m1 rows in the 10:00 hour, m2 in the 11:00 one. */
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM usage_rollup_model_hourly"), 2);
    assert_int_equal(itest_pg_scalar(&ctx,
                                     "SELECT requests * 1000000 + errors * 100000 + likes * 10"
                                     " + dislikes FROM usage_rollup_model_hourly WHERE model_id"
                                     " = 'm1' AND bucket = '2026-03-10T10:00:00Z'"),
                     2100021);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT input_tokens + cached_tokens + output_tokens"
                                           " + priced_input_tokens + unsaved_output_tokens"
                                           " FROM usage_rollup_model_hourly WHERE model_id = 'm1'"),
                     100 + 200 + 10 + 50 + 70 + 100 + 50 + 70);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT (supplied_cost_usd * 100)::bigint"
                                           " FROM usage_rollup_model_hourly WHERE model_id = 'm1'"),
                     25);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT (audio_seconds * 10 + supplied_time_saved * 10)"
                                           "::bigint FROM usage_rollup_model_hourly WHERE"
                                           " bucket = '2026-03-10T11:00:00Z'"),
                     140);

    /* 006's rollup keeps agent, kind and channel: i1 and i2 stay apart. */
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM usage_rollup_hourly"), 3);
    assert_int_equal(itest_pg_scalar(&ctx,
                                     "SELECT requests * 1000000 + errors * 100000 + likes * 10"
                                     " + dislikes FROM usage_rollup_hourly WHERE"
                                     " agent_id = 'a1' AND channel = 'web'"
                                     " AND bucket = '2026-03-10T10:00:00Z'"),
                     1100001);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(input_tokens) * 100 + sum(likes)"
                                           " FROM usage_rollup_hourly"),
                     (100 + 200 + 30) * 100 + 2);

    /* Nothing is left to apply; --to past the last migration is refused. */
    assert_int_equal(itest_run(&ctx, "cli/tally", all), 0);
    const char *too_far[] = {"migrate", "--to", "99", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", too_far), 2);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migration_005_fills_from_stored_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
