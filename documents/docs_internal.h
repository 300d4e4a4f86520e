/*
 * docs_internal — what the files of the documents layer share and nobody
 * else sees: the handle, client checkout, error conversion, time units.
 */
#ifndef TALLY_DOCS_INTERNAL_H
#define TALLY_DOCS_INTERNAL_H

#include <mongoc/mongoc.h>

#include "tally_docs.h"

struct tally_docs {
    mongoc_client_pool_t *pool; /* owned */
    char *db;                   /* owned */
};

/* A client and the interactions collection, checked out of the pool for one
 * call. Release with tally__docs_checkin (safe on a zeroed lease). */
typedef struct {
    mongoc_client_t *client;
    mongoc_collection_t *coll;
} docs_lease;

void tally__docs_checkout(tally_docs *d, docs_lease *lease);
void tally__docs_checkin(tally_docs *d, docs_lease *lease);

/* TALLY_ESTORE "mongo <what>: <driver or server message>". */
tally_code tally__docs_store_err(tally_err *err, const char *what, const bson_error_t *e);

/* µs since the epoch → BSON date ms: floor for the stored instant of an
 * event, ceil for a window bound (so "t >= bound" keeps its meaning). */
int64_t tally__docs_ms_floor(int64_t us);
int64_t tally__docs_ms_ceil(int64_t us);

/* The content of an interaction, NULL-terminated: what erasure removes
 * from `data` (docs_erasure.c). */
extern const char *const tally__docs_content_fields[];

/* "2026-03-14T15:00:00.123Z" into buf (at least 32 bytes). */
void tally__docs_format_ms(int64_t ms, char *buf, size_t len);

#endif
