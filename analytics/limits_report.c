/*
 * The limits answer (GET /v1/tenants/{id}/limits, `tally limits`): request
 * rules and the JSON shape of docs/limits.md. relational/limits_read.c
 * computes every number exactly; here counts become integers, BRL is rounded
 * half-even to 6 places and percents to 2, and `allowed` and its reasons
 * are decided.
 */
#include "tally_analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally_common.h"
#include "tally_pg.h"

static bool valid_id(const char *s) { return s && !tally_text_id_problem(s, strlen(s)); }


/* "1000.120000 of 1000.000000 BRL", "1000 of 1000 requests". */
static void amount_text(const char *metric, const char *text, char *out, size_t len) {
    if (strcmp(metric, "brl")) {
        snprintf(out, len, "%s", text);
        return;
    }
    char rounded[64];
    if (!tally_decimal_round(text, 6, rounded, sizeof rounded)) {
        snprintf(out, len, "%s", text);
        return;
    }
    const char *dot = strchr(rounded, '.');
    size_t decimals = dot ? strlen(dot + 1) : 0;
    snprintf(out, len, "%s%s%.*s", rounded, dot ? "" : ".", (int)(6 - decimals), "000000");
}

static json_t *int_list(const int *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

typedef struct {
    json_t *limits, *reasons; /* reasons: the limits that stop the subject */
} build_ctx;

static void add_limit(const tally_limit_row *row, void *arg) {
    build_ctx *b = arg;
    json_t *o = json_object();
    json_object_set_new(o, "limit_id", json_string(row->limit_id));
    json_object_set_new(o, "source", json_string(row->source));
    json_object_set_new(o, "metric", json_string(row->metric));
    json_object_set_new(o, "user_id", row->user_id ? json_string(row->user_id) : json_null());
    json_object_set_new(o, "period", json_string(row->period));
    json_object_set_new(o, "period_start", json_string(row->period_start));
    json_object_set_new(o, "period_end", json_string(row->period_end));
    json_object_set_new(o, "limit", tally_limit_amount_json(row->metric, row->limit));
    json_object_set_new(o, "used", tally_limit_amount_json(row->metric, row->used));
    json_object_set_new(o, "remaining", tally_limit_amount_json(row->metric, row->remaining));
    json_object_set_new(o, "percent", tally_decimal_json(row->percent, 2));
    json_object_set_new(o, "thresholds", int_list(row->thresholds, row->n_thresholds));
    json_object_set_new(o, "reached", int_list(row->reached, row->n_reached));
    json_object_set_new(o, "unpriced", json_integer(row->unpriced));
    json_object_set_new(o, "pause_at_limit", json_boolean(row->pause_at_limit));
    json_object_set_new(o, "paused", json_boolean(row->paused));
    json_array_append_new(b->limits, o);

    /* Plan limits are hard at 100 %; a budget stops the subject only when
     * it pauses. */
    bool blocks = !strcmp(row->source, "plan") ? row->at_limit : row->paused;
    if (!blocks) return;
    char used[80], limit[80];
    amount_text(row->metric, row->used, used, sizeof used);
    amount_text(row->metric, row->limit, limit, sizeof limit);
    const char *unit = !strcmp(row->metric, "brl") ? "BRL" : row->metric;
    json_array_append_new(b->reasons,
                          json_sprintf("%s %s: %s of %s %s", row->limit_id,
                                       row->paused ? "paused" : "reached", used, limit, unit));
}

tally_code tally_limits_report(tally_pg *pg, const tally_limits_request *req, int64_t pending,
                               json_t **out, tally_err *err) {
    *out = NULL;
    if (!valid_id(req->tenant_id)) return tally_err_set(err, TALLY_ENOTFOUND, "tenant not found");
    if (req->user_id && !valid_id(req->user_id))
        return tally_err_set(err, TALLY_EINVAL, "user_id: must be an id of 1-128 characters");
    tally_usec at = tally_time_now_us();
    if (req->at && !tally_time_parse_rfc3339(req->at, &at))
        return tally_err_set(err, TALLY_EINVAL,
                             "at: must be an RFC 3339 time like 2026-03-18T14:02:11-04:00");
    build_ctx b = {json_array(), json_array()};
    tally_limits_standing st;
    tally_code rc = tally_limits_read(pg, req->tenant_id, req->user_id, at, &st, add_limit, &b,
                                      err);
    if (rc == TALLY_OK && !st.known) rc = tally_err_set(err, TALLY_ENOTFOUND, "tenant not found");
    if (rc != TALLY_OK) {
        json_decref(b.limits);
        json_decref(b.reasons);
        return rc;
    }
    /* The subject's standing goes first among the reasons. */
    json_t *reasons = json_array();
    if (st.tenant_suspended)
        json_array_append_new(reasons, json_sprintf("tenant %s suspended", req->tenant_id));
    for (char *s = st.suspended_subscriptions; *s;) {
        size_t n = strcspn(s, ",");
        json_array_append_new(reasons, json_sprintf("subscription %.*s suspended", (int)n, s));
        s += n + (s[n] == ',');
    }
    json_array_extend(reasons, b.reasons);
    json_decref(b.reasons);

    json_t *o = json_object();
    json_object_set_new(o, "tenant_id", json_string(req->tenant_id));
    json_object_set_new(o, "timezone", json_string(st.zone));
    json_object_set_new(o, "user_id", req->user_id ? json_string(req->user_id) : json_null());
    json_object_set_new(o, "at", json_string(st.at));
    json_object_set_new(o, "pending_events", pending >= 0 ? json_integer(pending) : json_null());
    json_object_set_new(o, "allowed", json_boolean(json_array_size(reasons) == 0));
    json_object_set_new(o, "reasons", reasons);
    json_object_set_new(o, "limits", b.limits);
    *out = o;
    return TALLY_OK;
}
