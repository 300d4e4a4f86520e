/*
 * tally_ingest — the `tally-ingest` daemon's own logic, run by the stream
 * layer's consumer loop: entities go to PostgreSQL, interactions to MongoDB,
 * rejected events to the DLQ; only then does the loop commit the batch's
 * Kafka offsets.
 *
 * A store that fails makes the loop retry the batch with backoff until it
 * succeeds: nothing is committed before everything before it is durable, so
 * a crash at any point means redelivery, and every write is idempotent
 * (event-time guarded upserts, _id = event id).
 */
#ifndef TALLY_INGEST_H
#define TALLY_INGEST_H

#include "tally_common.h"
#include "tally_stream.h"

/* What tally-ingest needs beyond the loop's own options. */
typedef struct {
    const char *dlq_topic, *pg_url, *mongo_url;
} tally_ingest_config;

typedef struct {
    int64_t interactions, duplicates, entities, rejected;
} tally_ingest_stats;

typedef struct tally_ingester tally_ingester;

/* Open the stores and the DLQ producer, and fill h with the ingester's
 * handlers (ctx: the returned ingester). */
tally_ingester *tally_ingester_open(const tally_ingest_config *cfg,
                                    const tally_consumer_options *opt, tally_consumer_handlers *h,
                                    tally_err *err);

void tally_ingester_close(tally_ingester *ing);

#endif
