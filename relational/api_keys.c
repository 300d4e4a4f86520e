/*
 * api_keys — the HTTP report service's side of PostgreSQL: tenant API keys,
 * stored as the SHA-256 hex of the key and nothing else (the key itself is
 * shown once, when made), with their public id, name, scopes, expiry and
 * revocation (schemas/postgres/009_api_key_lifecycle.sql); and the one zone
 * conversion the history pages need. Every statement is parameterised; no
 * caller text is ever spliced into SQL.
 *
 * Instants travel as integer microseconds since the epoch, both ways, so an
 * expiry is echoed exactly as given and a cursor resumes at the very row.
 * Expiry is judged by PostgreSQL's clock (now()), one clock for every
 * tally-api instance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* The columns a key is shown with, in this order (0–8): the last two only in
 * the listing. */
#define KEY_COLUMNS                                                                                \
    " id, tenant_id, name, 'read' = ANY (scopes), 'ingest' = ANY (scopes),"                        \
    " (extract(epoch FROM created_at) * 1000000)::bigint,"                                         \
    " (extract(epoch FROM expires_at) * 1000000)::bigint,"                                         \
    " (extract(epoch FROM last_used_at) * 1000000)::bigint,"                                       \
    " (extract(epoch FROM revoked_at) * 1000000)::bigint"

static json_t *time_or_null(const PGresult *res, int i, int c) {
    if (PQgetisnull(res, i, c)) return json_null();
    char buf[40];
    tally_time_format_utc(strtoll(PQgetvalue(res, i, c), NULL, 10), buf, sizeof buf);
    return json_string(buf);
}

/* Row i as the key's JSON; `listing` adds last_used_at and revoked_at. */
static json_t *key_json(const PGresult *res, int i, bool listing) {
    json_t *scopes = json_array();
    if (PQgetvalue(res, i, 3)[0] == 't') json_array_append_new(scopes, json_string("read"));
    if (PQgetvalue(res, i, 4)[0] == 't') json_array_append_new(scopes, json_string("ingest"));
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", PQgetvalue(res, i, 0), "tenant_id",
                          PQgetvalue(res, i, 1), "name",
                          PQgetisnull(res, i, 2) ? json_null() : json_string(PQgetvalue(res, i, 2)),
                          "scopes", scopes, "created_at", time_or_null(res, i, 5));
    if (!o) return NULL;
    if (listing) json_object_set_new(o, "last_used_at", time_or_null(res, i, 7));
    json_object_set_new(o, "expires_at", time_or_null(res, i, 6));
    if (listing) json_object_set_new(o, "revoked_at", time_or_null(res, i, 8));
    return o;
}

tally_code tally_pg_api_key_insert(tally_pg *pg, const tally_pg_api_key_new *k, json_t **row,
                                   tally_err *err) {
    *row = NULL;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char expires[24];
    snprintf(expires, sizeof expires, "%lld", (long long)k->expires_at);
    const char *scopes = k->scopes == (TALLY_KEY_SCOPE_READ | TALLY_KEY_SCOPE_INGEST)
                             ? "{read,ingest}"
                         : k->scopes == TALLY_KEY_SCOPE_INGEST ? "{ingest}"
                                                               : "{read}";
    const char *params[] = {k->key_hash, k->tenant_id, k->name, scopes,
                            k->has_expiry ? expires : NULL};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "INSERT INTO api_keys (key_hash, tenant_id, name, scopes, expires_at)"
        " VALUES ($1, $2, $3, $4::text[],"
        "  timestamptz 'epoch' + $5::bigint * interval '1 microsecond')"
        " RETURNING" KEY_COLUMNS,
        5, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "insert api key", err);
    *row = key_json(res, 0, false);
    PQclear(res);
    return *row ? TALLY_OK : tally_err_set(err, TALLY_ENOMEM, "out of memory");
}

tally_code tally_pg_api_key_lookup(tally_pg *pg, const char *key_hash, tally_pg_api_key_auth *out,
                                   tally_err *err) {
    memset(out, 0, sizeof *out);
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *params[] = {key_hash};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "SELECT key_hash, id, tenant_id, 'read' = ANY (scopes), 'ingest' = ANY (scopes),"
        " revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()),"
        " last_used_at IS NULL OR last_used_at < now() - interval '1 minute'"
        " FROM api_keys WHERE key_hash = $1",
        1, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "api key", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOTFOUND, "no such API key");
    }
    snprintf(out->key_hash, sizeof out->key_hash, "%s", PQgetvalue(res, 0, 0));
    snprintf(out->id, sizeof out->id, "%s", PQgetvalue(res, 0, 1));
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", PQgetvalue(res, 0, 2));
    out->scopes = (PQgetvalue(res, 0, 3)[0] == 't' ? TALLY_KEY_SCOPE_READ : 0) |
                  (PQgetvalue(res, 0, 4)[0] == 't' ? TALLY_KEY_SCOPE_INGEST : 0);
    out->live = PQgetvalue(res, 0, 5)[0] == 't';
    out->stale = PQgetvalue(res, 0, 6)[0] == 't';
    PQclear(res);
    return TALLY_OK;
}

/* The guard in WHERE makes concurrent touches of one key write once: the
 * second waits for the first's row lock, then finds the row fresh. */
tally_code tally_pg_api_key_touch(tally_pg *pg, const char *key_hash, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *params[] = {key_hash};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        1, NULL, params);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return tally__pg_result_error(pg, res, "touch api key", err);
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_api_key_revoke(tally_pg *pg, const char *id, char *tenant_id, size_t len,
                                   tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *params[] = {id};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
        " RETURNING tenant_id",
        1, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "revoke api key", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOTFOUND, "key not found");
    }
    snprintf(tenant_id, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return TALLY_OK;
}

/* ---- the listing ------------------------------------------------------------ */

/* A cursor read back, and its id a key id ("key_" and 16 hex digits). */
static bool cursor_read(const char *c, char buf[64], const char **usec, const char **id) {
    return tally__pg_cursor_read(c, buf, 64, usec, id) && strlen(*id) == 20 &&
           !strncmp(*id, "key_", 4) && strspn(*id + 4, "0123456789abcdef") == 16;
}

tally_code tally_pg_api_keys_list(tally_pg *pg, const char *tenant_id, const char *cursor,
                                  int limit, json_t **items, char **next_cursor, tally_err *err) {
    *items = NULL;
    *next_cursor = NULL;
    char cbuf[64];
    const char *after_us = NULL, *after_id = NULL;
    if (cursor && !cursor_read(cursor, cbuf, &after_us, &after_id))
        return tally_err_set(err, TALLY_EINVAL, "cursor: malformed");
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit + 1); /* one more: is there a next page? */
    const char *params[] = {tenant_id, after_us, after_id, lim};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "SELECT" KEY_COLUMNS " FROM api_keys"
        " WHERE ($1::text IS NULL OR tenant_id = $1::text)"
        "  AND ($2::bigint IS NULL OR (created_at, id) <"
        "       (timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3::text))"
        " ORDER BY created_at DESC, id DESC LIMIT $4::int",
        4, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "list api keys", err);
    int rows = PQntuples(res), shown = rows > limit ? limit : rows;
    json_t *arr = json_array();
    for (int i = 0; arr && i < shown; i++) {
        json_t *k = key_json(res, i, true);
        if (!k || json_array_append_new(arr, k)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (arr && rows > limit && shown > 0 &&
        !(*next_cursor = tally__pg_cursor_make(PQgetvalue(res, shown - 1, 5),
                                               PQgetvalue(res, shown - 1, 0)))) {
        json_decref(arr);
        arr = NULL;
    }
    PQclear(res);
    if (!arr) return tally_err_set(err, TALLY_ENOMEM, "out of memory (%d keys)", shown);
    *items = arr;
    return TALLY_OK;
}

/* `timestamp AT TIME ZONE zone` reads a wall-clock time in that zone; a
 * midnight that a DST jump skips resolves the way PostgreSQL resolves it
 * (the later instant), the same rule the usage report follows. */
tally_code tally_pg_local_midnight(tally_pg *pg, const char *date, const char *zone,
                                   tally_usec *out, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *params[] = {date, zone};
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT (extract(epoch FROM ($1::date::timestamp AT TIME ZONE $2))"
                                 " * 1000000)::bigint",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        /* 22xxx: a date or zone PostgreSQL refuses, the caller's input */
        if (state && !strncmp(state, "22", 2)) {
            PQclear(res);
            return tally_err_set(err, TALLY_EINVAL, "not a date in %s: %s", zone, date);
        }
        return tally__pg_result_error(pg, res, "local midnight", err);
    }
    *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return TALLY_OK;
}
