/*
 * dlq — the dead-letter queue: a rejected event goes to the DLQ topic
 * unchanged (same key, same value) with two headers, `tally-error` (a one-line
 * reason) and `tally-source-offset` (topic/partition/offset).
 */
#ifndef TALLY_DLQ_H
#define TALLY_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "kafka_util.h"
#include "tally_err.h"

/* Queue one rejected message for the DLQ (the bytes are copied). */
tally_code tally_dlq_send(rd_kafka_t *producer, const char *dlq_topic,
                          const rd_kafka_message_t *msg, const char *reason, tally_err *err);

/* Wait until everything queued is acknowledged by the broker (or timeout_ms
 * passes). TALLY_ESTORE when something was not delivered: d->failed grew
 * past failed_before, or messages are still queued. */
tally_code tally_dlq_flush(rd_kafka_t *producer, const tally_kafka_deliveries *d,
                           long long failed_before, int timeout_ms, tally_err *err);

#endif
