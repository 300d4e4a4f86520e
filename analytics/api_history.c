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

/* Find the tenant and its zone, turn dates into instants and check their
 * order; false with a reply queued. */
static bool resolve(api_request *r, api_page *p) {
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
    if (rc == TALLY_OK) rc = tally__api_page_resolve(pg, zone, p, &err);
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return false;
    }
    return true;
}

void tally__api_handle_interactions(api_request *r) {
    static const char *const ids[] = {"user_id", "conversation_id", NULL};
    static const api_page_rules rules = {.limit_default = DEFAULT_LIMIT,
                                         .limit_max = TALLY_DOCS_LIMIT_MAX,
                                         .cursor_max = CURSOR_MAX,
                                         .ids = ids};
    api_page page;
    if (!tally__api_page_params(r, &rules, &page) || !resolve(r, &page)) return;
    tally_docs_query q = {
        .tenant_id = r->tenant_id,
        .has_from = page.b[0].text != NULL,
        .has_to = page.b[1].text != NULL,
        .from_us = page.b[0].at,
        .to_us = page.b[1].at,
        .user_id = tally__api_param_get(&r->params, "user_id"),
        .conversation_id = tally__api_param_get(&r->params, "conversation_id"),
        .limit = page.limit,
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
    tally__api_reply_page(r, items, next);
}
