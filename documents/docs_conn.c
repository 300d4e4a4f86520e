/*
 * docs_conn — the handle: a mongoc client pool on one URI and database,
 * clients checked out per call, driver errors turned into tally_err, and the
 * small time conversions the other files share.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docs_internal.h"
#include "tally_common.h"

/*
 * The driver logs on its own (stderr by default). Route it through tally_log
 * so lines keep the house format, and quiet the one warning every FerretDB
 * connection produces at shutdown: FerretDB 1.x has no endSessions command.
 * Installed once per process, with mongoc_init (both are process-wide).
 */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *message,
                       void *ctx) {
    (void)ctx;
    tally_log_level l;
    if (level <= MONGOC_LOG_LEVEL_CRITICAL)
        l = TALLY_LOG_ERROR;
    else if (level == MONGOC_LOG_LEVEL_WARNING)
        l = TALLY_LOG_WARN;
    else if (level <= MONGOC_LOG_LEVEL_INFO)
        l = TALLY_LOG_DEBUG;
    else
        return; /* DEBUG and TRACE: far too chatty */
    if (strstr(message, "endSessions")) l = TALLY_LOG_DEBUG;
    tally_log(l, "mongo driver", "domain=%s detail=\"%s\"", domain, message);
}

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;

static void driver_init(void) {
    mongoc_init();
    mongoc_log_set_handler(driver_log, NULL);
}

tally_docs *tally_docs_open(const char *mongo_url, tally_err *err) {
    pthread_once(&driver_once, driver_init);
    if (!mongo_url || !*mongo_url) {
        tally_err_set(err, TALLY_EINVAL, "mongo url: empty");
        return NULL;
    }
    bson_error_t e;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(mongo_url, &e);
    if (!uri) {
        tally_err_set(err, TALLY_EINVAL, "mongo url: %s", e.message);
        return NULL;
    }
    tally_docs *d = calloc(1, sizeof *d);
    const char *db = mongoc_uri_get_database(uri);
    if (d) d->db = strdup(db && *db ? db : TALLY_DOCS_DEFAULT_DB);
    if (!d || !d->db) {
        mongoc_uri_destroy(uri);
        tally_docs_close(d);
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    d->pool = mongoc_client_pool_new_with_error(uri, &e); /* copies the URI */
    mongoc_uri_destroy(uri);
    if (!d->pool) {
        tally_docs_close(d);
        tally_err_set(err, TALLY_EINVAL, "mongo url: %s", e.message);
        return NULL;
    }
    mongoc_client_pool_set_error_api(d->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(d->pool, "tally");
    return d;
}

void tally_docs_close(tally_docs *d) {
    if (!d) return;
    if (d->pool) mongoc_client_pool_destroy(d->pool);
    free(d->db);
    free(d);
}

const char *tally_docs_database(const tally_docs *d) { return d->db; }

void tally__docs_checkout(tally_docs *d, docs_lease *lease) {
    lease->client = mongoc_client_pool_pop(d->pool);
    lease->coll = mongoc_client_get_collection(lease->client, d->db, TALLY_DOCS_COLLECTION);
}

void tally__docs_checkin(tally_docs *d, docs_lease *lease) {
    if (lease->coll) mongoc_collection_destroy(lease->coll);
    if (lease->client) mongoc_client_pool_push(d->pool, lease->client);
    lease->coll = NULL;
    lease->client = NULL;
}

tally_code tally__docs_store_err(tally_err *err, const char *what, const bson_error_t *e) {
    if (e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_WRITE_CONCERN)
        return tally_err_set(err, TALLY_ESTORE, "mongo %s: %s (server code %u)", what, e->message,
                             e->code);
    return tally_err_set(err, TALLY_ESTORE, "mongo %s: %s", what, e->message);
}

tally_code tally_docs_ping(tally_docs *d, tally_err *err) {
    docs_lease lease;
    tally__docs_checkout(d, &lease);
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bson_error_t e;
    bool ok = mongoc_client_command_simple(lease.client, "admin", &cmd, NULL, NULL, &e);
    bson_destroy(&cmd);
    tally__docs_checkin(d, &lease);
    return ok ? TALLY_OK : tally__docs_store_err(err, "ping", &e);
}

int64_t tally__docs_ms_floor(int64_t us) { return us >= 0 ? us / 1000 : -((-us + 999) / 1000); }

int64_t tally__docs_ms_ceil(int64_t us) { return us >= 0 ? (us + 999) / 1000 : -(-us / 1000); }

void tally__docs_format_ms(int64_t ms, char *buf, size_t len) {
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int frac = (int)(ms - secs * 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "invalid-time");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}
