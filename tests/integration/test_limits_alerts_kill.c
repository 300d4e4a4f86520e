/*
 * Alerts exactly once, end to end, through kill -9 (docs/limits.md,
 * docs/architecture.md "Alerts exactly once"): events flow through
 * tally-ingest (entities) and tally-aggregate (counting, crossings into the
 * outbox) while tally-aggregate and tally-alerts (publishing) are killed
 * with SIGKILL at random moments and started again, and PostgreSQL and Kafka
 * are each restarted once under them.
 *
 * The oracle is built from the stream itself, not from Tally: TENANTS
 * tenants, each with a monthly token budget of LIMIT tokens and thresholds
 * 10, 20, … 100, each sending PER_TENANT interactions of TOKENS tokens in
 * March 2026 — more than its limit — so every threshold of every tenant is
 * crossed exactly once: TENANTS × 10 alert ids, known in advance. The alerts
 * topic, read committed, must hold each of them exactly once and nothing
 * else. Rounds: TALLY_TEST_KILL_ROUNDS (default 60).
 */
#include <jansson.h>
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

#include "itest.h"

#define TENANTS 25
#define THRESHOLDS 10
#define PER_TENANT 60
#define TOKENS 100
#define LIMIT 5000 /* < PER_TENANT × TOKENS: 100 % is crossed by the 50th */
#define CHUNKS 10
#define EXPECTED (TENANTS * THRESHOLDS)

static void sleep_ms(int ms) {
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int rounds(void) {
    const char *v = getenv("TALLY_TEST_KILL_ROUNDS");
    int n = v ? atoi(v) : 60;
    return n > 0 ? n : 60;
}

typedef struct {
    char *value[TENANTS * (PER_TENANT + 2)];
    char *key[TENANTS * (PER_TENANT + 2)];
    size_t n;
} stream;

static void add(stream *s, const char *tenant, char *value) {
    s->value[s->n] = value;
    s->key[s->n++] = strdup(tenant);
}

/* Entities first, then the interactions, tenants interleaved. */
static void make_stream(stream *s) {
    char *v;
    for (int t = 0; t < TENANTS; t++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "al-%02d", t);
        if (asprintf(&v,
                     "{\"specversion\":\"1.0\",\"id\":\"tn-%s\",\"source\":\"itest\","
                     "\"type\":\"tenant.upserted\",\"time\":\"2026-01-01T00:00:00Z\","
                     "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"name\":\"%s\","
                     "\"timezone\":\"America/Sao_Paulo\"}}",
                     tenant, tenant, tenant, tenant) < 0)
            fail();
        add(s, tenant, v);
        if (asprintf(&v,
                     "{\"specversion\":\"1.0\",\"id\":\"bg-%s\",\"source\":\"itest\","
                     "\"type\":\"budget.set\",\"time\":\"2026-01-01T00:00:00Z\","
                     "\"subject\":\"%s\",\"data\":{\"tenant_id\":\"%s\",\"budget_id\":\"b\","
                     "\"kind\":\"tokens\",\"period\":\"monthly\",\"token_limit\":%d,"
                     "\"thresholds\":[10,20,30,40,50,60,70,80,90,100]}}",
                     tenant, tenant, tenant, LIMIT) < 0)
            fail();
        add(s, tenant, v);
    }
    for (int i = 0; i < PER_TENANT; i++)
        for (int t = 0; t < TENANTS; t++) {
            char tenant[16];
            snprintf(tenant, sizeof tenant, "al-%02d", t);
            if (asprintf(&v,
                         "{\"specversion\":\"1.0\",\"id\":\"ix-%s-%d\",\"source\":\"itest\","
                         "\"type\":\"interaction.recorded\","
                         "\"time\":\"2026-03-10T12:%02d:%02dZ\",\"subject\":\"%s\","
                         "\"data\":{\"tenant_id\":\"%s\",\"user_id\":\"u%d\",\"model_id\":\"m\","
                         "\"input_tokens\":%d,\"output_tokens\":0}}",
                         tenant, i, i % 60, t, tenant, tenant, i % 3, TOKENS) < 0)
                fail();
            add(s, tenant, v);
        }
}

static void publish_chunk(const itest_ctx *ctx, const stream *s, int chunk) {
    size_t from = s->n * (size_t)chunk / CHUNKS, to = s->n * (size_t)(chunk + 1) / CHUNKS;
    itest_produce(ctx, ctx->topic, (const char *const *)s->key + from,
                  (const char *const *)s->value + from, NULL, to - from);
}

typedef struct {
    int per_id[TENANTS][THRESHOLDS];
    int foreign;
} census;

static void count_one(const rd_kafka_message_t *m, void *arg) {
    census *c = arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "id")) : NULL;
    int t, p;
    char tail;
    /* al-07/budget:b:tokens/_/2026-03-01T03:00:00Z/40 */
    if (id &&
        sscanf(id, "al-%2d/budget:b:tokens/_/2026-03-01T03:00:00Z/%d%c", &t, &p, &tail) == 2 &&
        t >= 0 && t < TENANTS && p % 10 == 0 && p >= 10 && p <= 100)
        c->per_id[t][p / 10 - 1]++;
    else
        c->foreign++;
    json_decref(j);
}

static bool all_published(const itest_ctx *ctx, void *arg) {
    (void)arg;
    return itest_pg_scalar(
               ctx, "SELECT count(*) FROM alert_outbox WHERE published_at IS NOT NULL") == EXPECTED;
}

/* scripts/stack restart pg|kafka: the server goes down and comes back while
 * the daemons run. */
static void restart_server(const char *server) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/stack restart %s >/dev/null 2>&1", TALLY_SOURCE_DIR,
             server);
    if (system(cmd) != 0) fail_msg("could not restart %s: %s", server, cmd);
}

static pid_t start(const itest_ctx *ctx, const char *binary, const char *log) {
    const char *args[] = {"--stats-interval", "0", NULL};
    const char *agg_args[] = {"--batch-ms", "50", "--batch-size", "200", "--stats-interval",
                              "0",          NULL};
    return itest_spawn_logged(ctx, binary, strstr(binary, "aggregate") ? agg_args : args, log);
}

static void aggregator_and_sender_kill_9_rounds(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "alerts1", 3);
    static stream s;
    make_stream(&s);
    static const char *const BIN[3] = {"ingest/tally-ingest", "analytics/tally-aggregate",
                                       "alerts/tally-alerts"};
    char logs[3][512];
    pid_t pid[3];
    for (int d = 0; d < 3; d++) {
        snprintf(logs[d], sizeof logs[d], "%s/tests/%s.%d.log", TALLY_BIN_DIR, ctx.name, d);
        pid[d] = start(&ctx, BIN[d], logs[d]);
    }
    int n = rounds(), chunk = 0;
    unsigned seed = (unsigned)time(NULL);
    printf("  %d rounds, seed %u, %zu events, %d alerts expected\n", n, seed, s.n, EXPECTED);
    srand(seed);
    for (int r = 0; r < n; r++) {
        if (chunk < CHUNKS && r % (n / CHUNKS > 0 ? n / CHUNKS : 1) == 0)
            publish_chunk(&ctx, &s, chunk++);
        sleep_ms(100 + rand() % 900);
        if (r == n / 3) restart_server("pg");
        if (r == 2 * n / 3) restart_server("kafka");
        int d = 1 + rand() % 2; /* the aggregator or the sender */
        itest_stop(pid[d], SIGKILL, 5000);
        pid[d] = start(&ctx, BIN[d], logs[d]);
    }
    while (chunk < CHUNKS) publish_chunk(&ctx, &s, chunk++);
    assert_true(itest_wait_until(all_published, &ctx, NULL, 180000));
    for (int d = 0; d < 3; d++) assert_int_equal(itest_stop(pid[d], SIGTERM, 30000), 0);

    census c = {0};
    /* One more than expected: a duplicate shows up before the time-out. */
    size_t got = itest_consume_all(&ctx, ctx.alerts, count_one, &c, EXPECTED + 1, 15000);
    int missing = 0, doubled = 0;
    for (int t = 0; t < TENANTS; t++)
        for (int p = 0; p < THRESHOLDS; p++) {
            missing += c.per_id[t][p] == 0;
            doubled += c.per_id[t][p] > 1;
        }
    size_t all = itest_consume_all_isolated(&ctx, ctx.alerts, "read_uncommitted", NULL, NULL,
                                            (size_t)EXPECTED * 100, 5000);
    printf("  alerts (read committed): %zu records, %d ids missing, %d more than once, %d foreign;"
           " read uncommitted: %zu (%zd from aborted attempts); outbox rows %lld\n",
           got, missing, doubled, c.foreign, all, (ssize_t)all - (ssize_t)got,
           itest_pg_scalar(&ctx, "SELECT count(*) FROM alert_outbox"));
    assert_int_equal(got, EXPECTED);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(c.foreign, 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM alert_outbox"), EXPECTED);
    /* Counted exactly once too: every tenant's March is PER_TENANT × TOKENS. */
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM limit_usage WHERE user_id = ''"
                                           " AND day = '2026-03-10' AND tokens = 6000"),
                     TENANTS);
    for (size_t i = 0; i < s.n; i++) {
        free(s.value[i]);
        free(s.key[i]);
    }
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aggregator_and_sender_kill_9_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
