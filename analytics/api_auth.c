/*
 * api_auth — who is calling, and making tenant keys.
 *
 * Authorization: Bearer <key>. The admin key is TALLY_ADMIN_KEY; it is
 * compared as SHA-256 digests with CRYPTO_memcmp, so the time taken says
 * nothing about how much of a guess was right (not even its length). A
 * tenant key is "tly_" and 64 hex digits of RAND_bytes; the service keeps
 * only its SHA-256 and finds it by that hash, so a leaked table holds no key.
 *
 * Answers: no or a malformed header, or a key nobody has → 401; a tenant key
 * on an admin route → 403; admin routes with no TALLY_ADMIN_KEY configured →
 * 403 saying so, whatever the request carries. (A tenant key on another
 * tenant's path → 404, the very answer an unknown tenant gets: the
 * dispatcher checks that once the path's id is decoded.)
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "tally_common.h"

#define KEY_PREFIX "tly_"
#define KEY_RANDOM_BYTES 32
#define KEY_LEN (sizeof KEY_PREFIX - 1 + 2 * KEY_RANDOM_BYTES)
#define TOKEN_MAX 512
#define BODY_SHOWN 64

static const char HEX[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256(const char *s, size_t len, unsigned char out[32]) {
    unsigned int n = 32;
    if (!EVP_Digest(s, len, out, &n, EVP_sha256(), NULL)) memset(out, 0, 32);
}

void tally__api_sha256_hex(const char *s, size_t len, char out[65]) {
    unsigned char d[32];
    sha256(s, len, d);
    to_hex(d, 32, out);
}

bool tally__api_key_wellformed(const char *key, size_t len) {
    if (len != KEY_LEN || strncmp(key, KEY_PREFIX, sizeof KEY_PREFIX - 1)) return false;
    for (size_t i = sizeof KEY_PREFIX - 1; i < len; i++)
        if (!strchr(HEX, key[i]) || !key[i]) return false;
    return true;
}

/* The token of "Bearer <token>": visible ASCII, 1–TOKEN_MAX bytes. */
static bool bearer_token(const char *h, const char **tok, size_t *len) {
    if (!h || strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t')) return false;
    const char *p = h + 6;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = 0;
    while (p[n] > 0x20 && p[n] < 0x7F) n++;
    const char *rest = p + n;
    while (*rest == ' ' || *rest == '\t') rest++;
    if (n == 0 || n > TOKEN_MAX || *rest) return false;
    *tok = p;
    *len = n;
    return true;
}

static bool is_admin(const tally_api *api, const char *tok, size_t len) {
    unsigned char d[32];
    sha256(tok, len, d);
    return api->has_admin && CRYPTO_memcmp(d, api->admin_digest, sizeof d) == 0;
}

static void reply_401(api_request *r, const char *msg) {
    r->extra_header = "WWW-Authenticate";
    r->extra_value = "Bearer";
    tally__api_reply_error(r, 401, "%s", msg);
}

/* Look the tenant key up; false when a reply was queued. */
static bool tenant_of_key(api_request *r, const char *tok, size_t len) {
    char hash[65];
    tally__api_sha256_hex(tok, len, hash);
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    tally_code rc = pg ? tally_pg_api_key_tenant(pg, hash, r->who_tenant, sizeof r->who_tenant,
                                                 &err)
                       : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc == TALLY_ENOTFOUND) {
        reply_401(r, "invalid API key");
        return false;
    }
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return false;
    }
    r->who = API_WHO_TENANT;
    return true;
}

bool tally__api_authenticate(api_request *r) {
    api_auth_kind need = r->route->auth;
    if (need == API_AUTH_NONE) return true;
    if (need == API_AUTH_ADMIN && !r->api->has_admin) {
        tally__api_reply_error(r, 403, "admin routes are disabled: TALLY_ADMIN_KEY is not set");
        return false;
    }
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok;
    size_t len;
    if (!bearer_token(h, &tok, &len)) {
        reply_401(r, h ? "malformed Authorization header: expected \"Bearer <key>\""
                       : "missing Authorization header: expected \"Bearer <key>\"");
        return false;
    }
    if (is_admin(r->api, tok, len)) {
        r->who = API_WHO_ADMIN;
    } else if (!tally__api_key_wellformed(tok, len)) {
        reply_401(r, "invalid API key");
        return false;
    } else if (!tenant_of_key(r, tok, len)) {
        return false;
    }
    if (need == API_AUTH_ADMIN && r->who != API_WHO_ADMIN) {
        tally__api_reply_error(r, 403, "this route needs the admin key");
        return false;
    }
    return true;
}

/* ---- POST /v1/admin/keys ------------------------------------------------- */

/* The tenant id of the body {"tenant_id": "…"}; NULL when a reply was queued. */
static const char *body_tenant(api_request *r, json_t **doc) {
    if (r->body_too_large) {
        tally__api_reply_error(r, 413, "body: too large");
        return NULL;
    }
    json_error_t jerr;
    *doc = r->body.len ? json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &jerr)
                       : NULL;
    if (!json_is_object(*doc)) {
        tally__api_reply_error(r, 400, "body: must be a JSON object {\"tenant_id\": \"...\"}");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(*doc, key, v) {
        if (strcmp(key, "tenant_id")) {
            char shown[BODY_SHOWN + 8];
            tally_text_quote(key, strlen(key), shown, sizeof shown, false);
            tally__api_reply_error(r, 400, "body: unknown field \"%s\"", shown);
            return NULL;
        }
    }
    v = json_object_get(*doc, "tenant_id");
    const char *why = !v ? "is required"
                      : !json_is_string(v)
                          ? "must be a string"
                          : tally_text_id_problem(json_string_value(v), json_string_length(v));
    if (why) {
        tally__api_reply_error(r, 400, "tenant_id: %s", why);
        return NULL;
    }
    return json_string_value(v);
}

void tally__api_handle_create_key(api_request *r) {
    json_t *doc = NULL;
    const char *tenant = body_tenant(r, &doc);
    if (!tenant) {
        json_decref(doc);
        return;
    }
    unsigned char raw[KEY_RANDOM_BYTES];
    char key[KEY_LEN + 1], hash[65];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        json_decref(doc);
        tally__api_reply_error(r, 500, "cannot draw a random key");
        return;
    }
    memcpy(key, KEY_PREFIX, sizeof KEY_PREFIX - 1);
    to_hex(raw, sizeof raw, key + sizeof KEY_PREFIX - 1);
    tally__api_sha256_hex(key, KEY_LEN, hash);

    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    tally_code rc = pg ? tally_pg_api_key_insert(pg, hash, tenant, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        if (rc == TALLY_EINVAL) err.code = TALLY_EIO; /* our row, not the caller's input */
        json_decref(doc);
        tally__api_reply_failure(r, &err);
        return;
    }
    char shown[160];
    tally_text_quote(tenant, strlen(tenant), shown, sizeof shown, true);
    tally_info("api key created", "tenant=\"%s\" key_hash=%.12s", shown, hash);
    json_t *out = json_pack("{s:s, s:s}", "key", key, "tenant_id", tenant);
    json_decref(doc);
    tally__api_reply_json(r, 201, out);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(raw, sizeof raw);
}
