/*
 * tally_usage — the SQL half of the usage report: which zone a tenant is in,
 * how a report window resolves in that zone, and the rows of the report
 * (rollups × price and FX versions, CONTRACT.md §2). analytics/report.c
 * validates the request and shapes the answer.
 */
#ifndef TALLY_USAGE_H
#define TALLY_USAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "tally_err.h"
#include "tally_pg.h"
#include "tally_time.h"

#define TALLY_DEFAULT_TIMEZONE "America/Sao_Paulo"

typedef enum { TALLY_GRAN_TOTAL, TALLY_GRAN_DAY, TALLY_GRAN_WEEK, TALLY_GRAN_MONTH } tally_granularity;

/* The group dimensions, in the order of CONTRACT.md §3. */
typedef enum {
    TALLY_GROUP_MODEL,
    TALLY_GROUP_USER,
    TALLY_GROUP_AGENT,
    TALLY_GROUP_KIND,
    TALLY_GROUP_CHANNEL,
    TALLY_GROUP__COUNT
} tally_group;

/* A tenant is known when it was upserted or has counted interactions; its
 * zone is the upserted one, TALLY_DEFAULT_TIMEZONE otherwise. */
tally_code tally_usage_tenant(tally_pg *pg, const char *tenant_id, bool *known, char *zone,
                              size_t zone_len, tally_err *err);

/* One end of a window as the request gave it. */
typedef struct {
    enum { TALLY_BOUND_DEFAULT, TALLY_BOUND_DATE, TALLY_BOUND_INSTANT } kind;
    char date[11];     /* YYYY-MM-DD, a local midnight in the zone */
    tally_usec instant; /* UTC */
} tally_bound;

/* A resolved window [from, to) with its ends written in the zone. */
typedef struct {
    tally_usec from, to;
    char from_text[40], to_text[40];
    int64_t periods; /* how many periods of the granularity it spans */
} tally_window;

/* Resolve the ends (defaults: the current month in the zone) and count the
 * periods. TALLY_EINVAL for a date PostgreSQL refuses, naming `from`/`to`. */
tally_code tally_usage_window(tally_pg *pg, const char *zone, const tally_bound *from,
                              const tally_bound *to, tally_granularity g, tally_window *w,
                              tally_err *err);

/* The metrics of a row, as decimal text from PostgreSQL (cost_brl may be
 * NULL: no FX rate covers part of it). Money is unrounded here. */
enum {
    TALLY_M_REQUESTS,
    TALLY_M_ERRORS,
    TALLY_M_INPUT_TOKENS,
    TALLY_M_CACHED_TOKENS,
    TALLY_M_OUTPUT_TOKENS,
    TALLY_M_AUDIO_SECONDS,
    TALLY_M_COST_USD,
    TALLY_M_COST_BRL,
    TALLY_M_TIME_SAVED,
    TALLY_M_LIKES,
    TALLY_M_DISLIKES,
    TALLY_M__COUNT
};
extern const char *const tally_metric_names[TALLY_M__COUNT];

typedef struct {
    bool is_total;            /* the totals over the whole window */
    const char *period_start; /* RFC 3339 in the zone (rows only) */
    const char *group[TALLY_GROUP__COUNT]; /* values of the requested groups, NULL = null */
    const char *metric[TALLY_M__COUNT];
} tally_usage_row;

typedef struct {
    const char *tenant_id, *zone;
    const tally_window *window;
    tally_granularity granularity;
    const tally_group *groups; /* requested, in request order */
    int n_groups;
} tally_usage_query;

/* Where a report's rows come from: usage_rollup (15-minute buckets, every
 * group), or the narrowest hourly rollup that keeps every group the report
 * asks for, when all of its boundaries fall on whole UTC hours (then the
 * answer is the same). In the order of tally_hourly_rollups, after FULL. */
typedef enum {
    TALLY_USAGE_FULL,         /* usage_rollup */
    TALLY_USAGE_MODEL_HOURLY, /* usage_rollup_model_hourly: no group, or model */
    TALLY_USAGE_HOURLY,       /* usage_rollup_hourly: any groups but user */
    TALLY_USAGE__SOURCES
} tally_usage_source;
extern const char *const tally_usage_source_names[TALLY_USAGE__SOURCES];

/* How many reports this process read from each source (for /metrics). */
long long tally_usage_source_count(tally_usage_source src);

/* Run the report query and call fn for every row (ordered by period, then
 * group values) and finally once for the totals. */
tally_code tally_usage_rows(tally_pg *pg, const tally_usage_query *q,
                            void (*fn)(const tally_usage_row *row, void *arg), void *arg,
                            tally_err *err);

#endif
