/* Internal to relational/: the handle's layout and shared helpers. */
#ifndef TALLY_PG_INTERNAL_H
#define TALLY_PG_INTERNAL_H

#include <libpq-fe.h>

#include "tally_pg.h"

struct tally_pg {
    PGconn *conn;        /* owned */
    char *url;           /* owned copy, for reconnecting */
    char **zones;        /* owned, sorted: the IANA names PostgreSQL knows */
    size_t n_zones;
};

/* Reconnect when the connection is gone; TALLY_ESTORE when that fails. */
tally_code pg_ensure_connected(tally_pg *pg, tally_err *err);

/* Map a failed result to a tally_code, fill err with `what` and the server's
 * message, and clear the result. Constraint and data errors (SQLSTATE classes
 * 22 and 23) are TALLY_EINVAL, the rest TALLY_ESTORE. */
tally_code pg_result_error(tally_pg *pg, PGresult *res, const char *what, tally_err *err);

/* Run a parameterised command that returns no rows. */
tally_code pg_exec_params(tally_pg *pg, const char *what, const char *sql, int n,
                          const char *const *values, tally_err *err);

#endif
