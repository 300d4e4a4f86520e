/*
 * json_bson — parsed JSON to BSON and back, for the `data` of stored
 * interactions. Internal to the documents layer (and its unit test).
 *
 * JSON → BSON builds the BSON directly from the parsed event (tally_json,
 * the decoder's own tree), in key order,
 * with no intermediate text: integers become int32 when they fit, else
 * int64; reals double; strings, booleans, null, arrays and objects stay what
 * they are.
 *
 * Storage encoding. FerretDB 1.x refuses some shapes MongoDB accepts, and an
 * event must never be refused for an unknown field (CONTRACT.md §1.1), so
 * they are stored in a reversible form that BSON → JSON undoes:
 *   - keys: '%' → "%25", '.' → "%2E", a leading '$' → "%24";
 *   - an array directly inside an array → {"%a": [ … ]}.
 * The keys an index or a report reads (tenant_id, model_id, …) contain none
 * of these characters and are stored as they are.
 * What no encoding can store is refused with TALLY_EINVAL and the path of
 * the value ("data.metadata.d.d…: nested too deeply"): nesting deeper than
 * TALLY_JSON_BSON_MAX_DEPTH. A NUL in a string or key (PostgreSQL's jsonb
 * under FerretDB cannot hold it) and non-finite reals never get this far:
 * the parser refuses them.
 *
 * BSON → JSON (for the API's history route) gives jansson trees, which the
 * API serialises.
 */
#ifndef TALLY_JSON_BSON_H
#define TALLY_JSON_BSON_H

#include <bson/bson.h>
#include <jansson.h>

#include "tally_common.h"

/* Containers below the appended value, counted in BSON documents/arrays
 * (MongoDB allows 100 in a whole document; `data` sits at level 2). */
#define TALLY_JSON_BSON_MAX_DEPTH 90

/* Append `value` to `doc` under `key` (the key itself is not encoded: it is
 * the caller's own field name). On failure doc is left partly written
 * (discard it) and err names the path, starting with `key`. */
tally_code tally_json_bson_append(bson_t *doc, const char *key, const tally_json *value,
                                  tally_err *err);

/* Append every member of the JSON object `obj` to `doc`, keys encoded.
 * TALLY_EINVAL when obj is not an object. */
tally_code tally_json_bson_append_members(bson_t *doc, const tally_json *obj, tally_err *err);

/* Append the object `obj` under `key` without its members named in `drop`
 * (NULL-terminated) and with "user_id" set to `user_id` (in its place, or
 * last when obj had none): an erased user's event, stored anonymous. */
tally_code tally_json_bson_append_redacted(bson_t *doc, const char *key, const tally_json *obj,
                                           const char *const *drop, const char *user_id,
                                           tally_err *err);

/* The BSON value under `iter` as JSON, storage encoding undone: a new
 * reference, NULL on allocation failure. Dates become RFC 3339 UTC strings
 * with milliseconds, decimal128 and ObjectId their text, other types null. */
json_t *tally_bson_json_value(const bson_iter_t *iter);

/* The whole of `doc` as a JSON object (a new reference, NULL on failure). */
json_t *tally_bson_json_doc(const bson_t *doc);

#endif
