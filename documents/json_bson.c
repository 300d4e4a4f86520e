/*
 * json_bson — the conversions of json_bson.h. JSON → BSON is on the
 * ingester's hot path: it walks the parsed event (tally_json) once, appends straight into
 * the caller's bson_t, and touches keys only when they need the storage
 * encoding. Error paths are built only on failure, while the recursion
 * unwinds.
 */
#include "json_bson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs_internal.h"

/* The key that wraps an array stored directly inside an array. */
#define NESTED_ARRAY_KEY "%a"

/* ---- error paths -------------------------------------------------------- */

/* A failure is first written as ": reason"; every level it unwinds through
 * puts its segment in front ("notes" + "[2]: reason" → "notes[2]: reason"). */
static tally_code fail(tally_err *err, const char *reason) {
    return tally_err_set(err, TALLY_EINVAL, ": %s", reason);
}

static void prefix_path(tally_err *err, const char *seg, size_t seglen, bool is_index) {
    if (!err) return;
    size_t len = strlen(err->msg);
    bool dot = !is_index && err->msg[0] != ':' && err->msg[0] != '[';
    size_t add = seglen + (dot ? 1 : 0);
    if (add >= sizeof err->msg) return;
    if (len + add >= sizeof err->msg) len = sizeof err->msg - 1 - add;
    memmove(err->msg + add, err->msg, len);
    memcpy(err->msg, seg, seglen);
    if (dot) err->msg[seglen] = '.';
    err->msg[len + add] = '\0';
}

/* ---- JSON → BSON --------------------------------------------------------- */

static bool key_needs_encoding(const char *key) {
    return key[0] == '$' || strpbrk(key, "%.") != NULL;
}

/* Write the encoded key into out (room for 3 * keylen + 1 bytes). */
static size_t encode_key(const char *key, size_t keylen, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < keylen; i++) {
        char c = key[i];
        if (c == '%' || c == '.' || (c == '$' && i == 0)) {
            out[o++] = '%';
            out[o++] = '2';
            out[o++] = c == '%' ? '5' : c == '.' ? 'E' : '4';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return o;
}

static tally_code append_value(bson_t *doc, const char *key, size_t keylen, const tally_json *v,
                               int depth, bool in_array, tally_err *err);

/* One member under its (encoded) key; a failure gets the key as its path. */
static tally_code append_member(bson_t *doc, const tally_json *m, const tally_json *value,
                                int depth, tally_err *err) {
    const char *key = tally_json_key(m);
    size_t keylen = tally_json_key_length(m);
    const char *k = key;
    size_t klen = keylen;
    char small[192], *heap = NULL;
    if (key_needs_encoding(key)) {
        char *buf = keylen * 3 + 1 <= sizeof small ? small : (heap = malloc(keylen * 3 + 1));
        if (!buf) return tally_err_set(err, TALLY_ENOMEM, "out of memory");
        klen = encode_key(key, keylen, buf);
        k = buf;
    }
    tally_code rc = append_value(doc, k, klen, value, depth, false, err);
    free(heap);
    if (rc != TALLY_OK) prefix_path(err, key, keylen, false);
    return rc;
}

static tally_code append_members(bson_t *doc, const tally_json *obj, int depth, tally_err *err) {
    for (const tally_json *m = tally_json_first(obj); m; m = tally_json_next(obj, m)) {
        tally_code rc = append_member(doc, m, m, depth, err);
        if (rc != TALLY_OK) return rc;
    }
    return TALLY_OK;
}

static tally_code append_elements(bson_t *arr, const tally_json *a, int depth, tally_err *err) {
    size_t i = 0;
    for (const tally_json *e = tally_json_first(a); e; e = tally_json_next(a, e), i++) {
        char ibuf[16];
        const char *ikey;
        size_t ilen = bson_uint32_to_string((uint32_t)i, &ikey, ibuf, sizeof ibuf);
        tally_code rc = append_value(arr, ikey, ilen, e, depth, true, err);
        if (rc != TALLY_OK) {
            char seg[24];
            int sl = snprintf(seg, sizeof seg, "[%zu]", i);
            prefix_path(err, seg, (size_t)sl, true);
            return rc;
        }
    }
    return TALLY_OK;
}

static tally_code append_array(bson_t *doc, const char *key, size_t keylen, const tally_json *v,
                               int depth, bool in_array, tally_err *err) {
    bson_t wrap, child;
    bson_t *parent = doc;
    if (in_array) { /* FerretDB 1.x stores no array directly in an array */
        if (!bson_append_document_begin(doc, key, (int)keylen, &wrap)) goto too_big;
        parent = &wrap;
        key = NESTED_ARRAY_KEY;
        keylen = sizeof NESTED_ARRAY_KEY - 1;
        if (++depth > TALLY_JSON_BSON_MAX_DEPTH) return fail(err, "nested too deeply");
    }
    if (!bson_append_array_begin(parent, key, (int)keylen, &child)) goto too_big;
    tally_code rc = append_elements(&child, v, depth, err);
    if (rc != TALLY_OK) return rc;
    if (!bson_append_array_end(parent, &child)) goto too_big;
    if (in_array && !bson_append_document_end(doc, &wrap)) goto too_big;
    return TALLY_OK;
too_big:
    return fail(err, "document too large");
}

/* Strings and keys hold no NUL: the parser refuses "\u0000" and raw control
 * characters (PostgreSQL's jsonb under FerretDB could not store one). */
static tally_code append_value(bson_t *doc, const char *key, size_t keylen, const tally_json *v,
                               int depth, bool in_array, tally_err *err) {
    int kl = (int)keylen;
    bool ok;
    switch (tally_json_typeof(v)) {
    case TALLY_JSON_OBJECT: {
        if (++depth > TALLY_JSON_BSON_MAX_DEPTH) return fail(err, "nested too deeply");
        bson_t child;
        if (!bson_append_document_begin(doc, key, kl, &child))
            return fail(err, "document too large");
        tally_code rc = append_members(&child, v, depth, err);
        if (rc != TALLY_OK) return rc;
        ok = bson_append_document_end(doc, &child);
        break;
    }
    case TALLY_JSON_ARRAY:
        if (++depth > TALLY_JSON_BSON_MAX_DEPTH) return fail(err, "nested too deeply");
        return append_array(doc, key, keylen, v, depth, in_array, err);
    case TALLY_JSON_STRING:
        ok = bson_append_utf8(doc, key, kl, tally_json_string(v), (int)tally_json_string_length(v));
        break;
    case TALLY_JSON_INTEGER: {
        long long i = tally_json_integer(v);
        ok = i >= INT32_MIN && i <= INT32_MAX ? bson_append_int32(doc, key, kl, (int32_t)i)
                                              : bson_append_int64(doc, key, kl, (int64_t)i);
        break;
    }
    case TALLY_JSON_REAL: {
        double r = tally_json_real(v);
        if (!isfinite(r)) return fail(err, "number is not finite");
        ok = bson_append_double(doc, key, kl, r);
        break;
    }
    case TALLY_JSON_TRUE: ok = bson_append_bool(doc, key, kl, true); break;
    case TALLY_JSON_FALSE: ok = bson_append_bool(doc, key, kl, false); break;
    default: ok = bson_append_null(doc, key, kl); break;
    }
    return ok ? TALLY_OK : fail(err, "document too large");
}

tally_code tally_json_bson_append(bson_t *doc, const char *key, const tally_json *value,
                                  tally_err *err) {
    size_t keylen = strlen(key);
    tally_code rc = append_value(doc, key, keylen, value, 0, false, err);
    if (rc != TALLY_OK) prefix_path(err, key, keylen, false);
    return rc;
}

tally_code tally_json_bson_append_members(bson_t *doc, const tally_json *obj, tally_err *err) {
    if (!tally_json_is_object(obj)) return tally_err_set(err, TALLY_EINVAL, "not a JSON object");
    return append_members(doc, obj, 0, err);
}

static bool listed(const char *key, size_t keylen, const char *const *names) {
    for (; *names; names++)
        if (strlen(*names) == keylen && memcmp(*names, key, keylen) == 0) return true;
    return false;
}

tally_code tally_json_bson_append_redacted(bson_t *doc, const char *key, const tally_json *obj,
                                           const char *const *drop, const char *user_id,
                                           tally_err *err) {
    if (!tally_json_is_object(obj)) return tally_err_set(err, TALLY_EINVAL, "not a JSON object");
    size_t keylen = strlen(key);
    bson_t child;
    if (!bson_append_document_begin(doc, key, (int)keylen, &child))
        return tally_err_set(err, TALLY_EINVAL, "%s: document too large", key);
    tally_code rc = TALLY_OK;
    bool has_user = false;
    for (const tally_json *m = tally_json_first(obj); m && rc == TALLY_OK;
         m = tally_json_next(obj, m)) {
        const char *k = tally_json_key(m);
        size_t kl = tally_json_key_length(m);
        if (listed(k, kl, drop)) continue;
        if (kl == 7 && memcmp(k, "user_id", 7) == 0) {
            has_user = true;
            rc = bson_append_utf8(&child, "user_id", 7, user_id, -1)
                     ? TALLY_OK
                     : fail(err, "document too large");
            if (rc != TALLY_OK) prefix_path(err, "user_id", 7, false);
            continue;
        }
        rc = append_member(&child, m, m, 1, err);
    }
    if (rc == TALLY_OK && !has_user && !BSON_APPEND_UTF8(&child, "user_id", user_id))
        rc = fail(err, "document too large");
    if (rc != TALLY_OK) {
        prefix_path(err, key, keylen, false);
        return rc;
    }
    return bson_append_document_end(doc, &child)
               ? TALLY_OK
               : tally_err_set(err, TALLY_EINVAL, "%s: document too large", key);
}

/* ---- BSON → JSON --------------------------------------------------------- */

/* Undo encode_key into out (room for keylen + 1). */
static size_t decode_key(const char *key, size_t keylen, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < keylen; i++) {
        if (key[i] == '%' && i + 2 < keylen && key[i + 1] == '2') {
            char c = key[i + 2];
            char d = c == '5' ? '%' : c == 'E' ? '.' : c == '4' && o == 0 ? '$' : 0;
            if (d) {
                out[o++] = d;
                i += 2;
                continue;
            }
        }
        out[o++] = key[i];
    }
    out[o] = '\0';
    return o;
}

static json_t *json_from_doc_iter(bson_iter_t *child);
static json_t *json_from_array_iter(bson_iter_t *child);

/* A document {"%a": [ … ]} is an array that was stored inside an array. */
static bool is_wrapped_array(const bson_iter_t *iter) {
    bson_iter_t child;
    if (!bson_iter_recurse(iter, &child) || !bson_iter_next(&child)) return false;
    if (strcmp(bson_iter_key(&child), NESTED_ARRAY_KEY) != 0 || !BSON_ITER_HOLDS_ARRAY(&child))
        return false;
    return !bson_iter_next(&child);
}

json_t *tally_bson_json_value(const bson_iter_t *iter) {
    bson_iter_t child;
    switch (bson_iter_type(iter)) {
    case BSON_TYPE_DOCUMENT:
        if (!bson_iter_recurse(iter, &child)) return NULL;
        if (is_wrapped_array(iter)) {
            bson_iter_next(&child);
            return tally_bson_json_value(&child);
        }
        return json_from_doc_iter(&child);
    case BSON_TYPE_ARRAY:
        if (!bson_iter_recurse(iter, &child)) return NULL;
        return json_from_array_iter(&child);
    case BSON_TYPE_UTF8: {
        uint32_t n;
        const char *s = bson_iter_utf8(iter, &n);
        return json_stringn(s, n);
    }
    case BSON_TYPE_INT32: return json_integer(bson_iter_int32(iter));
    case BSON_TYPE_INT64: return json_integer(bson_iter_int64(iter));
    case BSON_TYPE_DOUBLE: return json_real(bson_iter_double(iter));
    case BSON_TYPE_BOOL: return json_boolean(bson_iter_bool(iter));
    case BSON_TYPE_DATE_TIME: {
        char buf[40];
        tally__docs_format_ms(bson_iter_date_time(iter), buf, sizeof buf);
        return json_string(buf);
    }
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        char buf[BSON_DECIMAL128_STRING];
        if (!bson_iter_decimal128(iter, &dec)) return NULL;
        bson_decimal128_to_string(&dec, buf);
        return json_string(buf);
    }
    case BSON_TYPE_OID: {
        char buf[25];
        bson_oid_to_string(bson_iter_oid(iter), buf);
        return json_string(buf);
    }
    default: return json_null();
    }
}

static json_t *json_from_doc_iter(bson_iter_t *child) {
    json_t *obj = json_object();
    char small[192];
    while (obj && bson_iter_next(child)) {
        const char *key = bson_iter_key(child);
        size_t keylen = bson_iter_key_len(child);
        char *heap = NULL;
        if (memchr(key, '%', keylen)) {
            char *buf = keylen + 1 <= sizeof small ? small : (heap = malloc(keylen + 1));
            if (!buf) goto fail;
            keylen = decode_key(key, keylen, buf);
            key = buf;
        }
        json_t *v = tally_bson_json_value(child);
        int rc = v ? json_object_setn_new(obj, key, keylen, v) : -1;
        free(heap);
        if (rc != 0) goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static json_t *json_from_array_iter(bson_iter_t *child) {
    json_t *arr = json_array();
    while (arr && bson_iter_next(child)) {
        json_t *v = tally_bson_json_value(child);
        if (!v || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *tally_bson_json_doc(const bson_t *doc) {
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return NULL;
    return json_from_doc_iter(&it);
}
