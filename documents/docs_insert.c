/*
 * docs_insert — the ingester's hot path: a batch of interaction events into
 * the history as one unordered bulk insert.
 *
 * Each document is built straight from the event's parsed JSON into one
 * reused bson_t, which the bulk operation copies into its wire buffer; the
 * driver's own per-document validation is switched off because the builder
 * already guarantees what it would check (UTF-8 checked by the parser,
 * encoded keys).
 *
 * A duplicate key (11000) is a redelivered event: success, counted apart.
 */
#include <stdio.h>
#include <string.h>

#include "docs_internal.h"
#include "json_bson.h"
#include "tally_common.h"

#define DUPLICATE_KEY 11000

/* A string member of data, or NULL. */
static const char *data_str(const tally_json *data, const char *key) {
    return tally_json_string(tally_json_get(data, key));
}

/* The stored document of one event (see tally_docs.h). */
static tally_code build_doc(bson_t *doc, const tally_docs_interaction *it, tally_err *err) {
    if (!it->id || !*it->id) return tally_err_set(err, TALLY_EINVAL, "id: missing");
    if (!tally_json_is_object(it->data))
        return tally_err_set(err, TALLY_EINVAL, "data: not an object");
    const char *tenant = data_str(it->data, "tenant_id");
    if (!tenant) tenant = it->subject;
    if (!tenant || !*tenant) return tally_err_set(err, TALLY_EINVAL, "data.tenant_id: missing");
    const char *user = it->pseudonym ? it->pseudonym : data_str(it->data, "user_id");
    const char *conversation = data_str(it->data, "conversation_id");

    char text[40];
    const char *time_text = it->time_text;
    if (!time_text) {
        tally_time_format_utc(it->time_us, text, sizeof text);
        time_text = text;
    }
    bool ok = BSON_APPEND_UTF8(doc, "_id", it->id) &&
              BSON_APPEND_DATE_TIME(doc, "time", tally__docs_ms_floor(it->time_us)) &&
              BSON_APPEND_UTF8(doc, "time_text", time_text) &&
              (!it->source || BSON_APPEND_UTF8(doc, "source", it->source)) &&
              BSON_APPEND_UTF8(doc, "tenant_id", tenant) &&
              (!user || BSON_APPEND_UTF8(doc, "user_id", user)) &&
              (!conversation || BSON_APPEND_UTF8(doc, "conversation_id", conversation));
    if (!ok) return tally_err_set(err, TALLY_EINVAL, "document too large");
    if (!it->pseudonym) return tally_json_bson_append(doc, "data", it->data, err);
    /* an erased user's event (a replay): anonymous from the start */
    return tally_json_bson_append_redacted(doc, "data", it->data, tally__docs_content_fields,
                                           it->pseudonym, err);
}

tally_code tally_docs_check_interaction(const tally_docs_interaction *it, tally_err *err) {
    bson_t doc = BSON_INITIALIZER;
    tally_code rc = build_doc(&doc, it, err);
    bson_destroy(&doc);
    return rc;
}

/* "items[3] (id evt-1): " in front of the message err holds. */
static tally_code blame_item(tally_err *err, tally_code rc, size_t i, const char *id) {
    if (!err) return rc;
    char reason[sizeof err->msg];
    memcpy(reason, err->msg, sizeof reason);
    return tally_err_set(err, rc, "items[%zu] (id %.128s): %s", i, id ? id : "?", reason);
}

/* Read nInserted and writeErrors from a bulk reply: duplicates are counted,
 * the first other error is returned. */
static tally_code read_reply(const bson_t *reply, bool executed, const bson_error_t *e,
                             const tally_docs_interaction *items, size_t n, size_t *inserted,
                             size_t *duplicates, tally_err *err) {
    bson_iter_t it, errs;
    if (bson_iter_init_find(&it, reply, "nInserted") && BSON_ITER_HOLDS_NUMBER(&it))
        *inserted = (size_t)bson_iter_as_int64(&it);
    tally_code rc = TALLY_OK;
    bool had_write_errors = false;
    if (bson_iter_init_find(&it, reply, "writeErrors") && bson_iter_recurse(&it, &errs)) {
        while (bson_iter_next(&errs)) {
            bson_iter_t we;
            int32_t code = 0, index = -1;
            const char *msg = "?";
            if (!bson_iter_recurse(&errs, &we)) continue;
            had_write_errors = true;
            while (bson_iter_next(&we)) {
                const char *k = bson_iter_key(&we);
                if (!strcmp(k, "code"))
                    code = (int32_t)bson_iter_as_int64(&we);
                else if (!strcmp(k, "index"))
                    index = (int32_t)bson_iter_as_int64(&we);
                else if (!strcmp(k, "errmsg") && BSON_ITER_HOLDS_UTF8(&we))
                    msg = bson_iter_utf8(&we, NULL);
            }
            if (code == DUPLICATE_KEY) {
                (*duplicates)++;
            } else if (rc == TALLY_OK) {
                const char *id = index >= 0 && (size_t)index < n ? items[index].id : "?";
                rc = tally_err_set(err, TALLY_ESTORE,
                                   "mongo insert: items[%d] (id %.128s): %s (server code %d)",
                                   index, id, msg, code);
            }
        }
    }
    if (rc == TALLY_OK && bson_iter_init_find(&it, reply, "writeConcernErrors") &&
        bson_iter_recurse(&it, &errs) && bson_iter_next(&errs))
        return tally__docs_store_err(err, "insert (write concern)", e);
    if (rc == TALLY_OK && !executed && !had_write_errors)
        return tally__docs_store_err(err, "insert", e);
    return rc;
}

tally_code tally_docs_insert_interactions(tally_docs *d, const tally_docs_interaction *items,
                                          size_t n, size_t *inserted, size_t *duplicates,
                                          tally_err *err) {
    size_t ins = 0, dup = 0;
    if (inserted) *inserted = 0;
    if (duplicates) *duplicates = 0;
    if (n == 0) return TALLY_OK;
    if (!items) return tally_err_set(err, TALLY_EINVAL, "items: NULL");

    docs_lease lease;
    tally__docs_checkout(d, &lease);
    bson_t bulk_opts = BSON_INITIALIZER, insert_opts = BSON_INITIALIZER, doc = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&bulk_opts, "ordered", false);
    BSON_APPEND_BOOL(&insert_opts, "validate", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(lease.coll,
                                                                                      &bulk_opts);

    tally_code rc = TALLY_OK;
    bson_error_t e;
    for (size_t i = 0; i < n && rc == TALLY_OK; i++) {
        bson_reinit(&doc);
        rc = build_doc(&doc, &items[i], err);
        if (rc == TALLY_OK && !mongoc_bulk_operation_insert_with_opts(bulk, &doc, &insert_opts, &e))
            rc = tally_err_set(err, TALLY_EINVAL, "%s", e.message);
        if (rc != TALLY_OK) rc = blame_item(err, rc, i, items[i].id);
    }
    if (rc == TALLY_OK) {
        bson_t reply;
        uint32_t server = mongoc_bulk_operation_execute(bulk, &reply, &e);
        rc = read_reply(&reply, server != 0, &e, items, n, &ins, &dup, err);
        bson_destroy(&reply);
    }
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&doc);
    bson_destroy(&insert_opts);
    bson_destroy(&bulk_opts);
    tally__docs_checkin(d, &lease);
    if (inserted) *inserted = ins;
    if (duplicates) *duplicates = dup;
    return rc;
}
