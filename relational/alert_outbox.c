/*
 * alert_outbox — tally-alerts' and tally-api's side of the alert outbox
 * (schemas/postgres/008_limits.sql): the rows to publish and marking them
 * published, the webhook deliveries (claiming the due ones, recording every
 * try), the tenants' signing secrets, the alerts list and the /metrics counts.
 *
 * The aggregator inserts the rows (relational/limit_count.c); nothing here
 * ever deletes or rewrites what makes an alert's event, so the event of a row
 * is the same bytes whenever it is made (alert_event.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* The columns of a row that make its event, in tally_alert_row's order, for
 * a query where the outbox is `o`. Times as the event writes them: in the
 * row's zone with its offset (tally_rfc3339, migration 003), the envelope's
 * time in UTC to the microsecond. */
#define EVENT_COLUMNS                                                                              \
    " o.alert_id, o.tenant_id, o.limit_id, o.user_id, o.metric, o.period,"                         \
    " tally_rfc3339(o.period_start, o.zone), tally_rfc3339(o.period_end, o.zone), o.threshold,"    \
    " o.limit_value, o.used, o.paused,"                                                            \
    " to_char(o.crossed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"              \
    " tally_rfc3339(o.crossed_at, o.zone)"
#define N_EVENT_COLUMNS 14

/* Row i of res, from column c on (EVENT_COLUMNS), as borrowed strings. */
static void row_at(const PGresult *res, int i, int c, tally_alert_row *r) {
#define COL(k) PQgetvalue(res, i, c + (k))
    r->alert_id = COL(0);
    r->tenant_id = COL(1);
    r->limit_id = COL(2);
    r->user_id = PQgetisnull(res, i, c + 3) ? NULL : COL(3);
    r->metric = COL(4);
    r->period = COL(5);
    r->period_start = COL(6);
    r->period_end = COL(7);
    r->threshold = atoi(COL(8));
    r->limit_value = COL(9);
    r->used = COL(10);
    r->paused = COL(11)[0] == 't';
    r->crossed_at_utc = COL(12);
    r->crossed_at_local = COL(13);
#undef COL
}

/* The event text of row i (malloc'd), NULL when out of memory. */
static char *event_text_at(const PGresult *res, int i, int c, size_t *len) {
    tally_alert_row r;
    row_at(res, i, c, &r);
    json_t *ev = tally_alert_event(&r);
    char *text = tally_alert_event_text(ev);
    json_decref(ev);
    *len = text ? strlen(text) : 0;
    return text;
}

/* A PostgreSQL text[] literal of ids[0..n). */
static void ids_array(tally_buf *b, const char *const *ids, size_t n) {
    tally_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) tally_buf_pg_array_elem(b, ids[i], i == 0);
    tally_buf_putc(b, '}');
}

/* ---- publishing ------------------------------------------------------------ */

void tally_pg_alerts_free(tally_alert *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].alert_id);
        free(a[i].tenant_id);
        free(a[i].event);
    }
    free(a);
}

tally_code tally_pg_alerts_unpublished(tally_pg *pg, int max, tally_alert **out, size_t *n,
                                       tally_err *err) {
    *out = NULL;
    *n = 0;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", max);
    const char *params[] = {limit};
    /* The partial index alert_outbox_unpublished serves exactly this. */
    PGresult *res = tally__pg_exec_prepared(pg,
                                            "SELECT o.seq," EVENT_COLUMNS
                                            " FROM alert_outbox o WHERE o.published_at IS NULL"
                                            " ORDER BY o.seq LIMIT $1",
                                            1, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read unpublished alerts", err);
    int rows = PQntuples(res);
    tally_alert *a = rows ? calloc((size_t)rows, sizeof *a) : NULL;
    if (rows && !a) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOMEM, "out of memory (%d alerts)", rows);
    }
    for (int i = 0; i < rows; i++) {
        a[i].seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        a[i].alert_id = strdup(PQgetvalue(res, i, 1));
        a[i].tenant_id = strdup(PQgetvalue(res, i, 2));
        a[i].event = event_text_at(res, i, 1, &a[i].event_len);
        if (!a[i].alert_id || !a[i].tenant_id || !a[i].event) {
            PQclear(res);
            tally_pg_alerts_free(a, (size_t)rows);
            return tally_err_set(err, TALLY_ENOMEM, "out of memory (%d alerts)", rows);
        }
    }
    PQclear(res);
    *out = a;
    *n = (size_t)rows;
    return TALLY_OK;
}

tally_code tally_pg_alerts_mark_published(tally_pg *pg, const char *const *ids, size_t n,
                                          int64_t *marked, int64_t *already, tally_err *err) {
    if (marked) *marked = 0;
    if (already) *already = 0;
    if (n == 0) return TALLY_OK;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    tally_buf arr = {0};
    ids_array(&arr, ids, n);
    const char *params[] = {arr.data};
    /* Both CTEs see the rows as they were before the UPDATE (one snapshot),
     * so `already` counts what an earlier run had marked. */
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "WITH ids AS (SELECT DISTINCT unnest($1::text[]) AS alert_id),"
        " before AS (SELECT count(*) FILTER (WHERE o.published_at IS NOT NULL) AS n"
        "   FROM alert_outbox o JOIN ids USING (alert_id)),"
        " marked AS (UPDATE alert_outbox o SET published_at = now() FROM ids"
        "   WHERE o.alert_id = ids.alert_id AND o.published_at IS NULL RETURNING 1)"
        " SELECT (SELECT n FROM before), (SELECT count(*) FROM marked)",
        1, NULL, params);
    tally_buf_free(&arr);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "mark alerts published", err);
    if (already) *already = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (marked) *marked = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_alerts_pending(tally_pg *pg, int64_t *unpublished, int64_t *undelivered,
                                   tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "SELECT (SELECT count(*) FROM alert_outbox WHERE published_at IS NULL),"
        " (SELECT count(*) FROM webhook_deliveries"
        "   WHERE delivered_at IS NULL AND given_up_at IS NULL)",
        0, NULL, NULL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "count pending alerts", err);
    *unpublished = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *undelivered = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return TALLY_OK;
}

/* ---- webhook deliveries ---------------------------------------------------- */

void tally_pg_webhooks_free(tally_webhook_due *d, size_t n) {
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].alert_id);
        free(d[i].tenant_id);
        free(d[i].url);
        free(d[i].secret);
        free(d[i].event);
    }
    free(d);
}

tally_code tally_pg_webhooks_claim(tally_pg *pg, int max, int lease_s, tally_webhook_due **out,
                                   size_t *n, tally_err *err) {
    *out = NULL;
    *n = 0;
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char limit[16], lease[16];
    snprintf(limit, sizeof limit, "%d", max);
    snprintf(lease, sizeof lease, "%d", lease_s);
    const char *params[] = {limit, lease};
    /* SKIP LOCKED: two claimers at once take different rows. Only alerts
     * already on the topic are delivered: a webhook never announces what
     * the topic does not (yet) hold. */
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "WITH c AS ("
        "  UPDATE webhook_deliveries d"
        "  SET next_attempt_at = now() + make_interval(secs => $2::double precision)"
        "  FROM (SELECT d2.alert_id FROM webhook_deliveries d2"
        "        JOIN alert_outbox o2 USING (alert_id)"
        "        WHERE d2.delivered_at IS NULL AND d2.given_up_at IS NULL"
        "          AND d2.next_attempt_at <= now() AND o2.published_at IS NOT NULL"
        "        ORDER BY d2.next_attempt_at, d2.alert_id LIMIT $1"
        "        FOR UPDATE OF d2 SKIP LOCKED) due"
        "  WHERE d.alert_id = due.alert_id"
        "  RETURNING d.alert_id, d.tenant_id, d.url, d.attempts)"
        " SELECT c.url, c.attempts, s.secret," EVENT_COLUMNS
        " FROM c JOIN alert_outbox o ON o.alert_id = c.alert_id"
        " LEFT JOIN webhook_secrets s ON s.tenant_id = c.tenant_id"
        " ORDER BY o.seq",
        2, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "claim webhook deliveries", err);
    int rows = PQntuples(res);
    tally_webhook_due *d = rows ? calloc((size_t)rows, sizeof *d) : NULL;
    if (rows && !d) {
        PQclear(res);
        return tally_err_set(err, TALLY_ENOMEM, "out of memory (%d deliveries)", rows);
    }
    for (int i = 0; i < rows; i++) {
        d[i].url = strdup(PQgetvalue(res, i, 0));
        d[i].attempts = atoi(PQgetvalue(res, i, 1));
        d[i].secret = PQgetisnull(res, i, 2) ? NULL : strdup(PQgetvalue(res, i, 2));
        d[i].alert_id = strdup(PQgetvalue(res, i, 3));
        d[i].tenant_id = strdup(PQgetvalue(res, i, 4));
        d[i].event = event_text_at(res, i, 3, &d[i].event_len);
        if (!d[i].url || (!PQgetisnull(res, i, 2) && !d[i].secret) || !d[i].alert_id ||
            !d[i].tenant_id || !d[i].event) {
            PQclear(res);
            tally_pg_webhooks_free(d, (size_t)rows);
            /* The claimed rows are due again when their lease ends. */
            return tally_err_set(err, TALLY_ENOMEM, "out of memory (%d deliveries)", rows);
        }
    }
    PQclear(res);
    *out = d;
    *n = (size_t)rows;
    return TALLY_OK;
}

/* One outcome. The backoff exponent is capped before it can overflow an
 * interval (2^20 s is far past the 10 minute cap anyway). */
static tally_code record_one(tally_pg *pg, const tally_webhook_outcome *o, tally_err *err) {
    char attempt[16], at[40], duration[16];
    snprintf(attempt, sizeof attempt, "%d", o->attempt);
    tally_time_format_utc(o->at, at, sizeof at);
    snprintf(duration, sizeof duration, "%d", o->duration_ms);
    const char *params[] = {o->alert_id,
                            attempt,
                            at,
                            o->status,
                            duration,
                            o->delivered ? "true" : "false",
                            o->final ? "true" : "false"};
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "WITH a AS ("
        "  INSERT INTO webhook_attempts (alert_id, attempt, at, status, duration_ms)"
        "  SELECT $1, $2::int, $3::timestamptz, $4, $5::int WHERE $2::int > 0"
        "  ON CONFLICT (alert_id, attempt) DO NOTHING)"
        " UPDATE webhook_deliveries d SET"
        "  attempts = greatest(d.attempts, $2::int),"
        "  last_status = $4,"
        "  last_attempt_at = CASE WHEN $2::int > 0 THEN $3::timestamptz"
        "    ELSE d.last_attempt_at END,"
        "  delivered_at = CASE WHEN $6::bool THEN $3::timestamptz END,"
        "  given_up_at = CASE WHEN NOT $6::bool AND ($7::bool OR coalesce("
        "      (SELECT min(w.at) FROM webhook_attempts w WHERE w.alert_id = $1),"
        "      $3::timestamptz) < now() - interval '24 hours') THEN now() END,"
        "  next_attempt_at = CASE WHEN $6::bool OR $7::bool THEN d.next_attempt_at"
        "    ELSE now() + least(interval '1 second' * power(2, least(greatest($2::int, 1) - 1, 20)),"
        "                       interval '10 minutes') END"
        " WHERE d.alert_id = $1 AND d.delivered_at IS NULL",
        7, NULL, params);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return tally__pg_result_error(pg, res, "record webhook attempt", err);
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_webhooks_record(tally_pg *pg, const tally_webhook_outcome *o, size_t n,
                                    tally_err *err) {
    if (n == 0) return TALLY_OK;
    tally_code rc = tally_pg_begin(pg, err);
    for (size_t i = 0; rc == TALLY_OK && i < n; i++) rc = record_one(pg, &o[i], err);
    if (rc == TALLY_OK) rc = tally_pg_commit(pg, err);
    if (rc != TALLY_OK) tally_pg_rollback(pg);
    return rc;
}

/* ---- secrets ----------------------------------------------------------------- */

tally_code tally_pg_webhook_secret_set(tally_pg *pg, const char *tenant_id, const char *secret,
                                       tally_err *err) {
    const char *params[] = {tenant_id, secret};
    return tally__pg_exec_params(pg, "set webhook secret",
                                 "INSERT INTO webhook_secrets (tenant_id, secret) VALUES ($1, $2)"
                                 " ON CONFLICT (tenant_id) DO UPDATE"
                                 " SET secret = EXCLUDED.secret, created_at = now()",
                                 2, params, err);
}

/* ---- the alerts list ------------------------------------------------------- */

tally_code tally_pg_alerts_tenant_has(tally_pg *pg, const char *tenant_id, bool *yes,
                                      tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    const char *params[] = {tenant_id};
    PGresult *res = tally__pg_exec_prepared(
        pg, "SELECT EXISTS (SELECT 1 FROM alert_outbox WHERE tenant_id = $1)", 1, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "find alerts", err);
    *yes = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return TALLY_OK;
}

#define CURSOR_MAX_BYTES 2048 /* decoded: microseconds, ':' and an alert id */

/* A cursor read back, and its id an alert id (text without control
 * characters). */
static bool cursor_read(const char *c, char *buf, size_t cap, const char **usec,
                        const char **alert_id) {
    return tally__pg_cursor_read(c, buf, cap, usec, alert_id) &&
           !tally_text_problem(*alert_id, strlen(*alert_id));
}

/* The "deliveries" array of row i (columns from c: url, attempts,
 * last_status, last_attempt_at, delivered_at; url NULL: no webhook). */
static json_t *deliveries_at(const PGresult *res, int i, int c) {
    json_t *arr = json_array();
    if (PQgetisnull(res, i, c)) return arr;
#define TEXT_OR_NULL(k)                                                                            \
    (PQgetisnull(res, i, c + (k)) ? json_null() : json_string(PQgetvalue(res, i, c + (k))))
    json_array_append_new(arr,
                          json_pack("{s:o, s:I, s:o, s:o, s:o}", "url", TEXT_OR_NULL(0), "attempts",
                                    (json_int_t)strtoll(PQgetvalue(res, i, c + 1), NULL, 10),
                                    "last_status", TEXT_OR_NULL(2), "last_attempt_at",
                                    TEXT_OR_NULL(3), "delivered_at", TEXT_OR_NULL(4)));
#undef TEXT_OR_NULL
    return arr;
}

tally_code tally_pg_alerts_list(tally_pg *pg, const tally_pg_alert_query *q, json_t **items,
                                char **next_cursor, tally_err *err) {
    *items = NULL;
    *next_cursor = NULL;
    char cbuf[CURSOR_MAX_BYTES];
    const char *after_us = NULL, *after_id = NULL;
    if (q->cursor && !cursor_read(q->cursor, cbuf, sizeof cbuf, &after_us, &after_id))
        return tally_err_set(err, TALLY_EINVAL, "cursor: malformed");
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char from[24], to[24], limit[16];
    snprintf(from, sizeof from, "%lld", (long long)q->from);
    snprintf(to, sizeof to, "%lld", (long long)q->to);
    snprintf(limit, sizeof limit, "%d", q->limit + 1); /* one more: is there a next page? */
    const char *params[] = {
        q->tenant_id, q->limit_id, q->has_from ? from : NULL, q->has_to ? to : NULL, after_us,
        after_id,     limit};
    /* Instants travel as integer microseconds and become timestamps
     * exactly ('epoch' + n µs), so a cursor resumes at the very row. */
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "SELECT" EVENT_COLUMNS ","
        " (extract(epoch FROM o.crossed_at) * 1000000)::bigint,"
        " d.url, d.attempts, d.last_status, tally_rfc3339(d.last_attempt_at, o.zone),"
        " tally_rfc3339(d.delivered_at, o.zone)"
        " FROM alert_outbox o LEFT JOIN webhook_deliveries d ON d.alert_id = o.alert_id"
        " WHERE o.tenant_id = $1"
        "  AND ($2::text IS NULL OR o.limit_id = $2::text)"
        "  AND ($3::bigint IS NULL"
        "       OR o.crossed_at >= timestamptz 'epoch' + $3::bigint * interval '1 microsecond')"
        "  AND ($4::bigint IS NULL"
        "       OR o.crossed_at < timestamptz 'epoch' + $4::bigint * interval '1 microsecond')"
        "  AND ($5::bigint IS NULL OR (o.crossed_at, o.alert_id) <"
        "       (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6::text))"
        " ORDER BY o.crossed_at DESC, o.alert_id DESC LIMIT $7::int",
        7, NULL, params);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "list alerts", err);
    int rows = PQntuples(res), shown = rows > q->limit ? q->limit : rows;
    json_t *arr = json_array();
    for (int i = 0; arr && i < shown; i++) {
        tally_alert_row r;
        row_at(res, i, 0, &r);
        json_t *ev = tally_alert_event(&r);
        if (!ev) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_object_set_new(ev, "deliveries", deliveries_at(res, i, N_EVENT_COLUMNS + 1));
        json_array_append_new(arr, ev);
    }
    if (arr && rows > q->limit && shown > 0 &&
        !(*next_cursor = tally__pg_cursor_make(PQgetvalue(res, shown - 1, N_EVENT_COLUMNS),
                                               PQgetvalue(res, shown - 1, 0)))) {
        json_decref(arr);
        arr = NULL;
    }
    PQclear(res);
    if (!arr) return tally_err_set(err, TALLY_ENOMEM, "out of memory (%d alerts)", shown);
    *items = arr;
    return TALLY_OK;
}

/* ---- /metrics ------------------------------------------------------------------ */

tally_code tally_pg_alert_counts_read(tally_pg *pg, tally_pg_alert_counts *c, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    PGresult *res = tally__pg_exec_prepared(
        pg,
        "SELECT (SELECT count(*) FROM alert_outbox),"
        " (SELECT count(*) FROM alert_outbox WHERE published_at IS NOT NULL),"
        " (SELECT count(*) FROM webhook_attempts),"
        " (SELECT count(*) FROM webhook_attempts WHERE status !~ '^2[0-9][0-9]$')",
        0, NULL, NULL);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "count alerts", err);
    c->raised = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c->published = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    c->attempts = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    c->failures = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    return TALLY_OK;
}
