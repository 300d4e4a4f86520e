/*
 * api_alerts — the alerts routes (docs/limits.md):
 *   GET  /v1/tenants/{tenant_id}/alerts               the tenant's alerts, newest
 *        first, each as its CloudEvents object (the very event the topic and the
 *        webhooks carry) plus its webhook delivery
 *   POST /v1/admin/tenants/{tenant_id}/webhook-secret a new signing secret
 *
 * from/to select by crossed_at, as the history pages select by time: a date
 * is the local midnight that starts it in the tenant's zone, or an RFC 3339
 * time; the window is [from, to). A tenant is known when it was upserted, has
 * counted usage or has any alert; otherwise the answer is the 404 another
 * tenant's id gets.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_pg.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000
#define CURSOR_MAX 4096 /* hex characters; the store refuses what it did not make */
#define SECRET_PREFIX "whsec_"
#define SECRET_RANDOM_BYTES 32

/* Find the tenant, resolve dates in its zone, list. */
static tally_code list(tally_pg *pg, api_request *r, api_page *p, json_t **items, char **next,
                       tally_err *err) {
    bool known = false;
    char zone[64];
    tally_code rc = tally_usage_tenant(pg, r->tenant_id, &known, zone, sizeof zone, err);
    if (rc == TALLY_OK && !known) rc = tally_pg_alerts_tenant_has(pg, r->tenant_id, &known, err);
    if (rc == TALLY_OK && !known) return tally_err_set(err, TALLY_ENOTFOUND, "tenant not found");
    if (rc == TALLY_OK) rc = tally__api_page_resolve(pg, zone, p, err);
    if (rc != TALLY_OK) return rc;
    tally_pg_alert_query q = {
        .tenant_id = r->tenant_id,
        .limit_id = tally__api_param_get(&r->params, "limit_id"),
        .has_from = p->b[0].text != NULL,
        .has_to = p->b[1].text != NULL,
        .from = p->b[0].at,
        .to = p->b[1].at,
        .cursor = tally__api_param_get(&r->params, "cursor"),
        .limit = p->limit,
    };
    return tally_pg_alerts_list(pg, &q, items, next, err);
}

void tally__api_handle_alerts(api_request *r) {
    static const api_page_rules rules = {
        .limit_default = DEFAULT_LIMIT, .limit_max = MAX_LIMIT, .cursor_max = CURSOR_MAX};
    api_page page;
    if (!tally__api_page_params(r, &rules, &page)) return;
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    json_t *items = NULL;
    char *next = NULL;
    tally_code rc = pg ? list(pg, r, &page, &items, &next, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    tally__api_reply_page(r, items, next);
}

/* A new secret replaces the old one at once: webhooks signed from then on
 * use it (a receiver rotating keys accepts both for a while). The secret is
 * kept as it is, since HMAC needs it; it is shown only in this answer. */
void tally__api_handle_webhook_secret(api_request *r) {
    char secret[sizeof SECRET_PREFIX + 2 * SECRET_RANDOM_BYTES];
    if (!tally__api_random_token(SECRET_PREFIX, SECRET_RANDOM_BYTES, secret, sizeof secret)) {
        tally__api_reply_error(r, 500, "cannot draw a random secret");
        return;
    }
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    tally_code rc = pg ? tally_pg_webhook_secret_set(pg, r->tenant_id, secret, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        if (rc == TALLY_EINVAL) err.code = TALLY_EIO; /* our row, not the caller's input */
        tally__api_reply_failure(r, &err);
    } else {
        char shown[160];
        tally_text_quote(r->tenant_id, strlen(r->tenant_id), shown, sizeof shown, true);
        tally_info("webhook secret replaced", "tenant=\"%s\"", shown);
        tally__api_reply_json(r, 201, json_pack("{s:s}", "secret", secret));
    }
    OPENSSL_cleanse(secret, sizeof secret);
}
