/*
 * dlq_replays — the record of `tally dlq replay` (schemas/postgres/
 * 007_dlq_replays.sql): each dead letter, named by its position in the
 * dead-letter topic, is re-published at most once. The claim is an INSERT …
 * ON CONFLICT DO NOTHING in a transaction the caller keeps open while it
 * publishes and commits only after the broker acknowledged: a concurrent
 * claim of the same dead letter waits on the row, then finds it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pg_internal.h"

/* Read the time of a recorded replay (the row exists, or *found is false). */
static tally_code read_replayed_at(tally_pg *pg, const char *const *key, bool *found,
                                   tally_usec *replayed_at, tally_err *err) {
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT (extract(epoch FROM replayed_at) * 1000000)::bigint"
                                 " FROM dlq_replays WHERE dlq_topic = $1 AND dlq_partition = $2"
                                 " AND dlq_offset = $3",
                                 3, NULL, key, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read dlq_replays", err);
    *found = PQntuples(res) > 0;
    if (replayed_at) *replayed_at = *found ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_dlq_replay_claim(tally_pg *pg, const tally_pg_dlq_replay *r, bool *claimed,
                                     tally_usec *replayed_at, tally_err *err) {
    *claimed = false;
    if (replayed_at) *replayed_at = 0;
    /* No reconnecting here: a new connection would have lost the caller's
     * transaction, and the row would commit before the event is published. */
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK ||
        PQtransactionStatus(pg->conn) != PQTRANS_INTRANS)
        return tally_err_set(err, TALLY_ESTORE,
                             "postgresql: record dlq replay: no transaction open");
    char partition[16], offset[24];
    snprintf(partition, sizeof partition, "%d", (int)r->dlq_partition);
    snprintf(offset, sizeof offset, "%lld", (long long)r->dlq_offset);
    const char *params[] = {r->dlq_topic, partition,        offset,
                            r->event_id,  r->source_offset, r->fixed ? "true" : "false"};
    PGresult *res = PQexecParams(
        pg->conn,
        "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, event_id,"
        " source_offset, fixed) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (dlq_topic, dlq_partition, dlq_offset) DO NOTHING"
        " RETURNING (extract(epoch FROM replayed_at) * 1000000)::bigint",
        6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "record dlq replay", err);
    if (PQntuples(res) > 0) {
        *claimed = true;
        if (replayed_at) *replayed_at = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return TALLY_OK;
    }
    PQclear(res);
    /* Recorded before (or by a transaction that committed while we waited):
     * a new statement sees the committed row. */
    bool found = false;
    return read_replayed_at(pg, params, &found, replayed_at, err);
}

tally_code tally_pg_dlq_replay_find(tally_pg *pg, const char *dlq_topic, int32_t dlq_partition,
                                    int64_t dlq_offset, bool *found, tally_usec *replayed_at,
                                    tally_err *err) {
    *found = false;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char partition[16], offset[24];
    snprintf(partition, sizeof partition, "%d", (int)dlq_partition);
    snprintf(offset, sizeof offset, "%lld", (long long)dlq_offset);
    const char *key[] = {dlq_topic, partition, offset};
    return read_replayed_at(pg, key, found, replayed_at, err);
}
