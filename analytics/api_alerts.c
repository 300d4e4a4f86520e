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
#include <openssl/rand.h>
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

typedef struct {
    const char *name, *text;
    api_time_kind kind;
    int64_t at; /* µs since the epoch, once resolved */
} time_bound;

static bool parse_limit(const char *s, int *out) {
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 4 || s[n]) return false;
    int v = atoi(s);
    if (v < 1 || v > MAX_LIMIT) return false;
    *out = v;
    return true;
}

/* The checks that need no store; false with a reply queued. */
static bool check_params(api_request *r, int *limit, time_bound *b) {
    const char *s = tally__api_param_get(&r->params, "limit");
    if (s && !parse_limit(s, limit)) {
        tally__api_reply_error(r, 400, "limit: must be an integer from 1 to %d", MAX_LIMIT);
        return false;
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

/* Find the tenant, resolve dates in its zone, list. */
static tally_code list(tally_pg *pg, api_request *r, int limit, time_bound *b, json_t **items,
                       char **next, tally_err *err) {
    bool known = false;
    char zone[64];
    tally_code rc = tally_usage_tenant(pg, r->tenant_id, &known, zone, sizeof zone, err);
    if (rc == TALLY_OK && !known) rc = tally_pg_alerts_tenant_has(pg, r->tenant_id, &known, err);
    if (rc == TALLY_OK && !known) return tally_err_set(err, TALLY_ENOTFOUND, "tenant not found");
    for (int i = 0; rc == TALLY_OK && i < 2; i++) {
        if (b[i].kind != API_TIME_DATE) continue;
        rc = tally_pg_local_midnight(pg, b[i].text, zone, &b[i].at, err);
        if (rc == TALLY_EINVAL)
            tally_err_set(err, TALLY_EINVAL, "%s: not a date in %s", b[i].name, zone);
    }
    if (rc != TALLY_OK) return rc;
    if (b[0].text && b[1].text && b[0].at >= b[1].at)
        return tally_err_set(err, TALLY_EINVAL, "from: must be before to");
    tally_pg_alert_query q = {
        .tenant_id = r->tenant_id,
        .limit_id = tally__api_param_get(&r->params, "limit_id"),
        .has_from = b[0].text != NULL,
        .has_to = b[1].text != NULL,
        .from = b[0].at,
        .to = b[1].at,
        .cursor = tally__api_param_get(&r->params, "cursor"),
        .limit = limit,
    };
    return tally_pg_alerts_list(pg, &q, items, next, err);
}

void tally__api_handle_alerts(api_request *r) {
    int limit = DEFAULT_LIMIT;
    time_bound b[2] = {{.name = "from"}, {.name = "to"}};
    if (!check_params(r, &limit, b)) return;
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    json_t *items = NULL;
    char *next = NULL;
    tally_code rc = pg ? list(pg, r, limit, b, &items, &next, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
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

/* A new secret replaces the old one at once: webhooks signed from then on
 * use it (a receiver rotating keys accepts both for a while). The secret is
 * kept as it is, since HMAC needs it; it is shown only in this answer. */
void tally__api_handle_webhook_secret(api_request *r) {
    static const char HEX[] = "0123456789abcdef";
    unsigned char raw[SECRET_RANDOM_BYTES];
    char secret[sizeof SECRET_PREFIX + 2 * SECRET_RANDOM_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        tally__api_reply_error(r, 500, "cannot draw a random secret");
        return;
    }
    memcpy(secret, SECRET_PREFIX, sizeof SECRET_PREFIX - 1);
    char *p = secret + sizeof SECRET_PREFIX - 1;
    for (size_t i = 0; i < sizeof raw; i++) {
        *p++ = HEX[raw[i] >> 4];
        *p++ = HEX[raw[i] & 15];
    }
    *p = '\0';
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
    OPENSSL_cleanse(raw, sizeof raw);
}
