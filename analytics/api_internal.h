/*
 * api_internal — what the files of tally-api share: the server handle, the
 * state of one request, and the small interfaces of each concern (replies,
 * parameters, the PostgreSQL pool, authentication, metrics, consumer lag).
 * Nothing here is seen outside analytics/api_*.c and their tests.
 */
#ifndef TALLY_API_INTERNAL_H
#define TALLY_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_routes.h"
#include "tally_analytics.h"
#include "tally_common.h"
#include "tally_docs.h"
#include "tally_pg.h"


/* ---- api_pool.c: PostgreSQL handles for worker threads --------------------- */

typedef struct api_pool api_pool;

/* `size` handles on `url`, opened lazily (a store down at start is no error). */
api_pool *tally__api_pool_new(const char *url, int size);
void tally__api_pool_free(api_pool *p);

/* Take a handle for the caller's exclusive use: NULL and TALLY_ESTORE when
 * none could be connected or none came free in time. */
tally_pg *tally__api_pool_get(api_pool *p, tally_err *err);

/* Give it back; `broken` (a TALLY_ESTORE was seen on it) closes it, so the
 * next taker connects afresh. */
void tally__api_pool_put(api_pool *p, tally_pg *pg, bool broken);

/* ---- api_metrics.c: request counters and latency histograms --------------- */

typedef struct api_metrics api_metrics;

/* One series set per label: labels[0..n-1] (borrowed, outliving the metrics). */
api_metrics *tally__api_metrics_new(const char *const *labels, size_t n);
void tally__api_metrics_free(api_metrics *m);
void tally__api_metrics_observe(api_metrics *m, size_t label, int status, double seconds);
/* Append the request series in Prometheus text format. */
void tally__api_metrics_render(api_metrics *m, tally_buf *out);
/* Append the alert series (counts of the outbox, its publishing and the
 * webhook tries), read from PostgreSQL with a handle of `pool` at scrape
 * time; nothing when PostgreSQL does not answer. */
void tally__api_alerts_render(api_pool *pool, tally_buf *out);
/* Append a Prometheus label value: backslash, quote and newline escaped. */
void tally__api_prom_label(tally_buf *out, const char *v);

/* ---- api_lag.c: consumer lag of the two groups, at scrape time ------------ */

typedef struct api_lag api_lag;

api_lag *tally__api_lag_new(const tally_api_options *opt, tally_err *err);
void tally__api_lag_free(api_lag *l);
/* Append the lag series; the aggregate group's offsets are read with a
 * handle of `pool`. Never blocks longer than a few Kafka timeouts. */
void tally__api_lag_render(api_lag *l, api_pool *pool, tally_buf *out);
/* Events of the topic the counting group (tally-aggregate) has not counted
 * yet, for answers' `pending_events`: at most a second old; -1 when unknown. */
int64_t tally__api_lag_pending(api_lag *l, api_pool *pool);
/* Whether Kafka answers with the events topic's partitions (for /readyz);
 * false with the reason in why. Bounded by the Kafka timeout. */
bool tally__api_lag_kafka_ready(api_lag *l, char *why, size_t len);

/* ---- the server and one request ------------------------------------------ */

#define API_LABELS_MAX 24

struct tally_api {
    tally_api_options opt;              /* strings borrowed from the caller */
    const char *labels[API_LABELS_MAX]; /* metrics/log labels: route paths, "unmatched" */
    api_pool *pool;
    tally_docs *docs;
    api_metrics *metrics;
    api_lag *lag;
    struct api_producer *producer; /* POST /v1/events (api_events.c opens it) */
    struct MHD_Daemon *daemon;
    int port;
    bool has_admin;
    unsigned char admin_digest[32]; /* SHA-256 of the admin key */
    atomic_int in_flight;
    atomic_bool draining;
};

typedef enum { API_WHO_NONE, API_WHO_ADMIN, API_WHO_TENANT } api_who;

#define API_PARAMS_MAX 16

typedef struct {
    char *name, *value; /* percent-decoded, owned */
} api_param;

typedef struct {
    api_param item[API_PARAMS_MAX];
    size_t n;
} api_params;

struct api_request {
    tally_api *api;
    struct MHD_Connection *conn;
    char method[16];
    char log_path[160]; /* the raw path, sanitised and cut, for the log */
    int64_t start_us;   /* monotonic */
    bool headers_seen;  /* the first call of the access handler happened */
    tally_buf body;
    size_t body_max; /* of this route (api_server.c) */
    bool body_too_large;
    const api_route *route;                 /* NULL: no route matched */
    char tenant_id[TALLY_ID_MAX_BYTES + 1]; /* decoded {tenant_id} of the path */
    char user_id[TALLY_ID_MAX_BYTES + 1];   /* decoded {user_id} of the path */
    char path_id[TALLY_ID_MAX_BYTES + 1];   /* decoded other {variable} ({key_id}) */
    char request_id[130];                   /* X-Request-Id: the client's or made here */
    api_params params;
    api_who who;
    char who_tenant[TALLY_ID_MAX_BYTES + 1]; /* the tenant of a tenant key */
    const char *extra_header,
        *extra_value;    /* one more response header (read by tally__api_reply) */
    int status;          /* of the queued response; 0 until then */
    enum MHD_Result mhd; /* what MHD_queue_response said */
};

/* ---- api_reply.c: responses ---------------------------------------------- */

/* Queue a response; body is malloc'd and taken over (NULL = empty). */
void tally__api_reply(api_request *r, int status, const char *content_type, char *body, size_t len);
/* Queue doc (stolen) as application/json. */
void tally__api_reply_json(api_request *r, int status, json_t *doc);
/* Queue JSON text (malloc'd, taken over; NULL: a 500). */
void tally__api_reply_json_text(api_request *r, int status, char *text);
/* Queue an RFC 9457 problem (application/problem+json) whose detail is the
 * message, made safe (valid UTF-8, no control characters, cut at 300 bytes)
 * whatever input it quotes; its leading "<name>: " becomes `param`. */
void tally__api_reply_error(api_request *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queue a page of a listing: {"items": items (stolen), "next_cursor": next
 * or null}; next (malloc'd, may be NULL) is freed. */
void tally__api_reply_page(api_request *r, json_t *items, char *next);
/* The answer to a tenant that does not exist or is not the caller's: one
 * body for both, so that no caller can tell them apart. */
void tally__api_reply_no_tenant(api_request *r);
/* Map a failed store or report call: EINVAL 400 (message), ENOTFOUND 404
 * (no_tenant), ESTORE 503, anything else 500. Logs what it hides. */
void tally__api_reply_failure(api_request *r, const tally_err *err);

/* ---- api_gzip.c, api_cors.c: what every response may get ------------------ */

/* Bodies smaller than this go out as they are: below a kilobyte the gzip
 * header and the CPU cost more than they save. */
#define API_GZIP_MIN_BYTES 1024
/* Whether an Accept-Encoding value accepts gzip (q-values read). */
bool tally__api_accepts_gzip(const char *accept_encoding);
/* gzip in[0..len) into *out (malloc'd): false (nothing allocated) when the
 * body is too small to be worth it or would not shrink. */
bool tally__api_gzip(const char *in, size_t len, char **out, size_t *out_len);
/* Add the CORS headers when the request's Origin is allowed (preflights too). */
void tally__api_cors_headers(api_request *r, struct MHD_Response *res);

/* ---- api_params.c: query parameters and text hygiene --------------------- */

/* Collect the request's query parameters, percent-decoded, checking each
 * against `allowed` and the text rules below; false with msg (naming the
 * parameter) on the first problem. */
bool tally__api_params_collect(struct MHD_Connection *c, const char *const *allowed,
                               api_params *out, char *msg, size_t msg_len);
const char *tally__api_param_get(const api_params *p, const char *name);
void tally__api_params_free(api_params *p);

/* Percent-decode in[0..len) into out (len + 1 bytes); '+' is a space when
 * plus_is_space. Returns the decoded length, or (size_t)-1 for a '%' not
 * followed by two hex digits. The output may hold NUL bytes: check it. */
size_t tally__api_url_decode(const char *in, size_t len, char *out, bool plus_is_space);

/* Text rules and quoting: common/tally_text.h. */

/* A `from`/`to` value: a date YYYY-MM-DD (checked as a calendar date) or an
 * RFC 3339 time (*instant set). */
typedef enum { API_TIME_BAD, API_TIME_DATE, API_TIME_INSTANT } api_time_kind;
api_time_kind tally__api_time_parse(const char *s, int64_t *instant);

/* One of a listing's from/to bounds. */
typedef struct {
    const char *name, *text; /* text NULL: not given */
    api_time_kind kind;
    int64_t at; /* µs since the epoch, once resolved */
} api_time_bound;

/* What a listing route (history pages, alerts) accepts in its paging
 * parameters. */
typedef struct {
    int limit_default, limit_max; /* `limit`: an integer from 1 to limit_max */
    size_t cursor_max;            /* hex characters of a `cursor` */
    const char *const *ids;       /* id parameters (NULL-terminated; may be NULL) */
} api_page_rules;

typedef struct {
    int limit;
    api_time_bound b[2]; /* from, to; dates resolved by tally__api_page_resolve() */
} api_page;

/* The paging checks that need no store, in this order: limit, the ids,
 * cursor, from and to; false with a 400 queued. */
bool tally__api_page_params(api_request *r, const api_page_rules *rules, api_page *out);
/* Turn the page's dates into instants, local midnights in `zone`, and check
 * that from is before to (TALLY_EINVAL naming the parameter). */
tally_code tally__api_page_resolve(tally_pg *pg, const char *zone, api_page *p, tally_err *err);

/* ---- api_auth.c: keys ---------------------------------------------------- */

/* Who is calling (Authorization: Bearer), held against r->route->auth: sets
 * r->who (and r->who_tenant). false when a response (401/403/503) has been
 * queued instead. Whether a tenant key may read the path's tenant is the
 * dispatcher's check, once the id is decoded. */
bool tally__api_authenticate(api_request *r);
/* A tenant key: "tly_" and 64 hex digits of randomness. */
#define API_KEY_PREFIX "tly_"
#define API_KEY_RANDOM_BYTES 32
#define API_KEY_LEN (sizeof API_KEY_PREFIX - 1 + 2 * API_KEY_RANDOM_BYTES)
/* prefix, then `bytes` (at most 64) random bytes (RAND_bytes) as lower-case
 * hex, into out (size bytes); false when it does not fit or no randomness. */
bool tally__api_random_token(const char *prefix, size_t bytes, char *out, size_t size);
/* SHA-256 of s as 64 lower-case hex digits and a NUL. */
void tally__api_sha256_hex(const char *s, size_t len, char out[65]);
/* Whether key has the shape of a tenant key: "tly_" and 64 lower-case hex. */
bool tally__api_key_wellformed(const char *key, size_t len);

/* ---- api_producer.c: the one Kafka producer of POST /v1/events ---------- */

typedef struct api_producer api_producer;

/* An idempotent producer to `topic` on `brokers`, with its poll thread. */
api_producer *tally__api_producer_new(const char *brokers, const char *topic, tally_err *err);
/* Deliver what is still queued (bounded), stop the thread, free. */
void tally__api_producer_free(api_producer *p);

typedef struct {
    const char *key;   /* NUL-terminated */
    const char *value; /* len bytes, copied when queued */
    size_t len;
} api_message;

/* Publish n messages to the producer's topic and wait for Kafka's answer on
 * each of them (not on anyone else's), at most a few seconds: TALLY_OK once
 * every one was acknowledged; TALLY_ESTORE when any was not (some may have
 * been). */
tally_code tally__api_producer_send(api_producer *p, const api_message *m, size_t n,
                                    tally_err *err);
/* Seconds after which a failed publish is worth retrying, as the value of
 * a Retry-After header (a static string). */
const char *tally__api_producer_retry_after(void);

/* api_events.c: open and close the producer with the server. */
bool tally__api_events_open(tally_api *api, tally_err *err);
void tally__api_events_close(tally_api *api);
/* Publish n events to the events topic and wait for Kafka; false with a 503
 * (Retry-After) queued when it did not take every one. */
bool tally__api_events_publish(api_request *r, const api_message *m, size_t n);

/* ---- handlers (one file each) --------------------------------------------- */

void tally__api_handle_healthz(api_request *r);        /* api_health.c */
void tally__api_handle_livez(api_request *r);          /* api_health.c */
void tally__api_handle_readyz(api_request *r);         /* api_health.c */
void tally__api_handle_openapi(api_request *r);        /* api_openapi.c */
void tally__api_handle_events(api_request *r);         /* api_events.c */
void tally__api_handle_list_keys(api_request *r);      /* api_keys.c */
void tally__api_handle_revoke_key(api_request *r);     /* api_keys.c */
void tally__api_handle_erasure(api_request *r);        /* api_erasure.c */
void tally__api_handle_metrics(api_request *r);        /* api_health.c */
void tally__api_handle_create_key(api_request *r);     /* api_keys.c */
void tally__api_handle_usage(api_request *r);          /* api_usage.c */
void tally__api_handle_interactions(api_request *r);   /* api_history.c */
void tally__api_handle_limits(api_request *r);         /* api_limits.c */
void tally__api_handle_alerts(api_request *r);         /* api_alerts.c */
void tally__api_handle_webhook_secret(api_request *r); /* api_alerts.c */

#endif
