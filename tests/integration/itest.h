/*
 * itest — what the integration tests share: each test gets its own Kafka
 * topics, PostgreSQL database and MongoDB database (named after the test and
 * the process id), so tests never see each other's data, and it runs the
 * real daemons as child processes.
 *
 * The servers are those of scripts/stack (TALLY_KAFKA_BROKERS, TALLY_PG_URL,
 * TALLY_MONGO_URL or their defaults). A test that cannot reach them fails.
 */
#ifndef TALLY_ITEST_H
#define TALLY_ITEST_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    char name[64]; /* unique per run: <test>_<pid> */
    char brokers[256];
    char topic[128], dlq[128], alerts[128];
    char pg_url[512];       /* the test's own database */
    char pg_admin_url[512]; /* the server's postgres database */
    char mongo_url[512];    /* the test's own database */
} itest_ctx;

/* Create topics (events: `partitions`), a fresh PostgreSQL database and a
 * fresh MongoDB database for test `name`. Aborts the test on failure. */
void itest_setup(itest_ctx *ctx, const char *name, int partitions);
/* Drop the databases and topics again. */
void itest_teardown(itest_ctx *ctx);

/* Publish values (NUL-terminated lines) to topic with the given keys
 * (NULL: "_global"); waits until all are acknowledged. */
void itest_produce(const itest_ctx *ctx, const char *topic, const char *const *keys,
                   const char *const *values, const size_t *lens, size_t n);
/* Publish an NDJSON file through `tally produce` (validating). */
void itest_produce_file(const itest_ctx *ctx, const char *path);

/* Start a binary of the build (e.g. "ingest/tally-ingest") with the test's
 * TALLY_* environment and extra arguments (NULL-terminated); stderr goes to
 * a log file named after the test. */
pid_t itest_spawn(const itest_ctx *ctx, const char *binary, const char *const *args);
/* The same, with stderr to its own log file. */
pid_t itest_spawn_logged(const itest_ctx *ctx, const char *binary, const char *const *args,
                         const char *log_path);
/* The number after the last occurrence of `key` (e.g. "events=") in a log, or -1. */
long long itest_log_last_value(const char *log_path, const char *key);
/* Send sig and wait up to timeout_ms; returns the exit status (or 128+signal),
 * -1 when it did not exit in time (then it is killed with SIGKILL). */
int itest_stop(pid_t pid, int sig, int timeout_ms);
/* Run a binary to completion and return its exit status; output to the log. */
int itest_run(const itest_ctx *ctx, const char *binary, const char *const *args);

/* A single integer from a query on the test's PostgreSQL database. */
long long itest_pg_scalar(const itest_ctx *ctx, const char *sql);
/* Run a statement on the test's database (or the server's, when admin). */
void itest_pg_exec(const itest_ctx *ctx, bool admin, const char *sql);
/* Documents in the test's interactions collection (optionally one tenant). */
long long itest_mongo_count(const itest_ctx *ctx, const char *tenant_or_null);
/* The same for polling while a store may be restarting: -1 on an error. */
long long itest_mongo_count_try(const itest_ctx *ctx, const char *tenant_or_null);

/* Poll fn until it returns true or timeout_ms passes. */
bool itest_wait_until(bool (*fn)(const itest_ctx *, void *), const itest_ctx *ctx, void *arg,
                      int timeout_ms);

/* Read every message now in topic (all partitions) with a fresh group;
 * returns the count and calls fn for each. */
typedef void (*itest_message_fn)(const rd_kafka_message_t *m, void *arg);
size_t itest_consume_all(const itest_ctx *ctx, const char *topic, itest_message_fn fn, void *arg,
                         size_t expect, int timeout_ms);
/* The same with the given isolation.level ("read_committed", librdkafka's
 * default, or "read_uncommitted": records of aborted transactions too). */
size_t itest_consume_all_isolated(const itest_ctx *ctx, const char *topic, const char *isolation,
                                  itest_message_fn fn, void *arg, size_t expect, int timeout_ms);

/* Write `tally generate` output with the given extra args into a temp file. */
void itest_generate(const itest_ctx *ctx, const char *path, const char *const *args);

/* Read a whole file of lines; caller frees with itest_lines_free. */
typedef struct {
    char **line;
    size_t n;
} itest_lines;
itest_lines itest_read_lines(const char *path);
void itest_lines_free(itest_lines *l);

/* Path of a file in the build tree (TALLY_BIN_DIR) or of a log. */
const char *itest_bin(const char *rel, char *buf, size_t len);

#endif
