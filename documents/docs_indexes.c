/*
 * docs_indexes — the history's indexes, from schemas/mongo/interactions.indexes.json:
 *
 *   {"collection": "interactions",
 *    "indexes": [ {"name": …, "key": {…}, …any createIndexes option…}, … ]}
 *
 * Each index is one createIndexes command of its own. MongoDB would take them
 * all at once, but FerretDB 1.24 drops the connection (a panic in its
 * createIndexes) when two or more indexes of one command already exist, which
 * is exactly the idempotent re-run this function exists for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs_internal.h"

extern const char tally_docs_indexes_builtin[]; /* generated from the schema file */

const char *tally_docs_builtin_indexes_json(void) { return tally_docs_indexes_builtin; }

static tally_code load_spec(const char *path, json_t **out, tally_err *err) {
    json_error_t je;
    json_t *spec = path ? json_load_file(path, 0, &je)
                        : json_loads(tally_docs_indexes_builtin, 0, &je);
    if (!spec)
        return tally_err_set(err, TALLY_EINVAL, "%s:%d: %s", path ? path : "built-in indexes",
                             je.line, je.text);
    const json_t *coll = json_object_get(spec, "collection");
    const json_t *idx = json_object_get(spec, "indexes");
    if (!json_is_string(coll) || !json_is_array(idx) || json_array_size(idx) == 0) {
        json_decref(spec);
        return tally_err_set(err, TALLY_EINVAL,
                             "%s: needs \"collection\" and a non-empty \"indexes\" array",
                             path ? path : "built-in indexes");
    }
    *out = spec;
    return TALLY_OK;
}

/* createIndexes {collection, indexes: [index]}; the index spec goes through
 * libbson's JSON reader, so the keys ("data.model_id") stay as written. */
static tally_code create_one(docs_lease *lease, const char *db, const char *coll,
                             const json_t *index, tally_err *err) {
    const json_t *name = json_object_get(index, "name");
    const json_t *key = json_object_get(index, "key");
    if (!json_is_string(name) || !json_is_object(key) || json_object_size(key) == 0)
        return tally_err_set(err, TALLY_EINVAL, "index: needs a \"name\" and a non-empty \"key\"");
    char *text = json_dumps(index, JSON_COMPACT);
    if (!text) return tally_err_set(err, TALLY_ENOMEM, "out of memory");
    bson_error_t e;
    bson_t spec;
    bool parsed = bson_init_from_json(&spec, text, -1, &e);
    free(text);
    if (!parsed)
        return tally_err_set(err, TALLY_EINVAL, "index %s: %s", json_string_value(name), e.message);
    bson_t cmd = BSON_INITIALIZER, arr;
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT(&arr, "0", &spec);
    bson_append_array_end(&cmd, &arr);
    bool ok = mongoc_client_write_command_with_opts(lease->client, db, &cmd, NULL, NULL, &e);
    bson_destroy(&cmd);
    bson_destroy(&spec);
    if (!ok) {
        char what[160];
        snprintf(what, sizeof what, "createIndexes %s.%s", coll, json_string_value(name));
        return tally__docs_store_err(err, what, &e);
    }
    return TALLY_OK;
}

tally_code tally_docs_ensure_indexes(tally_docs *d, const char *indexes_json_path, tally_err *err) {
    json_t *spec;
    tally_code rc = load_spec(indexes_json_path, &spec, err);
    if (rc != TALLY_OK) return rc;
    const char *coll = json_string_value(json_object_get(spec, "collection"));
    const json_t *indexes = json_object_get(spec, "indexes");
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    size_t i;
    const json_t *index;
    json_array_foreach(indexes, i, index) {
        rc = create_one(&lease, d->db, coll, index, err);
        if (rc != TALLY_OK) break;
    }
    tally__docs_checkin(d, &lease);
    json_decref(spec);
    return rc;
}
