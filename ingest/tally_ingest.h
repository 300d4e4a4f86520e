/*
 * ingester — the `tally-ingest` consumer: reads tally.events in batches,
 * stores entities in PostgreSQL and interactions in MongoDB, sends rejected
 * events to the DLQ, and only then commits the batch's Kafka offsets.
 *
 * A store that fails is retried with backoff, the batch kept in hand, until
 * it succeeds: nothing is committed before everything before it is durable,
 * so a crash at any point means redelivery, and every write is idempotent
 * (event-time guarded upserts, _id = event id).
 */
#ifndef TALLY_INGESTER_H
#define TALLY_INGESTER_H

#include <signal.h>
#include <stdint.h>

#include "tally_common.h"

typedef struct {
    const char *brokers, *group, *topic, *dlq_topic;
    const char *pg_url, *mongo_url;
    int batch_size;        /* most events in one batch */
    int batch_ms;          /* longest wait to fill a batch */
    int drain_timeout_ms;  /* after SIGTERM, how long a failing store is retried */
    int stats_interval_s;  /* a progress log line every so often (0: never) */
    int64_t max_events;    /* stop after this many events (0: run until stopped) */
} tally_ingest_options;

typedef struct {
    int64_t events, interactions, duplicates, entities, rejected, batches, store_retries;
} tally_ingest_stats;

typedef struct tally_ingester tally_ingester;

tally_ingester *tally_ingester_new(const tally_ingest_options *opt, tally_err *err);

/* Run until *stop becomes non-zero (a signal handler sets it), then finish the
 * batch in hand, commit and return. TALLY_OK on a clean stop; TALLY_ESTORE
 * when it had to give up on a batch (nothing of it committed). */
tally_code tally_ingester_run(tally_ingester *ing, volatile sig_atomic_t *stop, tally_err *err);

const tally_ingest_stats *tally_ingester_stats(const tally_ingester *ing);

void tally_ingester_free(tally_ingester *ing);

#endif
