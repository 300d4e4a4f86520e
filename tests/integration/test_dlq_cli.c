/*
 * tally dlq on the real stack: poison events among good ones are
 * dead-lettered by tally-ingest; `tally dlq` lists exactly those, with their
 * reasons, ids and source offsets, and its filters select among them;
 * `tally dlq replay` publishes a corrected event once, tally-aggregate counts
 * it once, a second replay is skipped and --dry-run publishes nothing; dead
 * letters of an aborted (or still open) Kafka transaction never show.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tally_stream.h"
#include "itest.h"

/* --- running `tally` with its standard output in a file -------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start cli/tally with the test's environment (as itest_run does), its
 * stdout into out_path and its stderr into the test's log. */
static pid_t start_tally(const itest_ctx *ctx, const char *out_path, const char *const *args) {
    char bin[1024], log[1024];
    itest_bin("cli/tally", bin, sizeof bin);
    snprintf(log, sizeof log, "%s/tests/%s.log", TALLY_BIN_DIR, ctx->name);
    const char *argv[40];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i] && n < 39; i++) argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("TALLY_KAFKA_BROKERS", ctx->brokers, 1);
        setenv("TALLY_TOPIC_EVENTS", ctx->topic, 1);
        setenv("TALLY_TOPIC_DLQ", ctx->dlq, 1);
        setenv("TALLY_TOPIC_ALERTS", ctx->alerts, 1);
        setenv("TALLY_PG_URL", ctx->pg_url, 1);
        setenv("TALLY_MONGO_URL", ctx->mongo_url, 1);
        int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (err >= 0) dup2(err, STDERR_FILENO);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out >= 0) dup2(out, STDOUT_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_tally(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) fail_msg("waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run cli/tally to completion; its exit status. */
static int run_tally(const itest_ctx *ctx, const char *out_path, const char *const *args) {
    return wait_tally(start_tally(ctx, out_path, args));
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    tally_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) tally_buf_append(&b, chunk, n);
    fclose(f);
    return b.data ? b.data : strdup("");
}

/* `tally dlq <args>` --format json: its lines parsed, in a JSON array. */
typedef struct {
    const itest_ctx *ctx;
    char out[512];
} runner;

static json_t *dlq_json(runner *r, const char *const *args) {
    const char *argv[24] = {"dlq", "--format", "json", "--timeout", "20000"};
    int n = 5;
    for (int i = 0; args && args[i] && n < 23; i++) argv[n++] = args[i];
    argv[n] = NULL;
    int rc = run_tally(r->ctx, r->out, argv);
    if (rc != 0) fail_msg("tally dlq exited %d", rc);
    char *text = slurp(r->out);
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        if (!j) fail_msg("not JSON: %s (%s)", line, jerr.text);
        json_array_append_new(arr, j);
    }
    free(text);
    return arr;
}

static size_t dlq_count(runner *r, const char *const *args) {
    json_t *arr = dlq_json(r, args);
    size_t n = json_array_size(arr);
    json_decref(arr);
    return n;
}

/* The entry of that id (NULL: the one without an id). */
static const json_t *entry_with_id(const json_t *arr, const char *id) {
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e) {
        const json_t *v = json_object_get(e, "id");
        if (id ? json_is_string(v) && !strcmp(json_string_value(v), id) : json_is_null(v)) return e;
    }
    return NULL;
}

static const char *str(const json_t *e, const char *name) {
    const char *s = json_string_value(json_object_get(e, name));
    return s ? s : "";
}

/* Run `tally <args>` and return its exit status; its output in *out (freed by the caller). */
static int tally_out(runner *r, const char *const *args, char **out) {
    int rc = run_tally(r->ctx, r->out, args);
    *out = slurp(r->out);
    printf("  $ tally");
    for (int i = 0; args[i]; i++) printf(" %s", args[i]);
    printf("  -> %d\n%s", rc, *out);
    return rc;
}

/* --- Kafka ----------------------------------------------------------------- */

/* Sum of the high watermarks of a topic's partitions: the records (and
 * transaction markers) it holds. */
static long long topic_end(const itest_ctx *ctx, const char *topic, int partitions) {
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ctx->brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) fail_msg("kafka: %s", errstr);
    long long sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e) fail_msg("watermarks %s/%d: %s", topic, p, rd_kafka_err2str(e));
        sum += hi;
    }
    rd_kafka_destroy(rk);
    return sum;
}

/* Write a dead letter as tally-ingest would (headers included). */
static void produce_dead_letter(rd_kafka_t *rk, const char *topic, int32_t partition,
                                const char *key, const char *value) {
    const char *reason = "type: unknown event type \"invoice.paid\"";
    const char *source = "tally.events/0/1";
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER("tally-error", reason, (ssize_t)strlen(reason)),
        RD_KAFKA_V_HEADER("tally-source-offset", source, (ssize_t)strlen(source)), RD_KAFKA_V_END);
    if (e) fail_msg("produce to %s: %s", topic, rd_kafka_err2str(e));
}

/* An unknown-type event with this id, as a dead letter keyed t1. */
static void produce_unknown_type(rd_kafka_t *rk, const char *topic, int32_t partition,
                                 const char *id) {
    char value[256];
    snprintf(value, sizeof value,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"type\":\"invoice.paid\",\"time\":"
             "\"2026-03-05T12:00:00Z\",\"data\":{}}",
             id);
    produce_dead_letter(rk, topic, partition, "t1", value);
}

static void interaction(char *buf, size_t len, const char *id, int input_tokens) {
    snprintf(
        buf, len,
        "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"itest\",\"type\":"
        "\"interaction.recorded\",\"time\":\"2026-03-05T12:00:00Z\",\"subject\":\"t1\","
        "\"data\":{\"tenant_id\":\"t1\",\"user_id\":\"u1\",\"model_id\":\"openai/gpt-4o-mini\","
        "\"input_tokens\":%d,\"output_tokens\":50}}",
        id, input_tokens);
}

/* How many records of a topic hold `needle`, and the key of the last one. */
typedef struct {
    const char *needle;
    int hits;
    char key[64];
} key_seen;

static void find_key(const rd_kafka_message_t *m, void *arg) {
    key_seen *k = arg;
    if (!m->len || !memmem(m->payload, m->len, k->needle, strlen(k->needle))) return;
    k->hits++;
    snprintf(k->key, sizeof k->key, "%.*s", (int)m->key_len, m->key ? (const char *)m->key : "");
}

static rd_kafka_t *kafka_producer(const itest_ctx *ctx) {
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ctx->brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) fail_msg("producer: %s", errstr);
    return rk;
}

typedef struct {
    const char *sql;
    long long want;
} pg_goal;

static bool pg_reached(const itest_ctx *ctx, void *arg) {
    pg_goal *g = arg;
    return itest_pg_scalar(ctx, g->sql) >= g->want;
}

typedef struct {
    runner *r;
    size_t want;
} dlq_goal;

static bool dlq_reached(const itest_ctx *ctx, void *arg) {
    (void)ctx;
    dlq_goal *g = arg;
    return dlq_count(g->r, NULL) >= g->want;
}

/* --- listing, filters, replay -------------------------------------------- */

static void list_filter_and_replay_once(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "dlqcli", 3);
    runner r = {&ctx, ""};
    snprintf(r.out, sizeof r.out, "%s/tests/%s.out", TALLY_BIN_DIR, ctx.name);

    char good[3][512], bad_tokens[512];
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "good-%d", i);
        interaction(good[i], sizeof good[i], id, 100);
    }
    interaction(bad_tokens, sizeof bad_tokens, "bad-tokens", -1);
    const char *unparseable = "this is not json {\"id\":\"hidden\"";
    const char *bad_type = "{\"specversion\":\"1.0\",\"id\":\"bad-type\",\"type\":\"invoice.paid\","
                           "\"time\":\"2026-03-05T12:00:00Z\",\"subject\":\"t1\",\"data\":{}}";
    const char *events[] = {good[0], bad_tokens, good[1], unparseable, good[2], bad_type};
    const char *keys[] = {"t1", "t1", "t1", "raw-key", "t1", "bt-key"};
    itest_produce(&ctx, ctx.topic, keys, events, NULL, 6);

    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    const char *dargs[] = {"--batch-ms", "50", "--stats-interval", "0", NULL};
    pid_t ingest = itest_spawn(&ctx, "ingest/tally-ingest", dargs);
    assert_int_equal(itest_consume_all(&ctx, ctx.dlq, NULL, NULL, 3, 60000), 3);

    /* (a) exactly the three dead letters, with their reasons and ids */
    json_t *all = dlq_json(&r, NULL);
    char *dump = json_dumps(all, JSON_INDENT(1));
    printf("  dead letters: %s\n", dump);
    free(dump);
    assert_int_equal(json_array_size(all), 3);
    const json_t *e = entry_with_id(all, "bad-tokens");
    assert_non_null(e);
    assert_string_equal(str(e, "type"), "interaction.recorded");
    assert_string_equal(str(e, "time"), "2026-03-05T12:00:00Z");
    assert_string_equal(str(e, "topic"), ctx.dlq);
    assert_string_equal(str(e, "key"), "t1");
    assert_non_null(strstr(str(e, "reason"), "data.input_tokens"));
    char src_prefix[200];
    snprintf(src_prefix, sizeof src_prefix, "%s/", ctx.topic);
    assert_int_equal(strncmp(str(e, "source_offset"), src_prefix, strlen(src_prefix)), 0);
    assert_true(json_is_integer(json_object_get(e, "partition")));
    assert_true(json_is_integer(json_object_get(e, "offset")));
    assert_true(json_is_string(json_object_get(e, "timestamp")));
    e = entry_with_id(all, NULL); /* the unparseable one */
    assert_non_null(e);
    assert_true(json_is_null(json_object_get(e, "type")));
    assert_true(json_is_null(json_object_get(e, "time")));
    assert_non_null(strstr(str(e, "reason"), "JSON"));
    assert_int_equal(strncmp(str(e, "source_offset"), src_prefix, strlen(src_prefix)), 0);
    e = entry_with_id(all, "bad-type");
    assert_non_null(e);
    assert_string_equal(str(e, "type"), "invoice.paid");
    assert_non_null(strstr(str(e, "reason"), "invoice.paid"));
    json_decref(all);

    /* The text format: one line each, '-' for what the value lacks. */
    char *out;
    const char *text[] = {"dlq", "list", NULL};
    assert_int_equal(tally_out(&r, text, &out), 0);
    int lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++) lines++;
    assert_int_equal(lines, 3);
    assert_non_null(strstr(out, " id=bad-tokens type=interaction.recorded time=2026-03-05T12:00:00Z"
                                " reason=\"data.input_tokens"));
    assert_non_null(strstr(out, " id=- type=- time=- reason=\""));
    char src_text[200];
    snprintf(src_text, sizeof src_text, " source=%s/", ctx.topic);
    assert_non_null(strstr(out, src_text));
    free(out);

    /* Filters. */
    const char *by_type[] = {"--type", "interaction.recorded", NULL};
    all = dlq_json(&r, by_type);
    assert_int_equal(json_array_size(all), 1);
    assert_non_null(entry_with_id(all, "bad-tokens"));
    json_decref(all);
    const char *by_reason[] = {"--reason", "invoice.paid", NULL};
    all = dlq_json(&r, by_reason);
    assert_int_equal(json_array_size(all), 1);
    assert_non_null(entry_with_id(all, "bad-type"));
    json_decref(all);
    const char *by_id[] = {"--id", "bad-type", NULL};
    all = dlq_json(&r, by_id);
    assert_int_equal(json_array_size(all), 1);
    assert_non_null(entry_with_id(all, "bad-type"));
    json_decref(all);
    const char *hidden[] = {"--id", "hidden", NULL}; /* inside the unparseable value */
    assert_int_equal(dlq_count(&r, hidden), 0);
    const char *limit[] = {"--limit", "2", NULL};
    assert_int_equal(dlq_count(&r, limit), 2);
    const char *future[] = {"--since", "2999-01-01T00:00:00Z", NULL};
    assert_int_equal(dlq_count(&r, future), 0);
    const char *past[] = {"--since", "2020-01-01T00:00:00-03:00", NULL};
    assert_int_equal(dlq_count(&r, past), 3);
    const char *both[] = {"--type", "interaction.recorded", "--reason", "invoice", NULL};
    assert_int_equal(dlq_count(&r, both), 0);

    /* Bad usage. */
    const char *bad_format[] = {"dlq", "--format", "xml", NULL};
    assert_int_equal(run_tally(&ctx, r.out, bad_format), 2);
    const char *all_on_list[] = {"dlq", "--all", NULL};
    assert_int_equal(run_tally(&ctx, r.out, all_on_list), 2);
    const char *bad_since[] = {"dlq", "--since", "yesterday", NULL};
    assert_int_equal(run_tally(&ctx, r.out, bad_since), 2);
    const char *neither[] = {"dlq", "replay", NULL};
    assert_int_equal(run_tally(&ctx, r.out, neither), 2);
    const char *id_and_all[] = {"dlq", "replay", "--id", "x", "--all", NULL};
    assert_int_equal(run_tally(&ctx, r.out, id_and_all), 2);
    const char *help[] = {"dlq", "--help", NULL};
    assert_int_equal(tally_out(&r, help, &out), 0);
    assert_non_null(strstr(out, "isolation.level=read_committed"));
    assert_non_null(strstr(out, "tally dlq replay"));
    free(out);

    /* (b) the corrected event, and files that are refused */
    char fixed_path[512], wrong_id_path[512], still_bad_path[512];
    snprintf(fixed_path, sizeof fixed_path, "%s/tests/%s.fixed.json", TALLY_BIN_DIR, ctx.name);
    snprintf(wrong_id_path, sizeof wrong_id_path, "%s/tests/%s.wrong.json", TALLY_BIN_DIR,
             ctx.name);
    snprintf(still_bad_path, sizeof still_bad_path, "%s/tests/%s.bad.json", TALLY_BIN_DIR,
             ctx.name);
    char fixed[512], other[512];
    interaction(fixed, sizeof fixed, "bad-tokens", 100);
    interaction(other, sizeof other, "another-id", 100);
    FILE *f = fopen(fixed_path, "w");
    fprintf(f, "%s\n", fixed);
    fclose(f);
    f = fopen(wrong_id_path, "w");
    fprintf(f, "%s\n", other);
    fclose(f);
    f = fopen(still_bad_path, "w");
    fprintf(f, "%s\n", bad_tokens);
    fclose(f);

    long long events_end = topic_end(&ctx, ctx.topic, 3);
    assert_int_equal(events_end, 6);
    const char *wrong_id[] = {"dlq", "replay", "--id", "bad-tokens", "--file", wrong_id_path, NULL};
    assert_int_equal(run_tally(&ctx, r.out, wrong_id), 2);
    const char *still_bad[] = {"dlq",    "replay",       "--id", "bad-tokens",
                               "--file", still_bad_path, NULL};
    assert_int_equal(run_tally(&ctx, r.out, still_bad), 2);
    const char *file_all[] = {"dlq", "replay", "--all", "--file", fixed_path, NULL};
    assert_int_equal(run_tally(&ctx, r.out, file_all), 2);
    const char *no_such[] = {"dlq", "replay", "--id", "no-such-event", NULL};
    assert_int_equal(tally_out(&r, no_such, &out), 3);
    free(out);

    /* (c) dry runs publish and record nothing */
    const char *dry_fixed[] = {"dlq",    "replay",   "--id",      "bad-tokens",
                               "--file", fixed_path, "--dry-run", NULL};
    assert_int_equal(tally_out(&r, dry_fixed, &out), 0);
    assert_non_null(strstr(out, "would replay dlq="));
    assert_non_null(strstr(out, "1 would be replayed (dry run), 0 already replayed"));
    free(out);
    const char *dry_type[] = {"dlq", "replay", "--id", "bad-type", "--dry-run", NULL};
    assert_int_equal(tally_out(&r, dry_type, &out), 0);
    assert_non_null(strstr(out, "would replay dlq="));
    assert_non_null(strstr(out, "warning: still invalid (type: "));
    free(out);
    /* --all leaves what still does not decode alone: it would only come back. */
    const char *dry_all[] = {"dlq", "replay", "--all", "--dry-run", NULL};
    assert_int_equal(tally_out(&r, dry_all, &out), 0);
    assert_non_null(strstr(out, "0 would be replayed (dry run), 0 already replayed, 3 still"
                                " invalid, 0 failed"));
    free(out);
    assert_int_equal(topic_end(&ctx, ctx.topic, 3), events_end);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays"), 0);

    /* The replay: published once, recorded once. */
    const char *replay_fixed[] = {"dlq",    "replay",   "--id", "bad-tokens",
                                  "--file", fixed_path, NULL};
    assert_int_equal(tally_out(&r, replay_fixed, &out), 0);
    assert_non_null(strstr(out, "1 replayed, 0 already replayed, 0 still invalid, 0 failed"));
    free(out);
    assert_int_equal(topic_end(&ctx, ctx.topic, 3), events_end + 1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays WHERE event_id ="
                                           " 'bad-tokens' AND fixed AND source_offset LIKE"
                                           " 'itest.%' AND replayed_at <= now()"),
                     1);
    key_seen fixed_seen = {"\"id\":\"bad-tokens\",\"source\":\"itest\",\"type\":"
                           "\"interaction.recorded\",\"time\":\"2026-03-05T12:00:00Z\",\"subject\":"
                           "\"t1\",\"data\":{\"tenant_id\":\"t1\",\"user_id\":\"u1\",\"model_id\":"
                           "\"openai/gpt-4o-mini\",\"input_tokens\":100,",
                           0, ""};
    assert_int_equal(itest_consume_all(&ctx, ctx.topic, find_key, &fixed_seen, 7, 30000), 7);
    assert_int_equal(fixed_seen.hits, 1);
    assert_string_equal(fixed_seen.key, "t1");

    /* Counted once by tally-aggregate. */
    pid_t agg = itest_spawn(&ctx, "analytics/tally-aggregate", dargs);
    pg_goal counted = {"SELECT count(*) FROM agg_interactions", 4};
    assert_true(itest_wait_until(pg_reached, &ctx, &counted, 120000));
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions WHERE"
                                           " interaction_id = 'bad-tokens'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(requests) FROM usage_rollup"), 4);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(input_tokens) FROM usage_rollup"), 400);

    /* A second replay of the same id is skipped, with or without the file. */
    assert_int_equal(tally_out(&r, replay_fixed, &out), 0);
    assert_non_null(strstr(out, "already replayed at "));
    assert_non_null(strstr(out, "0 replayed, 1 already replayed"));
    free(out);
    const char *replay_plain[] = {"dlq", "replay", "--id", "bad-tokens", NULL};
    assert_int_equal(tally_out(&r, replay_plain, &out), 0);
    assert_non_null(strstr(out, "already replayed at "));
    free(out);
    assert_int_equal(topic_end(&ctx, ctx.topic, 3), events_end + 1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays"), 1);

    /* --id publishes a value that still does not decode, under its dead
     * letter's own key; two such replays at once are serialised by the row:
     * one publishes, the other skips. */
    char out2[600];
    snprintf(out2, sizeof out2, "%s.2", r.out);
    const char *replay_type[] = {"dlq", "replay", "--id", "bad-type", NULL};
    pid_t one = start_tally(&ctx, r.out, replay_type), two = start_tally(&ctx, out2, replay_type);
    assert_int_equal(wait_tally(one), 0);
    assert_int_equal(wait_tally(two), 0);
    char *o1 = slurp(r.out), *o2 = slurp(out2);
    printf("  two replays at once:\n%s%s", o1, o2);
    assert_true((strstr(o1, "1 replayed, 0 already") && strstr(o2, "0 replayed, 1 already")) ||
                (strstr(o2, "1 replayed, 0 already") && strstr(o1, "0 replayed, 1 already")));
    assert_true(strstr(o1, "will be dead-lettered again") || strstr(o2, "will be dead-lettered"));
    free(o1);
    free(o2);
    remove(out2);
    assert_int_equal(topic_end(&ctx, ctx.topic, 3), events_end + 2);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays WHERE event_id ="
                                           " 'bad-type' AND NOT fixed"),
                     1);
    /* tally-ingest dead-letters it again, with the key it was published under. */
    dlq_goal four = {&r, 4};
    assert_true(itest_wait_until(dlq_reached, &ctx, &four, 60000));
    all = dlq_json(&r, by_id);
    assert_int_equal(json_array_size(all), 2);
    size_t i;
    json_array_foreach(all, i, e) assert_string_equal(str(e, "key"), "bt-key");
    json_decref(all);

    /* --all replays what decodes now — here a dead letter an older ingester
     * wrote for a valid event, keyed as the contract says (its subject, not
     * its dead letter's key) — and skips the two that still do not and the
     * two replayed before. */
    char late[512];
    interaction(late, sizeof late, "was-rejected", 10);
    rd_kafka_t *writer = kafka_producer(&ctx);
    produce_dead_letter(writer, ctx.dlq, 0, "old-key", late);
    if (rd_kafka_flush(writer, 30000)) fail_msg("flush timed out");
    rd_kafka_destroy(writer);
    const char *dry_all_now[] = {"dlq", "replay", "--all", "--dry-run", NULL};
    assert_int_equal(tally_out(&r, dry_all_now, &out), 0);
    assert_non_null(strstr(out, "1 would be replayed (dry run), 2 already replayed, 2 still"
                                " invalid"));
    free(out);
    assert_int_equal(topic_end(&ctx, ctx.topic, 3), events_end + 2);
    const char *replay_all[] = {"dlq", "replay", "--all", NULL};
    assert_int_equal(tally_out(&r, replay_all, &out), 0);
    assert_non_null(strstr(out, "replayed dlq=0/"));
    assert_non_null(strstr(out, "1 replayed, 2 already replayed, 2 still invalid, 0 failed"));
    free(out);
    assert_int_equal(tally_out(&r, replay_all, &out), 0);
    assert_non_null(strstr(out, "0 replayed, 3 already replayed, 2 still invalid, 0 failed"));
    free(out);
    assert_int_equal(topic_end(&ctx, ctx.topic, 3), events_end + 3);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays"), 3);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays WHERE fixed"), 1);
    key_seen late_seen = {"\"id\":\"was-rejected\"", 0, ""};
    assert_int_equal(itest_consume_all(&ctx, ctx.topic, find_key, &late_seen, 9, 30000), 9);
    assert_int_equal(late_seen.hits, 1);
    assert_string_equal(late_seen.key, "t1");

    /* Each interaction counted once. */
    pg_goal five = {"SELECT count(*) FROM agg_interactions", 5};
    assert_true(itest_wait_until(pg_reached, &ctx, &five, 120000));
    nanosleep(&(struct timespec){2, 0}, NULL);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions"), 5);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions WHERE"
                                           " interaction_id = 'bad-tokens'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(requests) FROM usage_rollup"), 5);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(input_tokens) FROM usage_rollup"), 410);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(ingest, SIGTERM, 30000), 0);
    remove(fixed_path);
    remove(wrong_id_path);
    remove(still_bad_path);
    remove(r.out);
    itest_teardown(&ctx);
}

/* --- transactions ------------------------------------------------------------ */

static void tx_check(rd_kafka_error_t *e, const char *what) {
    if (e) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        fail_msg("%s: %s", what, msg);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* `tally dlq` lists exactly these ids (sorted, each followed by a space),
 * having found the end of every partition rather than waited for its timeout. */
static void ids_listed(runner *r, const char *want) {
    int64_t t0 = now_ms();
    json_t *arr = dlq_json(r, NULL);
    int64_t took = now_ms() - t0;
    const char *ids[16];
    size_t n = 0, i;
    const json_t *e;
    json_array_foreach(arr, i, e) if (n < 16) ids[n++] = str(e, "id");
    qsort(ids, n, sizeof *ids, cmp_str);
    char got[256] = "";
    for (i = 0; i < n; i++) {
        strncat(got, ids[i], sizeof got - strlen(got) - 2);
        strncat(got, " ", sizeof got - strlen(got) - 1);
    }
    json_decref(arr);
    printf("  listed: [%s] in %lld ms\n", got, (long long)took);
    assert_string_equal(got, want);
    assert_true(took < 15000);
}

static void aborted_dead_letters_never_show(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "dlqtx", 1);
    runner r = {&ctx, ""};
    snprintf(r.out, sizeof r.out, "%s/tests/%s.out", TALLY_BIN_DIR, ctx.name);

    char errstr[256], txid[160];
    snprintf(txid, sizeof txid, "itest-%s", ctx.name);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ctx.brokers, errstr, sizeof errstr);
    if (rd_kafka_conf_set(conf, "transactional.id", txid, errstr, sizeof errstr))
        fail_msg("%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) fail_msg("producer: %s", errstr);
    tx_check(rd_kafka_init_transactions(rk, 60000), "init transactions");

    /* Partition 0: committed-1, its commit marker, aborted-1, an abort marker;
     * partition 1: aborted-2 and an abort marker; partition 2: nothing. */
    tx_check(rd_kafka_begin_transaction(rk), "begin");
    produce_unknown_type(rk, ctx.dlq, 0, "committed-1");
    tx_check(rd_kafka_commit_transaction(rk, 30000), "commit");
    tx_check(rd_kafka_begin_transaction(rk), "begin");
    produce_unknown_type(rk, ctx.dlq, 0, "aborted-1");
    produce_unknown_type(rk, ctx.dlq, 1, "aborted-2");
    rd_kafka_flush(rk, 30000); /* on the broker, then aborted */
    tx_check(rd_kafka_abort_transaction(rk, 30000), "abort");
    assert_int_equal(topic_end(&ctx, ctx.dlq, 3), 6); /* 3 records, 3 markers */

    ids_listed(&r, "committed-1 ");
    const char *aborted[] = {"--id", "aborted-1", NULL};
    assert_int_equal(dlq_count(&r, aborted), 0);
    const char *replay_aborted[] = {"dlq", "replay", "--id", "aborted-2", "--dry-run", NULL};
    char *out;
    assert_int_equal(tally_out(&r, replay_aborted, &out), 3);
    free(out);

    /* A transaction still open: its dead letter is not (yet) committed. */
    tx_check(rd_kafka_begin_transaction(rk), "begin");
    produce_unknown_type(rk, ctx.dlq, 2, "pending-1");
    rd_kafka_flush(rk, 30000);
    ids_listed(&r, "committed-1 ");
    tx_check(rd_kafka_commit_transaction(rk, 30000), "commit");
    ids_listed(&r, "committed-1 pending-1 ");

    rd_kafka_destroy(rk);
    remove(r.out);
    itest_teardown(&ctx);
}

/* --- the migration ----------------------------------------------------------- */

/* Migration 007 on a database at 006: it adds dlq_replays and touches nothing
 * else (test_migrate holds 005 and 006 against stored rows). */
static void migration_007_adds_dlq_replays(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "dlqmig", 1);
    const char *to6[] = {"migrate", "--to", "6", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", to6), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT max(version) FROM schema_migrations"), 6);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM pg_tables WHERE tablename ="
                                           " 'dlq_replays'"),
                     0);
    itest_pg_exec(&ctx, false,
                  "INSERT INTO agg_interactions VALUES ('i1', 'acme', '2026-03-10T10:00:00Z',"
                  " 'm1', 'u1', '', 'chat', '')");
    const char *all[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", all), 0);
    assert_true(itest_pg_scalar(&ctx, "SELECT max(version) FROM schema_migrations") >= 7);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM schema_migrations WHERE"
                                           " version = 7 AND name = '007_dlq_replays'"),
                     1);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions"), 1);
    /* The key is the dead letter's position; the defaults fill the rest. */
    itest_pg_exec(&ctx, false,
                  "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, event_id)"
                  " VALUES ('tally.dlq', 0, 7, 'e1'), ('tally.dlq', 1, 7, NULL)");
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays WHERE NOT fixed"
                                           " AND replayed_at <= now()"),
                     2);
    itest_pg_exec(&ctx, false,
                  "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset)"
                  " VALUES ('tally.dlq', 0, 7) ON CONFLICT DO NOTHING");
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM dlq_replays"), 2);
    assert_int_equal(itest_run(&ctx, "cli/tally", all), 0);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migration_007_adds_dlq_replays),
        cmocka_unit_test(aborted_dead_letters_never_show),
        cmocka_unit_test(list_filter_and_replay_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
