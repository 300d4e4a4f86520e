#include "itest.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tally_docs.h"

extern char **environ;

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *itest_bin(const char *rel, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", TALLY_BIN_DIR, rel);
    return buf;
}

/* Replace the database name (the path after host:port/) of a URL. */
static void url_with_db(const char *url, const char *db, char *out, size_t len) {
    const char *scheme = strstr(url, "://");
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *query = strchr(url, '?');
    size_t base = slash ? (size_t)(slash - url) : (query ? (size_t)(query - url) : strlen(url));
    snprintf(out, len, "%.*s/%s%s", (int)base, url, db, query ? query : "");
}

static rd_kafka_t *admin_client(const char *brokers) {
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) fail_msg("kafka client: %s", errstr);
    return rk;
}

static void topics_admin(const char *brokers, const char *const *names, int n, int partitions,
                         bool create) {
    rd_kafka_t *rk = admin_client(brokers);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    char errstr[256];
    if (create) {
        rd_kafka_NewTopic_t *nt[4];
        for (int i = 0; i < n; i++) {
            nt[i] = rd_kafka_NewTopic_new(names[i], i == 0 ? partitions : 3, 1, errstr,
                                          sizeof errstr);
            rd_kafka_NewTopic_set_config(nt[i], "max.message.bytes", "8388608");
        }
        rd_kafka_CreateTopics(rk, nt, (size_t)n, NULL, q);
        rd_kafka_NewTopic_destroy_array(nt, (size_t)n);
    } else {
        rd_kafka_DeleteTopic_t *dt[4];
        for (int i = 0; i < n; i++) dt[i] = rd_kafka_DeleteTopic_new(names[i]);
        rd_kafka_DeleteTopics(rk, dt, (size_t)n, NULL, q);
        rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
    }
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) fail_msg("kafka admin: no answer from %s", brokers);
    if (create) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        if (rd_kafka_event_error(ev))
            fail_msg("create topics: %s", rd_kafka_event_error_string(ev));
        for (size_t i = 0; i < cnt; i++)
            if (rd_kafka_topic_result_error(tr[i]) &&
                rd_kafka_topic_result_error(tr[i]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                fail_msg("create topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

void itest_pg_exec(const itest_ctx *ctx, bool admin, const char *sql) {
    PGconn *c = PQconnectdb(admin ? ctx->pg_admin_url : ctx->pg_url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("postgresql: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("postgresql: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

long long itest_pg_scalar(const itest_ctx *ctx, const char *sql) {
    PGconn *c = PQconnectdb(ctx->pg_url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("postgresql: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("postgresql: %s: %s", sql, PQresultErrorMessage(r));
    long long v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

long long itest_mongo_count_try(const itest_ctx *ctx, const char *tenant) {
    tally_err err;
    tally_docs *d = tally_docs_open(ctx->mongo_url, &err);
    if (!d) return -1;
    int64_t n = 0;
    tally_code rc = tally_docs_count_interactions(d, tenant, &n, &err);
    tally_docs_close(d);
    return rc == TALLY_OK ? n : -1;
}

long long itest_mongo_count(const itest_ctx *ctx, const char *tenant) {
    tally_err err;
    tally_docs *d = tally_docs_open(ctx->mongo_url, &err);
    if (!d) fail_msg("mongo: %s", err.msg);
    int64_t n = 0;
    if (tally_docs_count_interactions(d, tenant, &n, &err) != TALLY_OK)
        fail_msg("mongo: %s", err.msg);
    tally_docs_close(d);
    return n;
}

void itest_setup(itest_ctx *ctx, const char *name, int partitions) {
    memset(ctx, 0, sizeof *ctx);
    snprintf(ctx->name, sizeof ctx->name, "%s_%d", name, (int)getpid());
    snprintf(ctx->brokers, sizeof ctx->brokers, "%s",
             env_or("TALLY_KAFKA_BROKERS", "127.0.0.1:9092"));
    snprintf(ctx->topic, sizeof ctx->topic, "itest.%s.events", ctx->name);
    snprintf(ctx->dlq, sizeof ctx->dlq, "itest.%s.dlq", ctx->name);
    snprintf(ctx->alerts, sizeof ctx->alerts, "itest.%s.alerts", ctx->name);
    const char *pg = env_or("TALLY_PG_URL", "postgresql://127.0.0.1:5432/tally");
    url_with_db(pg, "postgres", ctx->pg_admin_url, sizeof ctx->pg_admin_url);
    char db[96];
    snprintf(db, sizeof db, "itest_%s", ctx->name);
    url_with_db(pg, db, ctx->pg_url, sizeof ctx->pg_url);
    url_with_db(env_or("TALLY_MONGO_URL", "mongodb://127.0.0.1:27017/tally"), db, ctx->mongo_url,
                sizeof ctx->mongo_url);

    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    itest_pg_exec(ctx, true, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    itest_pg_exec(ctx, true, sql);

    tally_err err;
    tally_docs *d = tally_docs_open(ctx->mongo_url, &err);
    if (!d) fail_msg("mongo: %s", err.msg);
    if (tally_docs_drop_interactions(d, &err) != TALLY_OK) fail_msg("mongo: %s", err.msg);
    tally_docs_close(d);

    const char *topics[] = {ctx->topic, ctx->dlq, ctx->alerts};
    topics_admin(ctx->brokers, topics, 3, partitions, true);
}

void itest_teardown(itest_ctx *ctx) {
    const char *topics[] = {ctx->topic, ctx->dlq, ctx->alerts};
    topics_admin(ctx->brokers, topics, 3, 0, false);
    tally_err err;
    tally_docs *d = tally_docs_open(ctx->mongo_url, &err);
    if (d) {
        tally_docs_drop_interactions(d, &err);
        tally_docs_close(d);
    }
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS itest_%s WITH (FORCE)", ctx->name);
    itest_pg_exec(ctx, true, sql);
}

static void count_failures(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    if (m->err) (*(int *)opaque)++;
}

void itest_produce(const itest_ctx *ctx, const char *topic, const char *const *keys,
                   const char *const *values, const size_t *lens, size_t n) {
    char errstr[256];
    int failed = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ctx->brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "message.max.bytes", "8388608", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr);
    rd_kafka_conf_set_dr_msg_cb(conf, count_failures);
    rd_kafka_conf_set_opaque(conf, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) fail_msg("producer: %s", errstr);
    for (size_t i = 0; i < n; i++) {
        const char *key = keys && keys[i] ? keys[i] : "_global";
        size_t len = lens ? lens[i] : strlen(values[i]);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                      RD_KAFKA_V_VALUE((void *)values[i], len),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        if (e) fail_msg("produce: %s", rd_kafka_err2str(e));
    }
    if (rd_kafka_flush(rk, 60000)) fail_msg("produce: flush timed out");
    rd_kafka_destroy(rk);
    if (failed) fail_msg("produce: %d messages not delivered", failed);
}

static void child_env(const itest_ctx *ctx) {
    setenv("TALLY_KAFKA_BROKERS", ctx->brokers, 1);
    setenv("TALLY_TOPIC_EVENTS", ctx->topic, 1);
    setenv("TALLY_TOPIC_DLQ", ctx->dlq, 1);
    setenv("TALLY_TOPIC_ALERTS", ctx->alerts, 1);
    setenv("TALLY_PG_URL", ctx->pg_url, 1);
    setenv("TALLY_MONGO_URL", ctx->mongo_url, 1);
}

/* Children still running when the test process ends (a failed assertion
 * jumps past their itest_stop) are killed, so no daemon outlives its test. */
static pid_t children[64];
static int n_children;

static void kill_children(void) {
    for (int i = 0; i < n_children; i++)
        if (children[i] > 0 && kill(children[i], 0) == 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
}

static void forget_child(pid_t pid) {
    for (int i = 0; i < n_children; i++)
        if (children[i] == pid) children[i] = 0;
}

static void remember_child(pid_t pid) {
    if (n_children == 0) atexit(kill_children);
    if (n_children < 64) children[n_children++] = pid;
}

static pid_t spawn(const itest_ctx *ctx, const char *binary, const char *const *args,
                   const char *stdout_path, const char *log_path) {
    char bin[1024], logpath[1024];
    itest_bin(binary, bin, sizeof bin);
    if (log_path)
        snprintf(logpath, sizeof logpath, "%s", log_path);
    else
        snprintf(logpath, sizeof logpath, "%s/tests/%s.log", TALLY_BIN_DIR, ctx->name);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args && args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* and if the test itself dies */
        child_env(ctx);
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log >= 0) dup2(log, STDERR_FILENO);
        int out = stdout_path ? open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : log;
        if (out >= 0) dup2(out, STDOUT_FILENO);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    remember_child(pid);
    return pid;
}

pid_t itest_spawn(const itest_ctx *ctx, const char *binary, const char *const *args) {
    return spawn(ctx, binary, args, NULL, NULL);
}

pid_t itest_spawn_logged(const itest_ctx *ctx, const char *binary, const char *const *args,
                         const char *log_path) {
    return spawn(ctx, binary, args, NULL, log_path);
}

long long itest_log_last_value(const char *log_path, const char *key) {
    FILE *f = fopen(log_path, "r");
    if (!f) return -1;
    long long v = -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) != -1) {
        const char *p = strstr(line, key);
        if (p) v = atoll(p + strlen(key));
    }
    free(line);
    fclose(f);
    return v;
}

static int status_code(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

int itest_stop(pid_t pid, int sig, int timeout_ms) {
    if (sig) kill(pid, sig);
    int64_t deadline = now_ms() + timeout_ms;
    int st;
    while (now_ms() < deadline) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            forget_child(pid);
            return status_code(st);
        }
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    forget_child(pid);
    return -1;
}

int itest_run(const itest_ctx *ctx, const char *binary, const char *const *args) {
    pid_t pid = spawn(ctx, binary, args, NULL, NULL);
    int st;
    waitpid(pid, &st, 0);
    forget_child(pid);
    return status_code(st);
}

void itest_generate(const itest_ctx *ctx, const char *path, const char *const *args) {
    const char *argv[32] = {"generate"};
    int n = 1;
    for (int i = 0; args && args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = spawn(ctx, "cli/tally", argv, path, NULL);
    int st;
    waitpid(pid, &st, 0);
    forget_child(pid);
    if (status_code(st) != 0) fail_msg("tally generate exited %d", status_code(st));
}

void itest_produce_file(const itest_ctx *ctx, const char *path) {
    const char *args[] = {"produce", "--quiet", path, NULL};
    int rc = itest_run(ctx, "cli/tally", args);
    if (rc != 0) fail_msg("tally produce %s exited %d", path, rc);
}

bool itest_wait_until(bool (*fn)(const itest_ctx *, void *), const itest_ctx *ctx, void *arg,
                      int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    do {
        if (fn(ctx, arg)) return true;
        sleep_ms(200);
    } while (now_ms() < deadline);
    return fn(ctx, arg);
}

size_t itest_consume_all(const itest_ctx *ctx, const char *topic, itest_message_fn fn, void *arg,
                         size_t expect, int timeout_ms) {
    return itest_consume_all_isolated(ctx, topic, "read_committed", fn, arg, expect, timeout_ms);
}

size_t itest_consume_all_isolated(const itest_ctx *ctx, const char *topic, const char *isolation,
                                  itest_message_fn fn, void *arg, size_t expect, int timeout_ms) {
    char errstr[256], group[160];
    snprintf(group, sizeof group, "itest-reader-%s-%lld", ctx->name, (long long)now_ms());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", ctx->brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "fetch.message.max.bytes", "8388608", errstr, sizeof errstr);
    if (rd_kafka_conf_set(conf, "isolation.level", isolation, errstr, sizeof errstr))
        fail_msg("isolation.level %s: %s", isolation, errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) fail_msg("consumer: %s", errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    size_t n = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline && n < expect) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        if (!m->err) {
            n++;
            if (fn) fn(m, arg);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

itest_lines itest_read_lines(const char *path) {
    itest_lines l = {0};
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("open %s: %s", path, strerror(errno));
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) != -1) {
        while (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        if (len == 0) continue;
        if (l.n == cap) {
            cap = cap ? cap * 2 : 1024;
            l.line = realloc(l.line, cap * sizeof *l.line);
        }
        l.line[l.n++] = strdup(line);
    }
    free(line);
    fclose(f);
    return l;
}

void itest_lines_free(itest_lines *l) {
    for (size_t i = 0; i < l->n; i++) free(l->line[i]);
    free(l->line);
    l->line = NULL;
    l->n = 0;
}
