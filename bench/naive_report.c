/*
 * docs_report — the "naive" usage report, summed by the history server over
 * the raw interactions, for benchmarks against the rollups.
 *
 * One aggregation per metric ($match tenant + window, $group by
 * data.model_id with a single $sum, $sort), merged here. A single $group
 * with four accumulators is what MongoDB would want, but FerretDB 1.24
 * computes only the first accumulator of a $group: it feeds every
 * accumulator the same, already consumed, iterator of the group's documents,
 * so the others come out 0. No day key either: FerretDB 1.24's aggregation
 * expressions are $sum and $type only ($dateToString, $year, $subtract, $mod,
 * $dateTrunc are all "not implemented"), so rows are per model over the whole
 * window.
 */
#include <mongoc/mongoc.h>
#include <stdlib.h>
#include <string.h>

#include "naive_report.h"

struct naive_report {
    mongoc_client_t *client;   /* owned */
    mongoc_collection_t *coll; /* owned: <the URL's database>.interactions */
};

naive_report *naive_report_open(const char *mongo_url, tally_err *err) {
    mongoc_init();
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(mongo_url, &e);
    if (!uri) {
        tally_err_set(err, TALLY_EINVAL, "mongo url: %s", e.message);
        return NULL;
    }
    const char *db = mongoc_uri_get_database(uri);
    naive_report *r = db ? calloc(1, sizeof *r) : NULL;
    if (r) r->client = mongoc_client_new_from_uri(uri);
    if (r && r->client) r->coll = mongoc_client_get_collection(r->client, db, "interactions");
    mongoc_uri_destroy(uri);
    if (!r || !r->coll) {
        naive_report_close(r);
        tally_err_set(err, TALLY_EINVAL, "mongo url: %s",
                      db ? "cannot connect" : "names no database");
        return NULL;
    }
    return r;
}

void naive_report_close(naive_report *r) {
    if (!r) return;
    if (r->coll) mongoc_collection_destroy(r->coll);
    if (r->client) mongoc_client_destroy(r->client);
    free(r);
}

/* µs since the epoch → BSON date ms, rounded up: "t >= bound" keeps its
 * meaning for a bound that is not on a whole millisecond. */
static int64_t ms_ceil(int64_t us) { return us >= 0 ? (us + 999) / 1000 : -((-us) / 1000); }

static const struct {
    const char *name; /* the row's field */
    const char *path; /* what $sum adds up; NULL: 1 per interaction */
} metrics[] = {
    {"requests", NULL},
    {"input_tokens", "$data.input_tokens"},
    {"output_tokens", "$data.output_tokens"},
    {"cached_tokens", "$data.cached_tokens"},
};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

static void build_pipeline(bson_t *p, const char *tenant_id, int64_t from_us, int64_t to_us,
                           const char *path) {
    bson_t stage, match, range, group, sum, sort;
    BSON_APPEND_DOCUMENT_BEGIN(p, "0", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &match);
    BSON_APPEND_UTF8(&match, "tenant_id", tenant_id);
    BSON_APPEND_DOCUMENT_BEGIN(&match, "time", &range);
    BSON_APPEND_DATE_TIME(&range, "$gte", ms_ceil(from_us));
    BSON_APPEND_DATE_TIME(&range, "$lt", ms_ceil(to_us));
    bson_append_document_end(&match, &range);
    bson_append_document_end(&stage, &match);
    bson_append_document_end(p, &stage);

    BSON_APPEND_DOCUMENT_BEGIN(p, "1", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$group", &group);
    BSON_APPEND_UTF8(&group, "_id", "$data.model_id");
    BSON_APPEND_DOCUMENT_BEGIN(&group, "v", &sum);
    if (path)
        BSON_APPEND_UTF8(&sum, "$sum", path);
    else
        BSON_APPEND_INT32(&sum, "$sum", 1);
    bson_append_document_end(&group, &sum);
    bson_append_document_end(&stage, &group);
    bson_append_document_end(p, &stage);

    BSON_APPEND_DOCUMENT_BEGIN(p, "2", &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&stage, &sort);
    bson_append_document_end(p, &stage);
}

/* The rows being built: in the order first seen, and by model id. */
typedef struct {
    json_t *rows;     /* array, owned */
    json_t *by_model; /* model id → row (borrowed from rows), owned */
    json_t *no_model; /* the row of interactions without a model id, borrowed */
} row_set;

/* The row of the model under `id`, created with every metric 0 on first sight. */
static json_t *row_for(row_set *rs, const bson_iter_t *id) {
    uint32_t len = 0;
    const char *s = BSON_ITER_HOLDS_UTF8(id) ? bson_iter_utf8(id, &len) : NULL;
    json_t *row = s ? json_object_getn(rs->by_model, s, len) : rs->no_model;
    if (row) return row;
    row = json_object();
    json_t *model = s ? json_stringn(s, len) : json_null();
    if (!row || !model || json_object_set_new(row, "model_id", model) != 0) {
        json_decref(row);
        return NULL;
    }
    for (size_t m = 0; m < N_METRICS; m++)
        json_object_set_new(row, metrics[m].name, json_integer(0));
    if (json_array_append_new(rs->rows, row) != 0) return NULL;
    if (s)
        json_object_setn(rs->by_model, s, len, row);
    else
        rs->no_model = row;
    return row;
}

static json_t *number_of(const bson_iter_t *v) {
    if (BSON_ITER_HOLDS_INT32(v) || BSON_ITER_HOLDS_INT64(v))
        return json_integer(bson_iter_as_int64(v));
    double r = bson_iter_as_double(v);
    if (r == (double)(json_int_t)r) return json_integer((json_int_t)r);
    return json_real(r);
}

static tally_code run_metric(naive_report *r, size_t m, const bson_t *pipeline, row_set *rs,
                             tally_err *err) {
    mongoc_cursor_t *cur = mongoc_collection_aggregate(r->coll, MONGOC_QUERY_NONE, pipeline, NULL,
                                                       NULL);
    const bson_t *doc;
    tally_code rc = TALLY_OK;
    while (rc == TALLY_OK && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t id, v;
        if (!bson_iter_init_find(&id, doc, "_id") || !bson_iter_init_find(&v, doc, "v")) continue;
        json_t *row = row_for(rs, &id);
        if (!row || json_object_set_new(row, metrics[m].name, number_of(&v)) != 0)
            rc = tally_err_set(err, TALLY_ENOMEM, "out of memory");
    }
    bson_error_t e;
    if (rc == TALLY_OK && mongoc_cursor_error(cur, &e))
        rc = tally_err_set(err, TALLY_ESTORE, "mongo aggregate: %s", e.message);
    mongoc_cursor_destroy(cur);
    return rc;
}

tally_code naive_report_usage(naive_report *r, const char *tenant_id, int64_t from_us,
                              int64_t to_us, json_t **rows_out, tally_err *err) {
    if (!tenant_id || !*tenant_id) return tally_err_set(err, TALLY_EINVAL, "tenant_id: missing");
    row_set rs = {json_array(), json_object(), NULL};
    tally_code rc = rs.rows && rs.by_model ? TALLY_OK
                                           : tally_err_set(err, TALLY_ENOMEM, "out of memory");
    for (size_t m = 0; m < N_METRICS && rc == TALLY_OK; m++) {
        bson_t pipeline = BSON_INITIALIZER;
        build_pipeline(&pipeline, tenant_id, from_us, to_us, metrics[m].path);
        rc = run_metric(r, m, &pipeline, &rs, err);
        bson_destroy(&pipeline);
    }
    json_decref(rs.by_model);
    if (rc != TALLY_OK) {
        json_decref(rs.rows);
        return rc;
    }
    *rows_out = rs.rows;
    return TALLY_OK;
}
