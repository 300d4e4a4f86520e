/*
 * api_keys — the lifecycle of tenant keys (admin only; who is calling is
 * api_auth.c):
 *   POST   /v1/admin/keys           make a key: shown once, only its SHA-256 kept
 *   GET    /v1/admin/keys           list keys, newest first, never a secret or hash
 *   DELETE /v1/admin/keys/{key_id}  revoke a key at once (idempotent)
 *
 * A key has a public id ("key_" and 16 hex digits, drawn by PostgreSQL), an
 * optional name, scopes (`read`: the tenant's routes; `ingest`: POST
 * /v1/events; ["read"] unless asked), an optional expiry and, once revoked,
 * revoked_at. Revoking writes revoked_at; since every request looks its key
 * up in PostgreSQL, every tally-api instance refuses the key from its next
 * request on. The row stays, so the listing shows when a key was revoked.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "tally_common.h"

#define SHOWN 64            /* bytes of a caller's text quoted back */
#define EXPIRES_TEXT_MAX 64 /* bytes of an expires_at value */
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000
#define CURSOR_MAX 128 /* hex characters; the store refuses what it did not make */

/* ---- POST /v1/admin/keys ------------------------------------------------- */

static const char *const CREATE_FIELDS[] = {"tenant_id", "name", "expires_at", "scopes", NULL};

static bool known_field(const char *key) {
    for (const char *const *f = CREATE_FIELDS; *f; f++)
        if (!strcmp(*f, key)) return true;
    return false;
}

/* 400 naming every member the body may not have; false when there is none. */
static bool refuse_unknown_fields(api_request *r, json_t *doc) {
    char names[600] = "";
    size_t used = 0, n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (known_field(key)) continue;
        char shown[SHOWN + 8];
        tally_text_quote(key, strlen(key), shown, sizeof shown, false);
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s\"%s\"", n ? ", " : "",
                                     shown);
        n++;
    }
    if (n == 0) return false;
    tally__api_reply_error(r, 400,
                           "body: unknown field%s %s (known: tenant_id, name, expires_at, scopes)",
                           n > 1 ? "s" : "", names);
    return true;
}

/* The body's members into k (strings borrowed from doc); false when a 400
 * or 413 was queued. null is the same as a member left out. */
static bool read_body(api_request *r, json_t **doc, tally_pg_api_key_new *k) {
    if (r->body_too_large) {
        tally__api_reply_error(r, 413, "body: too large");
        return false;
    }
    json_error_t jerr;
    *doc = r->body.len ? json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr)
                       : NULL;
    if (!json_is_object(*doc)) {
        tally__api_reply_error(r, 400, "body: must be a JSON object {\"tenant_id\": \"...\"}");
        return false;
    }
    if (refuse_unknown_fields(r, *doc)) return false;

    json_t *v = json_object_get(*doc, "tenant_id");
    const char *why = !v ? "is required"
                      : !json_is_string(v)
                          ? "must be a string"
                          : tally_text_id_problem(json_string_value(v), json_string_length(v));
    if (why) {
        tally__api_reply_error(r, 400, "tenant_id: %s", why);
        return false;
    }
    k->tenant_id = json_string_value(v);

    v = json_object_get(*doc, "name");
    if (v && !json_is_null(v)) {
        why = !json_is_string(v)
                  ? "must be a string"
                  : tally_text_id_problem(json_string_value(v), json_string_length(v));
        if (why) {
            tally__api_reply_error(r, 400, "name: %s", why);
            return false;
        }
        k->name = json_string_value(v);
    }

    v = json_object_get(*doc, "expires_at");
    if (v && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (!s || json_string_length(v) > EXPIRES_TEXT_MAX || strlen(s) != json_string_length(v) ||
            !tally_time_parse_rfc3339(s, &k->expires_at)) {
            tally__api_reply_error(r, 400,
                                   "expires_at: must be an RFC 3339 time (2026-12-31T23:59:59Z)");
            return false;
        }
        if (k->expires_at <= tally_time_now_us()) {
            tally__api_reply_error(r, 400, "expires_at: must be in the future");
            return false;
        }
        k->has_expiry = true;
    }

    v = json_object_get(*doc, "scopes");
    k->scopes = TALLY_KEY_SCOPE_READ;
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            tally__api_reply_error(r, 400,
                                   "scopes: must be a non-empty array of \"read\", \"ingest\"");
            return false;
        }
        k->scopes = 0;
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s) {
            const char *name = json_string_value(s);
            unsigned bit = !name                     ? 0
                           : !strcmp(name, "read")   ? TALLY_KEY_SCOPE_READ
                           : !strcmp(name, "ingest") ? TALLY_KEY_SCOPE_INGEST
                                                     : 0;
            if (!bit) {
                char shown[SHOWN + 8] = "";
                if (name) tally_text_quote(name, strlen(name), shown, sizeof shown, false);
                if (name)
                    tally__api_reply_error(
                        r, 400, "scopes: unknown scope \"%s\" (known: \"read\", \"ingest\")",
                        shown);
                else
                    tally__api_reply_error(r, 400, "scopes: each scope must be a string");
                return false;
            }
            if (k->scopes & bit) {
                tally__api_reply_error(r, 400, "scopes: \"%s\" is given twice", name);
                return false;
            }
            k->scopes |= bit;
        }
    }
    return true;
}

void tally__api_handle_create_key(api_request *r) {
    json_t *doc = NULL;
    tally_pg_api_key_new k = {0};
    if (!read_body(r, &doc, &k)) {
        json_decref(doc);
        return;
    }
    char key[API_KEY_LEN + 1], hash[65];
    if (!tally__api_random_token(API_KEY_PREFIX, API_KEY_RANDOM_BYTES, key, sizeof key)) {
        json_decref(doc);
        tally__api_reply_error(r, 500, "cannot draw a random key");
        return;
    }
    tally__api_sha256_hex(key, API_KEY_LEN, hash);
    k.key_hash = hash;

    tally_err err = {0};
    json_t *row = NULL;
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    tally_code rc = pg ? tally_pg_api_key_insert(pg, &k, &row, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        if (rc == TALLY_EINVAL) err.code = TALLY_EIO; /* our row, not the caller's input */
        tally__api_reply_failure(r, &err);
    } else {
        char shown[160];
        tally_text_quote(k.tenant_id, strlen(k.tenant_id), shown, sizeof shown, true);
        const char *scopes = k.scopes == TALLY_KEY_SCOPE_READ     ? "read"
                             : k.scopes == TALLY_KEY_SCOPE_INGEST ? "ingest"
                                                                  : "read,ingest";
        tally_info("api key created", "tenant=\"%s\" key_id=%s scopes=%s expires=%s", shown,
                   json_string_value(json_object_get(row, "id")), scopes,
                   k.has_expiry ? "yes" : "no");
        /* {"id", "key", then the row's members in its order} */
        json_t *out = json_pack("{s:O, s:s}", "id", json_object_get(row, "id"), "key", key);
        if (out && json_object_update(out, row)) json_decref(out), out = NULL;
        tally__api_reply_json(r, 201, out);
    }
    json_decref(row);
    json_decref(doc);
    OPENSSL_cleanse(key, sizeof key);
}

/* ---- GET /v1/admin/keys ---------------------------------------------------- */

void tally__api_handle_list_keys(api_request *r) {
    static const char *const ids[] = {"tenant_id", NULL};
    static const api_page_rules rules = {.limit_default = DEFAULT_LIMIT,
                                         .limit_max = MAX_LIMIT,
                                         .cursor_max = CURSOR_MAX,
                                         .ids = ids};
    api_page page;
    if (!tally__api_page_params(r, &rules, &page)) return;
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    json_t *items = NULL;
    char *next = NULL;
    tally_code rc = pg ? tally_pg_api_keys_list(pg, tally__api_param_get(&r->params, "tenant_id"),
                                                tally__api_param_get(&r->params, "cursor"),
                                                page.limit, &items, &next, &err)
                       : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    tally__api_reply_page(r, items, next);
}

/* ---- DELETE /v1/admin/keys/{key_id} ------------------------------------------ */

/* Whether id has the shape PostgreSQL gives ids: "key_" and 16 hex digits. */
static bool id_wellformed(const char *id) {
    return strlen(id) == 20 && !strncmp(id, "key_", 4) && strspn(id + 4, "0123456789abcdef") == 16;
}

void tally__api_handle_revoke_key(api_request *r) {
    if (!id_wellformed(r->path_id)) {
        tally__api_reply_error(r, 404, "key_id: no key has this id");
        return;
    }
    tally_err err = {0};
    char tenant[TALLY_ID_MAX_BYTES + 1] = "";
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    tally_code rc = pg ? tally_pg_api_key_revoke(pg, r->path_id, tenant, sizeof tenant, &err)
                       : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc == TALLY_ENOTFOUND) {
        tally__api_reply_error(r, 404, "key_id: no key has this id");
        return;
    }
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    char shown[160];
    tally_text_quote(tenant, strlen(tenant), shown, sizeof shown, true);
    tally_info("api key revoked", "tenant=\"%s\" key_id=%s", shown, r->path_id);
    tally__api_reply(r, 204, "text/plain", NULL, 0);
}
