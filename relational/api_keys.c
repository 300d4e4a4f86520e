/*
 * api_keys — the HTTP report service's side of PostgreSQL: tenant API keys,
 * stored as the SHA-256 hex of the key and nothing else (the key itself is
 * shown once, when made), and the one zone conversion the history pages need.
 * Every statement is parameterised; no caller text is ever spliced into SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

tally_code tally_pg_api_key_insert(tally_pg *pg, const char *key_hash, const char *tenant_id,
                                   tally_err *err) {
    const char *params[] = {key_hash, tenant_id};
    return tally__pg_exec_params(pg, "insert api key",
                                 "INSERT INTO api_keys (key_hash, tenant_id) VALUES ($1, $2)", 2,
                                 params, err);
}

tally_code tally_pg_api_key_tenant(tally_pg *pg, const char *key_hash, char *tenant_id, size_t len,
                                   tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *params[] = {key_hash};
    PGresult *res = tally__pg_exec_prepared(
        pg, "SELECT tenant_id FROM api_keys WHERE key_hash = $1", 1, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "api key", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOTFOUND, "no such API key");
    }
    snprintf(tenant_id, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
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
