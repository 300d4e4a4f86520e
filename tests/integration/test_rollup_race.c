/*
 * Two aggregators storing the same ratings at the same instant — what a
 * rebalance can do when the partition's old owner finishes a batch the new
 * owner also reads. Every (interaction, user) pair must count once: each
 * round, two threads on two connections apply the same 200 ratings behind a
 * barrier, and the likes in every rollup must equal the pairs. (Before the
 * pairs were locked, each overlapping round counted some pairs twice.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "itest.h"
#include "tally_pg.h"

#define PAIRS 200
#define ROUNDS 10

typedef struct {
    tally_pg *pg;
    pthread_barrier_t *barrier;
    const tally_rollup_batch *batch;
    tally_code rc;
    char msg[512];
} worker;

static void *apply(void *arg) {
    worker *w = arg;
    tally_err err = {0};
    pthread_barrier_wait(w->barrier);
    w->rc = tally_rollup_apply(w->pg, "race", w->batch, NULL, &err);
    snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    return NULL;
}

static void same_ratings_twice_at_once_count_once(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "race", 1);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    tally_err err;
    tally_pg *a = tally_pg_open(ctx.pg_url, &err), *b = tally_pg_open(ctx.pg_url, &err);
    assert_non_null(a);
    assert_non_null(b);

    static char ids[PAIRS][16];
    static tally_rollup_item items[PAIRS];
    tally_usec t0;
    assert_true(tally_time_parse_rfc3339("2026-03-10T10:00:00Z", &t0));
    for (int k = 0; k < PAIRS; k++) {
        snprintf(ids[k], sizeof ids[k], "x%d", k);
        items[k] = (tally_rollup_item){.interaction_id = ids[k],
                                       .tenant_id = "race-co",
                                       .model_id = "m",
                                       .user_id = "u",
                                       .kind = "chat",
                                       .time = t0 + (tally_usec)k * 60 * 1000000,
                                       .input_tokens = 1,
                                       .output_tokens = 1};
    }
    tally_rollup_batch counted = {.items = items, .n_items = PAIRS};
    assert_int_equal(tally_rollup_apply(a, "race", &counted, NULL, &err), TALLY_OK);

    static tally_rollup_rating ratings[PAIRS];
    char raters[ROUNDS][8];
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(raters[round], sizeof raters[round], "r%d", round);
        for (int k = 0; k < PAIRS; k++)
            ratings[k] = (tally_rollup_rating){.interaction_id = ids[k],
                                               .user_id = raters[round],
                                               .tenant_id = "race-co",
                                               .like = true,
                                               .time = t0 + 86400LL * 1000000,
                                               .offset = round * PAIRS + k};
        tally_rollup_batch batch = {.ratings = ratings, .n_ratings = PAIRS};
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, 2);
        worker w[2] = {{a, &barrier, &batch, TALLY_OK, ""}, {b, &barrier, &batch, TALLY_OK, ""}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, apply, &w[i]);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < 2; i++)
            if (w[i].rc != TALLY_OK) fail_msg("round %d, worker %d: %s", round, i, w[i].msg);
    }
    long long want = (long long)PAIRS * ROUNDS;
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_feedback"), want);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(likes) FROM usage_rollup"), want);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(likes) FROM usage_rollup_model_hourly"),
                     want);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(likes) FROM usage_rollup_hourly"), want);
    tally_pg_close(a);
    tally_pg_close(b);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_ratings_twice_at_once_count_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
