/*
 * libFuzzer target for the JSON reader under the decoder (common/tally_json.c),
 * differential: every input goes to tally_json_parse and to jansson's
 * json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES), and the run aborts
 * when they disagree — one accepts what the other refuses (except the one
 * difference on purpose: tally_json refuses any NUL byte, which jansson
 * skips after a number or a literal), or both accept and the values differ
 * (type, integer, the bits of a real, string bytes, keys and their order).
 * tests/unit/test_json.c does the same on fixed inputs; this explores.
 * Build and run: docs/fuzzing.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tally_common.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

static tally_json_type type_of(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return TALLY_JSON_OBJECT;
    case JSON_ARRAY: return TALLY_JSON_ARRAY;
    case JSON_STRING: return TALLY_JSON_STRING;
    case JSON_INTEGER: return TALLY_JSON_INTEGER;
    case JSON_REAL: return TALLY_JSON_REAL;
    case JSON_TRUE: return TALLY_JSON_TRUE;
    case JSON_FALSE: return TALLY_JSON_FALSE;
    default: return TALLY_JSON_NULL;
    }
}

static void same(const json_t *j, const tally_json *t) {
    CHECK(tally_json_typeof(t) == type_of(j));
    switch (json_typeof(j)) {
    case JSON_INTEGER: CHECK(tally_json_integer(t) == json_integer_value(j)); break;
    case JSON_REAL: {
        double a = json_real_value(j), b = tally_json_real(t);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        break;
    }
    case JSON_STRING:
        CHECK(tally_json_string_length(t) == json_string_length(j));
        CHECK(memcmp(tally_json_string(t), json_string_value(j), json_string_length(j)) == 0);
        break;
    case JSON_ARRAY: {
        CHECK(tally_json_size(t) == json_array_size(j));
        const tally_json *e = tally_json_first(t);
        for (size_t i = 0; i < json_array_size(j); i++, e = tally_json_next(t, e))
            same(json_array_get(j, i), e);
        CHECK(e == NULL);
        break;
    }
    case JSON_OBJECT: {
        CHECK(tally_json_size(t) == json_object_size(j));
        const tally_json *m = tally_json_first(t);
        const char *key;
        size_t key_len;
        json_t *value;
        json_object_keylen_foreach((json_t *)j, key, key_len, value) {
            CHECK(m && tally_json_key_length(m) == key_len);
            CHECK(memcmp(tally_json_key(m), key, key_len) == 0);
            CHECK(tally_json_get(t, key) == m); /* keys hold no NUL */
            same(value, m);
            m = tally_json_next(t, m);
        }
        CHECK(m == NULL);
        break;
    }
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer calls it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    json_t *j = json_loadb(buf, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    tally_json_error err;
    tally_json_doc *doc = tally_json_parse(buf, size, &err);
    bool has_nul = memchr(buf, '\0', size) != NULL;
    if (doc) {
        CHECK(!has_nul && j);
        same(j, tally_json_root(doc));
    } else {
        CHECK(!j || has_nul);
        CHECK(err.line >= 1 && err.column >= 1 && err.position <= size && err.text[0]);
    }
    json_decref(j);
    tally_json_free(doc);
    return 0;
}
