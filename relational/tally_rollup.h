/*
 * tally_rollup — the aggregator's side of PostgreSQL: counting a batch of
 * interactions into usage_rollup exactly once, together with the Kafka
 * offsets the batch consumed, in one transaction; and reading those offsets
 * back when partitions are assigned.
 */
#ifndef TALLY_ROLLUP_H
#define TALLY_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "tally_err.h"
#include "tally_pg.h"
#include "tally_time.h"

/* The rollup bucket: 15 minutes, which divides every UTC offset in use. */
#define TALLY_BUCKET_USEC (15LL * 60 * 1000000)

/* One interaction to count. Strings are borrowed for the call. */
typedef struct {
    const char *interaction_id, *tenant_id, *model_id, *user_id, *kind;
    const char *agent_id, *channel; /* NULL when absent */
    tally_usec time;                /* the event's time; bucketed here */
    int is_error;
    int64_t input_tokens, cached_tokens, output_tokens;
    const char *audio_seconds;      /* decimal text, NULL = 0 */
    const char *cost_usd;           /* decimal text, NULL = computed from prices */
    const char *time_saved_minutes; /* decimal text, NULL = from the model's rate */
} tally_rollup_item;

/* The next offset to read of one partition. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t next_offset;
} tally_rollup_offset;

/* In one transaction: record the ids (an id seen before, in this batch or any
 * earlier one, is skipped), add the new interactions to usage_rollup, and
 * store the offsets of `group`. *counted (may be NULL) gets the number of
 * interactions newly counted. On failure nothing is written. */
tally_code tally_rollup_apply(tally_pg *pg, const char *group, const tally_rollup_item *items,
                              size_t n, const tally_rollup_offset *offsets, size_t n_offsets,
                              int64_t *counted, tally_err *err);

/* The stored next offset of group/topic/partition, or -1 when none. */
tally_code tally_rollup_load_offset(tally_pg *pg, const char *group, const char *topic,
                                    int32_t partition, int64_t *next_offset, tally_err *err);

#endif
