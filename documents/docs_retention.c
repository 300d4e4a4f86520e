/*
 * docs_retention — content retention in the history: the texts of a tenant's
 * interactions older than a bound are removed from their documents, batch by
 * batch (docs/arithmetic.md, "Retention and erasure").
 *
 * What goes: data.question, data.answer, data.attachments, data.params and
 * data.metadata — the interaction's content (docs/events.md). What stays:
 * _id, time, time_text, source, tenant_id, user_id, conversation_id and every
 * other member of data (model, kind, channel, agent, tokens, status, latency,
 * cost, time saved, intent): what the history's metadata and any count need.
 * Reports come from the PostgreSQL rollups and are not touched at all.
 *
 * A batch is two commands, both served alike by FerretDB 1.24 and MongoDB
 * (probed against FerretDB v1.24.2-tally.1 with mongo-c-driver 1.23):
 *   1. find {tenant_id, time < bound, $and: [{$or: [<content field> $exists]},
 *      {$or: [(time, _id) after the last batch's]}]}, sorted (time, _id)
 *      ascending, limit N, projection {_id, time} — the next N documents that
 *      still hold content, in the order of the tenant_time index;
 *   2. update {_id: {$in: those ids}, tenant_id, time < bound, $or: [<content
 *      field> $exists]} with {$unset: {data.question: "", …}} and multi: true
 *      (the driver's updateMany). Its modifiedCount is what the batch touched.
 * Both servers also take $set, legacy multi-updates and bulk update_many; an
 * update with an aggregation pipeline (MongoDB 4.2+) FerretDB refuses ("BSON
 * field 'update.updates.u' is the wrong type 'array'"), so it is not used.
 *
 * Why it is safe to stop and start again: an update only unsets what is still
 * there and older than the bound, so a batch run twice changes nothing the
 * second time, and a run killed at any instant leaves documents either whole
 * or stripped; the next run finds what is left. Beside a running ingester,
 * a document inserted after the find of a batch is either found by a later
 * batch (and stripped, if older than the bound) or behind the walk's position
 * and left whole until the next run. The bound is fixed when the run starts.
 */
#include <stdio.h>
#include <string.h>

#include "docs_internal.h"

static const char *const CONTENT_FIELDS[] = {"data.question", "data.answer", "data.attachments",
                                             "data.params", "data.metadata"};
#define N_CONTENT_FIELDS (sizeof CONTENT_FIELDS / sizeof CONTENT_FIELDS[0])

/* {$or: [{data.question: {$exists: true}}, …]} as the member `key` of f. */
static void append_has_content(bson_t *f, const char *key) {
    bson_t or, alt, exists;
    BSON_APPEND_ARRAY_BEGIN(f, key, & or);
    for (size_t i = 0; i < N_CONTENT_FIELDS; i++) {
        char idx[16];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, idx, sizeof idx);
        bson_append_document_begin(& or, k, -1, &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&alt, CONTENT_FIELDS[i], &exists);
        BSON_APPEND_BOOL(&exists, "$exists", true);
        bson_append_document_end(&alt, &exists);
        bson_append_document_end(& or, &alt);
    }
    bson_append_array_end(f, & or);
}

/* tenant_id = tenant, time < bound (ms). */
static void append_tenant_older(bson_t *f, const char *tenant_id, int64_t bound_ms) {
    bson_t lt;
    BSON_APPEND_UTF8(f, "tenant_id", tenant_id);
    BSON_APPEND_DOCUMENT_BEGIN(f, "time", &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", bound_ms);
    bson_append_document_end(f, &lt);
}

/* The find filter of the next batch. */
static void next_batch_filter(bson_t *f, const char *tenant_id, int64_t bound_ms,
                              const tally_docs_retention_pos *pos) {
    append_tenant_older(f, tenant_id, bound_ms);
    if (!pos->started) {
        append_has_content(f, "$or");
        return;
    }
    bson_t and, first, second, or, a, b, gt;
    BSON_APPEND_ARRAY_BEGIN(f, "$and", &and);
    BSON_APPEND_DOCUMENT_BEGIN(&and, "0", &first);
    append_has_content(&first, "$or");
    bson_append_document_end(&and, &first);
    BSON_APPEND_DOCUMENT_BEGIN(&and, "1", &second);
    BSON_APPEND_ARRAY_BEGIN(&second, "$or", & or);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "0", &a);
    BSON_APPEND_DOCUMENT_BEGIN(&a, "time", &gt);
    BSON_APPEND_DATE_TIME(&gt, "$gt", pos->time_ms);
    bson_append_document_end(&a, &gt);
    bson_append_document_end(& or, &a);
    BSON_APPEND_DOCUMENT_BEGIN(& or, "1", &b);
    BSON_APPEND_DATE_TIME(&b, "time", pos->time_ms);
    BSON_APPEND_DOCUMENT_BEGIN(&b, "_id", &gt);
    BSON_APPEND_UTF8(&gt, "$gt", pos->id);
    bson_append_document_end(&b, &gt);
    bson_append_document_end(& or, &b);
    bson_append_array_end(&second, & or);
    bson_append_document_end(&and, &second);
    bson_append_array_end(f, &and);
}

/* Read up to `limit` ids of the next batch into `ids` (an array being built)
 * and move pos past them; *found: how many. */
static tally_code find_batch(docs_lease *lease, const char *tenant_id, int64_t bound_ms, int limit,
                             tally_docs_retention_pos *pos, bson_t *ids, int *found,
                             tally_err *err) {
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, proj;
    next_batch_filter(&filter, tenant_id, bound_ms, pos);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "time", 1);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_INT64(&opts, "limit", limit);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 1);
    BSON_APPEND_INT32(&proj, "time", 1);
    bson_append_document_end(&opts, &proj);

    *found = 0;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(lease->coll, &filter, &opts, NULL);
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        const char *id = NULL;
        int64_t ms = 0;
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            id = bson_iter_utf8(&it, NULL);
        if (bson_iter_init_find(&it, doc, "time") && BSON_ITER_HOLDS_DATE_TIME(&it))
            ms = bson_iter_date_time(&it);
        if (!id || strlen(id) > TALLY_ID_MAX_BYTES) continue; /* never written by Tally */
        char idx[16];
        const char *k;
        bson_uint32_to_string((uint32_t)*found, &k, idx, sizeof idx);
        BSON_APPEND_UTF8(ids, k, id);
        (*found)++;
        pos->started = true;
        pos->time_ms = ms;
        snprintf(pos->id, sizeof pos->id, "%s", id);
    }
    bson_error_t e;
    tally_code rc = TALLY_OK;
    if (mongoc_cursor_error(cur, &e)) rc = tally__docs_store_err(err, "retention find", &e);
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    bson_destroy(&filter);
    return rc;
}

/* Unset the content of the ids found, where it is still there. */
static tally_code strip_ids(docs_lease *lease, const char *tenant_id, int64_t bound_ms,
                            const bson_t *ids, int64_t *modified, tally_err *err) {
    bson_t filter = BSON_INITIALIZER, in, update = BSON_INITIALIZER, unset, reply;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
    BSON_APPEND_ARRAY(&in, "$in", ids);
    bson_append_document_end(&filter, &in);
    append_tenant_older(&filter, tenant_id, bound_ms);
    append_has_content(&filter, "$or");
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
    for (size_t i = 0; i < N_CONTENT_FIELDS; i++) BSON_APPEND_UTF8(&unset, CONTENT_FIELDS[i], "");
    bson_append_document_end(&update, &unset);

    bson_error_t e;
    tally_code rc = TALLY_OK;
    if (!mongoc_collection_update_many(lease->coll, &filter, &update, NULL, &reply, &e)) {
        rc = tally__docs_store_err(err, "retention update", &e);
    } else {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "modifiedCount") && BSON_ITER_HOLDS_NUMBER(&it))
            *modified += bson_iter_as_int64(&it);
    }
    bson_destroy(&reply);
    bson_destroy(&update);
    bson_destroy(&filter);
    return rc;
}

tally_code tally_docs_strip_content_batch(tally_docs *d, const char *tenant_id,
                                          tally_usec older_than, int limit,
                                          tally_docs_retention_pos *pos, int64_t *stripped,
                                          bool *done, tally_err *err) {
    *done = false;
    if (!tenant_id || !*tenant_id) return tally_err_set(err, TALLY_EINVAL, "tenant_id: missing");
    if (limit < 1) return tally_err_set(err, TALLY_EINVAL, "limit: must be at least 1");
    int64_t bound_ms = tally__docs_ms_ceil(older_than);
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    bson_t ids = BSON_INITIALIZER;
    int found = 0;
    tally_code rc = find_batch(&lease, tenant_id, bound_ms, limit, pos, &ids, &found, err);
    if (rc == TALLY_OK && found > 0)
        rc = strip_ids(&lease, tenant_id, bound_ms, &ids, stripped, err);
    if (rc == TALLY_OK) *done = found < limit;
    bson_destroy(&ids);
    tally__docs_checkin(d, &lease);
    return rc;
}

tally_code tally_docs_count_content(tally_docs *d, const char *tenant_id, tally_usec older_than,
                                    int64_t *n, tally_err *err) {
    *n = 0;
    if (!tenant_id || !*tenant_id) return tally_err_set(err, TALLY_EINVAL, "tenant_id: missing");
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    bson_t filter = BSON_INITIALIZER;
    append_tenant_older(&filter, tenant_id, tally__docs_ms_ceil(older_than));
    append_has_content(&filter, "$or");
    bson_error_t e;
    int64_t count = mongoc_collection_count_documents(lease.coll, &filter, NULL, NULL, NULL, &e);
    tally_code rc = count < 0 ? tally__docs_store_err(err, "retention count", &e) : TALLY_OK;
    if (rc == TALLY_OK) *n = count;
    bson_destroy(&filter);
    tally__docs_checkin(d, &lease);
    return rc;
}
