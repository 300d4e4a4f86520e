/*
 * tally_rollup — the aggregator's side of PostgreSQL: counting a batch of
 * interactions and ratings into the rollups exactly once, together with the Kafka
 * offsets the batch consumed, in one transaction; and reading those offsets
 * back when partitions are assigned.
 */
#ifndef TALLY_ROLLUP_H
#define TALLY_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_err.h"
#include "tally_pg.h"
#include "tally_time.h"

/* The rollup bucket: 15 minutes, which divides every UTC offset in use. */
#define TALLY_BUCKET_USEC (15LL * 60 * 1000000)

/* The summed columns of every rollup table (usage_rollup and the hourly
 * ones), in their order: the sums of the interactions
 * counted in a row (priced_*: of those without their own cost_usd; unsaved_*:
 * without their own time_saved_minutes; supplied_*: the values events
 * brought) and the likes/dislikes of their newest ratings. */
enum { TALLY_ROLLUP__COUNT = 14 };
extern const char *const tally_rollup_columns[TALLY_ROLLUP__COUNT];

/* The hourly rollups, narrowest first: per tenant × UTC hour × `columns`,
 * with the summed columns above (migrations 005 and 006). usage_rollup
 * keeps 15-minute buckets and every group. */
typedef struct {
    const char *table;
    const char *columns; /* the group columns kept, comma-separated */
} tally_hourly_rollup;
enum { TALLY_HOURLY_ROLLUPS = 2 };
extern const tally_hourly_rollup tally_hourly_rollups[TALLY_HOURLY_ROLLUPS];

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

/* One rating to count (feedback.recorded). Strings are borrowed for the call. */
typedef struct {
    const char *interaction_id, *user_id, *tenant_id;
    bool like;
    tally_usec time; /* the event's time: the newest per (interaction, user) wins */
    int64_t offset;  /* its Kafka offset: the tie-break of equal times */
} tally_rollup_rating;

/* What one batch brings. */
typedef struct {
    const tally_rollup_item *items;
    size_t n_items;
    const tally_rollup_rating *ratings;
    size_t n_ratings;
    const tally_rollup_offset *offsets;
    size_t n_offsets;
} tally_rollup_batch;

typedef struct {
    int64_t counted;          /* interactions newly counted (the rest: seen before) */
    int64_t ratings_accepted; /* ratings newer than the one stored for their pair */
} tally_rollup_result;

/* In one transaction: record the interaction ids (an id seen before, in this
 * batch or any earlier one, is skipped) and add the new interactions to every
 * rollup (usage_rollup and the hourly ones) with the ratings
 * already known for them; keep the newest rating per (interaction, user) and
 * move the like/dislike counts of counted interactions it changes; store the
 * offsets of `group`. result may be NULL. On failure nothing is written. */
tally_code tally_rollup_apply(tally_pg *pg, const char *group, const tally_rollup_batch *batch,
                              tally_rollup_result *result, tally_err *err);

/* The stored next offset of group/topic/partition, or -1 when none. */
tally_code tally_rollup_load_offset(tally_pg *pg, const char *group, const char *topic,
                                    int32_t partition, int64_t *next_offset, tally_err *err);

#endif
