#ifndef TALLY_PG_H
#define TALLY_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_common.h"

/*
 * tally_pg — everything PostgreSQL: the connection, migrations, entity
 * upserts, consumer offsets. One opaque handle holds one libpq connection;
 * it is not thread-safe (give each thread its own handle).
 *
 * Every function that talks to the server returns TALLY_ESTORE when the
 * server fails or is unreachable (the caller retries later; the handle
 * reconnects on the next call), and TALLY_EINVAL when the server refused the
 * data itself (a constraint: the event is at fault, not the store).
 */


typedef struct tally_pg tally_pg;

/* Connect (libpq connection string or URI). NULL with err filled on failure. */
tally_pg *tally_pg_open(const char *url, tally_err *err);
void tally_pg_close(tally_pg *pg);

/* SELECT 1, reconnecting first when the connection was lost. */
tally_code tally_pg_ping(tally_pg *pg, tally_err *err);

/* Apply the migrations compiled in from schemas/postgres/ that this database
 * lacks, in order, each in its own transaction, under an advisory lock so that
 * concurrent runs wait for each other. *applied (may be NULL) gets the count. */
tally_code tally_pg_migrate(tally_pg *pg, int *applied, tally_err *err);
/* The same, stopping after version up_to (0: all): for staged upgrades and
 * for testing what a migration does to data an older schema holds. */
tally_code tally_pg_migrate_to(tally_pg *pg, int up_to, int *applied, tally_err *err);

/* Number of migrations compiled into this binary. */
int tally_pg_migration_count(void);

/* Transactions: begin before a batch of upserts, commit or roll back after. */
tally_code tally_pg_begin(tally_pg *pg, tally_err *err);
tally_code tally_pg_commit(tally_pg *pg, tally_err *err);
void tally_pg_rollback(tally_pg *pg);

/* The position of the event in Kafka: upserts of one entity are ordered by
 * (event time, offset), the newer pair wins. */
typedef struct {
    tally_usec time;
    int64_t offset;
} tally_pg_version;

tally_code tally_pg_upsert_tenant(tally_pg *pg, const tally_tenant *t, tally_pg_version v,
                                  tally_err *err);
tally_code tally_pg_upsert_user(tally_pg *pg, const tally_user *u, tally_pg_version v,
                                tally_err *err);
tally_code tally_pg_upsert_plan(tally_pg *pg, const tally_plan *p, tally_pg_version v,
                                tally_err *err);
tally_code tally_pg_upsert_subscription(tally_pg *pg, const tally_subscription *s,
                                        tally_pg_version v, tally_err *err);
tally_code tally_pg_upsert_price(tally_pg *pg, const tally_price *p, tally_pg_version v,
                                 tally_err *err);
tally_code tally_pg_upsert_fx(tally_pg *pg, const tally_fx *f, tally_pg_version v, tally_err *err);
tally_code tally_pg_upsert_budget(tally_pg *pg, const tally_budget *b, tally_pg_version v,
                                  tally_err *err);
tally_code tally_pg_upsert_feedback(tally_pg *pg, const tally_feedback *f, const char *event_id,
                                    tally_pg_version v, tally_err *err);

/* Whether PostgreSQL knows this IANA zone name (cached after the first call). */
bool tally_pg_timezone_known(tally_pg *pg, const char *zone);

/* ---- API keys (relational/api_keys.c) -----------------------------------
 * Tenant keys of the HTTP report service, kept only as the SHA-256 hex of the
 * key (schemas/postgres/004_api_keys.sql) with their public id, name, scopes
 * and lifecycle (009_api_key_lifecycle.sql), and a zone conversion it needs. */

#define TALLY_KEY_SCOPE_READ 1u   /* the tenant's GET routes */
#define TALLY_KEY_SCOPE_INGEST 2u /* POST /v1/events */
#define TALLY_KEY_ID_MAX 24       /* "key_" + 16 hex digits, and room to spare */

/* A key to store. */
typedef struct {
    const char *key_hash;  /* 64 lower-case hex digits */
    const char *tenant_id; /* an id (the text rules hold) */
    const char *name;      /* 1–128 characters; NULL: none */
    unsigned scopes;       /* TALLY_KEY_SCOPE_*, at least one */
    bool has_expiry;
    tally_usec expires_at;
} tally_pg_api_key_new;

/* Store a new key; PostgreSQL draws its id. *row (the caller decrefs) is
 * {"id", "tenant_id", "name", "scopes", "created_at", "expires_at"}, times
 * as RFC 3339 UTC, null when unset. */
tally_code tally_pg_api_key_insert(tally_pg *pg, const tally_pg_api_key_new *k, json_t **row,
                                   tally_err *err);

/* What authentication needs of a key, judged by PostgreSQL's clock. */
typedef struct {
    char key_hash[65]; /* as stored: the caller compares it in constant time */
    char id[TALLY_KEY_ID_MAX];
    char tenant_id[TALLY_ID_MAX_BYTES + 1];
    unsigned scopes; /* TALLY_KEY_SCOPE_* */
    bool live;       /* neither revoked nor expired */
    bool stale;      /* last_used_at unset or more than a minute old */
} tally_pg_api_key_auth;

/* The key whose hash is key_hash: TALLY_OK, or TALLY_ENOTFOUND when no key
 * has it (a revoked or expired one is found, with live false). */
tally_code tally_pg_api_key_lookup(tally_pg *pg, const char *key_hash, tally_pg_api_key_auth *out,
                                   tally_err *err);

/* Set last_used_at to now, unless another request (of any instance) did so
 * less than a minute ago: at most about one write a minute per key. */
tally_code tally_pg_api_key_touch(tally_pg *pg, const char *key_hash, tally_err *err);

/* GET /v1/admin/keys: keys newest first (created_at, then id, both
 * descending). *items: [{"id", "tenant_id", "name", "scopes", "created_at",
 * "last_used_at", "expires_at", "revoked_at"}], never the hash. *next_cursor
 * as tally_pg_alerts_list(); TALLY_EINVAL "cursor: malformed" for a cursor
 * this function did not make. */
tally_code tally_pg_api_keys_list(tally_pg *pg, const char *tenant_id, const char *cursor,
                                  int limit, json_t **items, char **next_cursor, tally_err *err);

/* Revoke the key `id` now (a key revoked already keeps its first
 * revoked_at): TALLY_OK, or TALLY_ENOTFOUND when no key has that id. The
 * key's tenant is copied into tenant_id (len bytes) for the log. */
tally_code tally_pg_api_key_revoke(tally_pg *pg, const char *id, char *tenant_id, size_t len,
                                   tally_err *err);

/* The instant of the local midnight that starts `date` (YYYY-MM-DD) in the
 * IANA `zone`. TALLY_EINVAL when PostgreSQL refuses the date or the zone. */
tally_code tally_pg_local_midnight(tally_pg *pg, const char *date, const char *zone,
                                   tally_usec *out, tally_err *err);

/*
 * tally_rollup — the aggregator's side of PostgreSQL: counting a batch of
 * interactions and ratings into the rollups exactly once, together with the Kafka
 * offsets the batch consumed, in one transaction; and reading those offsets
 * back when partitions are assigned.
 */


/* The rollup bucket: 15 minutes, which divides every UTC offset in use. */
#define TALLY_BUCKET_USEC (15LL * 60 * 1000000)

/* The summed columns of every rollup table (usage_rollup and the hourly
 * ones), in their order: the sums of the interactions
 * counted in a row (priced_*: of those without their own cost_usd; unsaved_*:
 * without their own time_saved_minutes; supplied_*: the values events
 * brought) and the likes/dislikes of their newest ratings. */
enum { TALLY_ROLLUP__COUNT = 14 };
typedef struct {
    const char *column; /* in every rollup table */
    const char *sum;    /* its value for a group of counted interactions (rollup.c) */
} tally_rollup_metric;
/* The one definition the counting statement and the report statement are
 * generated from; the migrations create the columns. */
extern const tally_rollup_metric tally_rollup_metrics[TALLY_ROLLUP__COUNT];

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


/* One rating to count (feedback.recorded). Strings are borrowed for the call. */
typedef struct {
    const char *interaction_id, *user_id, *tenant_id;
    bool like;
    tally_usec time; /* the event's time: the newest per (interaction, user) wins */
    int64_t offset;  /* its Kafka offset: the tie-break of equal times */
} tally_rollup_rating;

/*
 * tally_erasures — erasure of a user (user.erased, relational/erasure.c;
 * docs/architecture.md, "Erasure"). The pseudonym of (tenant, user) is
 * "erased-" + the first 16 hex digits of HMAC-SHA256(secret, tenant || 0x00
 * || user). Each consumer keeps the erasure records in memory, refreshes them
 * once per batch, and stores every event of an erased user from before the
 * erasure under the pseudonym (tally_erasures_lookup); the event itself
 * rewrites what the consumer already stored (tally_pg_erasure_apply).
 */
#define TALLY_PSEUDONYM_SIZE 24 /* "erased-" + 16 hex digits + NUL */

typedef struct tally_erasures tally_erasures;

/* The pseudonym (and, when hash_hex is not NULL, the whole HMAC in hex) of
 * (tenant_id, user_id) under secret. */
void tally_pg_pseudonym(const char *secret, const char *tenant_id, const char *user_id,
                        char hash_hex[65], char pseudonym[TALLY_PSEUDONYM_SIZE]);

/* secret: TALLY_PSEUDONYM_SECRET (NULL: none; then an erasure, or a record
 * found in the table, makes the store fail with a message saying so);
 * previous: TALLY_PSEUDONYM_SECRET_PREVIOUS, a comma list of the secrets
 * before rotations, used only to recognise the records they made. Both are
 * borrowed and must outlive the cache. */
tally_erasures *tally_erasures_new(const char *secret, const char *previous);
/* The same with the secrets of the environment (TALLY_PSEUDONYM_SECRET and
 * _PREVIOUS), as the consumers open it; says in the log when none is set. */
tally_erasures *tally_erasures_from_env(void);
void tally_erasures_free(tally_erasures *e);
bool tally_erasures_configured(const tally_erasures *e);

/* Reload the records when the table changed (one small query otherwise).
 * Pointers returned by lookup stay valid until the next refresh. */
tally_code tally_erasures_refresh(tally_erasures *e, tally_pg *pg, tally_err *err);

/* The pseudonym an event of (tenant, user) at `time` is stored under: that
 * of the latest erasure of the pair when time is before it, else NULL. Costs
 * an HMAC only for tenants with erasures. */
const char *tally_erasures_lookup(const tally_erasures *e, const char *tenant, const char *user,
                                  tally_usec time);

/* Add an erasure of the batch in hand to the cache before it is recorded, so
 * that the batch's events are mapped too; fills its pseudonym (that of an
 * earlier erasure of the pair, if any: pseudonyms are stable). */
tally_code tally_erasures_pending(tally_erasures *e, const char *tenant, const char *user,
                                  tally_usec erased_at, char pseudonym[TALLY_PSEUDONYM_SIZE],
                                  tally_err *err);

typedef enum { TALLY_ERASURE_INGEST, TALLY_ERASURE_AGGREGATE } tally_erasure_consumer;

typedef struct {
    const char *event_id, *tenant_id, *user_id;
    tally_usec erased_at; /* the event's time */
} tally_pg_erasure;

typedef struct {
    char pseudonym[TALLY_PSEUDONYM_SIZE];
    int64_t run_id; /* this consumer's lifecycle_runs row */
    bool fresh;     /* applied now (false: this consumer had applied it before) */
} tally_pg_erasure_result;

/* Inside the caller's transaction: record the erasure (once per event id)
 * and, unless this consumer applied it before, move its rows of the user
 * from before erased_at to the pseudonym — the ingester's users (personal
 * fields gone), feedback, subscriptions; the aggregator's usage_rollup
 * (merged into the pseudonym's rows, sums unchanged), agg_interactions,
 * agg_feedback, limit_usage — and insert its lifecycle_runs row (kind
 * 'erasure', requested_by 'event:<id>', subject the pseudonym, touched the
 * counts; the ingester's is finished by tally_pg_erasure_finish). */
tally_code tally_pg_erasure_apply(tally_pg *pg, tally_erasures *e, tally_erasure_consumer who,
                                  const tally_pg_erasure *x, tally_pg_erasure_result *out,
                                  tally_err *err);

/* Add {store: n} to a run's touched and set its finished_at, unless set. */
tally_code tally_pg_erasure_finish(tally_pg *pg, int64_t run_id, const char *store, long long n,
                                   tally_err *err);

/* What one batch brings. */
typedef struct {
    /* The batch's user.erased events, applied first (their events in the
     * batch are already under the pseudonym: see tally_erasures_pending). */
    const tally_pg_erasure *erasures;
    size_t n_erasures;
    tally_erasures *erasure_cache; /* required when n_erasures > 0 */
    const tally_rollup_item *items;
    size_t n_items;
    const tally_rollup_rating *ratings;
    size_t n_ratings;
    const tally_partition_offset *offsets;
    size_t n_offsets;
} tally_rollup_batch;

typedef struct {
    int64_t counted;          /* interactions newly counted (the rest: seen before) */
    int64_t ratings_accepted; /* ratings newer than the one stored for their pair */
    int64_t alerts_raised;    /* limit thresholds the batch crossed (docs/limits.md) */
} tally_rollup_result;

/* In one transaction: count the new interactions for limits and record the
 * thresholds they cross in the alert outbox (docs/limits.md); record the interaction ids (an id seen before, in this
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

/*
 * tally_limits — plan limits and budgets (docs/limits.md). Usage per limit is
 * counted with the rollups (tally_rollup_apply); this reads it, and
 * re-evaluates it when something other than an interaction moves it.
 */

/* What stands in a subject's way besides its limits, at an instant. */
typedef struct {
    char zone[64]; /* the tenant's */
    char at[40];   /* the instant, written in the zone */
    bool known;    /* upserted, or with usage counted */
    bool tenant_suspended;
    char suspended_subscriptions[1024]; /* ids, comma-separated ("" none) */
} tally_limits_standing;

/* One limit in force, with the usage of the period holding the instant.
 * Numbers are exact decimal text from PostgreSQL; strings borrowed for the
 * callback. */
typedef struct {
    const char *limit_id, *source, *metric, *period;
    const char *user_id;                   /* NULL: the whole tenant */
    const char *period_start, *period_end; /* in the zone, with its offset */
    const char *limit, *used, *remaining;
    const char *percent; /* NULL when the limit is 0 */
    int thresholds[TALLY_MAX_THRESHOLDS], n_thresholds;
    int reached[TALLY_MAX_THRESHOLDS], n_reached;
    long long unpriced; /* brl: interactions with no BRL rate (counted as 0) */
    bool pause_at_limit, paused, at_limit;
} tally_limit_row;

/* The limits of tenant_id (and of user_id's own subscriptions when not NULL)
 * in force at `at`, one callback per limit: budgets first, then plans. */
tally_code tally_limits_read(tally_pg *pg, const char *tenant_id, const char *user_id,
                             tally_usec at, tally_limits_standing *standing,
                             void (*fn)(const tally_limit_row *row, void *arg), void *arg,
                             tally_err *err);

/* Drain the queue of changes that move limits without an interaction (price
 * and FX versions re-price BRL usage from their effective_from; budgets, plans
 * and subscriptions change limits): recompute, then record in the outbox
 * every threshold now reached and not yet announced, crossed at the time the
 * change was stored. One transaction per change; *changes: how many were
 * drained. Run by tally-alerts. */
tally_code tally_limits_reevaluate(tally_pg *pg, int *changes, tally_err *err);

/*
 * tally_usage — the SQL half of the usage report: which zone a tenant is in,
 * how a report window resolves in that zone, and the rows of the report
 * (rollups × price and FX versions, CONTRACT.md §2). analytics/report.c
 * validates the request and shapes the answer.
 */


#define TALLY_DEFAULT_TIMEZONE "America/Sao_Paulo"

typedef enum {
    TALLY_GRAN_TOTAL,
    TALLY_GRAN_HOUR,
    TALLY_GRAN_DAY,
    TALLY_GRAN_WEEK,
    TALLY_GRAN_MONTH,
    TALLY_GRAN__COUNT
} tally_granularity;

/* The group dimensions, in the order of the API's documentation. */
typedef enum {
    TALLY_GROUP_MODEL,
    TALLY_GROUP_USER,
    TALLY_GROUP_AGENT,
    TALLY_GROUP_KIND,
    TALLY_GROUP_CHANNEL,
    TALLY_GROUP__COUNT
} tally_group;

/* The one table of each: the name a request and a report use, and the SQL
 * behind it (relational/usage_dims.c). */
typedef struct {
    const char *name;   /* group_by=<name>, the report's group key */
    const char *column; /* the rollup column */
    bool blank_is_null; /* stored as '' when absent (a key column cannot be NULL) */
} tally_group_def;
extern const tally_group_def tally_groups[TALLY_GROUP__COUNT];

typedef struct {
    const char *name;       /* granularity=<name> */
    const char *trunc_unit; /* date_trunc's unit of a period; NULL: one period */
    bool local;             /* periods follow the zone's calendar (day, week, month);
                             * false: real hours from the zone's hour starts */
} tally_granularity_def;
extern const tally_granularity_def tally_granularities[TALLY_GRAN__COUNT];

/* The group or granularity of that name (len bytes of it), or -1. */
int tally_group_find(const char *name, size_t len);
int tally_granularity_find(const char *name);

/* A tenant is known when it was upserted or has counted interactions; its
 * zone is the upserted one, TALLY_DEFAULT_TIMEZONE otherwise. */
tally_code tally_usage_tenant(tally_pg *pg, const char *tenant_id, bool *known, char *zone,
                              size_t zone_len, tally_err *err);

/* One end of a window as the request gave it. */
typedef struct {
    enum { TALLY_BOUND_DEFAULT, TALLY_BOUND_DATE, TALLY_BOUND_INSTANT } kind;
    char date[11];      /* YYYY-MM-DD, a local midnight in the zone */
    tally_usec instant; /* UTC */
} tally_bound;

/* A resolved window [from, to) with its ends written in the zone. Bounds
 * are taken as given: the caller checks instants against the 15-minute grain. */
typedef struct {
    tally_usec from, to;
    char from_text[40], to_text[40];
    int64_t periods; /* how many periods of the granularity it spans */
} tally_window;

/* Resolve the ends and count the periods. Defaults: no ends, the current
 * month in the zone; `from` alone, until now rounded up to the 15-minute
 * grain; `to` alone, from the start of the local month holding the window's
 * last instant (to − 1 µs). TALLY_EINVAL for a date PostgreSQL refuses,
 * naming `from`/`to`. */
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
    bool is_total;                         /* the totals over the whole window */
    const char *period_start, *period_end; /* RFC 3339 in the zone (rows only), the
                                            * period clipped to the window */
    const char *group[TALLY_GROUP__COUNT]; /* values of the requested groups, NULL = null */
    const char *metric[TALLY_M__COUNT];
} tally_usage_row;

typedef struct {
    const char *tenant_id, *zone;
    const tally_window *window;
    tally_granularity granularity;
    const tally_group *groups; /* requested, in request order */
    int n_groups;
    /* Per dimension: the comma list of values a rollup row must have one
     * of (values hold no comma), NULL = any. */
    const char *filter[TALLY_GROUP__COUNT];
} tally_usage_query;

/* Where a report's rows come from: usage_rollup (15-minute buckets, every
 * group), or the narrowest hourly rollup that keeps every group the report
 * asks for and every filtered dimension, when all of its boundaries fall on whole UTC hours (then the
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

/* ---- Dead-letter replays (relational/dlq_replays.c) ---------------------
 * The record of `tally dlq replay` (schemas/postgres/007_dlq_replays.sql):
 * each dead letter, named by its position in the dead-letter topic, is
 * re-published to the events topic at most once. */

typedef struct {
    const char *dlq_topic;
    int32_t dlq_partition;
    int64_t dlq_offset;
    const char *event_id;      /* the id in its value; NULL when it had none */
    const char *source_offset; /* its tally-source-offset header; NULL when absent */
    bool fixed;                /* a corrected event was published instead of its value */
} tally_pg_dlq_replay;

/* Inside a transaction the caller opened with tally_pg_begin(): record the
 * replay of r. *claimed is true when this call recorded it; false when a
 * replay was recorded before, whose time is then in *replayed_at (may be
 * NULL). A concurrent transaction recording the same dead letter makes the
 * call wait for it. Keep the transaction open while publishing: commit once
 * the broker acknowledged the event, roll back when it did not. */
tally_code tally_pg_dlq_replay_claim(tally_pg *pg, const tally_pg_dlq_replay *r, bool *claimed,
                                     tally_usec *replayed_at, tally_err *err);

/* Whether the dead letter at (dlq_topic, dlq_partition, dlq_offset) has a
 * recorded replay, and when (for a dry run: reads, writes nothing). */
tally_code tally_pg_dlq_replay_find(tally_pg *pg, const char *dlq_topic, int32_t dlq_partition,
                                    int64_t dlq_offset, bool *found, tally_usec *replayed_at,
                                    tally_err *err);

/* ---- Alerts (relational/alert_event.c, relational/alert_outbox.c) --------
 * The alert outbox of schemas/postgres/008_limits.sql as tally-alerts and
 * tally-api read it: the event each row makes, publishing (rows in seq
 * order, marked once the broker committed them), webhook deliveries (claim
 * the due ones, record every try), the tenants' signing secrets, and the
 * alerts list of the API. docs/architecture.md, "Alerts exactly once". */

/* The columns of one outbox row that make its event; borrowed strings. */
typedef struct {
    const char *alert_id, *tenant_id, *limit_id;
    const char *user_id;                   /* NULL unless the limit is a user's */
    const char *metric;                    /* requests | tokens | brl */
    const char *period;                    /* daily | weekly | monthly */
    const char *period_start, *period_end; /* RFC 3339 in the row's zone, with its offset */
    int threshold;                         /* percent */
    const char *limit_value, *used;        /* numeric text, exact */
    bool paused;
    const char *crossed_at_utc;   /* RFC 3339 UTC, microseconds: the envelope's time */
    const char *crossed_at_local; /* RFC 3339 in the row's zone: data.crossed_at */
} tally_alert_row;

/* An amount of a limit's metric as JSON, the one way alerts and the limits
 * answer write it: brl (money) rounded half-even to 6 places, requests and
 * tokens as integers; null for NULL. */
json_t *tally_limit_amount_json(const char *metric, const char *text);

/* The CloudEvents 1.0 object of an alert (type limit.reached at 100 % and
 * above, else limit.threshold_reached; data as docs/limits.md shows it).
 * Caller owns it; NULL when out of memory. */
json_t *tally_alert_event(const tally_alert_row *r);
/* Its JSON text, the same bytes for the same row whoever writes it (the
 * topic, the webhooks). Caller frees; NULL when out of memory. */
char *tally_alert_event_text(const json_t *event);

/* An outbox row ready to go out. Owns its strings. */
typedef struct {
    int64_t seq;
    char *alert_id, *tenant_id;
    char *event; /* tally_alert_event_text() of the row */
    size_t event_len;
} tally_alert;

/* Up to max unpublished alerts, in seq order (n = 0 when none); free the
 * array with tally_pg_alerts_free(). */
tally_code tally_pg_alerts_unpublished(tally_pg *pg, int max, tally_alert **out, size_t *n,
                                       tally_err *err);
void tally_pg_alerts_free(tally_alert *a, size_t n);

/* Set published_at of every alert of ids[0..n) that has none. *marked (may
 * be NULL): rows marked now; *already (may be NULL): rows of ids that were
 * marked before. Ids the outbox does not hold are ignored. */
tally_code tally_pg_alerts_mark_published(tally_pg *pg, const char *const *ids, size_t n,
                                          int64_t *marked, int64_t *already, tally_err *err);

/* Work left: unpublished alerts, and webhook deliveries neither delivered
 * nor given up. */
tally_code tally_pg_alerts_pending(tally_pg *pg, int64_t *unpublished, int64_t *undelivered,
                                   tally_err *err);

/* One due webhook delivery, claimed. Owns its strings. */
typedef struct {
    char *alert_id, *tenant_id, *url;
    char *secret; /* the tenant's signing secret; NULL: it has none */
    int attempts; /* tries made before this one */
    char *event;  /* the body: tally_alert_event_text() of the alert */
    size_t event_len;
} tally_webhook_due;

/* Claim up to max deliveries that are due (next_attempt_at passed, neither
 * delivered nor given up) of alerts already published: their
 * next_attempt_at moves lease_s seconds ahead, so no other claimer takes
 * them meanwhile, and a process that dies holding them leaves them due again
 * when the lease ends. Free with tally_pg_webhooks_free(). */
tally_code tally_pg_webhooks_claim(tally_pg *pg, int max, int lease_s, tally_webhook_due **out,
                                   size_t *n, tally_err *err);
void tally_pg_webhooks_free(tally_webhook_due *d, size_t n);

/* What one try of a delivery gave. */
typedef struct {
    const char *alert_id;
    int attempt;        /* 1 for the first try; 0 when none was made (final) */
    tally_usec at;      /* when the try started */
    const char *status; /* "200", "500", "timeout", "no secret", ... */
    int duration_ms;
    bool delivered; /* a 2xx answer */
    bool final;     /* never retry (a tenant without a secret) */
} tally_webhook_outcome;

/* Record outcomes in one transaction: each try in webhook_attempts, and on
 * its delivery attempts, last_status, last_attempt_at, then delivered_at on
 * a 2xx; else given_up_at when final or when the first try is more than
 * 24 h old; else next_attempt_at = now + 1 s doubling per try, at most 10 min. */
tally_code tally_pg_webhooks_record(tally_pg *pg, const tally_webhook_outcome *o, size_t n,
                                    tally_err *err);

/* Replace the tenant's webhook signing secret. */
tally_code tally_pg_webhook_secret_set(tally_pg *pg, const char *tenant_id, const char *secret,
                                       tally_err *err);

/* Whether the tenant has any alert (a tenant known to the alerts list). */
tally_code tally_pg_alerts_tenant_has(tally_pg *pg, const char *tenant_id, bool *yes,
                                      tally_err *err);

/* GET /v1/tenants/{id}/alerts: alerts of a tenant, newest first (crossed_at,
 * then alert_id, both descending). */
typedef struct {
    const char *tenant_id;
    const char *limit_id; /* NULL: every limit */
    bool has_from, has_to;
    tally_usec from, to; /* crossed_at in [from, to) */
    const char *cursor;  /* a next_cursor given before; NULL: from the newest */
    int limit;           /* page size */
} tally_pg_alert_query;

/* *items: an array of the alerts' event objects, each with "deliveries":
 * [{url, attempts, last_status, last_attempt_at, delivered_at}] (times in
 * the tenant's zone). *next_cursor: the cursor of the next page, malloc'd, or
 * NULL on the last page. TALLY_EINVAL "cursor: malformed" for a cursor this
 * function did not make. */
tally_code tally_pg_alerts_list(tally_pg *pg, const tally_pg_alert_query *q, json_t **items,
                                char **next_cursor, tally_err *err);

/* The counts /metrics shows, read at scrape time. */
typedef struct {
    int64_t raised;    /* outbox rows */
    int64_t published; /* of them, published */
    int64_t attempts;  /* webhook tries */
    int64_t failures;  /* of them, without a 2xx answer */
} tally_pg_alert_counts;
tally_code tally_pg_alert_counts_read(tally_pg *pg, tally_pg_alert_counts *c, tally_err *err);

/* ---- Retention (relational/retention.c) ---------------------------------
 * The tenants' retention bounds (010_retention.sql) and the removal of the
 * personal fields of idle users (docs/arithmetic.md, "Retention and
 * erasure"). The rollups are never touched. */

typedef struct {
    char *tenant_id;                       /* owned by the list */
    tally_opt_i64 content_days, user_days; /* unset: keep */
} tally_pg_retention_tenant;

/* Tenants with a bound (content or user), by id; or only `only_tenant`
 * (NULL: all), with or without bounds: TALLY_ENOTFOUND when it is unknown.
 * Free the list with tally_pg_retention_tenants_free. */
tally_code tally_pg_retention_tenants(tally_pg *pg, const char *only_tenant,
                                      tally_pg_retention_tenant **out, size_t *n, tally_err *err);
void tally_pg_retention_tenants_free(tally_pg_retention_tenant *t, size_t n);

/* Clear name and email of up to `limit` users of the tenant that still have
 * one and had no interaction since idle_before (see retention.c for how that
 * is read); *n: how many (fewer than limit: none is left). dry_run: change
 * nothing, *n = how many there are in all. */
tally_code tally_pg_retention_users_batch(tally_pg *pg, const char *tenant_id,
                                          tally_usec idle_before, int limit, bool dry_run,
                                          int64_t *n, tally_err *err);

/* ---- Lifecycle runs (relational/lifecycle_runs.c) -----------------------
 * One row per retention or erasure run (010_retention.sql): inserted when it
 * starts, finished_at set when it ends; unfinished = interrupted (or
 * running). */

#define TALLY_LIFECYCLE_RETENTION "retention"
#define TALLY_LIFECYCLE_ERASURE "erasure"

/* Insert a run (kind "retention" | "erasure"; tenant_id NULL = every tenant;
 * subject NULL unless an erasure's pseudonym). *started_at: the server's
 * clock, which a run measures its bounds from. */
tally_code tally_pg_lifecycle_start(tally_pg *pg, const char *kind, const char *requested_by,
                                    const char *tenant_id, const char *subject, int64_t *run_id,
                                    tally_usec *started_at, tally_err *err);

/* Store what the run touched so far (a JSON object of objects,
 * {"<store or table>": {"<tenant>": count}}), and, when finished, its end. */
tally_code tally_pg_lifecycle_record(tally_pg *pg, int64_t run_id, const char *touched_json,
                                     bool finished, tally_err *err);

/* How long ago, by the server's clock, the last finished run of `kind` over
 * every tenant ended (*found false: none did). */
tally_code tally_pg_lifecycle_last_finished(tally_pg *pg, const char *kind, bool *found,
                                            int64_t *age_us, tally_err *err);

typedef struct {
    const char *kind;      /* NULL: both */
    const char *tenant_id; /* NULL: every run; else the tenant's runs and those over every
                              tenant that touched it */
    int limit;             /* rows, newest first (0: 100) */
} tally_pg_lifecycle_query;

/* *items: a new array of {run_id, kind, requested_by, tenant_id, subject,
 * started_at, finished_at (UTC RFC 3339 or null), finished, touched}, newest
 * first. */
tally_code tally_pg_lifecycle_list(tally_pg *pg, const tally_pg_lifecycle_query *q, json_t **items,
                                   tally_err *err);

#endif
