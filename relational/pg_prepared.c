/*
 * Statements a connection runs again and again (a report's) are prepared
 * once per connection and then executed by name: PostgreSQL parses them
 * once, and after a few runs may keep a generic plan instead of planning
 * every call. Keyed by the SQL text; a reconnect empties the cache (the
 * server forgot the statements with the session). Past PG_PREPARED_MAX
 * distinct texts, statements run unprepared.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void tally__pg_prepared_forget(tally_pg *pg) {
    for (int i = 0; i < pg->n_prepared; i++) free(pg->prepared[i].sql);
    pg->n_prepared = 0;
}

/* The name of the statement prepared for sql, preparing it if needed; NULL
 * when the cache is full (*res stays NULL) or preparing failed (*res holds
 * the error). */
static const char *prepared_name(tally_pg *pg, const char *sql, int n, const Oid *types,
                                 PGresult **res) {
    *res = NULL;
    uint64_t h = fnv1a(sql);
    for (int i = 0; i < pg->n_prepared; i++)
        if (pg->prepared[i].hash == h && !strcmp(pg->prepared[i].sql, sql))
            return pg->prepared[i].name;
    if (pg->n_prepared == PG_PREPARED_MAX) return NULL;
    pg_prepared *p = &pg->prepared[pg->n_prepared];
    snprintf(p->name, sizeof p->name, "tally_%d", pg->n_prepared);
    PGresult *r = PQprepare(pg->conn, p->name, sql, n, types);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        *res = r;
        return NULL;
    }
    PQclear(r);
    if (!(p->sql = strdup(sql))) {
        /* Out of memory: drop the statement again so that its name is free. */
        char deallocate[40];
        snprintf(deallocate, sizeof deallocate, "DEALLOCATE %s", p->name);
        PQclear(PQexec(pg->conn, deallocate));
        return NULL;
    }
    p->hash = h;
    pg->n_prepared++;
    return p->name;
}

PGresult *tally__pg_exec_prepared(tally_pg *pg, const char *sql, int n, const Oid *types,
                                  const char *const *values) {
    PGresult *res;
    const char *name = prepared_name(pg, sql, n, types, &res);
    if (name) return PQexecPrepared(pg->conn, name, n, values, NULL, NULL, 0);
    if (res) return res;
    return PQexecParams(pg->conn, sql, n, types, values, NULL, NULL, 0);
}
