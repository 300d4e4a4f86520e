/*
 * docs_erasure — erasure of a user in the history (user.erased;
 * docs/architecture.md, "Erasure"): the documents of (tenant, user) from
 * before the erasure get the pseudonym as user id and lose their content
 * (question, answer, attachments, params, metadata), in one update-many with
 * $set and $unset — what both FerretDB 1.24 and MongoDB serve. It is
 * idempotent (a second run matches nothing), so the ingester runs it again
 * after a crash until the batch's Kafka offsets commit. An interaction
 * stored after the erasure but from before it (a replay) is written already
 * anonymous (tally_docs_interaction.pseudonym, docs_insert.c).
 */
#include <stdio.h>
#include <string.h>

#include "docs_internal.h"
#include "tally_common.h"

const char *const tally__docs_content_fields[] = {"question", "answer",   "attachments",
                                                  "params",   "metadata", NULL};

tally_code tally_docs_erase_user(tally_docs *d, const char *tenant_id, const char *user_id,
                                 const char *pseudonym, int64_t erased_at_us, int64_t *modified,
                                 tally_err *err) {
    if (modified) *modified = 0;
    if (!tenant_id || !user_id || !pseudonym)
        return tally_err_set(err, TALLY_EINVAL, "erase: tenant, user and pseudonym are required");
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    /* time is stored to the ms, floored: "< ceil(erased_at)" keeps every
     * event before it (and those of the same millisecond after it). */
    bson_t filter = BSON_INITIALIZER, lt, update = BSON_INITIALIZER, set, unset, reply;
    BSON_APPEND_UTF8(&filter, "tenant_id", tenant_id);
    BSON_APPEND_UTF8(&filter, "user_id", user_id);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "time", &lt);
    BSON_APPEND_DATE_TIME(&lt, "$lt", tally__docs_ms_ceil(erased_at_us));
    bson_append_document_end(&filter, &lt);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "user_id", pseudonym);
    BSON_APPEND_UTF8(&set, "data.user_id", pseudonym);
    bson_append_document_end(&update, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$unset", &unset);
    for (int i = 0; tally__docs_content_fields[i]; i++) {
        char path[32];
        snprintf(path, sizeof path, "data.%s", tally__docs_content_fields[i]);
        BSON_APPEND_UTF8(&unset, path, "");
    }
    bson_append_document_end(&update, &unset);
    bson_error_t e;
    tally_code rc = TALLY_OK;
    if (!mongoc_collection_update_many(lease.coll, &filter, &update, NULL, &reply, &e)) {
        rc = tally__docs_store_err(err, "erase user", &e);
    } else if (modified) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "modifiedCount") && BSON_ITER_HOLDS_NUMBER(&it))
            *modified = bson_iter_as_int64(&it);
    }
    bson_destroy(&reply);
    bson_destroy(&filter);
    bson_destroy(&update);
    tally__docs_checkin(d, &lease);
    return rc;
}
