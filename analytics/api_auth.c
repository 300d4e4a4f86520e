/*
 * api_auth — who is calling: the admin key or a tenant key, and what that
 * key may do on the route asked for. (Making, listing and revoking tenant
 * keys is api_keys.c.)
 *
 * Authorization: Bearer <key>. The admin key is TALLY_ADMIN_KEY; it is
 * compared as SHA-256 digests with CRYPTO_memcmp, so the time taken says
 * nothing about how much of a guess was right (not even its length). A
 * tenant key is "tly_" and 64 hex digits of RAND_bytes; the service keeps
 * only its SHA-256 and finds it by that hash, so a leaked table holds no key.
 * The row found is then held against the computed hash once more with
 * CRYPTO_memcmp: whatever the index lookup's timing reveals is about the
 * SHA-256 of a guess, which a caller cannot steer, and the final yes or no
 * does not depend on where two strings first differ.
 *
 * A tenant key is looked up in PostgreSQL on every request (no cache), and
 * PostgreSQL's clock judges its expiry, so a key revoked through any
 * tally-api instance, or one past its expires_at, is refused by every
 * instance from the next request on. Its last_used_at is written only when
 * it is more than a minute old: at most about one write a minute per key.
 *
 * Answers: no or a malformed header, or a key nobody has, a revoked or an
 * expired key → 401 "invalid API key", one answer for all three; a tenant key
 * on an admin route → 403; a tenant key without the scope the route needs
 * (`read` for a tenant's routes, `ingest` for POST /v1/events) → 403 naming
 * it; admin routes with no TALLY_ADMIN_KEY configured → 403 saying so,
 * whatever the request carries. (A tenant key on another tenant's path →
 * 404, the very answer an unknown tenant gets: the dispatcher checks that
 * once the path's id is decoded.)
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "tally_common.h"

#define TOKEN_MAX 512

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

bool tally__api_random_token(const char *prefix, size_t bytes, char *out, size_t size) {
    unsigned char raw[64];
    size_t pl = strlen(prefix);
    if (bytes > sizeof raw || pl + 2 * bytes + 1 > size || RAND_bytes(raw, (int)bytes) != 1)
        return false;
    memcpy(out, prefix, pl);
    to_hex(raw, bytes, out + pl);
    OPENSSL_cleanse(raw, bytes); /* the token may be a secret: leave no copy behind */
    return true;
}

void tally__api_sha256_hex(const char *s, size_t len, char out[65]) {
    unsigned char d[32];
    sha256(s, len, d);
    to_hex(d, 32, out);
}

bool tally__api_key_wellformed(const char *key, size_t len) {
    if (len != API_KEY_LEN || strncmp(key, API_KEY_PREFIX, sizeof API_KEY_PREFIX - 1)) return false;
    for (size_t i = sizeof API_KEY_PREFIX - 1; i < len; i++)
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

/* The scope a tenant key needs on a route of this kind (0: none). */
static unsigned scope_needed(api_auth_kind need, const char **name) {
    switch (need) {
    case API_AUTH_TENANT: *name = "read"; return TALLY_KEY_SCOPE_READ;
    case API_AUTH_INGEST: *name = "ingest"; return TALLY_KEY_SCOPE_INGEST;
    default: *name = NULL; return 0;
    }
}

/* Look the tenant key up and hold its scopes against the route; false when
 * a reply was queued. (A tenant key on an admin route passes here; the
 * caller refuses it.) */
static bool tenant_of_key(api_request *r, const char *tok, size_t len) {
    char hash[65];
    tally__api_sha256_hex(tok, len, hash);
    tally_pg_api_key_auth k;
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    tally_code rc = pg ? tally_pg_api_key_lookup(pg, hash, &k, &err) : TALLY_ESTORE;
    bool valid = rc == TALLY_OK && strlen(k.key_hash) == 64 &&
                 CRYPTO_memcmp(k.key_hash, hash, 64) == 0 && k.live;
    const char *scope_name;
    unsigned scope = scope_needed(r->route->auth, &scope_name);
    bool allowed = valid && r->route->auth != API_AUTH_ADMIN && (k.scopes & scope) == scope;
    bool broken = rc == TALLY_ESTORE;
    if (allowed && k.stale) {
        /* A failed write of last_used_at costs the caller nothing. */
        tally_err terr = {0};
        tally_code trc = tally_pg_api_key_touch(pg, hash, &terr);
        if (trc != TALLY_OK) {
            char why[300];
            tally_text_quote(terr.msg, strlen(terr.msg), why, sizeof why, true);
            tally_warn("api key last_used_at not written", "key_id=%s error=\"%s\"", k.id, why);
            broken = trc == TALLY_ESTORE;
        }
    }
    tally__api_pool_put(r->api->pool, pg, broken);
    if (rc == TALLY_ENOTFOUND || (rc == TALLY_OK && !valid)) {
        reply_401(r, "invalid API key");
        return false;
    }
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return false;
    }
    snprintf(r->who_tenant, sizeof r->who_tenant, "%s", k.tenant_id);
    r->who = API_WHO_TENANT;
    if (r->route->auth != API_AUTH_ADMIN && !allowed) {
        tally__api_reply_error(r, 403, "this route needs a key with the \"%s\" scope", scope_name);
        return false;
    }
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
