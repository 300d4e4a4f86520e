/*
 * lifecycle_runs — the record of every data lifecycle run, retention and
 * erasure (schemas/postgres/010_retention.sql): when, who asked, for which
 * tenant, what was touched, and whether it finished. A run inserts its row
 * before it changes anything and sets finished_at after the last change, so a
 * run killed half-way is listed as unfinished, with the counts it had
 * recorded by then. `touched` is an object of objects, {"<store or table>":
 * {"<tenant>": count}}: a listing for one tenant shows its own runs and the
 * runs over every tenant that touched it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

tally_code tally_pg_lifecycle_start(tally_pg *pg, const char *kind, const char *requested_by,
                                    const char *tenant_id, const char *subject, int64_t *run_id,
                                    tally_usec *started_at, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *p[] = {kind, requested_by, tenant_id, subject};
    PGresult *res = PQexecParams(
        pg->conn,
        "INSERT INTO lifecycle_runs (kind, requested_by, tenant_id, subject)"
        " VALUES ($1, $2, $3, $4)"
        " RETURNING run_id, (extract(epoch FROM started_at) * 1000000)::bigint",
        4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "record lifecycle run", err);
    *run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (started_at) *started_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_lifecycle_record(tally_pg *pg, int64_t run_id, const char *touched_json,
                                     bool finished, tally_err *err) {
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)run_id);
    const char *p[] = {id, touched_json};
    return tally__pg_exec_params(
        pg, "record lifecycle run",
        finished ? "UPDATE lifecycle_runs SET touched = $2::jsonb, finished_at = now()"
                   " WHERE run_id = $1"
                 : "UPDATE lifecycle_runs SET touched = $2::jsonb WHERE run_id = $1",
        2, p, err);
}

tally_code tally_pg_lifecycle_last_finished(tally_pg *pg, const char *kind, bool *found,
                                            int64_t *age_us, tally_err *err) {
    *found = false;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *p[] = {kind};
    PGresult *res = PQexecParams(
        pg->conn,
        "SELECT (extract(epoch FROM now() - max(finished_at)) * 1000000)::bigint"
        " FROM lifecycle_runs WHERE kind = $1 AND tenant_id IS NULL",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read lifecycle runs", err);
    *found = !PQgetisnull(res, 0, 0);
    if (*found && age_us) *age_us = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_lifecycle_list(tally_pg *pg, const tally_pg_lifecycle_query *q, json_t **items,
                                   tally_err *err) {
    *items = NULL;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", q->limit > 0 ? q->limit : 100);
    const char *p[] = {q->kind, q->tenant_id, limit};
    PGresult *res = PQexecParams(
        pg->conn,
        "SELECT coalesce(json_agg(json_build_object("
        " 'run_id', run_id, 'kind', kind, 'requested_by', requested_by,"
        " 'tenant_id', tenant_id, 'subject', subject,"
        " 'started_at', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " 'finished_at', to_char(finished_at AT TIME ZONE 'UTC',"
        "                        'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        " 'finished', finished_at IS NOT NULL, 'touched', touched)"
        " ORDER BY started_at DESC, run_id DESC), '[]'::json)::text"
        " FROM (SELECT * FROM lifecycle_runs"
        "       WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR tenant_id = $2"
        "        OR (tenant_id IS NULL AND EXISTS (SELECT 1 FROM jsonb_each(touched) e"
        "            WHERE jsonb_typeof(e.value) = 'object' AND e.value ? $2)))"
        "       ORDER BY started_at DESC, run_id DESC LIMIT $3::int) r",
        3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "list lifecycle runs", err);
    json_error_t je;
    *items = json_loads(PQgetvalue(res, 0, 0), 0, &je);
    PQclear(res);
    if (!*items) return tally_err_set(err, TALLY_ESTORE, "list lifecycle runs: %s", je.text);
    return TALLY_OK;
}
