/*
 * api_history — GET /v1/tenants/{tenant_id}/interactions: the stored
 * history, newest first, a page at a time (CONTRACT.md §3).
 *
 * from/to are a date (the local midnight that starts it, in the tenant's
 * zone, which PostgreSQL resolves) or an RFC 3339 time; the window is
 * [from, to). A tenant exists when it was upserted, has counted usage, or has
 * any stored interaction; otherwise the answer is the same 404 as for
 * another tenant's id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_pg.h"

#define DEFAULT_LIMIT 50
#define CURSOR_MAX 2200 /* hex characters; the store refuses what it did not make */

typedef struct {
    const char *name, *text;
    api_time_kind kind;
    int64_t at; /* µs since the epoch, once resolved */
} time_bound;

static bool parse_limit(const char *s, int *out) {
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 3 || s[n]) return false;
    int v = atoi(s);
    if (v < 1 || v > TALLY_DOCS_LIMIT_MAX) return false;
    *out = v;
    return true;
}

/* The text checks that need no store; false with a reply queued. */
static bool check_params(api_request *r, int *limit, time_bound *b) {
    const char *s = tally__api_param_get(&r->params, "limit");
    if (s && !parse_limit(s, limit)) {
        tally__api_reply_error(r, 400, "limit: must be an integer from 1 to %d",
                               TALLY_DOCS_LIMIT_MAX);
        return false;
    }
    static const char *const ids[] = {"user_id", "conversation_id"};
    for (int i = 0; i < 2; i++) {
        const char *v = tally__api_param_get(&r->params, ids[i]);
        const char *why = v ? tally_text_id_problem(v, strlen(v)) : NULL;
        if (why) {
            tally__api_reply_error(r, 400, "%s: %s", ids[i], why);
            return false;
        }
    }
    const char *c = tally__api_param_get(&r->params, "cursor");
    if (c && (strspn(c, "0123456789abcdefABCDEF") != strlen(c) || strlen(c) % 2 ||
              strlen(c) > CURSOR_MAX)) {
        tally__api_reply_error(r, 400, "cursor: malformed");
        return false;
    }
    for (int i = 0; i < 2; i++) {
        b[i].text = tally__api_param_get(&r->params, b[i].name);
        if (!b[i].text) continue;
        b[i].kind = tally__api_time_parse(b[i].text, &b[i].at);
        if (b[i].kind == API_TIME_BAD) {
            tally__api_reply_error(r, 400, "%s: must be a date (YYYY-MM-DD) or an RFC 3339 time",
                                   b[i].name);
            return false;
        }
    }
    return true;
}

/* Whether the tenant has any stored interaction. */
static tally_code has_history(tally_docs *d, const char *tenant, bool *yes, tally_err *err) {
    tally_docs_query q = {.tenant_id = tenant, .limit = 1};
    json_t *items = NULL;
    char *next = NULL;
    tally_code rc = tally_docs_find_interactions(d, &q, &items, &next, err);
    if (rc == TALLY_OK) *yes = json_array_size(items) > 0;
    json_decref(items);
    free(next);
    return rc;
}

/* Find the tenant and its zone and turn dates into instants; false with a
 * reply queued. */
static bool resolve(api_request *r, time_bound *b) {
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    if (!pg) {
        tally__api_reply_failure(r, &err);
        return false;
    }
    bool known = false;
    char zone[64];
    tally_code rc = tally_usage_tenant(pg, r->tenant_id, &known, zone, sizeof zone, &err);
    if (rc == TALLY_OK && !known) rc = has_history(r->api->docs, r->tenant_id, &known, &err);
    if (rc == TALLY_OK && !known) rc = tally_err_set(&err, TALLY_ENOTFOUND, "tenant not found");
    for (int i = 0; rc == TALLY_OK && i < 2; i++) {
        if (b[i].kind != API_TIME_DATE) continue;
        rc = tally_pg_local_midnight(pg, b[i].text, zone, &b[i].at, &err);
        if (rc == TALLY_EINVAL)
            tally_err_set(&err, TALLY_EINVAL, "%s: not a date in %s", b[i].name, zone);
    }
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return false;
    }
    return true;
}

void tally__api_handle_interactions(api_request *r) {
    int limit = DEFAULT_LIMIT;
    time_bound b[2] = {{.name = "from"}, {.name = "to"}};
    if (!check_params(r, &limit, b) || !resolve(r, b)) return;
    if (b[0].text && b[1].text && b[0].at >= b[1].at) {
        tally__api_reply_error(r, 400, "from: must be before to");
        return;
    }
    tally_docs_query q = {
        .tenant_id = r->tenant_id,
        .has_from = b[0].text != NULL,
        .has_to = b[1].text != NULL,
        .from_us = b[0].at,
        .to_us = b[1].at,
        .user_id = tally__api_param_get(&r->params, "user_id"),
        .conversation_id = tally__api_param_get(&r->params, "conversation_id"),
        .limit = limit,
        .cursor = tally__api_param_get(&r->params, "cursor"),
    };
    json_t *items = NULL;
    char *next = NULL;
    tally_err err = {0};
    tally_code rc = tally_docs_find_interactions(r->api->docs, &q, &items, &next, &err);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "items", items);
    json_object_set_new(doc, "next_cursor", next ? json_string(next) : json_null());
    free(next);
    tally__api_reply_json(r, 200, doc);
}
