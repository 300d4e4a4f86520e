/*
 * retention — the PostgreSQL side of retention (docs/arithmetic.md,
 * "Retention and erasure"): which tenants have a bound, and removing the
 * personal fields (name, email) of users idle past theirs.
 *
 * "Idle" is read from usage_rollup, the 15-minute rollup with the user in its
 * key: it is kept as long as reports are (agg_interactions, the
 * de-duplication record, is what a bounded-state horizon would prune), and
 * its primary key starts (tenant_id, bucket), so "who had an interaction
 * since the cutoff" is one index range over the tenant's recent rows. A
 * bucket starts up to 15 minutes before the interactions in it, so a user
 * counts as active when a bucket of theirs ends after the cutoff. A user
 * with no interaction at all is judged by when the service last described
 * them (the user.upserted event's time): a user just created keeps their
 * fields for the bound's days, one whose only interactions are older than the
 * bound loses them however recently the record was re-sent.
 *
 * Nothing here touches the rollups, the ratings or the de-duplication
 * record: only users.name and users.email. The update only clears fields that
 * are still set, so it is idempotent, and it is batched (LIMIT) so that a
 * tenant with a million users is many short transactions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* The users of tenant $1 idle since $2 that still carry a personal field. */
#define IDLE_USERS                                                                                 \
    "SELECT u.user_id FROM users u"                                                                \
    " WHERE u.tenant_id = $1 AND (u.name IS NOT NULL OR u.email IS NOT NULL)"                      \
    " AND u.user_id NOT IN (SELECT r.user_id FROM usage_rollup r WHERE r.tenant_id = $1"           \
    "                       AND r.bucket > $2::timestamptz - interval '15 minutes')"               \
    " AND (u.ev_time < $2::timestamptz OR EXISTS (SELECT 1 FROM usage_rollup o"                    \
    "      WHERE o.tenant_id = $1 AND o.user_id = u.user_id"                                       \
    "      AND o.bucket <= $2::timestamptz - interval '15 minutes'))"

void tally_pg_retention_tenants_free(tally_pg_retention_tenant *t, size_t n) {
    for (size_t i = 0; t && i < n; i++) free(t[i].tenant_id);
    free(t);
}

static tally_opt_i64 opt_days(PGresult *res, int row, int col) {
    tally_opt_i64 o = {false, 0};
    if (!PQgetisnull(res, row, col)) {
        o.set = true;
        o.v = strtoll(PQgetvalue(res, row, col), NULL, 10);
    }
    return o;
}

tally_code tally_pg_retention_tenants(tally_pg *pg, const char *only_tenant,
                                      tally_pg_retention_tenant **out, size_t *n, tally_err *err) {
    *out = NULL;
    *n = 0;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *p[] = {only_tenant};
    PGresult *res = PQexecParams(
        pg->conn,
        only_tenant ? "SELECT tenant_id, content_retention_days, user_retention_days FROM tenants"
                      " WHERE tenant_id = $1"
                    : "SELECT tenant_id, content_retention_days, user_retention_days FROM tenants"
                      " WHERE content_retention_days IS NOT NULL"
                      " OR user_retention_days IS NOT NULL ORDER BY tenant_id",
        only_tenant ? 1 : 0, NULL, only_tenant ? p : NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read retention bounds", err);
    int rows = PQntuples(res);
    if (only_tenant && rows == 0) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOTFOUND, "tenant %.128s: unknown (no tenant.upserted)",
                             only_tenant);
    }
    tally_pg_retention_tenant *t = calloc(rows ? (size_t)rows : 1, sizeof *t);
    if (!t) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOMEM, "read retention bounds: out of memory");
    }
    for (int i = 0; i < rows; i++) {
        t[i].tenant_id = strdup(PQgetvalue(res, i, 0));
        t[i].content_days = opt_days(res, i, 1);
        t[i].user_days = opt_days(res, i, 2);
        if (!t[i].tenant_id) {
            PQclear(res);
            tally_pg_retention_tenants_free(t, (size_t)i);
            return tally_err_set(err, TALLY_ENOMEM, "read retention bounds: out of memory");
        }
    }
    PQclear(res);
    *out = t;
    *n = (size_t)rows;
    return TALLY_OK;
}

tally_code tally_pg_retention_users_batch(tally_pg *pg, const char *tenant_id,
                                          tally_usec idle_before, int limit, bool dry_run,
                                          int64_t *n, tally_err *err) {
    *n = 0;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char before[40], lim[16];
    tally_time_format_utc(idle_before, before, sizeof before);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[] = {tenant_id, before, lim};
    PGresult *res = PQexecParams(
        pg->conn,
        dry_run ? "SELECT count(*) FROM (" IDLE_USERS ") idle WHERE $3::int > 0"
                : "UPDATE users x SET name = NULL, email = NULL, updated_at = now()"
                  " FROM (" IDLE_USERS " LIMIT $3::int) idle"
                  " WHERE x.tenant_id = $1 AND x.user_id = idle.user_id"
                  " RETURNING 1",
        3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "anonymise idle users", err);
    *n = dry_run ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : PQntuples(res);
    PQclear(res);
    return TALLY_OK;
}
