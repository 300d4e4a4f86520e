/*
 * docs_query — reading the history back: pages for the HTTP API (keyset
 * pagination on (time desc, _id desc)), counts, and dropping for tests.
 *
 * A page cursor is the (time in ms, _id) of the last item served, written as
 * hex of "<ms>:<id>": opaque to clients, trivially checked here, and the next
 * page is "time < t OR (time = t AND _id < id)", which an index
 * {tenant_id, [user_id|conversation_id], time: -1, _id: -1} answers in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs_internal.h"
#include "json_bson.h"

#define CURSOR_ID_MAX 512 /* bytes of an id in a cursor (ids are 1–128 characters) */
#define CURSOR_TEXT_MAX (2 * (21 + CURSOR_ID_MAX))

/* ---- cursors ------------------------------------------------------------- */

static char *cursor_encode(int64_t ms, const char *id) {
    char plain[24 + CURSOR_ID_MAX];
    int n = snprintf(plain, sizeof plain, "%" PRId64 ":%s", ms, id);
    if (n < 0 || (size_t)n >= sizeof plain) return NULL;
    static const char hex[] = "0123456789abcdef";
    char *out = malloc(2 * (size_t)n + 1);
    if (!out) return NULL;
    for (int i = 0; i < n; i++) {
        out[2 * i] = hex[(unsigned char)plain[i] >> 4];
        out[2 * i + 1] = hex[(unsigned char)plain[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode a cursor into ms and id (id: CURSOR_ID_MAX + 1 bytes). */
static bool cursor_decode(const char *text, int64_t *ms, char *id) {
    size_t len = strlen(text);
    if (len == 0 || len % 2 || len > CURSOR_TEXT_MAX) return false;
    char plain[CURSOR_TEXT_MAX / 2 + 1];
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
        plain[i] = (char)(hi << 4 | lo);
    }
    plain[len / 2] = '\0';
    const char *p = plain + (plain[0] == '-');
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 19 || p[digits] != ':') return false;
    errno = 0;
    char *end;
    long long v = strtoll(plain, &end, 10);
    if (errno || end != p + digits) return false;
    const char *rest = p + digits + 1;
    size_t idlen = strlen(rest);
    if (idlen == 0 || idlen > CURSOR_ID_MAX || !bson_utf8_validate(rest, idlen, false))
        return false;
    *ms = v;
    memcpy(id, rest, idlen + 1);
    return true;
}

/* ---- pages --------------------------------------------------------------- */

static tally_code check_query(const tally_docs_query *q, tally_err *err) {
    if (!q || !q->tenant_id || !*q->tenant_id)
        return tally_err_set(err, TALLY_EINVAL, "tenant_id: missing");
    if (q->limit < 1 || q->limit > TALLY_DOCS_LIMIT_MAX)
        return tally_err_set(err, TALLY_EINVAL, "limit: must be 1 to %d", TALLY_DOCS_LIMIT_MAX);
    return TALLY_OK;
}

static void build_filter(bson_t *f, const tally_docs_query *q, bool has_cursor, int64_t c_ms,
                         const char *c_id) {
    BSON_APPEND_UTF8(f, "tenant_id", q->tenant_id);
    if (q->user_id) BSON_APPEND_UTF8(f, "user_id", q->user_id);
    if (q->conversation_id) BSON_APPEND_UTF8(f, "conversation_id", q->conversation_id);
    if (q->has_from || q->has_to) {
        bson_t range;
        BSON_APPEND_DOCUMENT_BEGIN(f, "time", &range);
        if (q->has_from) BSON_APPEND_DATE_TIME(&range, "$gte", tally__docs_ms_ceil(q->from_us));
        if (q->has_to) BSON_APPEND_DATE_TIME(&range, "$lt", tally__docs_ms_ceil(q->to_us));
        bson_append_document_end(f, &range);
    }
    if (has_cursor) {
        bson_t or, a, b, lt;
        BSON_APPEND_ARRAY_BEGIN(f, "$or", & or);
        BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
        BSON_APPEND_DOCUMENT_BEGIN(&a, "time", &lt);
        BSON_APPEND_DATE_TIME(&lt, "$lt", c_ms);
        bson_append_document_end(&a, &lt);
        bson_append_document_end(& or, &a);
        BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
        BSON_APPEND_DATE_TIME(&b, "time", c_ms);
        BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &lt);
        BSON_APPEND_UTF8(&lt, "$lt", c_id);
        bson_append_document_end(&b, &lt);
        bson_append_document_end(& or, &b);
        bson_append_array_end(f, & or);
    }
}

static void build_find_opts(bson_t *o, int limit) {
    bson_t sort, proj;
    BSON_APPEND_DOCUMENT_BEGIN(o, "sort", &sort);
    BSON_APPEND_INT32(&sort, "time", -1);
    BSON_APPEND_INT32(&sort, "_id", -1);
    bson_append_document_end(o, &sort);
    BSON_APPEND_DOCUMENT_BEGIN(o, "projection", &proj);
    BSON_APPEND_INT32(&proj, "time", 1);
    BSON_APPEND_INT32(&proj, "source", 1);
    BSON_APPEND_INT32(&proj, "data", 1);
    bson_append_document_end(o, &proj);
    BSON_APPEND_INT64(o, "limit", limit + 1); /* one more tells whether a page follows */
}

/* One stored document as an API item, or NULL (*bad set) when it lacks a
 * string _id or a date time, or NULL on allocation failure. *ms is its time;
 * its id is the item's "id". */
static json_t *item_of(const bson_t *doc, int64_t *ms, bool *bad) {
    bson_iter_t it;
    *bad = true;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
    uint32_t idlen;
    const char *id = bson_iter_utf8(&it, &idlen);
    if (!bson_iter_init_find(&it, doc, "time") || !BSON_ITER_HOLDS_DATE_TIME(&it)) return NULL;
    *bad = false;
    *ms = bson_iter_date_time(&it);
    char when[40];
    tally__docs_format_ms(*ms, when, sizeof when);
    json_t *item = json_object();
    if (!item) return NULL;
    json_object_set_new(item, "id", json_stringn(id, idlen));
    json_object_set_new(item, "time", json_string(when));
    if (bson_iter_init_find(&it, doc, "source") && BSON_ITER_HOLDS_UTF8(&it))
        json_object_set_new(item, "source", json_string(bson_iter_utf8(&it, NULL)));
    json_t *data = bson_iter_init_find(&it, doc, "data") ? tally_bson_json_value(&it)
                                                         : json_object();
    if (!data || json_object_set_new(item, "data", data) != 0 || json_object_size(item) < 3) {
        json_decref(item);
        return NULL;
    }
    return item;
}

/* Read up to limit items from cur into items; *next gets the cursor of the
 * page after, when there is one. */
static tally_code read_page(mongoc_cursor_t *cur, int limit, json_t *items, char **next,
                            tally_err *err) {
    const bson_t *doc;
    int64_t last_ms = 0;
    const char *last_id = NULL;
    int count = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        if (count == limit) { /* the look-ahead document: a next page exists */
            *next = cursor_encode(last_ms, last_id);
            if (!*next)
                return tally_err_set(err, TALLY_ESTORE, "cursor: cannot encode after id %.64s",
                                     last_id);
            return TALLY_OK;
        }
        int64_t ms;
        bool bad;
        json_t *item = item_of(doc, &ms, &bad);
        if (bad) continue; /* not an interaction of ours: not shown, not counted */
        if (!item || json_array_append_new(items, item) != 0)
            return tally_err_set(err, TALLY_ENOMEM, "out of memory");
        last_ms = ms;
        last_id = json_string_value(json_object_get(item, "id"));
        count++;
    }
    bson_error_t e;
    if (mongoc_cursor_error(cur, &e)) return tally__docs_store_err(err, "find", &e);
    return TALLY_OK;
}

tally_code tally_docs_find_interactions(tally_docs *d, const tally_docs_query *q,
                                        json_t **items_out, char **next_cursor_out,
                                        tally_err *err) {
    tally_code rc = check_query(q, err);
    if (rc != TALLY_OK) return rc;
    int64_t c_ms = 0;
    char c_id[CURSOR_ID_MAX + 1];
    if (q->cursor && !cursor_decode(q->cursor, &c_ms, c_id))
        return tally_err_set(err, TALLY_EINVAL, "cursor: malformed");
    json_t *items = json_array();
    if (!items) return tally_err_set(err, TALLY_ENOMEM, "out of memory");

    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    build_filter(&filter, q, q->cursor != NULL, c_ms, c_id);
    build_find_opts(&opts, q->limit);
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(lease.coll, &filter, &opts, NULL);
    char *next = NULL;
    rc = read_page(cur, q->limit, items, &next, err);
    mongoc_cursor_destroy(cur);
    tally__docs_checkin(d, &lease);
    bson_destroy(&opts);
    bson_destroy(&filter);
    if (rc != TALLY_OK) {
        json_decref(items);
        free(next);
        return rc;
    }
    *items_out = items;
    *next_cursor_out = next;
    return TALLY_OK;
}

/* ---- counts and drops ---------------------------------------------------- */

tally_code tally_docs_count_interactions(tally_docs *d, const char *tenant_id, int64_t *count,
                                         tally_err *err) {
    bson_t filter = BSON_INITIALIZER;
    if (tenant_id) BSON_APPEND_UTF8(&filter, "tenant_id", tenant_id);
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    bson_error_t e;
    int64_t n = mongoc_collection_count_documents(lease.coll, &filter, NULL, NULL, NULL, &e);
    tally__docs_checkin(d, &lease);
    bson_destroy(&filter);
    if (n < 0) return tally__docs_store_err(err, "count", &e);
    *count = n;
    return TALLY_OK;
}

#define NAMESPACE_NOT_FOUND 26

tally_code tally_docs_drop_interactions(tally_docs *d, tally_err *err) {
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    bson_error_t e;
    bool ok = mongoc_collection_drop_with_opts(lease.coll, NULL, &e);
    tally__docs_checkin(d, &lease);
    if (!ok && !(e.domain == MONGOC_ERROR_SERVER && e.code == NAMESPACE_NOT_FOUND))
        return tally__docs_store_err(err, "drop", &e);
    return TALLY_OK;
}
