/* Internal to relational/: the handle's layout and shared helpers. */
#ifndef TALLY_PG_INTERNAL_H
#define TALLY_PG_INTERNAL_H

#include <stdint.h>

#include <libpq-fe.h>

#include "tally_pg.h"

#define PG_PREPARED_MAX 64

typedef struct {
    char *sql; /* owned */
    uint64_t hash;
    char name[16];
} pg_prepared;

struct tally_pg {
    PGconn *conn; /* owned */
    char *url;    /* owned copy, for reconnecting */
    char **zones; /* owned, sorted: the IANA names PostgreSQL knows */
    size_t n_zones;
    pg_prepared prepared[PG_PREPARED_MAX]; /* of this connection (pg_prepared.c) */
    int n_prepared;
};

/* Reconnect when the connection is gone; TALLY_ESTORE when that fails. */
tally_code tally__pg_ensure_connected(tally_pg *pg, tally_err *err);

/* Map a failed result to a tally_code, fill err with `what` and the server's
 * message, and clear the result. Constraint and data errors (SQLSTATE classes
 * 22 and 23) are TALLY_EINVAL, the rest TALLY_ESTORE. */
tally_code tally__pg_result_error(tally_pg *pg, PGresult *res, const char *what, tally_err *err);

/* Run a parameterised command that returns no rows. */
tally_code tally__pg_exec_params(tally_pg *pg, const char *what, const char *sql, int n,
                                 const char *const *values, tally_err *err);

/* Run a statement, prepared on this connection the first time its text is
 * seen and executed by name after that (pg_prepared.c). Returns the result
 * as PQexecParams would; the caller checks and clears it. */
PGresult *tally__pg_exec_prepared(tally_pg *pg, const char *sql, int n, const Oid *types,
                                  const char *const *values);

/* Forget the prepared statements (the connection that held them is gone). */
void tally__pg_prepared_forget(tally_pg *pg);

/* Listing cursors (pg_cursor.c): the opaque hex of "<usec>:<id>" (malloc'd;
 * NULL out of memory), and reading one back into buf (cap bytes) with *usec
 * and *id pointing inside it: false when it is not one _make could have made
 * (the caller still checks the id's own shape). */
char *tally__pg_cursor_make(const char *usec, const char *id);
bool tally__pg_cursor_read(const char *c, char *buf, size_t cap, const char **usec,
                           const char **id);

#endif
