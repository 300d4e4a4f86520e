/* The connection: open, reconnect, transactions, error mapping. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* IF NOT EXISTS and similar notices are noise on a daemon's stderr. */
static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

tally_pg *tally_pg_open(const char *url, tally_err *err) {
    tally_pg *pg = calloc(1, sizeof *pg);
    if (!pg || !(pg->url = strdup(url))) {
        free(pg);
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    if (tally__pg_ensure_connected(pg, err) != TALLY_OK) {
        tally_pg_close(pg);
        return NULL;
    }
    return pg;
}

void tally_pg_close(tally_pg *pg) {
    if (!pg) return;
    if (pg->conn) PQfinish(pg->conn);
    tally__pg_prepared_forget(pg);
    for (size_t i = 0; i < pg->n_zones; i++) free(pg->zones[i]);
    free(pg->zones);
    free(pg->url);
    free(pg);
}

/* Whether an open connection is still usable. Outside a transaction, a
 * connection the server closed while it sat idle (a restart, an idle
 * timeout: the server says goodbye and hangs up) is found out here, before
 * a statement is sent: an idle connection has nothing to read (Tally listens
 * for no notifications), so anything readable — the goodbye, or the end of
 * the stream — means it is gone, and the caller gets a fresh connection
 * instead of an error for a server that is back. Inside a transaction it is
 * never replaced: the statement must fail, or it would run outside the
 * transaction it belongs to. */
static bool conn_usable(PGconn *conn) {
    if (PQstatus(conn) != CONNECTION_OK) return false;
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) return true;
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

tally_code tally__pg_ensure_connected(tally_pg *pg, tally_err *err) {
    if (pg->conn && conn_usable(pg->conn)) return TALLY_OK;
    if (pg->conn) PQfinish(pg->conn);
    tally__pg_prepared_forget(pg);
    pg->conn = PQconnectdb(pg->url);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(pg->conn);
        size_t len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
        tally_err_set(err, TALLY_ESTORE, "postgresql: cannot connect: %.*s", (int)len, msg);
        PQfinish(pg->conn);
        pg->conn = NULL;
        return TALLY_ESTORE;
    }
    PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
    return TALLY_OK;
}

tally_code tally__pg_result_error(tally_pg *pg, PGresult *res, const char *what, tally_err *err) {
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn);
    if (!msg || !*msg) msg = PQerrorMessage(pg->conn);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) len--;
    tally_code code = (state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)))
                          ? TALLY_EINVAL
                          : TALLY_ESTORE;
    tally_err_set(err, code, "postgresql: %s: %.*s", what, (int)len, msg);
    if (res) PQclear(res);
    return code;
}

tally_code tally__pg_exec_params(tally_pg *pg, const char *what, const char *sql, int n,
                                 const char *const *values, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    PGresult *res = PQexecParams(pg->conn, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, what, err);
    PQclear(res);
    return TALLY_OK;
}

tally_code tally_pg_ping(tally_pg *pg, tally_err *err) {
    return tally__pg_exec_params(pg, "ping", "SELECT 1", 0, NULL, err);
}

tally_code tally_pg_begin(tally_pg *pg, tally_err *err) {
    return tally__pg_exec_params(pg, "begin", "BEGIN", 0, NULL, err);
}

tally_code tally_pg_commit(tally_pg *pg, tally_err *err) {
    return tally__pg_exec_params(pg, "commit", "COMMIT", 0, NULL, err);
}

void tally_pg_rollback(tally_pg *pg) {
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK) PQclear(PQexec(pg->conn, "ROLLBACK"));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool load_zones(tally_pg *pg) {
    if (tally__pg_ensure_connected(pg, NULL) != TALLY_OK) return false;
    PGresult *res = PQexec(pg->conn, "SELECT name FROM pg_timezone_names");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return false;
    }
    int n = PQntuples(res);
    char **zones = calloc((size_t)n + 1, sizeof *zones);
    if (!zones) {
        PQclear(res);
        return false;
    }
    for (int i = 0; i < n; i++) zones[i] = strdup(PQgetvalue(res, i, 0));
    PQclear(res);
    qsort(zones, (size_t)n, sizeof *zones, cmp_str);
    pg->zones = zones;
    pg->n_zones = (size_t)n;
    return true;
}

bool tally_pg_timezone_known(tally_pg *pg, const char *zone) {
    if (!pg->zones && !load_zones(pg)) return true; /* cannot tell: let the store decide */
    return bsearch(&zone, pg->zones, pg->n_zones, sizeof *pg->zones, cmp_str) != NULL;
}
