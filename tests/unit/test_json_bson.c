/* Unit tests of documents/json_bson: parsed JSON (tally_json) → BSON (types,
 * order, storage encoding, refusals) and back to jansson, plus the checks of
 * an interaction that need no server and the built-in copy of the index
 * definitions. (A NUL in a string or key cannot reach json_bson: the parser
 * refuses it, tests/unit/test_json.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_bson.h"
#include "tally_docs.h"

static json_t *parse(const char *text) {
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v) fail_msg("bad test JSON: %s (%s)", je.text, text);
    return v;
}

static tally_json_doc *parse_doc(const char *text) {
    tally_json_error je;
    tally_json_doc *d = tally_json_parse(text, strlen(text), &je);
    if (!d) fail_msg("bad test JSON: %s (%s)", je.text, text);
    return d;
}

/* text → tally_json → BSON under "data" → jansson must be the tree jansson
 * reads from the text itself. */
static void assert_round_trip(const char *text, bson_t *out) {
    tally_err err = {0};
    tally_json_doc *doc = parse_doc(text);
    json_t *data = parse(text);
    bson_init(out);
    assert_int_equal(tally_json_bson_append(out, "data", tally_json_root(doc), &err), TALLY_OK);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, out, "data"));
    json_t *back = tally_bson_json_value(&it);
    assert_non_null(back);
    if (!json_equal(back, data)) {
        char *a = json_dumps(data, JSON_COMPACT), *b = json_dumps(back, JSON_COMPACT);
        fail_msg("round trip changed\n  %s\nto\n  %s", a, b);
    }
    json_decref(back);
    json_decref(data);
    tally_json_free(doc);
}

static bson_type_t type_at(const bson_t *doc, const char *dotted) {
    bson_iter_t it, found;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, dotted, &found))
        fail_msg("no %s in the BSON", dotted);
    return bson_iter_type(&found);
}

static void every_json_type(void **state) {
    (void)state;
    const char *data = ("{\"s\": \"text\", \"small\": 42, \"neg\": -7, \"i32max\": 2147483647,"
                        " \"over32\": 2147483648, \"safe\": 9007199254740991,"
                        " \"i64max\": 9223372036854775807, \"i64min\": -9223372036854775808,"
                        " \"r\": 0.25, \"big_r\": 1.5e300, \"t\": true, \"f\": false, \"n\": null,"
                        " \"a\": [1, \"two\", 3.5, null, {\"k\": \"v\"}], \"o\": {}, \"e\": []}");
    bson_t b;
    assert_round_trip(data, &b);
    assert_int_equal(type_at(&b, "data.s"), BSON_TYPE_UTF8);
    assert_int_equal(type_at(&b, "data.small"), BSON_TYPE_INT32);
    assert_int_equal(type_at(&b, "data.neg"), BSON_TYPE_INT32);
    assert_int_equal(type_at(&b, "data.i32max"), BSON_TYPE_INT32);
    assert_int_equal(type_at(&b, "data.over32"), BSON_TYPE_INT64);
    assert_int_equal(type_at(&b, "data.safe"), BSON_TYPE_INT64);
    assert_int_equal(type_at(&b, "data.i64max"), BSON_TYPE_INT64);
    assert_int_equal(type_at(&b, "data.i64min"), BSON_TYPE_INT64);
    assert_int_equal(type_at(&b, "data.r"), BSON_TYPE_DOUBLE);
    assert_int_equal(type_at(&b, "data.t"), BSON_TYPE_BOOL);
    assert_int_equal(type_at(&b, "data.n"), BSON_TYPE_NULL);
    assert_int_equal(type_at(&b, "data.a"), BSON_TYPE_ARRAY);
    assert_int_equal(type_at(&b, "data.a.4.k"), BSON_TYPE_UTF8);
    assert_int_equal(type_at(&b, "data.o"), BSON_TYPE_DOCUMENT);
    assert_int_equal(type_at(&b, "data.e"), BSON_TYPE_ARRAY);
    bson_iter_t it, v;
    assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "data.i64min", &v));
    assert_true(bson_iter_int64(&v) == INT64_MIN);
    bson_destroy(&b);
}

static void keeps_key_order_and_nesting(void **state) {
    (void)state;
    const char *data = ("{\"z\": 1, \"a\": 2, \"m\": {\"y\": [{\"b\": 1, \"a\": 2}], \"x\": "
                        "{\"p\": {\"q\": {\"r\": [true]}}}}, \"params\": {\"temperature\": 0.7,"
                        " \"max_tokens\": 512}, \"attachments\": [{\"filename\": \"a.pdf\","
                        " \"file_type\": \"pdf\"}]}");
    bson_t b;
    assert_round_trip(data, &b);
    bson_iter_t it, child;
    assert_true(bson_iter_init_find(&it, &b, "data") && bson_iter_recurse(&it, &child));
    const char *order[] = {"z", "a", "m", "params", "attachments"};
    for (size_t i = 0; i < 5; i++) {
        assert_true(bson_iter_next(&child));
        assert_string_equal(bson_iter_key(&child), order[i]);
    }
    assert_int_equal(type_at(&b, "data.m.x.p.q.r.0"), BSON_TYPE_BOOL);
    /* key order survives the way back too: dump both, compare text */
    json_t *back = tally_bson_json_doc(&b);
    char *s1 = json_dumps(json_object_get(back, "data"), JSON_COMPACT);
    json_t *expect = parse(data);
    char *s2 = json_dumps(expect, JSON_COMPACT);
    json_decref(expect);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    json_decref(back);
    bson_destroy(&b);
}

static void unicode(void **state) {
    (void)state;
    const char *data = ("{\"question\": \"Qual é a previsão? \\u00e7\\u00e3o \\ud83d\\ude00 "
                        "中文\","
                        " \"chave_ção\": \"✓\", \"esc\": \"tab\\t nl\\n quote\\\" bs\\\\\"}");
    bson_t b;
    assert_round_trip(data, &b);
    bson_iter_t it, v;
    assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "data.question", &v));
    uint32_t len;
    const char *s = bson_iter_utf8(&v, &len);
    assert_true(bson_utf8_validate(s, len, false));
    assert_non_null(strstr(s, "\xf0\x9f\x98\x80")); /* U+1F600 as 4 UTF-8 bytes */
    assert_true(bson_iter_init(&it, &b) && bson_iter_find_descendant(&it, "data.chave_ção", &v));
    bson_destroy(&b);
}

static void encodes_keys_ferretdb_refuses(void **state) {
    (void)state;
    const char *data = ("{\"utm.source\": \"ads\", \"$where\": 1, \"100%\": true, \"x$y\": 2,"
                        " \"\": \"empty\", \"%25\": \"literal\", \"%a\": [1], \"m\": {\"a.b.c\": {"
                        "\"$in\": [\"q\"]}}}");
    bson_t b;
    assert_round_trip(data, &b);
    bson_iter_t it, child;
    assert_true(bson_iter_init_find(&it, &b, "data") && bson_iter_recurse(&it, &child));
    const char *stored[] = {"utm%2Esource", "%24where", "100%25", "x$y", "", "%2525", "%25a", "m"};
    for (size_t i = 0; i < 8; i++) {
        assert_true(bson_iter_next(&child));
        assert_string_equal(bson_iter_key(&child), stored[i]);
    }
    assert_int_equal(type_at(&b, "data.m.a%2Eb%2Ec.%24in"), BSON_TYPE_ARRAY);
    bson_destroy(&b);
}

static void wraps_arrays_in_arrays(void **state) {
    (void)state;
    const char *data = ("{\"matrix\": [[1, 2], [[3]], [], 4], \"wrapped_look\": [{\"%a\": [5]}]}");
    bson_t b;
    assert_round_trip(data, &b);
    assert_int_equal(type_at(&b, "data.matrix.0"), BSON_TYPE_DOCUMENT);
    assert_int_equal(type_at(&b, "data.matrix.0.%a"), BSON_TYPE_ARRAY);
    assert_int_equal(type_at(&b, "data.matrix.0.%a.1"), BSON_TYPE_INT32);
    assert_int_equal(type_at(&b, "data.matrix.1.%a.0.%a.0"), BSON_TYPE_INT32);
    assert_int_equal(type_at(&b, "data.matrix.3"), BSON_TYPE_INT32);
    /* a user's own {"%a": …} is an object with an encoded key, never unwrapped */
    assert_int_equal(type_at(&b, "data.wrapped_look.0.%25a"), BSON_TYPE_ARRAY);
    bson_destroy(&b);
}

/* {"d": {"d": … {} … }} with `levels` objects, as text. */
static char *nested_objects(int levels) {
    char *t = malloc((size_t)levels * 7 + 1), *o = t;
    for (int i = 0; i < levels - 1; i++) o += sprintf(o, "{\"d\": ");
    o += sprintf(o, "{}");
    for (int i = 0; i < levels - 1; i++) *o++ = '}';
    *o = '\0';
    return t;
}

static void refuses_deep_nesting(void **state) {
    (void)state;
    char *text = nested_objects(TALLY_JSON_BSON_MAX_DEPTH + 6);
    tally_json_doc *doc = parse_doc(text);
    tally_err err = {0};
    bson_t b = BSON_INITIALIZER;
    assert_int_equal(tally_json_bson_append(&b, "data", tally_json_root(doc), &err), TALLY_EINVAL);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    assert_true(strncmp(err.msg, "data.d.d.d", 10) == 0);
    bson_destroy(&b);
    tally_json_free(doc);
    free(text);

    /* the limit itself is fine */
    text = nested_objects(TALLY_JSON_BSON_MAX_DEPTH);
    bson_t ok;
    assert_round_trip(text, &ok);
    bson_destroy(&ok);
    free(text);
}

static void members_need_an_object(void **state) {
    (void)state;
    tally_err err = {0};
    bson_t b = BSON_INITIALIZER;
    tally_json_doc *arr = parse_doc("[]");
    assert_int_equal(tally_json_bson_append_members(&b, tally_json_root(arr), &err), TALLY_EINVAL);
    tally_json_free(arr);
    tally_json_doc *obj = parse_doc("{\"a.b\": 1}");
    assert_int_equal(tally_json_bson_append_members(&b, tally_json_root(obj), &err), TALLY_OK);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &b, "a%2Eb"));
    tally_json_free(obj);
    bson_destroy(&b);
}

/* An erased user's event: content fields left out, user_id replaced in place
 * (or added last), every other member as it was. */
static void redacted_data(void **state) {
    (void)state;
    static const char *const drop[] = {"question", "answer", NULL};
    tally_json_doc *doc = parse_doc(
        "{\"tenant_id\": \"t\", \"question\": \"q?\", \"user_id\": "
        "\"5511999\", \"answer\": \"a\", \"n\": 3, \"m.x\": {\"k\": 1}}");
    tally_err err = {0};
    bson_t b = BSON_INITIALIZER;
    assert_int_equal(tally_json_bson_append_redacted(&b, "data", tally_json_root(doc), drop,
                                                     "erased-0123456789abcdef", &err),
                     TALLY_OK);
    json_t *back = tally_bson_json_doc(&b);
    char *text = json_dumps(json_object_get(back, "data"), JSON_COMPACT);
    assert_string_equal(text, "{\"tenant_id\":\"t\",\"user_id\":\"erased-0123456789abcdef\","
                              "\"n\":3,\"m.x\":{\"k\":1}}");
    free(text);
    json_decref(back);
    bson_destroy(&b);
    tally_json_free(doc);

    doc = parse_doc("{\"tenant_id\": \"t\"}");
    bson_init(&b);
    assert_int_equal(
        tally_json_bson_append_redacted(&b, "data", tally_json_root(doc), drop, "erased-x", &err),
        TALLY_OK);
    assert_int_equal(type_at(&b, "data.user_id"), BSON_TYPE_UTF8);
    bson_destroy(&b);
    tally_json_free(doc);
}

static void bson_only_types_to_json(void **state) {
    (void)state;
    bson_t b = BSON_INITIALIZER;
    BSON_APPEND_DATE_TIME(&b, "when", 1773500400123LL); /* 2026-03-14T15:00:00.123Z */
    BSON_APPEND_DATE_TIME(&b, "before", -1);
    bson_decimal128_t dec;
    bson_decimal128_from_string("12.345600", &dec);
    BSON_APPEND_DECIMAL128(&b, "money", &dec);
    BSON_APPEND_INT32(&b, "i", 7);
    json_t *j = tally_bson_json_doc(&b);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "when")), "2026-03-14T15:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "before")),
                        "1969-12-31T23:59:59.999Z");
    assert_string_equal(json_string_value(json_object_get(j, "money")), "12.345600");
    assert_int_equal(json_integer_value(json_object_get(j, "i")), 7);
    json_decref(j);
    bson_destroy(&b);
}

static void interaction_checks(void **state) {
    (void)state;
    tally_json_doc *data = parse_doc(
        "{\"tenant_id\": \"t1\", \"user_id\": \"u1\", \"model_id\": \"m\"}");
    tally_json_doc *no_tenant = parse_doc("{\"user_id\": \"u1\"}");
    tally_err err = {0};
    tally_docs_interaction it = {.id = "evt-1", .time_us = 1, .data = tally_json_root(data)};
    assert_int_equal(tally_docs_check_interaction(&it, &err), TALLY_OK);
    it.id = "";
    assert_int_equal(tally_docs_check_interaction(&it, &err), TALLY_EINVAL);
    assert_string_equal(err.msg, "id: missing");
    it.id = "evt-1";
    it.data = tally_json_root(no_tenant);
    assert_int_equal(tally_docs_check_interaction(&it, &err), TALLY_EINVAL);
    assert_string_equal(err.msg, "data.tenant_id: missing");
    it.subject = "t1"; /* the subject stands in for a missing data.tenant_id */
    assert_int_equal(tally_docs_check_interaction(&it, &err), TALLY_OK);
    tally_json_doc *arr = parse_doc("[]");
    it.data = tally_json_root(arr);
    assert_int_equal(tally_docs_check_interaction(&it, &err), TALLY_EINVAL);
    assert_string_equal(err.msg, "data: not an object");
    tally_json_free(arr);
    tally_json_free(no_tenant);
    tally_json_free(data);
}

/* The compiled-in index definitions are the schema file, byte for byte. */
static void builtin_indexes_are_the_schema_file(void **state) {
    (void)state;
    const char *path = TALLY_FIXTURES "/../../schemas/mongo/interactions.indexes.json";
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(tally_docs_builtin_indexes_json(), buf);
    json_t *spec = parse(buf);
    assert_string_equal(json_string_value(json_object_get(spec, "collection")),
                        TALLY_DOCS_COLLECTION);
    assert_true(json_array_size(json_object_get(spec, "indexes")) >= 3);
    json_decref(spec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_json_type),
        cmocka_unit_test(keeps_key_order_and_nesting),
        cmocka_unit_test(unicode),
        cmocka_unit_test(encodes_keys_ferretdb_refuses),
        cmocka_unit_test(wraps_arrays_in_arrays),
        cmocka_unit_test(refuses_deep_nesting),
        cmocka_unit_test(members_need_an_object),
        cmocka_unit_test(redacted_data),
        cmocka_unit_test(bson_only_types_to_json),
        cmocka_unit_test(interaction_checks),
        cmocka_unit_test(builtin_indexes_are_the_schema_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
