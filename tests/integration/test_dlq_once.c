/*
 * Dead letters exactly once, through kill -9 and rebalances: the ingester
 * writes a batch's dead letters and its offsets in one Kafka transaction,
 * so a reader of the DLQ that reads committed records only sees each
 * rejected event once, however often the ingester died before committing.
 *
 * The stream: GOOD generated events (interactions and their entities) with a
 * poison event (an interaction with a negative token count, each with its
 * own id) every GOOD/POISON lines, published in chunks while the ingesters
 * are killed. Rounds: TALLY_TEST_KILL_ROUNDS (default 200) per case.
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

static const char *const INGEST = "ingest/tally-ingest";

#define POISON 50
#define CHUNKS 10

static void sleep_ms(int ms) {
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int rounds(void) {
    const char *v = getenv("TALLY_TEST_KILL_ROUNDS");
    int n = v ? atoi(v) : 200;
    return n > 0 ? n : 200;
}

/* The stream to publish, in order, with its keys (the event's subject). */
typedef struct {
    char **value;
    char **key;
    size_t n;
    long long good_interactions;
} stream;

static char *subject_of(const char *line) {
    json_t *j = json_loads(line, 0, NULL);
    const char *s = j ? json_string_value(json_object_get(j, "subject")) : NULL;
    char *out = strdup(s ? s : "_global");
    json_decref(j);
    return out;
}

static stream make_stream(const itest_ctx *ctx, const char *events) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx->name);
    const char *gen[] = {"--events", events,       "--tenants", "8", "--seed",
                         "21",       "--feedback", "0",         NULL};
    itest_generate(ctx, path, gen);
    itest_lines lines = itest_read_lines(path);
    remove(path);
    stream s = {calloc(lines.n + POISON, sizeof(char *)), calloc(lines.n + POISON, sizeof(char *)),
                0, 0};
    size_t every = lines.n / POISON, poisoned = 0;
    for (size_t i = 0; i < lines.n; i++) {
        if (strstr(lines.line[i], "\"interaction.recorded\"")) s.good_interactions++;
        s.value[s.n] = strdup(lines.line[i]);
        s.key[s.n++] = subject_of(lines.line[i]);
        if (poisoned < POISON && i % every == every - 1) {
            char p[512];
            snprintf(p, sizeof p,
                     "{\"specversion\":\"1.0\",\"id\":\"poison-%zu\",\"source\":\"itest\","
                     "\"type\":\"interaction.recorded\",\"time\":\"2026-03-02T10:00:00Z\","
                     "\"subject\":\"poison-tenant\",\"data\":{\"tenant_id\":\"poison-tenant\","
                     "\"user_id\":\"u\",\"model_id\":\"m\",\"input_tokens\":-1,"
                     "\"output_tokens\":1}}",
                     poisoned++);
            s.value[s.n] = strdup(p);
            s.key[s.n++] = strdup("poison-tenant");
        }
    }
    itest_lines_free(&lines);
    assert_int_equal(poisoned, POISON);
    return s;
}

static void stream_free(stream *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->value[i]);
        free(s->key[i]);
    }
    free(s->value);
    free(s->key);
}

static void publish_chunk(const itest_ctx *ctx, const stream *s, int chunk) {
    size_t from = s->n * (size_t)chunk / CHUNKS, to = s->n * (size_t)(chunk + 1) / CHUNKS;
    itest_produce(ctx, ctx->topic, (const char *const *)s->key + from,
                  (const char *const *)s->value + from, NULL, to - from);
}

/* The dead letters a read_committed reader sees: their count, and each
 * poison id and source offset seen at most once. */
typedef struct {
    int per_id[POISON];
    int foreign; /* not one of ours */
    char sources[POISON * 2][64];
    int n_sources, repeated_sources;
} dlq_census;

static void census_one(const rd_kafka_message_t *m, void *arg) {
    dlq_census *c = arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "id")) : NULL;
    unsigned k;
    if (id && sscanf(id, "poison-%u", &k) == 1 && k < POISON)
        c->per_id[k]++;
    else
        c->foreign++;
    json_decref(j);
    const void *v;
    size_t len;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, "tally-source-offset", &v, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
        char src[64];
        snprintf(src, sizeof src, "%.*s", (int)len, (const char *)v);
        for (int i = 0; i < c->n_sources; i++)
            if (!strcmp(c->sources[i], src)) c->repeated_sources++;
        if (c->n_sources < POISON * 2) snprintf(c->sources[c->n_sources++], 64, "%s", src);
    }
}

static void assert_exactly_once(const itest_ctx *ctx, long long good) {
    dlq_census c = {0};
    /* Ask for one more than there should be: a duplicate would show up
     * before the timeout, an exact count waits it out. */
    size_t n = itest_consume_all(ctx, ctx->dlq, census_one, &c, POISON + 1, 15000);
    int missing = 0, doubled = 0;
    for (int i = 0; i < POISON; i++) {
        missing += c.per_id[i] == 0;
        doubled += c.per_id[i] > 1;
    }
    /* What a reader of uncommitted records sees besides: the dead letters of
     * attempts that a kill -9 cut off before their commit — each one a
     * duplicate that a non-transactional DLQ would have kept. */
    size_t all = itest_consume_all_isolated(ctx, ctx->dlq, "read_uncommitted", NULL, NULL,
                                            (size_t)POISON * 1000, 5000);
    printf("  dlq (read committed): %zu records, %d poison ids missing, %d more than once, "
           "%d repeated source offsets, %d foreign; read uncommitted: %zu records (%zd from "
           "aborted attempts)\n",
           n, missing, doubled, c.repeated_sources, c.foreign, all, (ssize_t)all - (ssize_t)n);
    assert_true(all >= n);
    assert_int_equal(n, POISON);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(c.repeated_sources, 0);
    assert_int_equal(itest_mongo_count(ctx, NULL), good);
    assert_int_equal(itest_mongo_count(ctx, "poison-tenant"), 0);
}

typedef struct {
    long long want;
} mongo_goal;

static bool history_complete(const itest_ctx *ctx, void *arg) {
    return itest_mongo_count_try(ctx, NULL) == ((mongo_goal *)arg)->want;
}

static pid_t start(const itest_ctx *ctx, const char *instance, const char *log) {
    /* A group of the test's own: static members of another test's group
     * would be handed that test's partitions. Debug logs: the aimed kills
     * below watch for "dead letters produced, committing". */
    const char *args[] = {
        "--batch-ms", "50",     "--batch-size", "500",     "--stats-interval", "0",
        "--instance", instance, "--group",      ctx->name, "--log-level",      "debug",
        NULL};
    return itest_spawn_logged(ctx, INGEST, args, log);
}

/* How many times the log says a batch's dead letters were produced and are
 * being committed. */
static int committing_lines(const char *log) {
    FILE *f = fopen(log, "r");
    if (!f) return 0;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "dead letters produced, committing") != NULL;
    fclose(f);
    return n;
}

/* Over an ingester's log: dead letters produced inside a transaction (the
 * count= of the "committing" lines) and dead letters committed (one
 * "event rejected to the dlq" line each, logged after the commit). The
 * difference: dead letters of transactions a kill cut off. */
static void dead_letter_lines(const char *log, long *produced, long *committed) {
    FILE *f = fopen(log, "r");
    if (!f) return;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        const char *c = strstr(line, "dead letters produced, committing");
        const char *n = c ? strstr(c, "count=") : NULL;
        if (n) *produced += atol(n + 6);
        *committed += strstr(line, "event rejected to the dlq") != NULL;
    }
    fclose(f);
}

/* An aimed kill: wait (up to max_ms) until the ingester says it produced a
 * batch's dead letters and is committing them, and kill it at once, inside
 * the transaction. Random kills alone rarely land there: the window is the
 * few milliseconds of one commit per batch with a poison event. True when
 * the kill followed such a line. */
static bool wait_for_commit_window(const char *log, int max_ms) {
    int before = committing_lines(log);
    for (int waited = 0; waited < max_ms; waited += 1) {
        if (committing_lines(log) > before) return true;
        sleep_ms(1);
    }
    return false;
}

/* members ingesters; each round kills one of them and starts it again under
 * the same name: odd rounds at a random moment, even ones aimed at an open
 * transaction holding dead letters. */
static void kill_rounds(int members) {
    itest_ctx ctx;
    itest_setup(&ctx, members == 1 ? "dlq1" : "dlq2", 3);
    stream s = make_stream(&ctx, "20000");
    const char *names[2] = {"a", "b"};
    char logs[2][512];
    pid_t pid[2];
    for (int m = 0; m < members; m++) {
        snprintf(logs[m], sizeof logs[m], "%s/tests/%s.%s.log", TALLY_BIN_DIR, ctx.name, names[m]);
        pid[m] = start(&ctx, names[m], logs[m]);
    }
    int n = rounds(), chunk = 0;
    unsigned seed = (unsigned)time(NULL);
    printf("  %d rounds, %d ingester(s), seed %u, %zu events (%d poison)\n", n, members, seed, s.n,
           POISON);
    srand(seed);
    int aimed = 0;
    for (int r = 0; r < n; r++) {
        if (chunk < CHUNKS && r % (n / CHUNKS > 0 ? n / CHUNKS : 1) == 0)
            publish_chunk(&ctx, &s, chunk++);
        int m = rand() % members;
        if (r % 2 == 0 && wait_for_commit_window(logs[m], 1500))
            aimed++;
        else
            sleep_ms(100 + rand() % 1200);
        itest_stop(pid[m], SIGKILL, 5000);
        pid[m] = start(&ctx, names[m], logs[m]);
    }
    printf("  %d kills followed a \"committing\" line at once\n", aimed);
    while (chunk < CHUNKS) publish_chunk(&ctx, &s, chunk++);
    mongo_goal goal = {s.good_interactions};
    assert_true(itest_wait_until(history_complete, &ctx, &goal, 300000));
    for (int m = 0; m < members; m++) assert_int_equal(itest_stop(pid[m], SIGTERM, 30000), 0);
    long produced = 0, committed = 0;
    for (int m = 0; m < members; m++) dead_letter_lines(logs[m], &produced, &committed);
    printf("  dead letters produced in transactions %ld, committed %ld: %ld in attempts a kill"
           " cut off before their commit\n",
           produced, committed, produced - committed);
    assert_exactly_once(&ctx, s.good_interactions);
    stream_free(&s);
    itest_teardown(&ctx);
}

static void one_ingester_kill_9_rounds(void **state) {
    (void)state;
    kill_rounds(1);
}

static void two_ingesters_kill_9_rounds(void **state) {
    (void)state;
    kill_rounds(2);
}

/* A second ingester (a new name: the group rebalances) joins mid-stream and
 * leaves again (after its session times out, the group rebalances back). */
static void a_member_joins_and_leaves_mid_stream(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "dlqjoin", 3);
    stream s = make_stream(&ctx, "20000");
    char log_a[512], log_b[512];
    snprintf(log_a, sizeof log_a, "%s/tests/%s.a.log", TALLY_BIN_DIR, ctx.name);
    snprintf(log_b, sizeof log_b, "%s/tests/%s.b.log", TALLY_BIN_DIR, ctx.name);
    pid_t a = start(&ctx, "a", log_a), b = -1;
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        publish_chunk(&ctx, &s, chunk);
        if (chunk == 2) b = start(&ctx, "b", log_b); /* joins: the group rebalances */
        if (chunk == 6) assert_int_equal(itest_stop(b, SIGTERM, 30000), 0); /* and leaves */
        sleep_ms(1500);
    }
    long long b_events = itest_log_last_value(log_b, "events=");
    printf("  the member that joined and left took %lld events\n", b_events);
    mongo_goal goal = {s.good_interactions};
    assert_true(itest_wait_until(history_complete, &ctx, &goal, 300000));
    assert_int_equal(itest_stop(a, SIGTERM, 30000), 0);
    assert_exactly_once(&ctx, s.good_interactions);
    stream_free(&s);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_member_joins_and_leaves_mid_stream),
        cmocka_unit_test(one_ingester_kill_9_rounds),
        cmocka_unit_test(two_ingesters_kill_9_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
