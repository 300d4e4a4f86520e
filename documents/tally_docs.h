/*
 * tally_docs — everything MongoDB: the interaction history (CONTRACT.md §1.3)
 * written by the ingester and read page by page by the HTTP API (§3).
 *
 * One collection, `interactions`, one document per interaction event:
 *
 *   { _id: <event id>, time: <BSON date, ms>, time_text: <the event's RFC 3339
 *     text as sent>, source: <CloudEvents source>, tenant_id, user_id,
 *     conversation_id (when present), data: { every data field as sent } }
 *
 * tenant_id/user_id/conversation_id are copied to the top level for the
 * indexes (schemas/mongo/interactions.indexes.json). `data` keeps unknown
 * fields; a few shapes the history servers cannot store are encoded
 * reversibly (schemas/mongo/README.md) and decoded again on read.
 *
 * Only what both FerretDB 1.x and MongoDB serve is used: inserts, finds with
 * sort/limit, $match/$group/$sort with $sum, compound indexes, and (content
 * retention) updateMany with $unset on dotted paths.
 *
 * Threads: a tally_docs handle owns a mongoc client pool; every function pops
 * a client for the duration of the call and pushes it back, so one handle may
 * be shared by any number of threads. Opening does not connect: the first
 * call (tally_docs_ping, say) does.
 *
 * Errors: functions return a tally_code and fill the caller's tally_err.
 * TALLY_ESTORE: the server or the connection failed (retry later), with the
 * driver's or the server's message. TALLY_EINVAL: the caller's input is bad.
 */
#ifndef TALLY_DOCS_H
#define TALLY_DOCS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_common.h"

/* The collection of the interaction history. */
#define TALLY_DOCS_COLLECTION "interactions"

/* The database used when the URI names none. */
#define TALLY_DOCS_DEFAULT_DB "tally"

/* Page sizes of tally_docs_find_interactions. */
#define TALLY_DOCS_LIMIT_MAX 500

typedef struct tally_docs tally_docs;

/* Open a handle on `mongo_url` (a mongo-c-driver URI, e.g.
 * "mongodb://127.0.0.1:27017/tally?serverSelectionTimeoutMS=2000"). The
 * database is the URI's, TALLY_DOCS_DEFAULT_DB without one. Returns NULL and
 * TALLY_EINVAL for a malformed URI. The caller owns the handle. */
tally_docs *tally_docs_open(const char *mongo_url, tally_err *err);

/* Release the handle and its pool. Every call on it must have returned. */
void tally_docs_close(tally_docs *d);

/* The database name in use (owned by the handle). */
const char *tally_docs_database(const tally_docs *d);

/* Round trip to the server: TALLY_OK when it answers. */
tally_code tally_docs_ping(tally_docs *d, tally_err *err);

/* Create the history's indexes if they are missing (idempotent). The
 * definitions are read from `indexes_json_path` (the format of
 * schemas/mongo/interactions.indexes.json) or, when it is NULL, from the copy
 * of that file compiled into the library. An index of the same name but other
 * keys is an error (TALLY_ESTORE, the server's message): drop it by hand. */
tally_code tally_docs_ensure_indexes(tally_docs *d, const char *indexes_json_path, tally_err *err);

/* schemas/mongo/interactions.indexes.json as it was at build time. Static. */
const char *tally_docs_builtin_indexes_json(void);

/* One interaction event to store. Everything is borrowed from the caller for
 * the duration of the call. */
typedef struct {
    const char *id;         /* event id, becomes _id; required */
    int64_t time_us;        /* event time, µs since the epoch (UTC); stored to the ms */
    const char *time_text;  /* the event's time as sent; NULL: time_us printed in UTC */
    const char *source;     /* CloudEvents source; NULL: not stored */
    const char *subject;    /* tenant id; used only when data has no tenant_id */
    const tally_json *data; /* the event's data object; required */
    /* Not NULL: the user was erased after this event (user.erased): it is
     * stored with this pseudonym as user id and without its content
     * (question, answer, attachments, params, metadata). */
    const char *pseudonym;
} tally_docs_interaction;

/* Check that one interaction can be stored (id present, data an object, a
 * tenant id, no NUL characters, nesting within the server's limits):
 * TALLY_EINVAL naming the field otherwise. tally_docs_insert_interactions does
 * the same checks; call this to find the culprit of a batch it refused. */
tally_code tally_docs_check_interaction(const tally_docs_interaction *it, tally_err *err);

/* Store n interactions in one unordered bulk insert. An id already stored is
 * a success (a redelivery is a no-op) counted in *duplicates; the rest are
 * counted in *inserted (either pointer may be NULL). When an item fails
 * tally_docs_check_interaction, nothing is sent and TALLY_EINVAL names the
 * item (items[i], its id, the field). Any other failure is TALLY_ESTORE with
 * the server's message; items before and after the failed one may have been
 * stored, and retrying the whole batch is safe. n == 0 is a no-op. */
tally_code tally_docs_insert_interactions(tally_docs *d, const tally_docs_interaction *items,
                                          size_t n, size_t *inserted, size_t *duplicates,
                                          tally_err *err);

/* Erasure of a user (user.erased): the documents of (tenant_id, user_id)
 * with a time before erased_at_us get user_id (top level and in data) :=
 * pseudonym and lose question, answer, attachments, params and metadata.
 * One update-many; idempotent. *modified (may be NULL): documents changed. */
tally_code tally_docs_erase_user(tally_docs *d, const char *tenant_id, const char *user_id,
                                 const char *pseudonym, int64_t erased_at_us, int64_t *modified,
                                 tally_err *err);

/* A page of history. Time bounds are a half-open window [from_us, to_us),
 * each used only when its has_ flag is set. */
typedef struct {
    const char *tenant_id; /* required */
    bool has_from, has_to;
    int64_t from_us, to_us;      /* µs since the epoch */
    const char *user_id;         /* NULL: every user */
    const char *conversation_id; /* NULL: every conversation */
    int limit;                   /* 1..TALLY_DOCS_LIMIT_MAX */
    const char *cursor;          /* NULL: first page; else a next_cursor from before */
} tally_docs_query;

/* Newest first, by (time desc, id desc). On success *items_out is a new JSON
 * array the caller owns (json_decref) of
 *   {"id": …, "time": "2026-03-14T15:00:00.123Z", "source": …, "data": {…}}
 * ("source" only when stored), and *next_cursor_out is a malloc'd string the
 * caller frees, or NULL on the last page. A cursor is opaque (hex text): one
 * that does not decode is TALLY_EINVAL "cursor: malformed". Outputs are
 * untouched on failure. */
tally_code tally_docs_find_interactions(tally_docs *d, const tally_docs_query *q,
                                        json_t **items_out, char **next_cursor_out, tally_err *err);

/* Number of stored interactions, of one tenant or (NULL) of all. */
tally_code tally_docs_count_interactions(tally_docs *d, const char *tenant_id, int64_t *count,
                                         tally_err *err);

/* Drop the whole collection, indexes included (tests and benchmarks). */
tally_code tally_docs_drop_interactions(tally_docs *d, tally_err *err);

/* ---- Content retention (docs_retention.c) --------------------------------
 * Removing the content (data.question, data.answer, data.attachments,
 * data.params, data.metadata) of a tenant's interactions older than a bound,
 * in batches that walk the tenant's history oldest first. Idempotent: only
 * what is still there is unset. docs_retention.c says what FerretDB 1.24 and
 * MongoDB both serve for it. */

/* Where the walk is: after the document (time_ms, id); zero it to start. */
typedef struct {
    bool started;
    int64_t time_ms;
    char id[TALLY_ID_MAX_BYTES + 1];
} tally_docs_retention_pos;

/* Strip the next batch of up to `limit` documents of the tenant with an event
 * time before older_than that still hold content; *stripped is increased by
 * the documents changed, pos moves past the batch, *done becomes true when
 * the batch was the last (fewer than limit found). */
tally_code tally_docs_strip_content_batch(tally_docs *d, const char *tenant_id,
                                          tally_usec older_than, int limit,
                                          tally_docs_retention_pos *pos, int64_t *stripped,
                                          bool *done, tally_err *err);

/* How many documents of the tenant older than older_than still hold content. */
tally_code tally_docs_count_content(tally_docs *d, const char *tenant_id, tally_usec older_than,
                                    int64_t *n, tally_err *err);

#endif
