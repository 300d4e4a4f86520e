/*
 * Integration tests of documents/ (tally_docs) on the real history server of
 * the local stack (FerretDB; MongoDB in compose). TALLY_MONGO_URL says where
 * it is (default mongodb://127.0.0.1:27017/tally); these tests use a database
 * of their own, tally_test_documents, and drop its collection as they go.
 * A server that cannot be reached is a failure, not a skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naive_report.h"
#include "tally_docs.h"
#include "tally_common.h"

#define TEST_DB "tally_test_documents"
#define T0 1773489600000000LL /* 2026-03-14T12:00:00Z in µs */
#define SEC 1000000LL

static char test_url[1024];

/* TALLY_MONGO_URL with the test database in place of its own and, unless the
 * URL sets one, a server selection timeout short enough for a failing run to
 * end soon. (mongoc_uri_set_database does not change the URI's text.) */
static void make_test_url(void) {
    const char *url = getenv("TALLY_MONGO_URL");
    if (!url || !*url) url = "mongodb://127.0.0.1:27017/tally";
    const char *hosts = strstr(url, "://");
    if (!hosts) fail_msg("TALLY_MONGO_URL: not a mongodb:// URL: %s", url);
    hosts += 3;
    size_t host_len = strcspn(hosts, "/?");
    const char *opts = strchr(hosts + host_len, '?');
    bool has_timeout = opts && strcasestr(opts, "serverSelectionTimeoutMS=");
    snprintf(test_url, sizeof test_url, "%.*s/%s%s%s%s", (int)(hosts + host_len - url), url,
             TEST_DB, opts ? opts : "",
             has_timeout ? ""
             : opts      ? "&"
                         : "?",
             has_timeout ? "" : "serverSelectionTimeoutMS=5000");
}

static int setup(void **state) {
    make_test_url();
    tally_err err = {0};
    tally_docs *d = tally_docs_open(test_url, &err);
    if (!d) fail_msg("open %s: %s", test_url, err.msg);
    if (tally_docs_ping(d, &err) != TALLY_OK)
        fail_msg("the history server must be up (scripts/stack up): %s", err.msg);
    assert_string_equal(tally_docs_database(d), TEST_DB);
    *state = d;
    return 0;
}

static int teardown(void **state) {
    tally_docs *d = *state;
    if (!d) return 0;
    tally_err err = {0};
    tally_docs_drop_interactions(d, &err);
    tally_docs_close(d);
    return 0;
}

static void fresh(tally_docs *d) {
    tally_err err = {0};
    if (tally_docs_drop_interactions(d, &err) != TALLY_OK) fail_msg("drop: %s", err.msg);
    if (tally_docs_ensure_indexes(d, NULL, &err) != TALLY_OK) fail_msg("indexes: %s", err.msg);
}

/* ---- fixtures ------------------------------------------------------------ */

static const char *lorem =
    "Bom dia! Preciso entender a fatura deste mes: apareceu uma cobranca de "
    "servico adicional que eu nao contratei, e o valor total ficou bem acima do "
    "plano. Podem verificar e me explicar o que aconteceu?";

/* A realistic interaction (about 1 KB as JSON) of tenant/user/conversation. */
static json_t *make_data(const char *tenant, int user, int conv, const char *model, int i) {
    char user_id[16], conv_id[16];
    snprintf(user_id, sizeof user_id, "user-%d", user);
    snprintf(conv_id, sizeof conv_id, "conv-%d", conv);
    json_t *d = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:b, s:b, s:f, s:s,"
        " s:s, s:s, s:{s:f, s:i, s:f}, s:[{s:s, s:s}], s:{s:s, s:{s:s, s:s}, s:[i, i]}}",
        "tenant_id", tenant, "user_id", user_id, "model_id", model, "kind", "chat",
        "conversation_id", conv_id, "agent_id", "agent-suporte", "channel", "whatsapp",
        "input_tokens", 800 + i % 50, "output_tokens", 200 + i % 30, "cached_tokens",
        i % 4 == 0 ? 128 : 0, "latency_ms", 900 + i, "status", i % 17 ? "ok" : "error",
        "was_cached", i % 4 == 0, "was_fallback", 0, "cost_usd", 0.000262, "question", lorem,
        "answer",
        "Claro! Verifiquei sua fatura: a cobranca adicional refere-se ao pacote de "
        "mensagens excedentes do dia 12. Se preferir, posso abrir um chamado para "
        "revisao do valor junto ao financeiro.",
        "intent", "billing", "params", "temperature", 0.7, "max_tokens", 1024, "top_p", 0.95,
        "attachments", "filename", "fatura-03.pdf", "file_type", "application/pdf", "metadata",
        "ip_hash", "9f86d081884c7d659a2feaa0c55ad015", "client", "app", "web", "version", "3.2.1",
        "experiments", 12, 7);
    if (!d) fail_msg("json_pack failed");
    return d;
}

/* The interactions' data as the ingester hands it over: parsed by tally_json
 * (from the jansson tree's text, so that the test can keep building and
 * reading data with jansson). */
static tally_json_doc *as_parsed(const json_t *data) {
    char *text = json_dumps(data, JSON_COMPACT);
    tally_json_error je;
    tally_json_doc *doc = tally_json_parse(text, strlen(text), &je);
    if (!doc) fail_msg("tally_json refused %s: %s", text, je.text);
    free(text);
    return doc;
}

typedef struct {
    tally_docs_interaction *items;
    json_t **datas;
    tally_json_doc **docs;
    char (*ids)[48];
    size_t n;
} batch;

static void batch_init(batch *b, size_t n) {
    b->items = calloc(n, sizeof *b->items);
    b->datas = calloc(n, sizeof *b->datas);
    b->docs = calloc(n, sizeof *b->docs);
    b->ids = calloc(n, sizeof *b->ids);
    b->n = n;
}

static void batch_free(batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->datas[i]);
        tally_json_free(b->docs[i]);
    }
    free(b->items);
    free(b->datas);
    free(b->docs);
    free(b->ids);
}

/* Item i of tenant: id "<prefix>-<i>", time T0 + (i / same) seconds. */
static void batch_fill(batch *b, size_t from, size_t n, const char *prefix, const char *tenant,
                       int same) {
    for (size_t i = from; i < from + n; i++) {
        snprintf(b->ids[i], sizeof b->ids[i], "%s-%05zu", prefix, i);
        b->datas[i] = make_data(tenant, (int)(i % 3), (int)(i % 2),
                                i % 5 ? "openai/gpt-4o-mini" : "anthropic/claude", (int)i);
        b->docs[i] = as_parsed(b->datas[i]);
        b->items[i] = (tally_docs_interaction){.id = b->ids[i],
                                               .time_us = T0 + (int64_t)(i / (size_t)same) * SEC,
                                               .source = "gateway-sp-1",
                                               .subject = tenant,
                                               .data = tally_json_root(b->docs[i])};
    }
}

static void insert_ok(tally_docs *d, const batch *b, size_t want_ins, size_t want_dup) {
    tally_err err = {0};
    size_t ins = 99, dup = 99;
    tally_code rc = tally_docs_insert_interactions(d, b->items, b->n, &ins, &dup, &err);
    if (rc != TALLY_OK) fail_msg("insert: %s", err.msg);
    assert_int_equal(ins, want_ins);
    assert_int_equal(dup, want_dup);
}

static int64_t count(tally_docs *d, const char *tenant) {
    tally_err err = {0};
    int64_t n = -1;
    if (tally_docs_count_interactions(d, tenant, &n, &err) != TALLY_OK)
        fail_msg("count: %s", err.msg);
    return n;
}

/* ---- tests --------------------------------------------------------------- */

static void indexes_are_idempotent(void **state) {
    tally_docs *d = *state;
    tally_err err = {0};
    fresh(d);
    assert_int_equal(tally_docs_ensure_indexes(d, NULL, &err), TALLY_OK);
    const char *path = TALLY_FIXTURES "/../../schemas/mongo/interactions.indexes.json";
    if (tally_docs_ensure_indexes(d, path, &err) != TALLY_OK) fail_msg("%s", err.msg);

    mongoc_client_t *c = mongoc_client_new(test_url);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, TEST_DB, TALLY_DOCS_COLLECTION);
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
    const bson_t *doc;
    int found = 0, total = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        assert_true(bson_iter_init_find(&it, doc, "name"));
        const char *name = bson_iter_utf8(&it, NULL);
        total++;
        found += !strcmp(name, "tenant_time") + !strcmp(name, "tenant_user_time") +
                 !strcmp(name, "tenant_conversation_time");
    }
    bson_error_t e;
    if (mongoc_cursor_error(cur, &e)) fail_msg("listIndexes: %s", e.message);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    assert_int_equal(found, 3);
    assert_int_equal(total, 4); /* and _id_ */

    assert_int_equal(tally_docs_ensure_indexes(d, "/nonexistent/indexes.json", &err), TALLY_EINVAL);
}

static void redelivery_is_a_no_op(void **state) {
    tally_docs *d = *state;
    fresh(d);
    batch first, again;
    batch_init(&first, 1000);
    batch_fill(&first, 0, 1000, "evt", "tenant-a", 1);
    insert_ok(d, &first, 1000, 0);
    assert_int_equal(count(d, NULL), 1000);

    batch_init(&again, 1010); /* the same 1000 + 10 new, in one call */
    batch_fill(&again, 0, 1010, "evt", "tenant-a", 1);
    insert_ok(d, &again, 10, 1000);
    assert_int_equal(count(d, NULL), 1010);
    assert_int_equal(count(d, "tenant-a"), 1010);
    assert_int_equal(count(d, "tenant-b"), 0);

    /* a duplicate inside one batch is a duplicate too */
    batch twice;
    batch_init(&twice, 2);
    batch_fill(&twice, 0, 1, "dup", "tenant-a", 1);
    batch_fill(&twice, 1, 1, "dup", "tenant-a", 1);
    strcpy(twice.ids[1], twice.ids[0]);
    insert_ok(d, &twice, 1, 1);

    tally_err err = {0};
    size_t ins = 7, dup = 7;
    assert_int_equal(tally_docs_insert_interactions(d, NULL, 0, &ins, &dup, &err), TALLY_OK);
    assert_int_equal(ins + dup, 0);
    batch_free(&twice);
    batch_free(&again);
    batch_free(&first);
}

static void a_bad_item_sends_nothing(void **state) {
    tally_docs *d = *state;
    fresh(d);
    batch b;
    batch_init(&b, 5);
    batch_fill(&b, 0, 5, "bad", "tenant-a", 1);
    /* nested deeper than a stored document may be */
    json_t *deep = json_object();
    for (int i = 0; i < 100; i++) {
        json_t *outer = json_object();
        json_object_set_new(outer, "d", deep);
        deep = outer;
    }
    json_object_set_new(json_object_get(b.datas[3], "metadata"), "blob", deep);
    tally_json_free(b.docs[3]);
    b.docs[3] = as_parsed(b.datas[3]);
    b.items[3].data = tally_json_root(b.docs[3]);
    tally_err err = {0};
    size_t ins, dup;
    assert_int_equal(tally_docs_insert_interactions(d, b.items, b.n, &ins, &dup, &err),
                     TALLY_EINVAL);
    assert_true(strncmp(err.msg, "items[3] (id bad-00003): data.metadata.blob.d.d", 47) == 0);
    assert_non_null(strstr(err.msg, ": nested too deeply"));
    assert_int_equal(tally_docs_check_interaction(&b.items[3], &err), TALLY_EINVAL);
    assert_int_equal(tally_docs_check_interaction(&b.items[2], &err), TALLY_OK);
    assert_int_equal(count(d, NULL), 0);
    batch_free(&b);
}

/* What goes in comes out: every data field, unknown ones, odd keys, nested
 * arrays, unicode, and the stored top-level copies. */
static void data_round_trips(void **state) {
    tally_docs *d = *state;
    fresh(d);
    json_t *data = make_data("tenant-rt", 1, 1, "openai/gpt-4o-mini", 3);
    json_error_t je;
    json_t *extra = json_loads(
        "{\"future_field\": {\"x\": [1, 2.5, \"três\", null, true]}, \"utm.source\": \"ads\","
        " \"$weird\": {\"a.b\": \"%41\"}, \"embedding\": [[0.1, 0.2], [0.3]], \"emoji\": \"😀\","
        " \"big\": 9007199254740991, \"audio_seconds\": 12.5, \"empty\": {}, \"none\": []}",
        0, &je);
    assert_non_null(extra);
    json_object_update(data, extra);
    json_decref(extra);
    tally_json_doc *parsed = as_parsed(data);
    tally_docs_interaction it = {.id = "evt-round-trip",
                                 .time_us = T0 + 123456, /* .123456 s: stored to the ms */
                                 .time_text = "2026-03-14T09:00:00.123456-03:00",
                                 .source = "gateway-sp-1",
                                 .subject = "tenant-rt",
                                 .data = tally_json_root(parsed)};
    tally_err err = {0};
    size_t ins, dup;
    if (tally_docs_insert_interactions(d, &it, 1, &ins, &dup, &err) != TALLY_OK)
        fail_msg("insert: %s", err.msg);
    assert_int_equal(ins, 1);

    tally_docs_query q = {.tenant_id = "tenant-rt", .limit = 10};
    json_t *items = NULL;
    char *next = (char *)"x";
    if (tally_docs_find_interactions(d, &q, &items, &next, &err) != TALLY_OK)
        fail_msg("find: %s", err.msg);
    assert_null(next);
    assert_int_equal(json_array_size(items), 1);
    json_t *item = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(item, "id")), "evt-round-trip");
    assert_string_equal(json_string_value(json_object_get(item, "time")),
                        "2026-03-14T12:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(item, "source")), "gateway-sp-1");
    if (!json_equal(json_object_get(item, "data"), data)) {
        char *a = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        char *b = json_dumps(json_object_get(item, "data"), JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("data changed:\n  sent %s\n  back %s", a, b);
    }
    json_decref(items);

    /* the stored document itself */
    mongoc_client_t *c = mongoc_client_new(test_url);
    mongoc_collection_t *coll = mongoc_client_get_collection(c, TEST_DB, TALLY_DOCS_COLLECTION);
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", "evt-round-trip");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
    const bson_t *doc;
    assert_true(mongoc_cursor_next(cur, &doc));
    bson_iter_t i;
    assert_true(bson_iter_init_find(&i, doc, "time") && BSON_ITER_HOLDS_DATE_TIME(&i));
    assert_true(bson_iter_date_time(&i) == T0 / 1000 + 123);
    assert_true(bson_iter_init_find(&i, doc, "time_text"));
    assert_string_equal(bson_iter_utf8(&i, NULL), "2026-03-14T09:00:00.123456-03:00");
    assert_true(bson_iter_init_find(&i, doc, "tenant_id"));
    assert_string_equal(bson_iter_utf8(&i, NULL), "tenant-rt");
    assert_true(bson_iter_init_find(&i, doc, "user_id"));
    assert_string_equal(bson_iter_utf8(&i, NULL), "user-1");
    assert_true(bson_iter_init_find(&i, doc, "conversation_id"));
    assert_string_equal(bson_iter_utf8(&i, NULL), "conv-1");
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(c);
    json_decref(data);
    tally_json_free(parsed);
}

/* Read every page of q; ids in order into out (n_out of them). */
static int read_all_pages(tally_docs *d, tally_docs_query q, char (*out)[48], size_t max,
                          size_t *n_out) {
    tally_err err = {0};
    char *cursor = NULL;
    int pages = 0;
    *n_out = 0;
    do {
        q.cursor = cursor;
        json_t *items;
        char *next;
        if (tally_docs_find_interactions(d, &q, &items, &next, &err) != TALLY_OK)
            fail_msg("find page %d: %s", pages + 1, err.msg);
        free(cursor);
        cursor = next;
        pages++;
        assert_true(json_array_size(items) <= (size_t)q.limit);
        if (next) assert_int_equal(json_array_size(items), q.limit);
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item) {
            assert_true(*n_out < max);
            snprintf(out[(*n_out)++], 48, "%s", json_string_value(json_object_get(item, "id")));
        }
        json_decref(items);
    } while (cursor && pages < 100);
    return pages;
}

/* Expected order: newest first, then id descending among equal times. */
static void expect_desc(batch *b, bool (*keep)(size_t), char (*got)[48], size_t n_got) {
    size_t n = 0;
    for (size_t k = b->n; k-- > 0;) { /* ids grow with time, so reverse order is (time, id) desc */
        if (keep && !keep(k)) continue;
        if (n >= n_got) fail_msg("missing %s (got only %zu)", b->ids[k], n_got);
        if (strcmp(got[n], b->ids[k]) != 0)
            fail_msg("position %zu: got %s, want %s", n, got[n], b->ids[k]);
        n++;
    }
    assert_int_equal(n, n_got);
}

static bool user1(size_t i) { return i % 3 == 1; }
static bool conv0(size_t i) { return i % 2 == 0; }
static bool window(size_t i) { return i / 3 >= 2 && i / 3 < 6; } /* [T0+2s, T0+6s) */

static void pages_newest_first(void **state) {
    tally_docs *d = *state;
    fresh(d);
    batch b, other;
    batch_init(&b, 25); /* times repeat in threes: ties are broken by id */
    batch_fill(&b, 0, 25, "pg", "tenant-p", 3);
    insert_ok(d, &b, 25, 0);
    batch_init(&other, 5); /* another tenant, same times: never shown */
    batch_fill(&other, 0, 5, "zz", "tenant-q", 3);
    insert_ok(d, &other, 5, 0);

    char got[64][48];
    size_t n;
    tally_docs_query q = {.tenant_id = "tenant-p", .limit = 10};
    assert_int_equal(read_all_pages(d, q, got, 64, &n), 3);
    expect_desc(&b, NULL, got, n);

    q.limit = 25; /* exactly one full page: no next cursor */
    assert_int_equal(read_all_pages(d, q, got, 64, &n), 1);
    assert_int_equal(n, 25);

    q = (tally_docs_query){.tenant_id = "tenant-p", .user_id = "user-1", .limit = 3};
    read_all_pages(d, q, got, 64, &n);
    expect_desc(&b, user1, got, n);

    q = (tally_docs_query){.tenant_id = "tenant-p", .conversation_id = "conv-0", .limit = 4};
    read_all_pages(d, q, got, 64, &n);
    expect_desc(&b, conv0, got, n);

    q = (tally_docs_query){.tenant_id = "tenant-p",
                           .has_from = true,
                           .from_us = T0 + 2 * SEC,
                           .has_to = true,
                           .to_us = T0 + 6 * SEC,
                           .limit = 5};
    assert_int_equal(read_all_pages(d, q, got, 64, &n), 3);
    expect_desc(&b, window, got, n);

    q = (tally_docs_query){.tenant_id = "tenant-none", .limit = 10};
    assert_int_equal(read_all_pages(d, q, got, 64, &n), 1);
    assert_int_equal(n, 0);
    batch_free(&other);
    batch_free(&b);
}

static void bad_queries(void **state) {
    tally_docs *d = *state;
    tally_err err = {0};
    json_t *items = NULL;
    char *next = NULL;
    const char *junk[] = {"",
                          "zz",
                          "abc",
                          "3a",
                          "00",
                          "313233",
                          "3a6964",
                          "2d3a6964",
                          "31323334353637383930313233343536373839303a78",
                          "31003a78",
                          "not a cursor at all",
                          "3132333a"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        tally_docs_query q = {.tenant_id = "tenant-p", .limit = 10, .cursor = junk[i]};
        tally_code rc = tally_docs_find_interactions(d, &q, &items, &next, &err);
        if (rc != TALLY_EINVAL) fail_msg("cursor '%s' accepted", junk[i]);
        assert_string_equal(err.msg, "cursor: malformed");
    }
    assert_null(items);
    tally_docs_query q = {.tenant_id = "tenant-p", .limit = 0};
    assert_int_equal(tally_docs_find_interactions(d, &q, &items, &next, &err), TALLY_EINVAL);
    q.limit = TALLY_DOCS_LIMIT_MAX + 1;
    assert_int_equal(tally_docs_find_interactions(d, &q, &items, &next, &err), TALLY_EINVAL);
    q = (tally_docs_query){.limit = 10};
    assert_int_equal(tally_docs_find_interactions(d, &q, &items, &next, &err), TALLY_EINVAL);
    /* a well-formed cursor of something never served is just a position */
    q = (tally_docs_query){.tenant_id = "tenant-p", .limit = 10, .cursor = "313a78"}; /* 1:x */
    assert_int_equal(tally_docs_find_interactions(d, &q, &items, &next, &err), TALLY_OK);
    json_decref(items);
}

static void naive_usage_sums(void **state) {
    tally_docs *d = *state;
    fresh(d);
    batch b;
    batch_init(&b, 40);
    batch_fill(&b, 0, 40, "use", "tenant-u", 1); /* one per second from T0 */
    insert_ok(d, &b, 40, 0);
    /* window [T0+5s, T0+30s): items 5..29 */
    int64_t want[2][4] = {{0}}; /* [gpt, claude][requests, in, out, cached] */
    for (size_t i = 5; i < 30; i++) {
        int m = i % 5 ? 0 : 1;
        want[m][0]++;
        want[m][1] += json_integer_value(json_object_get(b.datas[i], "input_tokens"));
        want[m][2] += json_integer_value(json_object_get(b.datas[i], "output_tokens"));
        want[m][3] += json_integer_value(json_object_get(b.datas[i], "cached_tokens"));
    }
    tally_err err = {0};
    json_t *rows;
    naive_report *nr = naive_report_open(test_url, &err);
    if (!nr) fail_msg("naive report: %s", err.msg);
    if (naive_report_usage(nr, "tenant-u", T0 + 5 * SEC, T0 + 30 * SEC, &rows, &err) != TALLY_OK)
        fail_msg("naive usage: %s", err.msg);
    assert_int_equal(json_array_size(rows), 2);
    const char *models[2] = {"anthropic/claude", "openai/gpt-4o-mini"}; /* by model_id */
    const char *fields[4] = {"requests", "input_tokens", "output_tokens", "cached_tokens"};
    for (int r = 0; r < 2; r++) {
        json_t *row = json_array_get(rows, (size_t)r);
        assert_string_equal(json_string_value(json_object_get(row, "model_id")), models[r]);
        int m = r == 0 ? 1 : 0;
        for (int f = 0; f < 4; f++) {
            json_int_t got = json_integer_value(json_object_get(row, fields[f]));
            if (got != want[m][f])
                fail_msg("%s %s: got %" PRId64 ", want %" PRId64, models[r], fields[f],
                         (int64_t)got, want[m][f]);
        }
    }
    json_decref(rows);
    if (naive_report_usage(nr, "tenant-none", T0, T0 + 60 * SEC, &rows, &err) != TALLY_OK)
        fail_msg("naive usage: %s", err.msg);
    assert_int_equal(json_array_size(rows), 0);
    json_decref(rows);
    naive_report_close(nr);
    batch_free(&b);
}

/* One handle, several threads: the pool hands each call its own client. */
typedef struct {
    tally_docs *d;
    int t;
    tally_code rc;
    char msg[512];
} worker;

static void *work(void *arg) {
    worker *w = arg;
    batch b;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "thr%d", w->t);
    batch_init(&b, 200);
    batch_fill(&b, 0, 200, prefix, "tenant-t", 1);
    tally_err err = {0};
    for (int round = 0; round < 5 && w->rc == TALLY_OK; round++) {
        size_t ins, dup;
        w->rc = tally_docs_insert_interactions(w->d, b.items + round * 40, 40, &ins, &dup, &err);
        tally_docs_query q = {.tenant_id = "tenant-t", .limit = 20};
        json_t *items;
        char *next;
        if (w->rc == TALLY_OK) w->rc = tally_docs_find_interactions(w->d, &q, &items, &next, &err);
        if (w->rc == TALLY_OK) {
            json_decref(items);
            free(next);
        }
    }
    if (w->rc != TALLY_OK) snprintf(w->msg, sizeof w->msg, "%s", err.msg);
    batch_free(&b);
    return NULL;
}

static void shared_between_threads(void **state) {
    tally_docs *d = *state;
    fresh(d);
    pthread_t th[4];
    worker w[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (worker){.d = d, .t = t};
        pthread_create(&th[t], NULL, work, &w[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        if (w[t].rc != TALLY_OK) fail_msg("thread %d: %s", t, w[t].msg);
    }
    assert_int_equal(count(d, "tenant-t"), 800);
}

static void unreachable_server_is_a_store_error(void **state) {
    (void)state;
    tally_err err = {0};
    /* port 1 on loopback: nothing listens there */
    tally_docs *d = tally_docs_open("mongodb://127.0.0.1:1/tally?serverSelectionTimeoutMS=300",
                                    &err);
    assert_non_null(d);
    assert_int_equal(tally_docs_ping(d, &err), TALLY_ESTORE);
    assert_non_null(strstr(err.msg, "mongo ping: "));
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    batch b;
    batch_init(&b, 3);
    batch_fill(&b, 0, 3, "down", "tenant-a", 1);
    size_t ins = 9, dup = 9;
    assert_int_equal(tally_docs_insert_interactions(d, b.items, b.n, &ins, &dup, &err),
                     TALLY_ESTORE);
    assert_non_null(strstr(err.msg, "mongo insert: "));
    assert_int_equal(ins + dup, 0);
    tally_docs_query q = {.tenant_id = "tenant-a", .limit = 5};
    json_t *items = NULL;
    char *next = NULL;
    assert_int_equal(tally_docs_find_interactions(d, &q, &items, &next, &err), TALLY_ESTORE);
    assert_null(items);
    int64_t n;
    assert_int_equal(tally_docs_count_interactions(d, NULL, &n, &err), TALLY_ESTORE);
    assert_int_equal(tally_docs_ensure_indexes(d, NULL, &err), TALLY_ESTORE);
    batch_free(&b);
    tally_docs_close(d);

    assert_null(tally_docs_open("http://not-mongo", &err));
    assert_int_equal(err.code, TALLY_EINVAL);
    assert_null(tally_docs_open("", &err));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(indexes_are_idempotent),
        cmocka_unit_test(redelivery_is_a_no_op),
        cmocka_unit_test(a_bad_item_sends_nothing),
        cmocka_unit_test(data_round_trips),
        cmocka_unit_test(pages_newest_first),
        cmocka_unit_test(bad_queries),
        cmocka_unit_test(naive_usage_sums),
        cmocka_unit_test(shared_between_threads),
        cmocka_unit_test(unreachable_server_is_a_store_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
