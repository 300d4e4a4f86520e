/*
 * Limits and the alerts they raise (docs/limits.md), on a real PostgreSQL:
 * interactions are counted through tally_rollup_apply, the aggregator's own
 * transaction, and read back through tally_limits_report, what the API and
 * `tally limits` answer. Entities are written as the ingester stores them.
 *
 * Calendar used below: 2026-03-01 is a Sunday, 2026-03-09 a Monday;
 * America/Manaus is UTC-4 and America/Sao_Paulo UTC-3 all year.
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

typedef struct {
    itest_ctx ctx;
    tally_pg *pg;
    int next_id;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    itest_setup(&f->ctx, "limits", 1);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&f->ctx, "cli/tally", migrate), 0);
    tally_err err;
    f->pg = tally_pg_open(f->ctx.pg_url, &err);
    assert_non_null(f->pg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    tally_pg_close(f->pg);
    itest_teardown(&f->ctx);
    free(f);
    return 0;
}

static void sql(fixture *f, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    itest_pg_exec(&f->ctx, false, buf);
}

static long long scalar(fixture *f, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return itest_pg_scalar(&f->ctx, buf);
}

static void tenant(fixture *f, const char *id, const char *zone) {
    sql(f,
        "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset)"
        " VALUES ('%s', '%s', 'active', '%s', now(), 0)",
        id, id, zone);
}

/* A budget set on 2026-01-01 (its alerts are for periods that end after
 * that): kind tokens unless brl_limit is given. */
static void budget(fixture *f, const char *tenant_id, const char *budget_id, const char *period,
                   const char *token_limit, const char *brl_limit, const char *thresholds,
                   bool pause) {
    sql(f,
        "INSERT INTO budgets (tenant_id, budget_id, kind, period, token_limit, brl_limit,"
        " thresholds, pause_at_limit, ev_time, ev_offset) VALUES ('%s', '%s', '%s', '%s', %s, %s,"
        " '%s', %s, '2026-01-01T00:00:00Z', 0)",
        tenant_id, budget_id, brl_limit ? "brl" : "tokens", period,
        token_limit ? token_limit : "NULL", brl_limit ? brl_limit : "NULL", thresholds,
        pause ? "true" : "false");
}

/* Count n interactions of `tokens` tokens each (input), at `time`. */
static void count(fixture *f, const char *tenant_id, const char *user_id, const char *time, int n,
                  int64_t tokens) {
    tally_rollup_item items[64];
    char ids[64][24];
    assert_true(n <= 64);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "i%d", ++f->next_id);
        items[i] = (tally_rollup_item){.interaction_id = ids[i],
                                       .tenant_id = tenant_id,
                                       .model_id = "acme/m1",
                                       .user_id = user_id,
                                       .kind = "chat",
                                       .input_tokens = tokens};
        assert_true(tally_time_parse_rfc3339(time, &items[i].time));
    }
    tally_rollup_batch batch = {.items = items, .n_items = (size_t)n};
    tally_err err;
    if (tally_rollup_apply(f->pg, "limits", &batch, NULL, &err) != TALLY_OK)
        fail_msg("count: %s", err.msg);
}

static long long alerts(fixture *f, const char *where) {
    return scalar(f, "SELECT count(*) FROM alert_outbox WHERE %s", where);
}

/* The limits answer at `at` (NULL: now). Caller decrefs. */
static json_t *limits(fixture *f, const char *tenant_id, const char *user_id, const char *at) {
    tally_limits_request req = {tenant_id, user_id, at};
    json_t *out;
    tally_err err;
    if (tally_limits_report(f->pg, &req, 0, &out, &err) != TALLY_OK)
        fail_msg("limits %s: %s", tenant_id, err.msg);
    return out;
}

static const json_t *find_limit(const json_t *answer, const char *limit_id, const char *user_id) {
    const json_t *l;
    size_t i;
    json_array_foreach(json_object_get(answer, "limits"), i, l) {
        const char *u = json_string_value(json_object_get(l, "user_id"));
        if (!strcmp(json_string_value(json_object_get(l, "limit_id")), limit_id) &&
            ((!u && !user_id) || (u && user_id && !strcmp(u, user_id))))
            return l;
    }
    return NULL;
}

static void drain(fixture *f) {
    int changes;
    tally_err err;
    if (tally_limits_reevaluate(f->pg, &changes, &err) != TALLY_OK)
        fail_msg("reevaluate: %s", err.msg);
}

static void threshold_at_the_boundary_once_then_pause_and_unpause(void **state) {
    fixture *f = *state;
    tenant(f, "t-edge", "America/Manaus");
    budget(f, "t-edge", "mensal", "monthly", "1000", NULL, "{80,100}", true);
    drain(f);
    count(f, "t-edge", "ana", "2026-03-10T12:00:00Z", 7, 100);
    count(f, "t-edge", "ana", "2026-03-10T12:01:00Z", 1, 99); /* 799: 80 % not reached */
    assert_int_equal(alerts(f, "tenant_id = 't-edge'"), 0);
    count(f, "t-edge", "bia", "2026-03-10T12:02:00Z", 1, 1); /* 800 × 100 = 80 × 1000 */
    assert_int_equal(alerts(f, "alert_id = 't-edge/budget:mensal:tokens/_/2026-03-01T04:00:00Z/80'"
                               " AND used = 800 AND crossed_at = '2026-03-10T12:02:00Z'"
                               " AND NOT paused AND webhook_url IS NULL"),
                     1);
    json_t *a = limits(f, "t-edge", NULL, "2026-03-10T13:00:00Z");
    assert_true(json_is_true(json_object_get(a, "allowed")));
    const json_t *l = find_limit(a, "budget:mensal:tokens", NULL);
    assert_non_null(l);
    assert_int_equal(json_integer_value(json_object_get(l, "used")), 800);
    assert_int_equal(json_integer_value(json_object_get(l, "remaining")), 200);
    assert_string_equal(json_string_value(json_object_get(l, "period_start")),
                        "2026-03-01T00:00:00-04:00");
    assert_string_equal(json_string_value(json_object_get(l, "period_end")),
                        "2026-04-01T00:00:00-04:00");
    assert_int_equal(json_array_size(json_object_get(l, "reached")), 1);
    json_decref(a);

    count(f, "t-edge", "ana", "2026-03-11T08:00:00Z", 2, 100); /* 1000: 100 % */
    assert_int_equal(alerts(f, "alert_id LIKE 't-edge/%%/100' AND used = 1000 AND paused"), 1);
    a = limits(f, "t-edge", NULL, "2026-03-11T09:00:00Z");
    assert_true(json_is_false(json_object_get(a, "allowed")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "reasons"), 0)),
                        "budget:mensal:tokens paused: 1000 of 1000 tokens");
    assert_true(
        json_is_true(json_object_get(find_limit(a, "budget:mensal:tokens", NULL), "paused")));
    json_decref(a);

    /* Counting the same interactions again (a redelivered batch) raises nothing. */
    f->next_id -= 2;
    count(f, "t-edge", "ana", "2026-03-11T08:00:00Z", 2, 100);
    assert_int_equal(alerts(f, "tenant_id = 't-edge'"), 2);
    assert_int_equal(scalar(f, "SELECT tokens FROM limit_usage WHERE tenant_id = 't-edge'"
                               " AND user_id = '' AND day = '2026-03-11'"),
                     200);

    /* Raising the limit un-pauses; no alert is withdrawn. */
    sql(f, "UPDATE budgets SET token_limit = 5000 WHERE budget_id = 'mensal'");
    drain(f);
    a = limits(f, "t-edge", NULL, "2026-03-11T09:00:00Z");
    assert_true(json_is_true(json_object_get(a, "allowed")));
    assert_true(
        json_is_false(json_object_get(find_limit(a, "budget:mensal:tokens", NULL), "paused")));
    json_decref(a);
    assert_int_equal(alerts(f, "tenant_id = 't-edge'"), 2);
}

/* Each pair of interactions straddles a local period boundary: each side is
 * its own period, so each reaches the threshold alone. */
static void periods_start_at_local_midnight_monday_and_the_first(void **state) {
    fixture *f = *state;
    tenant(f, "t-manaus", "America/Manaus");
    tenant(f, "t-sp", "America/Sao_Paulo");
    budget(f, "t-manaus", "dia", "daily", "10", NULL, "{100}", false);
    budget(f, "t-manaus", "semana", "weekly", "10", NULL, "{100}", false);
    budget(f, "t-sp", "mes", "monthly", "10", NULL, "{100}", false);
    budget(f, "t-sp", "dia", "daily", "10", NULL, "{100}", false);
    drain(f);
    /* Sunday 23:59 and Monday 00:00 in Manaus. */
    count(f, "t-manaus", "u", "2026-03-09T03:59:00Z", 1, 10);
    count(f, "t-manaus", "u", "2026-03-09T04:00:00Z", 1, 10);
    assert_int_equal(
        alerts(f, "alert_id = 't-manaus/budget:dia:tokens/_/2026-03-08T04:00:00Z/100'"), 1);
    assert_int_equal(
        alerts(f, "alert_id = 't-manaus/budget:dia:tokens/_/2026-03-09T04:00:00Z/100'"), 1);
    assert_int_equal(
        alerts(f, "alert_id = 't-manaus/budget:semana:tokens/_/2026-03-02T04:00:00Z/100'"), 1);
    assert_int_equal(
        alerts(f, "alert_id = 't-manaus/budget:semana:tokens/_/2026-03-09T04:00:00Z/100'"), 1);
    /* February 28th 23:59 and March 1st 00:00 in São Paulo. */
    count(f, "t-sp", "u", "2026-03-01T02:59:00Z", 1, 10);
    count(f, "t-sp", "u", "2026-03-01T03:00:00Z", 1, 10);
    assert_int_equal(alerts(f, "alert_id = 't-sp/budget:mes:tokens/_/2026-02-01T03:00:00Z/100'"),
                     1);
    assert_int_equal(alerts(f, "alert_id = 't-sp/budget:mes:tokens/_/2026-03-01T03:00:00Z/100'"),
                     1);
    assert_int_equal(alerts(f, "alert_id = 't-sp/budget:dia:tokens/_/2026-02-28T03:00:00Z/100'"),
                     1);
    assert_int_equal(alerts(f, "alert_id = 't-sp/budget:dia:tokens/_/2026-03-01T03:00:00Z/100'"),
                     1);
    /* One token short of the next day's limit: nothing more. */
    count(f, "t-sp", "u", "2026-03-02T02:59:59Z", 1, 9);
    assert_int_equal(alerts(f, "tenant_id = 't-sp'"), 4);
}

static void a_late_event_raises_its_own_month(void **state) {
    fixture *f = *state;
    tenant(f, "t-late", "America/Sao_Paulo");
    budget(f, "t-late", "m", "monthly", "100", NULL, "{50,100}", false);
    drain(f);
    count(f, "t-late", "u", "2026-02-20T12:00:00Z", 1, 40);
    count(f, "t-late", "u", "2026-03-05T12:00:00Z", 1, 90);
    assert_int_equal(alerts(f, "alert_id = 't-late/budget:m:tokens/_/2026-03-01T03:00:00Z/50'"), 1);
    count(f, "t-late", "u", "2026-02-21T12:00:00Z", 1, 20); /* late: February reaches 60 */
    assert_int_equal(alerts(f, "alert_id = 't-late/budget:m:tokens/_/2026-02-01T03:00:00Z/50'"
                               " AND used = 60 AND crossed_at = '2026-02-21T12:00:00Z'"),
                     1);
    assert_int_equal(alerts(f, "tenant_id = 't-late'"), 2);
}

static void plan_limits_subscriptions_and_standing(void **state) {
    fixture *f = *state;
    tenant(f, "t-plan", "America/Sao_Paulo");
    sql(f, "INSERT INTO plans (plan_id, name, monthly_request_limit, ev_time, ev_offset)"
           " VALUES ('basic', 'Basic', 1000, now(), 0), ('student', 'Student', 5, now(), 0)");
    sql(f, "INSERT INTO subscriptions (subscription_id, tenant_id, plan_id, starts_at, status,"
           " ev_time, ev_offset) VALUES ('s-tenant', 't-plan', 'basic', '2026-01-01', 'active',"
           " now(), 0)");
    sql(f, "INSERT INTO subscriptions (subscription_id, tenant_id, user_id, plan_id, starts_at,"
           " status, ev_time, ev_offset) VALUES ('s-ana', 't-plan', 'ana', 'student',"
           " '2026-01-01', 'trial', now(), 0)");
    drain(f);
    const char *at = "2026-03-20T12:00:00Z";
    for (int i = 0; i < 15; i++) count(f, "t-plan", "bob", "2026-03-10T12:00:00Z", 64, 1);
    count(f, "t-plan", "bob", "2026-03-10T12:00:00Z", 35, 1); /* 995 */
    count(f, "t-plan", "ana", "2026-03-10T13:00:00Z", 4, 1);  /* 999; ana 4 */
    json_t *a = limits(f, "t-plan", NULL, at);
    assert_true(json_is_true(json_object_get(a, "allowed"))); /* the 1 000th may go */
    assert_int_equal(
        json_integer_value(json_object_get(find_limit(a, "plan:basic:requests", NULL), "used")),
        999);
    assert_null(find_limit(a, "plan:student:requests", "ana")); /* not asked for ana */
    json_decref(a);
    a = limits(f, "t-plan", "ana", at);
    assert_non_null(find_limit(a, "plan:student:requests", "ana"));
    assert_true(json_is_true(json_object_get(a, "allowed")));
    json_decref(a);

    count(f, "t-plan", "ana", "2026-03-10T14:00:00Z", 1, 1); /* 1 000 requests; ana 5 */
    a = limits(f, "t-plan", NULL, at);
    assert_true(json_is_false(json_object_get(a, "allowed"))); /* the 1 001st may not */
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "reasons"), 0)),
                        "plan:basic:requests reached: 1000 of 1000 requests");
    json_decref(a);
    assert_int_equal(alerts(f, "alert_id = 't-plan/plan:basic:requests/_/2026-03-01T03:00:00Z/100'"
                               " AND paused = false"),
                     1);
    assert_int_equal(
        alerts(f, "alert_id = 't-plan/plan:student:requests/ana/2026-03-01T03:00:00Z/100'"), 1);
    /* Bob's own answer carries no student plan: a user's subscription limits
     * only that user. */
    a = limits(f, "t-plan", "bob", at);
    assert_null(find_limit(a, "plan:student:requests", "ana"));
    json_decref(a);

    /* A cancelled subscription no longer limits; one that ended neither. */
    sql(f, "UPDATE subscriptions SET status = 'cancelled' WHERE subscription_id = 's-tenant'");
    sql(f, "UPDATE subscriptions SET ends_at = '2026-03-15' WHERE subscription_id = 's-ana'");
    a = limits(f, "t-plan", "ana", at);
    assert_true(json_is_true(json_object_get(a, "allowed")));
    assert_int_equal(json_array_size(json_object_get(a, "limits")), 0);
    json_decref(a);
    /* Before it ended, ana's limit was in force again. */
    a = limits(f, "t-plan", "ana", "2026-03-14T12:00:00Z");
    assert_true(json_is_false(json_object_get(a, "allowed")));
    json_decref(a);

    /* Suspended: the subscription, then the tenant. */
    sql(f, "UPDATE subscriptions SET status = 'suspended' WHERE subscription_id = 's-tenant'");
    a = limits(f, "t-plan", NULL, at);
    assert_true(json_is_false(json_object_get(a, "allowed")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "reasons"), 0)),
                        "subscription s-tenant suspended");
    json_decref(a);
    sql(f, "UPDATE subscriptions SET status = 'cancelled' WHERE subscription_id = 's-tenant'");
    sql(f, "UPDATE tenants SET status = 'suspended' WHERE tenant_id = 't-plan'");
    a = limits(f, "t-plan", NULL, at);
    assert_true(json_is_false(json_object_get(a, "allowed")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "reasons"), 0)),
                        "tenant t-plan suspended");
    json_decref(a);
}

static void brl_crossed_by_a_price_published_later_and_never_withdrawn(void **state) {
    fixture *f = *state;
    tenant(f, "t-brl", "America/Sao_Paulo");
    sql(f, "INSERT INTO fx_rates (currency, effective_from, per_usd, ev_time, ev_offset)"
           " VALUES ('BRL', '2026-01-01T00:00:00Z', 5, now(), 0)");
    budget(f, "t-brl", "reais", "monthly", NULL, "1.0", "{50,100}", true);
    drain(f);
    /* 10 × 20 000 input tokens with no price yet: 0 BRL. */
    count(f, "t-brl", "u", "2026-03-10T12:00:00Z", 10, 20000);
    assert_int_equal(alerts(f, "tenant_id = 't-brl'"), 0);
    /* A price from March 1st: 20 000 × 2 USD/1M = 0.04 USD = 0.2 BRL each, 2 BRL. */
    sql(f, "INSERT INTO model_prices (model_id, tenant_key, effective_from, input_usd_per_1m,"
           " output_usd_per_1m, cached_input_usd_per_1m, minutes_saved_per_100_output_tokens,"
           " ev_time, ev_offset) VALUES ('acme/m1', '', '2026-03-01T00:00:00Z', 2, 8, 2, 0,"
           " now(), 0)");
    drain(f);
    /* crossed_at: when the price was stored, not an interaction's time. */
    assert_int_equal(alerts(f, "tenant_id = 't-brl' AND metric = 'brl' AND used = 2"
                               " AND paused" /* used >= limit when announced */
                               " AND crossed_at > now() - interval '1 hour'"),
                     2);
    json_t *a = limits(f, "t-brl", NULL, "2026-03-20T12:00:00Z");
    const json_t *l = find_limit(a, "budget:reais:brl", NULL);
    assert_non_null(l);
    assert_true(json_real_value(json_object_get(l, "used")) == 2.0);
    assert_true(json_is_true(json_object_get(l, "paused")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "reasons"), 0)),
                        "budget:reais:brl paused: 2.000000 of 1.000000 BRL");
    json_decref(a);
    /* A lower rate from March 5th brings usage back under: nothing is withdrawn
     * and nothing new is announced. */
    sql(f, "INSERT INTO fx_rates (currency, effective_from, per_usd, ev_time, ev_offset)"
           " VALUES ('BRL', '2026-03-05T00:00:00Z', 0.5, now(), 0)");
    drain(f);
    a = limits(f, "t-brl", NULL, "2026-03-20T12:00:00Z");
    l = find_limit(a, "budget:reais:brl", NULL);
    assert_true(json_real_value(json_object_get(l, "used")) == 0.2);
    assert_true(json_is_true(json_object_get(a, "allowed")));
    json_decref(a);
    assert_int_equal(alerts(f, "tenant_id = 't-brl'"), 2);
    /* Interactions counted now use the versions known now. */
    count(f, "t-brl", "u", "2026-03-20T12:00:00Z", 1, 20000);
    assert_int_equal(scalar(f, "SELECT (brl * 1000)::bigint FROM limit_usage WHERE"
                               " tenant_id = 't-brl' AND user_id = '' AND day = '2026-03-20'"),
                     20);
}

/* The ingester stores a budget and the aggregator counts interactions, each
 * on its own: usage may be counted before its budget is stored (found by
 * test_limits_alerts_kill: the first threshold of five tenants was never
 * announced). Storing the budget looks again at the periods from its event
 * time, and no further back. */
static void usage_counted_before_its_budget_is_announced_when_it_arrives(void **state) {
    fixture *f = *state;
    tenant(f, "t-race", "America/Sao_Paulo");
    drain(f);
    count(f, "t-race", "u", "2026-03-10T12:00:00Z", 5, 100);
    sql(f, "INSERT INTO budgets (tenant_id, budget_id, kind, period, token_limit, thresholds,"
           " pause_at_limit, ev_time, ev_offset) VALUES ('t-race', 'b', 'tokens', 'monthly', 1000,"
           " '{50}', false, '2026-01-01T00:00:00Z', 0), ('t-race', 'late', 'tokens', 'monthly',"
           " 100, '{50}', false, now(), 0)");
    drain(f);
    assert_int_equal(alerts(f, "alert_id = 't-race/budget:b:tokens/_/2026-03-01T03:00:00Z/50'"
                               " AND used = 500 AND crossed_at > now() - interval '1 hour'"),
                     1);
    /* A budget set now does not announce months before it. */
    assert_int_equal(alerts(f, "limit_id = 'budget:late:tokens'"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threshold_at_the_boundary_once_then_pause_and_unpause),
        cmocka_unit_test(periods_start_at_local_midnight_monday_and_the_first),
        cmocka_unit_test(a_late_event_raises_its_own_month),
        cmocka_unit_test(plan_limits_subscriptions_and_standing),
        cmocka_unit_test(brl_crossed_by_a_price_published_later_and_never_withdrawn),
        cmocka_unit_test(usage_counted_before_its_budget_is_announced_when_it_arrives),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
