/*
 * aggregator — the `tally-aggregate` consumer: counts interactions into
 * PostgreSQL rollups exactly once. Each batch's rollup increments, the ids
 * it counted and the Kafka offsets it consumed are committed in ONE
 * PostgreSQL transaction; on every partition assignment the consumer seeks
 * to the offsets stored there (not Kafka's), so a crash anywhere replays
 * exactly what was not committed, and ids already counted are skipped.
 */
#ifndef TALLY_AGGREGATOR_H
#define TALLY_AGGREGATOR_H

#include <signal.h>
#include <stdint.h>

#include "tally_err.h"

typedef struct {
    const char *brokers, *group, *topic, *pg_url;
    int batch_size, batch_ms, drain_timeout_ms, stats_interval_s;
    int64_t max_events; /* stop after this many events (0: run until stopped) */
} tally_aggregate_options;

typedef struct {
    int64_t events, counted, duplicates, ratings, skipped_invalid, batches, store_retries,
        rebalances;
} tally_aggregate_stats;

typedef struct tally_aggregator tally_aggregator;

tally_aggregator *tally_aggregator_new(const tally_aggregate_options *opt, tally_err *err);
tally_code tally_aggregator_run(tally_aggregator *a, volatile sig_atomic_t *stop, tally_err *err);
const tally_aggregate_stats *tally_aggregator_stats(const tally_aggregator *a);
void tally_aggregator_free(tally_aggregator *a);

#endif
