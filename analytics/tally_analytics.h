/*
 * tally_analytics — the aggregator (rollups exactly once), report computation
 * and the HTTP report service. Outside analytics/, include this header only.
 */
#ifndef TALLY_ANALYTICS_H
#define TALLY_ANALYTICS_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "tally_common.h"
#include "tally_pg.h"
#include "tally_stream.h"

/*
 * report — the usage report of CONTRACT.md §3 (`GET /v1/tenants/{id}/usage`):
 * parameters in as the strings a request carries, a JSON document out (or
 * CSV made from it). The numbers come from relational/'s rollups × price and
 * FX versions (CONTRACT.md §2); this file owns parameter rules and shapes.
 */


/* One filter[<name>]=<values> of a request: name is what the brackets
 * hold, values a comma list (OR); several filters AND, two of one name OR. */
typedef struct {
    const char *name, *values;
} tally_usage_filter;

/* The query parameters, exactly as received (NULL = absent). */
typedef struct {
    const char *tenant_id;
    const char *from, *to;   /* YYYY-MM-DD (tenant's local midnight) or RFC 3339 on
                              * the 15-minute grain */
    const char *granularity; /* total (default) | hour | day | week | month */
    const char *group_by;    /* comma list of model,user,agent,kind,channel */
    const tally_usage_filter *filters;
    size_t n_filters;
} tally_usage_request;

/* Build the report. Returns:
 *   TALLY_OK        *out = the report object (caller owns; json_decref)
 *   TALLY_EINVAL    a bad parameter; err->msg names it ("granularity: must be
 *                   one of total, day, week, month") — answer 400
 *   TALLY_ENOTFOUND no such tenant — answer 404
 *   TALLY_ESTORE    PostgreSQL failed — answer 503 */
tally_code tally_report_usage(tally_pg *pg, const tally_usage_request *req, json_t **out,
                              tally_err *err);

/* The report as JSON text: money written with the exact digits it was
 * rounded to (use this, not a bare json_dumps). Caller frees. */
char *tally_report_json_text(const json_t *report);

/* The report as CSV: one header line, then one line per row, the group
 * columns first, then period_start, period_end and the metrics; a group
 * value starting with = + - @, a tab or a CR gets a leading ' (spreadsheet
 * formulas). Caller frees. */
char *tally_report_usage_csv(const json_t *report);

/*
 * limits_report — what GET /v1/tenants/{id}/limits and `tally limits` answer
 * (docs/limits.md): every limit of a tenant (and of one of its users) in
 * force at an instant, with the usage of its period, and whether the subject
 * may go on (`allowed`, with the reasons why not).
 */
typedef struct {
    const char *tenant_id;
    const char *user_id; /* NULL: the tenant's own limits */
    const char *at;      /* RFC 3339; NULL: now */
} tally_limits_request;

/* pending: events not counted yet (consumer lag of the counting group), -1
 * when unknown (written as null). Codes as tally_report_usage's. */
tally_code tally_limits_report(tally_pg *pg, const tally_limits_request *req, int64_t pending,
                               json_t **out, tally_err *err);

/*
 * aggregator — the `tally-aggregate` daemon's own logic, run by the stream
 * layer's consumer loop: counts interactions and ratings into PostgreSQL
 * rollups exactly once. Each batch's rollup increments, the ids it counted
 * and the Kafka offsets it consumed are committed in ONE PostgreSQL
 * transaction; on every partition assignment the loop seeks to the offsets
 * stored there (not Kafka's), so a crash anywhere replays exactly what was
 * not committed, and ids already counted are skipped.
 */

typedef struct {
    int64_t counted, duplicates, ratings, alerts, skipped_invalid;
} tally_aggregate_stats;

typedef struct tally_aggregator tally_aggregator;

/* Open PostgreSQL (migrating it) and fill h with the aggregator's handlers
 * (ctx: the returned aggregator). */
tally_aggregator *tally_aggregator_open(const char *pg_url, const tally_consumer_options *opt,
                                        tally_consumer_handlers *h, tally_err *err);
void tally_aggregator_close(tally_aggregator *a);

/*
 * api_server — tally-api, the HTTP report service of CONTRACT.md §3, as a
 * library: start it on an address, stop it gracefully. api_main.c is the
 * daemon around it; the tests link the same code.
 *
 * Threads: libmicrohttpd serves each connection on a thread of its own, so
 * a request that waits (Kafka's answer to POST /v1/events, a slow store)
 * holds up no other. Requests share one MongoDB handle (itself a pool) and
 * take a PostgreSQL handle from a small pool of `threads` connections for
 * the request's duration (tally_pg handles are not thread-safe).
 */


typedef struct {
    const char *http_addr; /* "host:port", "[v6]:port"; port 0 = any free port */
    const char *pg_url, *mongo_url, *brokers;
    const char *topic;           /* the events topic whose consumer lag /metrics shows */
    const char *admin_key;       /* TALLY_ADMIN_KEY; NULL or "": admin routes refuse */
    const char *ingest_group;    /* Kafka group of tally-ingest (Kafka-committed offsets) */
    const char *aggregate_group; /* group of tally-aggregate (offsets in PostgreSQL) */
    int threads;                 /* PostgreSQL connections shared by the requests */
    int drain_timeout_ms;        /* on stop, how long to wait for requests in flight */
    int kafka_timeout_ms;        /* per Kafka call made while scraping /metrics */
    const char *cors_origins;    /* origins allowed by CORS ("a,b" or "*"); NULL: none */
    const char *pseudonym_secret, *pseudonym_secret_previous; /* erasure answers' pseudonyms */
} tally_api_options;

typedef struct tally_api tally_api;

/* Open the stores' handles and listen. NULL with err filled when the address
 * is bad or cannot be bound; unreachable stores are not an error (healthz
 * says so, requests answer 503 until they are back). */
tally_api *tally_api_start(const tally_api_options *opt, tally_err *err);

/* The port listened on (useful with port 0). */
int tally_api_port(const tally_api *api);

/* Stop accepting connections, let requests in flight finish (up to
 * drain_timeout_ms), close everything and free the handle. Returns the
 * number of requests still in flight when it gave up waiting (0 normally). */
int tally_api_stop(tally_api *api);

#endif
