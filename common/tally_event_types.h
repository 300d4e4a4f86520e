/*
 * tally_event_types — the events of CONTRACT.md §1 as C data: the type enum
 * and one plain struct per type. They are shared by every layer (the decoder
 * in ingest/ fills them; relational/ and documents/ store them), so they live
 * here at the bottom. Every string is borrowed from the event's parsed JSON
 * (see ingest/event.h for ownership).
 */
#ifndef TALLY_EVENT_TYPES_H
#define TALLY_EVENT_TYPES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tally_time.h"

#define TALLY_ID_MAX_LEN 128
#define TALLY_MAX_THRESHOLDS 16

typedef enum {
    TALLY_EV_TENANT_UPSERTED,
    TALLY_EV_USER_UPSERTED,
    TALLY_EV_PLAN_UPSERTED,
    TALLY_EV_SUBSCRIPTION_UPSERTED,
    TALLY_EV_MODEL_PRICED,
    TALLY_EV_FX_RATE_SET,
    TALLY_EV_BUDGET_SET,
    TALLY_EV_INTERACTION_RECORDED,
    TALLY_EV_FEEDBACK_RECORDED,
    TALLY_EV__COUNT
} tally_event_type;

/* "tenant.upserted" etc.; NULL for an out-of-range value. */
const char *tally_event_type_name(tally_event_type t);
/* Returns false when name is not a type of the contract. */
bool tally_event_type_parse(const char *name, tally_event_type *out);

/* An exact decimal as canonical text that PostgreSQL's numeric accepts.
 * JSON numbers are read by jansson as doubles and written back with 15
 * significant digits, which round-trips every decimal of up to 15 digits;
 * a JSON string ("0.000150") is kept exactly as sent. */
typedef struct {
    bool set;
    char text[48];
} tally_decimal;

typedef struct {
    bool set;
    int64_t v;
} tally_opt_i64;

typedef struct {
    const char *tenant_id, *name, *slug, *contact;
    const char *status;   /* "active" (default) | "suspended" */
    const char *timezone; /* IANA name, default "America/Sao_Paulo" */
} tally_tenant;

typedef struct {
    const char *tenant_id, *user_id, *name, *email;
    const char *role; /* "admin" | "member" (default) | "student" */
    int active;       /* 1, 0, or -1 when absent */
} tally_user;

typedef struct {
    const char *plan_id, *tenant_id /* NULL = global */, *name, *description;
    tally_opt_i64 monthly_request_limit, monthly_token_limit; /* unset = unlimited */
} tally_plan;

typedef struct {
    const char *subscription_id, *tenant_id, *user_id /* NULL = whole tenant */, *plan_id;
    const char *status; /* "active" (default) | "trial" | "cancelled" */
    tally_usec starts_at;
    bool has_ends_at;
    tally_usec ends_at;
} tally_subscription;

typedef struct {
    const char *model_id, *provider, *tenant_id /* NULL = global price */;
    tally_decimal input_usd_per_1m, output_usd_per_1m;
    tally_decimal cached_input_usd_per_1m;              /* default: the input price */
    tally_decimal minutes_saved_per_100_output_tokens; /* default: 0 */
    tally_usec effective_from;
} tally_price;

typedef struct {
    const char *currency; /* three upper-case letters, e.g. "BRL" */
    tally_decimal per_usd;
    tally_usec effective_from;
} tally_fx;

typedef struct {
    const char *tenant_id, *budget_id, *webhook_url;
    const char *kind;   /* "tokens" | "brl" | "both" */
    const char *period; /* "daily" | "weekly" | "monthly" */
    tally_opt_i64 token_limit;
    tally_decimal brl_limit;
    int thresholds[TALLY_MAX_THRESHOLDS]; /* percents, default 80, 90, 100 */
    int n_thresholds;
    bool pause_at_limit;
} tally_budget;

typedef struct {
    const char *tenant_id, *user_id, *model_id;
    const char *kind;   /* "chat" (default) | "embedding" | "tts" | "stt" */
    const char *status; /* "ok" (default) | "error" */
    const char *conversation_id, *agent_id, *channel, *intent;
    int64_t input_tokens, output_tokens, cached_tokens; /* default 0 */
    tally_decimal audio_seconds;                        /* unset = 0 */
    tally_opt_i64 latency_ms;
    bool was_cached, was_fallback;
    tally_decimal cost_usd;           /* set: wins over the computed cost */
    tally_decimal time_saved_minutes; /* set: wins over the model's rate */
} tally_interaction;

typedef struct {
    const char *tenant_id, *interaction_id, *user_id;
    bool like; /* rating: true = "like", false = "dislike" */
} tally_feedback;

typedef struct {
    json_t *root;       /* owned */
    const json_t *data; /* borrowed: root["data"], always an object */
    const char *id, *source, *subject, *time_text;
    tally_event_type type;
    tally_usec time; /* the envelope's time, UTC microseconds */
    union {
        tally_tenant tenant;
        tally_user user;
        tally_plan plan;
        tally_subscription subscription;
        tally_price price;
        tally_fx fx;
        tally_budget budget;
        tally_interaction interaction;
        tally_feedback feedback;
    } u;
} tally_event;

#endif
