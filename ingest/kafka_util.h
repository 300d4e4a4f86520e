/*
 * kafka_util — building librdkafka handles from a list of settings, so that
 * every Tally client states its configuration as a readable table.
 */
#ifndef TALLY_KAFKA_UTIL_H
#define TALLY_KAFKA_UTIL_H

#include <librdkafka/rdkafka.h>

#include "tally_err.h"

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

/* Poll messages into out[*n ..] until *n reaches max, wait_ms has passed or
 * *stop is set. Error messages are logged and dropped. When *revoked (may be
 * NULL; a rebalance callback sets it) becomes true, the messages collected so
 * far are destroyed, *n goes back to 0 and the flag is cleared: they may now
 * belong to another member of the group. */
#include <signal.h>
#include <stdbool.h>
void tally_kafka_poll_batch(rd_kafka_t *rk, rd_kafka_message_t **out, int *n, int max,
                            int wait_ms, volatile sig_atomic_t *stop, bool *revoked);

/* Subscribe to one topic. */
tally_code tally_kafka_subscribe(rd_kafka_t *rk, const char *topic, tally_err *err);

#endif
