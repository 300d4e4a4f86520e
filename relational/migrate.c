/*
 * The migrations runner. Each migration runs in its own transaction together
 * with the row that records it, so a failed migration leaves nothing half
 * done; an advisory lock makes concurrent runners (two daemons starting at
 * once) apply each migration exactly once.
 */
#include <stdio.h>

#include "migrations.h"
#include "pg_internal.h"

/* Any constant, shared by every Tally process: "tally" in ASCII. */
#define MIGRATION_LOCK_KEY "495436108153"

int tally_pg_migration_count(void) { return tally_migrations_count; }

static tally_code apply_one(tally_pg *pg, const tally_migration *m, bool *applied, tally_err *err) {
    *applied = false;
    tally_code rc = tally_pg_begin(pg, err);
    if (rc != TALLY_OK) return rc;
    rc = tally__pg_exec_params(
        pg, "migration lock", "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", 0, NULL, err);
    if (rc != TALLY_OK) goto fail;
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[] = {version, m->name};
    PGresult *res = PQexecParams(pg->conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = tally__pg_result_error(pg, res, "read schema_migrations", err);
        goto fail;
    }
    bool done = PQntuples(res) > 0;
    PQclear(res);
    if (!done) {
        res = PQexec(pg->conn, m->sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            char what[128];
            snprintf(what, sizeof what, "migration %s", m->name);
            rc = tally__pg_result_error(pg, res, what, err);
            if (rc == TALLY_EINVAL) rc = TALLY_ESTORE; /* a broken migration is no bad event */
            goto fail;
        }
        PQclear(res);
        rc = tally__pg_exec_params(pg, "record migration",
                                   "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                   2, params, err);
        if (rc != TALLY_OK) goto fail;
    }
    rc = tally_pg_commit(pg, err);
    *applied = rc == TALLY_OK && !done;
    return rc;
fail:
    tally_pg_rollback(pg);
    return rc;
}

tally_code tally_pg_migrate(tally_pg *pg, int *applied, tally_err *err) {
    return tally_pg_migrate_to(pg, 0, applied, err);
}

tally_code tally_pg_migrate_to(tally_pg *pg, int up_to, int *applied, tally_err *err) {
    if (applied) *applied = 0;
    /* Under the lock too: two runners creating the table at once would
     * otherwise race on the catalog ("type schema_migrations already exists"). */
    tally_code rc = tally_pg_begin(pg, err);
    if (rc != TALLY_OK) return rc;
    if ((rc = tally__pg_exec_params(pg, "migration lock",
                                    "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", 0, NULL,
                                    err)) != TALLY_OK ||
        (rc = tally__pg_exec_params(pg, "create schema_migrations",
                                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                    " version integer PRIMARY KEY, name text NOT NULL,"
                                    " applied_at timestamptz NOT NULL DEFAULT now())",
                                    0, NULL, err)) != TALLY_OK ||
        (rc = tally_pg_commit(pg, err)) != TALLY_OK) {
        tally_pg_rollback(pg);
        return rc == TALLY_EINVAL ? TALLY_ESTORE : rc;
    }
    for (int i = 0; i < tally_migrations_count; i++) {
        if (up_to > 0 && tally_migrations[i].version > up_to) break;
        bool did = false;
        rc = apply_one(pg, &tally_migrations[i], &did, err);
        if (rc != TALLY_OK) return rc;
        if (did && applied) (*applied)++;
    }
    return TALLY_OK;
}
