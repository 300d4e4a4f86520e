/*
 * Alerts exactly once through kill -9: tally-alerts publishes the alert
 * outbox one Kafka transaction per batch and marks the rows published after
 * the commit; a restart fences the dead sender and reads the topic's
 * committed tail back to mark what the crash left unmarked. However often it
 * dies, a reader of committed records sees every alert once, and every row
 * ends marked.
 *
 * The outbox is filled straight with SQL (N_ALERTS rows: half at once, the
 * rest in chunks while the sender is killed) in the test's own database;
 * batches of 2 make 1500 transactions, so the kills land in every
 * phase: starting, reading back, producing, committing, marking. Rounds:
 * TALLY_TEST_KILL_ROUNDS (default 40, at least CHUNKS).
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
#include <jansson.h>
#include <cmocka.h>

#include "itest.h"

static const char *const ALERTS = "alerts/tally-alerts";

#define N_ALERTS 3000
#define CHUNKS 30

static void sleep_ms(int ms) {
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int rounds(void) {
    const char *v = getenv("TALLY_TEST_KILL_ROUNDS");
    int n = v ? atoi(v) : 40;
    return n >= CHUNKS ? n : (n > 0 ? CHUNKS : 40);
}

/* Rows [from, to) of the outbox: 10 tenants, alert k's id ends in "/k". */
static void insert_chunk(const itest_ctx *ctx, int from, int to) {
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "INSERT INTO alert_outbox (alert_id, tenant_id, limit_id, user_id, metric, period,"
        " period_start, period_end, zone, threshold, limit_value, used, paused, crossed_at)"
        " SELECT 'tenant-' || (k %% 10) || '/budget:b' || (k %% 7) || ':brl/'"
        "   || CASE WHEN k %% 3 = 0 THEN 'u' || k ELSE '_' END || '/2026-03-01T03:00:00Z/' || k,"
        "   'tenant-' || (k %% 10), 'budget:b' || (k %% 7) || ':brl',"
        "   CASE WHEN k %% 3 = 0 THEN 'u' || k END, 'brl', 'monthly',"
        "   '2026-03-01T03:00:00Z', '2026-04-01T03:00:00Z', 'America/Sao_Paulo',"
        "   (ARRAY[80, 90, 100])[k %% 3 + 1], 250.5, 200.0000015 + k, k %% 3 = 2,"
        "   '2026-03-10T12:00:00Z'::timestamptz + k * interval '1 second'"
        " FROM generate_series(%d, %d) k",
        from, to - 1);
    itest_pg_exec(ctx, false, sql);
}

/* What a reader sees: per alert, how often, and whether every copy of it
 * had the same bytes (a copy from an aborted attempt included). */
typedef struct {
    int count[N_ALERTS];
    uint64_t hash[N_ALERTS];
    int foreign, differing, bad_key;
} census;

static uint64_t fnv1a(const void *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}

static void census_one(const rd_kafka_message_t *m, void *arg) {
    census *c = arg;
    json_t *j = json_loadb(m->payload, m->len, 0, NULL);
    const char *id = j ? json_string_value(json_object_get(j, "id")) : NULL;
    const char *subject = j ? json_string_value(json_object_get(j, "subject")) : NULL;
    const char *slash = id ? strrchr(id, '/') : NULL;
    int k = slash ? atoi(slash + 1) : -1;
    if (k < 0 || k >= N_ALERTS) {
        c->foreign++;
    } else {
        uint64_t h = fnv1a(m->payload, m->len);
        if (c->count[k]++ && c->hash[k] != h) c->differing++;
        c->hash[k] = h;
        if (!subject || m->key_len != strlen(subject) || memcmp(m->key, subject, m->key_len))
            c->bad_key++;
    }
    json_decref(j);
}

static pid_t start(const itest_ctx *ctx, const char *log) {
    const char *args[] = {"--topic", ctx->alerts,   "--batch-size", "2", "--stats-interval",
                          "0",       "--log-level", "debug",        NULL};
    return itest_spawn_logged(ctx, ALERTS, args, log);
}

static void insert_part(const itest_ctx *ctx, int chunk) {
    const int per_chunk = N_ALERTS / 2 / CHUNKS;
    insert_chunk(ctx, N_ALERTS / 2 + chunk * per_chunk, N_ALERTS / 2 + (chunk + 1) * per_chunk);
}

static void sender_kill_9_rounds(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "alerts_once", 3);
    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    char log[512];
    snprintf(log, sizeof log, "%s/tests/%s.alerts.log", TALLY_BIN_DIR, ctx.name);
    remove(log);

    /* Half the outbox at once (a backlog that takes many rounds to drain),
     * the rest a chunk per round: the kills land while it publishes. */
    int n = rounds(), chunk = 0, every = n / CHUNKS;
    unsigned seed = (unsigned)time(NULL);
    printf("  %d rounds, seed %u, %d alerts (half at once, half in %d chunks)\n", n, seed, N_ALERTS,
           CHUNKS);
    srand(seed);
    insert_chunk(&ctx, 0, N_ALERTS / 2);
    pid_t pid = start(&ctx, log);
    for (int r = 0; r < n; r++) {
        if (chunk < CHUNKS && r % every == 0) insert_part(&ctx, chunk++);
        /* A restart after a kill takes about a second (the broker aborts
         * the dead one's transaction first), its first commit as long again. */
        sleep_ms(500 + rand() % 3000);
        itest_stop(pid, SIGKILL, 5000);
        pid = start(&ctx, log);
    }
    while (chunk < CHUNKS) insert_part(&ctx, chunk++);
    itest_stop(pid, SIGKILL, 5000);
    /* The last one runs until the outbox is drained, and exits 0. */
    const char *args[] = {"--topic", ctx.alerts, "--batch-size", "2", "--once", NULL};
    assert_int_equal(itest_run(&ctx, ALERTS, args), 0);

    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM alert_outbox"), N_ALERTS);
    assert_int_equal(
        itest_pg_scalar(&ctx, "SELECT count(*) FROM alert_outbox WHERE published_at IS NULL"), 0);
    static census committed, all;
    memset(&committed, 0, sizeof committed);
    memset(&all, 0, sizeof all);
    /* One more than there should be: a duplicate shows before the timeout. */
    size_t got = itest_consume_all(&ctx, ctx.alerts, census_one, &committed, N_ALERTS + 1, 20000);
    size_t seen = itest_consume_all_isolated(&ctx, ctx.alerts, "read_uncommitted", census_one, &all,
                                             (size_t)N_ALERTS * 100, 5000);
    int missing = 0, doubled = 0;
    for (int k = 0; k < N_ALERTS; k++) {
        missing += committed.count[k] == 0;
        doubled += committed.count[k] > 1;
    }
    long long recovered = 0;
    itest_lines lines = itest_read_lines(log);
    for (size_t i = 0; i < lines.n; i++) {
        const char *p = strstr(lines.line[i], "msg=\"recovered alerts\"");
        if (p && (p = strstr(p, "marked="))) recovered += atoll(p + 7);
    }
    itest_lines_free(&lines);
    printf("  topic (read committed): %zu records, %d missing, %d more than once, %d foreign;"
           " read uncommitted: %zu records (%zd from aborted attempts), %d with differing bytes;"
           " %lld marked by read-back after a crash\n",
           got, missing, doubled, committed.foreign, seen, (ssize_t)seen - (ssize_t)got,
           all.differing, recovered);
    assert_int_equal(got, N_ALERTS);
    assert_int_equal(missing, 0);
    assert_int_equal(doubled, 0);
    assert_int_equal(committed.foreign, 0);
    assert_int_equal(committed.bad_key, 0);
    assert_int_equal(all.differing, 0); /* the same row, the same bytes, every time */

    /* A crash between a Kafka commit and the mark, made on purpose: the
     * newest rows lose their mark, as if the sender died right after
     * committing them. The next start finds them on the topic and marks
     * them without publishing them again. */
    itest_pg_exec(&ctx, false,
                  "UPDATE alert_outbox SET published_at = NULL"
                  " WHERE seq > (SELECT max(seq) - 7 FROM alert_outbox)");
    remove(log);
    pid = start(&ctx, log);
    for (int i = 0; i < 300 && itest_log_last_value(log, " recovered=") < 0; i++) sleep_ms(100);
    assert_int_equal(itest_stop(pid, SIGTERM, 30000), 0);
    assert_int_equal(itest_log_last_value(log, " recovered="), 7);
    assert_int_equal(
        itest_pg_scalar(&ctx, "SELECT count(*) FROM alert_outbox WHERE published_at IS NULL"), 0);
    memset(&committed, 0, sizeof committed);
    got = itest_consume_all(&ctx, ctx.alerts, census_one, &committed, N_ALERTS + 1, 10000);
    assert_int_equal(got, N_ALERTS);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sender_kill_9_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
