/*
 * tally_stream — the event stream: decoding and validating events, Kafka
 * clients, the dead-letter queue and the batch-consumer loop every daemon
 * runs on. Outside stream/, include this header only.
 */
#ifndef TALLY_STREAM_H
#define TALLY_STREAM_H

#include <getopt.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_common.h"

/*
 * event — one CloudEvents 1.0 event of CONTRACT.md §1, decoded and validated.
 *
 * tally_event_decode() parses one JSON text (tally_json), checks every rule
 * of the contract (envelope, required fields, types, enums, id shapes,
 * decimals, times) and fills a typed view. On a violation it returns
 * TALLY_EINVAL and an error message that names the field and the rule:
 *     "data.input_tokens: must be a non-negative integer below 2^53"
 *
 * Ownership: the event owns `doc` (the parsed JSON); `root`, `data` and
 * every `const char *` below are borrowed from it and live until
 * tally_event_free().
 * Optional strings are NULL when absent (or JSON null). Enum values
 * (status, role, kind...) and defaults (e.g. the timezone) point at static
 * strings instead, which live forever.
 *
 * Ids (the event id, subject and every *_id field) are 1-128 characters
 * (Unicode code points) with no control character (C0, DEL, C1). Messages
 * are one line of printable text: quoted input is cut and sanitised.
 *
 * Decimals (tally_decimal.text): a JSON integer is written exactly; a JSON
 * number with a fraction or exponent is read as a double (strtod) and
 * written with 15 significant digits ("%.15g") spelled out without an
 * exponent (1.5e-07 becomes "0.00000015"); a JSON string must match
 * -?digits[.digits] and is kept as sent (a negative zero loses its sign).
 * The text is at most TALLY_DECIMAL_MAX_CHARS long; longer values are
 * rejected.
 */


/* Events larger than this are rejected before parsing (Kafka's own default
 * message limit is about 1 MB; the local broker allows more so that such an
 * event can still reach the DLQ). */
#define TALLY_EVENT_MAX_BYTES (1024 * 1024)
#define TALLY_DECIMAL_MAX_CHARS 40

/* Decode and validate one event. On success ev is filled and must be released
 * with tally_event_free(); on failure ev holds nothing to release and err
 * names the field and the rule. `buf` need not be NUL-terminated. */
tally_code tally_event_decode(const char *buf, size_t len, tally_event *ev, tally_err *err);

void tally_event_free(tally_event *ev);

/* The partition key of an event: its subject, or "_global" without one. */
const char *tally_event_key(const tally_event *ev);

/*
 * kafka_util — building librdkafka handles from a list of settings, so that
 * every Tally client states its configuration as a readable table.
 */


typedef struct {
    const char *name, *value;
} tally_kafka_setting;

/* Apply n settings to conf; on a bad one fill err naming it and return it. */
tally_code tally_kafka_conf_apply(rd_kafka_conf_t *conf, const tally_kafka_setting *s, size_t n,
                                  tally_err *err);

/* A consumer in `group` with manual offset commits, reading from the earliest
 * offset when the group has none. extra (may be NULL) is applied last. The
 * conf is consumed; rebalance_cb may be NULL. */
rd_kafka_t *tally_kafka_consumer_new(const char *brokers, const char *group,
                                     const tally_kafka_setting *extra, size_t n_extra,
                                     void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                          rd_kafka_topic_partition_list_t *,
                                                          void *),
                                     void *opaque, tally_err *err);

/* Delivery outcomes of a producer, updated by its delivery-report callback
 * (which runs inside rd_kafka_poll/flush on the caller's thread). */
typedef struct {
    long long delivered, failed;
    char last_error[256];
} tally_kafka_deliveries;

/* An idempotent producer for DLQ and alert messages; `d` (owned by the
 * caller, outliving the producer) counts what was delivered and what failed. */
rd_kafka_t *tally_kafka_producer_new(const char *brokers, tally_kafka_deliveries *d,
                                     tally_err *err);

/* A transactional producer (transactional.id as given), its transactions
 * initialised: every write to Kafka that must happen exactly once with a
 * consumed batch goes through one (see consumer.c). */
rd_kafka_t *tally_kafka_txn_producer_new(const char *brokers, const char *transactional_id,
                                         tally_err *err);

/* Poll messages into out[*n ..] until *n reaches max, wait_ms has passed or
 * *stop is set. Error messages are logged and dropped. When *revoked (may be
 * NULL; a rebalance callback sets it) becomes true, the messages collected so
 * far are destroyed, *n goes back to 0 and the flag is cleared: they may now
 * belong to another member of the group. */
void tally_kafka_poll_batch(rd_kafka_t *rk, rd_kafka_message_t **out, int *n, int max, int wait_ms,
                            volatile sig_atomic_t *stop, bool *revoked);

/* Subscribe to one topic. */
tally_code tally_kafka_subscribe(rd_kafka_t *rk, const char *topic, tally_err *err);

/*
 * dlq — the dead-letter queue: a rejected event goes to the DLQ topic
 * unchanged (same key, same value) with two headers, `tally-error` (a one-line
 * reason) and `tally-source-offset` (topic/partition/offset).
 */


/* Queue one rejected message for the DLQ (the bytes are copied). With a
 * transactional producer, inside the batch's transaction: it becomes
 * visible to read_committed readers only when the batch commits. */
tally_code tally_dlq_send(rd_kafka_t *producer, const char *dlq_topic,
                          const rd_kafka_message_t *msg, const char *reason, tally_err *err);


/*
 * consumer — the one batch-consumer loop every daemon runs on (consumer.c
 * says how it keeps offsets and what a crash at any instant means).
 */

#define TALLY_MAX_BATCH_PARTITIONS 256

/* One consumed message and what decoding it gave. */
typedef struct {
    rd_kafka_message_t *msg; /* owned by the loop */
    bool valid;              /* decoded and valid: ev is filled (and owned by the loop) */
    tally_event ev;
    char reason[sizeof(((tally_err *)0)->msg)]; /* why not valid: names the field */
} tally_batch_item;

typedef struct {
    tally_batch_item *items;
    int n;
    /* Where store() writes to Kafka (dead letters, alerts): a transactional
     * producer whose open transaction also takes the batch's offsets, so
     * that what it wrote becomes visible exactly when the batch commits.
     * NULL when the daemon keeps its offsets itself (load_offset). */
    rd_kafka_t *producer;
} tally_batch;

/* Mark an item invalid with a reason (its event, if any, is released). */
void tally_batch_reject(tally_batch_item *it, const char *reason);

/* Per partition, the offset after the batch's last message; at most cap. */
size_t tally_batch_offsets(const tally_batch *b, tally_partition_offset *out, size_t cap);

/* What a daemon plugs into the loop. ctx is the daemon's own state. */
typedef struct {
    /* Once per batch, after decoding: the daemon's own checks, which may
     * tally_batch_reject() items (optional). */
    void (*screen)(void *ctx, tally_batch *b);
    /* Make the batch durable. Anything but TALLY_OK is retried with backoff,
     * the batch kept in hand; so store() must be safe to call again. */
    tally_code (*store)(void *ctx, tally_batch *b, tally_err *err);
    /* Offsets kept by the daemon (optional): the next offset of a partition,
     * < 0 for none. When set, partitions start there, a revocation drops the
     * batch in hand, and nothing is committed to Kafka (store() keeps the
     * offsets). When NULL, the group's Kafka offsets are committed after
     * every stored batch, in one Kafka transaction with what store() wrote
     * through b->producer. */
    tally_code (*load_offset)(void *ctx, const char *topic, int32_t partition, int64_t *next,
                              tally_err *err);
    /* After a batch was stored and committed (optional). */
    void (*stored)(void *ctx, const tally_batch *b);
    /* The daemon's own counters for the progress line, "k=v k=v" (optional). */
    void (*describe)(void *ctx, char *buf, size_t len);
} tally_consumer_handlers;

typedef struct {
    const char *brokers, *group, *topic;
    /* This process's name in the group, part of the transactional.id
     * "<group>.<topic>.<instance>" with Kafka offsets: a restart under the same name
     * fences what the dead process left open. Two live processes of one
     * group need two names. */
    const char *instance;
    /* Also the group.instance.id (static membership): a restart takes its
     * partitions back without a rebalance; a process that stops for good
     * keeps them until its session times out. Set when the name was given
     * (--instance, TALLY_INSTANCE), not for the host-name default. */
    bool static_member;
    int batch_size;       /* most events in one batch */
    int batch_ms;         /* longest wait to fill a batch */
    int drain_timeout_ms; /* after a stop request, how long a failing store is retried */
    int stats_interval_s; /* a progress line every so often (0: never) */
    int64_t max_events;   /* stop after this many events (0: run until stopped) */
} tally_consumer_options;

typedef struct {
    int64_t events, batches, store_retries, rebalances, rewinds;
} tally_consumer_stats;

typedef struct tally_consumer tally_consumer;

/* Subscribes to opt->topic in opt->group; h and ctx are kept. */
tally_consumer *tally_consumer_new(const tally_consumer_options *opt,
                                   const tally_consumer_handlers *h, void *ctx, tally_err *err);

/* Run until *stop becomes non-zero (a signal handler sets it) or max_events,
 * then finish the batch in hand and return. TALLY_OK on a clean stop; the
 * store's code when it had to give up on a batch (nothing of it committed). */
tally_code tally_consumer_run(tally_consumer *c, volatile sig_atomic_t *stop, tally_err *err);

void tally_consumer_free(tally_consumer *c);

/*
 * daemon — the skeleton of a consumer daemon: shared flags, help, logging,
 * signals, the loop. A daemon fills a tally_daemon and calls
 * tally_daemon_main() from main().
 */
typedef struct {
    const char *prog;     /* "tally-ingest": messages and --help */
    const char *log_name; /* "ingest": the component of its log lines */
    const char *about;    /* the paragraph under the usage line */
    const char *group;    /* the default consumer group */
    int batch_size;       /* the default --batch-size */
    /* The daemon's own flags (NULL-terminated, or NULL), their help lines,
     * and the call that takes one: `flag` is its struct option .val; false
     * after saying on stderr what is wrong with the value. */
    const struct option *own_flags;
    const char *own_help;
    bool (*parse_own)(void *own_cfg, int flag, const char *arg);
    void *own_cfg;
    /* Fill own_cfg's defaults from the environment (optional). */
    void (*init_own)(void *own_cfg, const tally_config *cfg);
    /* Open the daemon's stores and fill its handlers; returns its state
     * (the handlers' ctx), NULL with err set when it cannot start. */
    void *(*open)(void *own_cfg, const tally_consumer_options *opt, tally_consumer_handlers *h,
                  tally_err *err);
    void (*close)(void *state);
} tally_daemon;

/* Parse flags, start, run until SIGTERM/SIGINT, stop; the process exit code. */
int tally_daemon_main(int argc, char **argv, const tally_daemon *d);

#endif
