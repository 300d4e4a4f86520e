/*
 * bench_mongo_ceiling — how fast the history store takes interaction documents
 * when nothing else is in the way: the ceiling that tally-ingest is measured
 * against in bench/ingest.sh.
 *
 *     bench_mongo_ceiling [--batch N] [--indexes FILE] MONGO_URL FILE.ndjson
 *     bench_mongo_ceiling --drop-database MONGO_URL
 *
 * Reads an NDJSON file of events, keeps only the interaction.recorded lines and
 * stores each as the document the ingester stores (documents/tally_docs.h):
 *
 *   { _id, time (BSON date, ms), time_text, source, tenant_id, user_id,
 *     conversation_id, data: {…} }
 *
 * with `data` converted by libbson's own JSON reader (bson_new_from_json), in
 * unordered bulk inserts of N documents (default 2000, the ingester's batch),
 * the driver's per-document validation off as in the ingester. No Kafka, no
 * contract validation, no PostgreSQL. The collection is dropped and its
 * indexes created first (schemas/mongo/interactions.indexes.json, the copy
 * compiled into the documents library unless --indexes names a file), so the
 * store maintains the same indexes as under the ingester.
 *
 * Only the insert phase is timed: building a bulk operation from ready
 * documents, executing it and waiting for the reply. Reading and converting a
 * batch happens between the timed sections and is reported apart. When the
 * server fails or restarts (on the shared local stack, tests restart it), the
 * batch is retried as the ingester would: the failed attempts' time is left
 * out and reported, documents found already stored count as stored.
 *
 * The database is the URL's and must start with "bench" (it is dropped and
 * written to; a slip of the finger must not clear the real one).
 * --drop-database drops such a database and exits (the benchmark's cleanup).
 */
#include <getopt.h>
#include <jansson.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally_docs.h"
#include "tally_common.h"

#define DUPLICATE_KEY 11000

typedef struct {
    long long lines, skipped, unusable, docs, stored, inserted, found, retries;
    int64_t insert_us, failed_us, build_us;
    char first_error[256];
} ceiling_stats;

static void usage(FILE *out) {
    fprintf(out, "usage: bench_mongo_ceiling [--batch N] [--indexes FILE] MONGO_URL FILE.ndjson\n"
                 "       bench_mongo_ceiling --drop-database MONGO_URL\n"
                 "The database named by MONGO_URL must start with \"bench\".\n");
}

/* FerretDB 1.x has no endSessions: the driver's warning about it at exit is noise. */
static void log_handler(mongoc_log_level_t level, const char *domain, const char *message,
                        void *data) {
    if (!strstr(message, "endSessions")) mongoc_log_default_handler(level, domain, message, data);
}

static int64_t ms_floor(int64_t us) { return (us >= 0 ? us : us - 999) / 1000; }

/* The database of the URL, when it is one this program may clear. */
static char *bench_database(const char *url) {
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(url, &e);
    if (!uri) {
        fprintf(stderr, "bench_mongo_ceiling: %s: %s\n", url, e.message);
        return NULL;
    }
    const char *db = mongoc_uri_get_database(uri);
    char *out = db && !strncmp(db, "bench", 5) ? bson_strdup(db) : NULL;
    if (!out)
        fprintf(stderr,
                "bench_mongo_ceiling: %s: the database must be named and start with "
                "\"bench\"\n",
                url);
    mongoc_uri_destroy(uri);
    return out;
}

static int drop_database(const char *url) {
    char *db = bench_database(url);
    if (!db) return 2;
    mongoc_client_t *client = mongoc_client_new(url);
    mongoc_database_t *d = mongoc_client_get_database(client, db);
    bson_error_t e;
    int rc = 0;
    if (!mongoc_database_drop(d, &e)) {
        fprintf(stderr, "bench_mongo_ceiling: drop %s: %s\n", db, e.message);
        rc = 1;
    }
    mongoc_database_destroy(d);
    mongoc_client_destroy(client);
    bson_free(db);
    return rc;
}

/* Fresh collection with the history's indexes, through the documents layer
 * (the same code the ingester runs at start). */
static int prepare(const char *url, const char *indexes) {
    tally_err err = {0};
    tally_docs *d = tally_docs_open(url, &err);
    int rc = 1;
    if (!d) goto out;
    if (tally_docs_drop_interactions(d, &err) != TALLY_OK) goto out;
    if (tally_docs_ensure_indexes(d, indexes, &err) != TALLY_OK) goto out;
    rc = 0;
out:
    if (rc) fprintf(stderr, "bench_mongo_ceiling: preparing %s: %s\n", url, err.msg);
    tally_docs_close(d);
    return rc;
}

static const char *str(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

/* One interaction event as the stored document; false (doc untouched beyond
 * reinit) when the line is not an interaction or cannot be stored. */
static bool build_doc(bson_t *doc, const json_t *ev, ceiling_stats *st) {
    const json_t *data = json_object_get(ev, "data");
    const char *type = str(ev, "type"), *id = str(ev, "id"), *time_text = str(ev, "time");
    if (!type || strcmp(type, "interaction.recorded") != 0) {
        st->skipped++;
        return false;
    }
    const char *tenant = str(data, "tenant_id");
    if (!tenant) tenant = str(ev, "subject");
    tally_usec us;
    if (!id || !time_text || !json_is_object(data) || !tenant ||
        !tally_time_parse_rfc3339(time_text, &us)) {
        st->unusable++;
        return false;
    }
    char *text = json_dumps(data, JSON_COMPACT);
    bson_error_t e;
    bson_t *bdata = text ? bson_new_from_json((const uint8_t *)text, -1, &e) : NULL;
    free(text);
    if (!bdata) {
        if (!st->unusable++)
            snprintf(st->first_error, sizeof st->first_error, "data of %.40s: %.160s", id,
                     e.message);
        return false;
    }
    const char *source = str(ev, "source"), *user = str(data, "user_id"),
               *conversation = str(data, "conversation_id");
    bson_reinit(doc);
    bool ok = BSON_APPEND_UTF8(doc, "_id", id) &&
              BSON_APPEND_DATE_TIME(doc, "time", ms_floor(us)) &&
              BSON_APPEND_UTF8(doc, "time_text", time_text) &&
              (!source || BSON_APPEND_UTF8(doc, "source", source)) &&
              BSON_APPEND_UTF8(doc, "tenant_id", tenant) &&
              (!user || BSON_APPEND_UTF8(doc, "user_id", user)) &&
              (!conversation || BSON_APPEND_UTF8(doc, "conversation_id", conversation)) &&
              BSON_APPEND_DOCUMENT(doc, "data", bdata);
    bson_destroy(bdata);
    if (!ok) st->unusable++;
    return ok;
}

/* The timed part: one unordered bulk insert of docs[0..n). Returns true when
 * every document of the batch is now stored: inserted, or found stored by a
 * duplicate key (a document an earlier, failed attempt had stored), as in the
 * ingester. Otherwise (the server or the connection failed, or a document was
 * refused) the caller retries the whole batch, and the time of this attempt is
 * kept apart. */
static bool insert_batch(mongoc_collection_t *coll, bson_t *docs, size_t n, ceiling_stats *st) {
    bson_t bulk_opts = BSON_INITIALIZER, insert_opts = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&bulk_opts, "ordered", false);
    BSON_APPEND_BOOL(&insert_opts, "validate", false);
    bson_error_t e = {0};
    bool ok = true;

    int64_t t0 = tally_time_monotonic_us();
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll,
                                                                                      &bulk_opts);
    for (size_t i = 0; i < n && ok; i++)
        ok = mongoc_bulk_operation_insert_with_opts(bulk, &docs[i], &insert_opts, &e);
    if (ok) mongoc_bulk_operation_execute(bulk, &reply, &e);
    int64_t took = tally_time_monotonic_us() - t0;

    long long inserted = 0, duplicates = 0;
    const char *refused = NULL;
    bson_iter_t it;
    if (ok && bson_iter_init_find(&it, &reply, "nInserted") && BSON_ITER_HOLDS_NUMBER(&it))
        inserted = bson_iter_as_int64(&it);
    if (ok && bson_iter_init_find(&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_iter_t errs, we;
        bson_iter_recurse(&it, &errs);
        while (bson_iter_next(&errs)) {
            if (!bson_iter_recurse(&errs, &we)) continue;
            if (bson_iter_find(&we, "code") && bson_iter_as_int64(&we) == DUPLICATE_KEY)
                duplicates++;
            else if (!refused && bson_iter_recurse(&errs, &we) && bson_iter_find(&we, "errmsg"))
                refused = bson_iter_utf8(&we, NULL);
        }
    }
    st->inserted += inserted;
    bool stored = inserted + duplicates == (long long)n;
    if (stored) {
        st->stored += (long long)n;
        st->found += duplicates;
        st->insert_us += took;
    } else {
        st->failed_us += took;
        snprintf(st->first_error, sizeof st->first_error, "%lld of %zu stored: %.200s",
                 inserted + duplicates, n, refused ? refused : e.message);
    }
    if (ok) bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(&insert_opts);
    bson_destroy(&bulk_opts);
    return stored;
}

/* Insert a batch, retrying once a second, for a minute at most, while the
 * server is unreachable or restarting. */
static bool store_batch(mongoc_collection_t *coll, bson_t *docs, size_t n, ceiling_stats *st) {
    for (int attempt = 0; attempt < 60; attempt++) {
        if (insert_batch(coll, docs, n, st)) return true;
        st->retries++;
        fprintf(stderr, "bench_mongo_ceiling: insert failed (%s); retrying in 1 s\n",
                st->first_error);
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "bench_mongo_ceiling: giving up on a batch after 60 attempts\n");
    return false;
}

static void progress(const ceiling_stats *st, int64_t started, bool final) {
    double wall = (double)(tally_time_monotonic_us() - started) / 1e6;
    double ins = (double)st->insert_us / 1e6;
    fprintf(final ? stdout : stderr,
            "%s%lld documents stored, %.1f s inserting (%.0f docs/s), %.1f s wall%s",
            final ? "" : "progress: ", st->stored, ins, ins > 0 ? st->stored / ins : 0.0, wall,
            "\n");
}

int main(int argc, char **argv) {
    size_t batch = 2000;
    const char *indexes = NULL, *drop = NULL;
    static const struct option opts[] = {{"batch", required_argument, 0, 'b'},
                                         {"indexes", required_argument, 0, 'i'},
                                         {"drop-database", required_argument, 0, 'D'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "b:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': batch = (size_t)strtoul(optarg, NULL, 10); break;
        case 'i': indexes = optarg; break;
        case 'D': drop = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    mongoc_init();
    mongoc_log_set_handler(log_handler, NULL);
    if (drop) {
        int rc = drop_database(drop);
        mongoc_cleanup();
        return rc;
    }
    if (argc - optind != 2 || batch < 1 || batch > 100000) {
        usage(stderr);
        return 2;
    }
    const char *url = argv[optind], *path = argv[optind + 1];
    char *db = bench_database(url);
    FILE *in = fopen(path, "r");
    if (!db || !in) {
        if (!in) fprintf(stderr, "bench_mongo_ceiling: cannot read %s\n", path);
        return 2;
    }
    if (prepare(url, indexes)) return 1;

    mongoc_client_t *client = mongoc_client_new(url);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, db, TALLY_DOCS_COLLECTION);
    bson_t *docs = calloc(batch, sizeof *docs);
    for (size_t i = 0; docs && i < batch; i++) bson_init(&docs[i]);
    ceiling_stats st = {0};
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    bool ok = docs != NULL;
    int64_t started = tally_time_monotonic_us(), last = started, t0 = started;
    while (ok && (len = getline(&line, &cap, in)) != -1) {
        st.lines++;
        json_error_t je;
        json_t *ev = json_loadb(line, (size_t)len, 0, &je);
        if (!ev) {
            st.unusable++;
            continue;
        }
        if (build_doc(&docs[n], ev, &st)) n++;
        json_decref(ev);
        if (n == batch) {
            st.build_us += tally_time_monotonic_us() - t0;
            ok = store_batch(coll, docs, n, &st);
            st.docs += (long long)n;
            n = 0;
            t0 = tally_time_monotonic_us();
            if (t0 - last >= 10000000) {
                progress(&st, started, false);
                last = t0;
            }
        }
    }
    if (ok && n) {
        st.build_us += tally_time_monotonic_us() - t0;
        ok = store_batch(coll, docs, n, &st);
        st.docs += (long long)n;
    }
    double ins = (double)st.insert_us / 1e6;
    printf("input: %lld lines, %lld interactions, %lld other events skipped, %lld unusable\n",
           st.lines, st.docs, st.skipped, st.unusable);
    printf("bulk inserts of %zu, unordered, into %s.%s (fresh, indexes of %s)\n", batch, db,
           TALLY_DOCS_COLLECTION, indexes ? indexes : "the built-in schema copy");
    printf("read+convert (not timed): %.1f s\n", (double)st.build_us / 1e6);
    progress(&st, started, true);
    if (st.retries)
        printf("disturbed: %lld failed attempts (%.1f s, not counted); %lld documents found "
               "already stored by a retry\n",
               st.retries, (double)st.failed_us / 1e6, st.found);
    printf("RESULT docs=%lld stored=%lld inserted=%lld found=%lld retries=%lld insert_s=%.3f "
           "rate=%.1f\n",
           st.docs, st.stored, st.inserted, st.found, st.retries, ins,
           ins > 0 ? st.stored / ins : 0.0);

    free(line);
    fclose(in);
    for (size_t i = 0; docs && i < batch; i++) bson_destroy(&docs[i]);
    free(docs);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    bson_free(db);
    mongoc_cleanup();
    return ok && st.stored == st.docs ? 0 : 1;
}
