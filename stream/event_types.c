/*
 * event_types — the `data` of each of the ten event types of CONTRACT.md
 * §1.2 and §1.3: required fields, types, enums and defaults. One function per
 * type, each a chain of field readers in the contract's order, so the first
 * rule broken is the one reported.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "event_fields.h"

#define REQ TF_REQUIRED
#define OPT TF_OPTIONAL

static const char *const TENANT_STATUSES[] = {"active", "suspended", NULL};
static const char *const ROLES[] = {"admin", "member", "student", "tutor", NULL};
static const char *const SUBSCRIPTION_STATUSES[] = {"active", "trial", "suspended", "cancelled",
                                                    NULL};
static const char *const BUDGET_KINDS[] = {"tokens", "brl", "both", NULL};
static const char *const BUDGET_PERIODS[] = {"daily", "weekly", "monthly", NULL};
static const char *const INTERACTION_KINDS[] = {"chat", "embedding", "tts", "stt", NULL};
static const char *const INTERACTION_STATUSES[] = {"ok", "error", NULL};
static const char *const RATINGS[] = {"like", "dislike", NULL};

#define DEFAULT_TIMEZONE "America/Sao_Paulo"
#define TIMEZONE_MAX_LEN 64

/* An IANA zone name, by syntax only (PostgreSQL owns the zone database and
 * the relational layer checks that it knows the name). */
static bool read_timezone(const tally_fields *f, const char *key, const char **out) {
    const tally_json *v = tally__tf_get(f, key);
    *out = DEFAULT_TIMEZONE;
    if (!v) return true;
    const char *s = tally_json_is_string(v) ? tally_json_string(v) : "";
    size_t n = tally_json_is_string(v) ? tally_json_string_length(v) : 0;
    bool ok = n >= 1 && n <= TIMEZONE_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '+' || c == '/';
    }
    if (!ok)
        return tally__tf_fail(f, key, "must be an IANA time zone name like \"America/Sao_Paulo\"");
    *out = s;
    return true;
}

static bool read_currency(const tally_fields *f, const char *key, const char **out) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) return tally__tf_missing(f, key);
    const char *s = tally_json_is_string(v) ? tally_json_string(v) : "";
    bool ok = tally_json_is_string(v) && tally_json_string_length(v) == 3;
    for (size_t i = 0; ok && i < 3; i++) ok = s[i] >= 'A' && s[i] <= 'Z';
    if (!ok)
        return tally__tf_fail(f, key,
                              "must be a currency code of three upper-case letters like \"BRL\"");
    *out = s;
    return true;
}

/* A webhook is called by the alerts component with libcurl: only http(s). */
static bool read_url(const tally_fields *f, const char *key, const char **out) {
    if (!tally__tf_string(f, key, OPT, out)) return false;
    if (!*out) return true;
    const char *s = *out;
    size_t n = strlen(s);
    bool ok = (strncasecmp(s, "http://", 7) == 0 && n > 7) ||
              (strncasecmp(s, "https://", 8) == 0 && n > 8);
    for (size_t i = 0; ok && i < n; i++) ok = (unsigned char)s[i] > 0x20 && s[i] != 0x7F;
    if (!ok) return tally__tf_fail(f, key, "must be an http:// or https:// URL without spaces");
    return true;
}

static bool read_thresholds(const tally_fields *f, const char *key, tally_budget *b) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) {
        b->thresholds[0] = 80;
        b->thresholds[1] = 90;
        b->thresholds[2] = 100;
        b->n_thresholds = 3;
        return true;
    }
    size_t n = tally_json_is_array(v) ? tally_json_size(v) : 0;
    if (n < 1 || n > TALLY_MAX_THRESHOLDS)
        return tally__tf_fail(f, key, "must be an array of 1-%d percents", TALLY_MAX_THRESHOLDS);
    const tally_json *e = tally_json_first(v);
    for (size_t i = 0; i < n; i++, e = tally_json_next(v, e)) {
        long long p = tally_json_is_integer(e) ? tally_json_integer(e) : 0;
        if (p < 1 || p > 1000) {
            char path[32];
            snprintf(path, sizeof path, "%s[%zu]", key, i);
            return tally__tf_fail(f, path, "must be an integer percent from 1 to 1000");
        }
        b->thresholds[i] = (int)p;
    }
    b->n_thresholds = (int)n;
    return true;
}

/* attachments: an array of {filename, file_type}, both optional strings. */
static bool read_attachments(const tally_fields *f, const char *key) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) return true;
    if (!tally_json_is_array(v))
        return tally__tf_fail(f, key, "must be an array of {filename, file_type}");
    const tally_json *a = tally_json_first(v);
    for (size_t i = 0; i < tally_json_size(v); i++, a = tally_json_next(v, a)) {
        char path[48], prefix[64];
        snprintf(path, sizeof path, "%s[%zu]", key, i);
        if (!tally_json_is_object(a))
            return tally__tf_fail(f, path, "must be an object {filename, file_type}");
        snprintf(prefix, sizeof prefix, "%s%s.", f->prefix, path);
        const tally_fields af = {a, prefix, f->err};
        const char *s;
        if (!tally__tf_string(&af, "filename", OPT, &s) ||
            !tally__tf_string(&af, "file_type", OPT, &s))
            return false;
    }
    return true;
}

/* interaction.recorded and feedback.recorded belong to the tenant of their
 * subject: the Kafka key and the stored tenant must agree. */
static bool same_tenant(const tally_event *ev, const tally_fields *f, const char *tenant_id) {
    if (!ev->subject) {
        tally_fields env = {NULL, "", f->err};
        return tally__tf_fail(&env, "subject", "is required for %s",
                              tally_event_type_name(ev->type));
    }
    if (strcmp(ev->subject, tenant_id) == 0) return true;
    char a[64], b[64];
    tally_text_quote(tenant_id, strlen(tenant_id), a, sizeof a, true);
    tally_text_quote(ev->subject, strlen(ev->subject), b, sizeof b, true);
    return tally__tf_fail(f, "tenant_id", "must equal subject (\"%s\" is not \"%s\")", a, b);
}

static bool tenant(const tally_fields *f, tally_tenant *t) {
    return tally__tf_id(f, "tenant_id", REQ, &t->tenant_id) &&
           tally__tf_string(f, "name", REQ, &t->name) &&
           tally__tf_string(f, "slug", OPT, &t->slug) &&
           tally__tf_enum(f, "status", TENANT_STATUSES, "active", &t->status) &&
           read_timezone(f, "timezone", &t->timezone) &&
           tally__tf_string(f, "contact", OPT, &t->contact) &&
           tally__tf_days(f, "content_retention_days", &t->content_retention_days) &&
           tally__tf_days(f, "user_retention_days", &t->user_retention_days);
}

static bool user(const tally_fields *f, tally_user *u) {
    u->active = -1;
    return tally__tf_id(f, "tenant_id", REQ, &u->tenant_id) &&
           tally__tf_id(f, "user_id", REQ, &u->user_id) &&
           tally__tf_string(f, "name", OPT, &u->name) &&
           tally__tf_string(f, "email", OPT, &u->email) &&
           tally__tf_enum(f, "role", ROLES, "member", &u->role) &&
           tally__tf_bool(f, "active", &u->active);
}

static bool plan(const tally_fields *f, tally_plan *p) {
    return tally__tf_id(f, "plan_id", REQ, &p->plan_id) &&
           tally__tf_id(f, "tenant_id", OPT, &p->tenant_id) &&
           tally__tf_string(f, "name", REQ, &p->name) &&
           tally__tf_count(f, "monthly_request_limit", OPT, &p->monthly_request_limit) &&
           tally__tf_count(f, "monthly_token_limit", OPT, &p->monthly_token_limit) &&
           tally__tf_string(f, "description", OPT, &p->description);
}

static bool subscription(const tally_fields *f, tally_subscription *s) {
    return tally__tf_id(f, "subscription_id", REQ, &s->subscription_id) &&
           tally__tf_id(f, "tenant_id", REQ, &s->tenant_id) &&
           tally__tf_id(f, "user_id", OPT, &s->user_id) &&
           tally__tf_id(f, "plan_id", REQ, &s->plan_id) &&
           tally__tf_time(f, "starts_at", REQ, NULL, &s->starts_at) &&
           tally__tf_time(f, "ends_at", OPT, &s->has_ends_at, &s->ends_at) &&
           tally__tf_enum(f, "status", SUBSCRIPTION_STATUSES, "active", &s->status);
}

static bool price(const tally_fields *f, tally_price *p) {
    if (!tally__tf_id(f, "model_id", REQ, &p->model_id) ||
        !tally__tf_string(f, "provider", OPT, &p->provider) ||
        !tally__tf_decimal(f, "input_usd_per_1m", REQ, false, &p->input_usd_per_1m) ||
        !tally__tf_decimal(f, "output_usd_per_1m", REQ, false, &p->output_usd_per_1m) ||
        !tally__tf_decimal(f, "cached_input_usd_per_1m", OPT, false, &p->cached_input_usd_per_1m) ||
        !tally__tf_decimal(f, "minutes_saved_per_100_output_tokens", OPT, false,
                           &p->minutes_saved_per_100_output_tokens) ||
        !tally__tf_time(f, "effective_from", REQ, NULL, &p->effective_from) ||
        !tally__tf_id(f, "tenant_id", OPT, &p->tenant_id))
        return false;
    if (!p->cached_input_usd_per_1m.set) p->cached_input_usd_per_1m = p->input_usd_per_1m;
    if (!p->minutes_saved_per_100_output_tokens.set) {
        p->minutes_saved_per_100_output_tokens.set = true;
        memcpy(p->minutes_saved_per_100_output_tokens.text, "0", 2);
    }
    return true;
}

static bool fx(const tally_fields *f, tally_fx *x) {
    return read_currency(f, "currency", &x->currency) &&
           tally__tf_decimal(f, "per_usd", REQ, true, &x->per_usd) &&
           tally__tf_time(f, "effective_from", REQ, NULL, &x->effective_from);
}

/* A budget is a limit: its kind says which of the two it sets, and one that
 * sets nothing could never be reached (nor alerted, nor paused at). Checked
 * after both limits are read, so a malformed limit is reported as such. */
static bool budget_has_its_limits(const tally_fields *f, const tally_budget *b) {
    bool tokens = strcmp(b->kind, "brl") != 0, brl = strcmp(b->kind, "tokens") != 0;
    if (tokens && !b->token_limit.set)
        return tally__tf_fail(f, "token_limit", "required when kind is \"%s\"", b->kind);
    if (brl && !b->brl_limit.set)
        return tally__tf_fail(f, "brl_limit", "required when kind is \"%s\"", b->kind);
    return true;
}

static bool budget(const tally_fields *f, tally_budget *b) {
    int pause = 0;
    if (!tally__tf_id(f, "tenant_id", REQ, &b->tenant_id) ||
        !tally__tf_id(f, "budget_id", REQ, &b->budget_id) ||
        !tally__tf_enum(f, "kind", BUDGET_KINDS, NULL, &b->kind) ||
        !tally__tf_enum(f, "period", BUDGET_PERIODS, NULL, &b->period) ||
        !tally__tf_count(f, "token_limit", OPT, &b->token_limit) ||
        !tally__tf_decimal(f, "brl_limit", OPT, false, &b->brl_limit) ||
        !budget_has_its_limits(f, b) || !read_thresholds(f, "thresholds", b) ||
        !tally__tf_bool(f, "pause_at_limit", &pause) ||
        !read_url(f, "webhook_url", &b->webhook_url))
        return false;
    b->pause_at_limit = pause == 1;
    return true;
}

static bool interaction(const tally_event *ev, const tally_fields *f, tally_interaction *x) {
    tally_opt_i64 in, out, cached, latency;
    int was_cached = 0, was_fallback = 0;
    const char *text;
    if (!tally__tf_id(f, "tenant_id", REQ, &x->tenant_id) ||
        !tally__tf_id(f, "user_id", REQ, &x->user_id) ||
        !tally__tf_id(f, "model_id", REQ, &x->model_id) ||
        !tally__tf_enum(f, "kind", INTERACTION_KINDS, "chat", &x->kind) ||
        !tally__tf_id(f, "conversation_id", OPT, &x->conversation_id) ||
        !tally__tf_id(f, "agent_id", OPT, &x->agent_id) ||
        !tally__tf_string(f, "channel", OPT, &x->channel) ||
        !tally__tf_count(f, "input_tokens", OPT, &in) ||
        !tally__tf_count(f, "output_tokens", OPT, &out) ||
        !tally__tf_count(f, "cached_tokens", OPT, &cached) ||
        !tally__tf_decimal(f, "audio_seconds", OPT, false, &x->audio_seconds) ||
        !tally__tf_count(f, "latency_ms", OPT, &latency) ||
        !tally__tf_enum(f, "status", INTERACTION_STATUSES, "ok", &x->status) ||
        !tally__tf_bool(f, "was_cached", &was_cached) ||
        !tally__tf_bool(f, "was_fallback", &was_fallback) ||
        !tally__tf_decimal(f, "cost_usd", OPT, false, &x->cost_usd) ||
        !tally__tf_decimal(f, "time_saved_minutes", OPT, false, &x->time_saved_minutes) ||
        !tally__tf_string(f, "question", OPT, &text) ||
        !tally__tf_string(f, "answer", OPT, &text) ||
        !tally__tf_string(f, "intent", OPT, &x->intent) || !tally__tf_object(f, "params") ||
        !read_attachments(f, "attachments") || !tally__tf_object(f, "metadata"))
        return false;
    if (cached.v > in.v)
        return tally__tf_fail(f, "cached_tokens", "must not exceed data.input_tokens");
    x->input_tokens = in.v;
    x->output_tokens = out.v;
    x->cached_tokens = cached.v;
    x->latency_ms = latency;
    x->was_cached = was_cached == 1;
    x->was_fallback = was_fallback == 1;
    return same_tenant(ev, f, x->tenant_id);
}

static bool feedback(const tally_event *ev, const tally_fields *f, tally_feedback *b) {
    const char *rating;
    if (!tally__tf_id(f, "tenant_id", REQ, &b->tenant_id) ||
        !tally__tf_id(f, "interaction_id", REQ, &b->interaction_id) ||
        !tally__tf_id(f, "user_id", REQ, &b->user_id) ||
        !tally__tf_enum(f, "rating", RATINGS, NULL, &rating))
        return false;
    b->like = rating == RATINGS[0];
    return same_tenant(ev, f, b->tenant_id);
}

/* user.erased: the subject should be the tenant (its partition, after the
 * tenant's earlier events), as for entity events it is not compared. */
static bool erased(const tally_fields *f, tally_user_erased *e) {
    return tally__tf_id(f, "tenant_id", REQ, &e->tenant_id) &&
           tally__tf_id(f, "user_id", REQ, &e->user_id);
}

bool tally_event_decode_data(tally_event *ev, tally_err *err) {
    const tally_fields f = {ev->data, "data.", err};
    switch (ev->type) {
    case TALLY_EV_TENANT_UPSERTED: return tenant(&f, &ev->u.tenant);
    case TALLY_EV_USER_UPSERTED: return user(&f, &ev->u.user);
    case TALLY_EV_PLAN_UPSERTED: return plan(&f, &ev->u.plan);
    case TALLY_EV_SUBSCRIPTION_UPSERTED: return subscription(&f, &ev->u.subscription);
    case TALLY_EV_MODEL_PRICED: return price(&f, &ev->u.price);
    case TALLY_EV_FX_RATE_SET: return fx(&f, &ev->u.fx);
    case TALLY_EV_BUDGET_SET: return budget(&f, &ev->u.budget);
    case TALLY_EV_INTERACTION_RECORDED: return interaction(ev, &f, &ev->u.interaction);
    case TALLY_EV_FEEDBACK_RECORDED: return feedback(ev, &f, &ev->u.feedback);
    case TALLY_EV_USER_ERASED: return erased(&f, &ev->u.erased);
    case TALLY_EV__COUNT: break;
    }
    return false;
}
