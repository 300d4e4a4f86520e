/*
 * tally_pg — everything PostgreSQL: the connection, migrations, entity
 * upserts, consumer offsets. One opaque handle holds one libpq connection;
 * it is not thread-safe (give each thread its own handle).
 *
 * Every function that talks to the server returns TALLY_ESTORE when the
 * server fails or is unreachable (the caller retries later; the handle
 * reconnects on the next call), and TALLY_EINVAL when the server refused the
 * data itself (a constraint: the event is at fault, not the store).
 */
#ifndef TALLY_PG_H
#define TALLY_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "tally_err.h"
#include "tally_event_types.h"

typedef struct tally_pg tally_pg;

/* Connect (libpq connection string or URI). NULL with err filled on failure. */
tally_pg *tally_pg_open(const char *url, tally_err *err);
void tally_pg_close(tally_pg *pg);

/* SELECT 1, reconnecting first when the connection was lost. */
tally_code tally_pg_ping(tally_pg *pg, tally_err *err);

/* Apply the migrations compiled in from schemas/postgres/ that this database
 * lacks, in order, each in its own transaction, under an advisory lock so that
 * concurrent runs wait for each other. *applied (may be NULL) gets the count. */
tally_code tally_pg_migrate(tally_pg *pg, int *applied, tally_err *err);
/* The same, stopping after version up_to (0: all): for staged upgrades and
 * for testing what a migration does to data an older schema holds. */
tally_code tally_pg_migrate_to(tally_pg *pg, int up_to, int *applied, tally_err *err);

/* Number of migrations compiled into this binary. */
int tally_pg_migration_count(void);

/* Transactions: begin before a batch of upserts, commit or roll back after. */
tally_code tally_pg_begin(tally_pg *pg, tally_err *err);
tally_code tally_pg_commit(tally_pg *pg, tally_err *err);
void tally_pg_rollback(tally_pg *pg);

/* The position of the event in Kafka: upserts of one entity are ordered by
 * (event time, offset), the newer pair wins. */
typedef struct {
    tally_usec time;
    int64_t offset;
} tally_pg_version;

tally_code tally_pg_upsert_tenant(tally_pg *pg, const tally_tenant *t, tally_pg_version v,
                                  tally_err *err);
tally_code tally_pg_upsert_user(tally_pg *pg, const tally_user *u, tally_pg_version v,
                                tally_err *err);
tally_code tally_pg_upsert_plan(tally_pg *pg, const tally_plan *p, tally_pg_version v,
                                tally_err *err);
tally_code tally_pg_upsert_subscription(tally_pg *pg, const tally_subscription *s,
                                        tally_pg_version v, tally_err *err);
tally_code tally_pg_upsert_price(tally_pg *pg, const tally_price *p, tally_pg_version v,
                                 tally_err *err);
tally_code tally_pg_upsert_fx(tally_pg *pg, const tally_fx *f, tally_pg_version v,
                              tally_err *err);
tally_code tally_pg_upsert_budget(tally_pg *pg, const tally_budget *b, tally_pg_version v,
                                  tally_err *err);
tally_code tally_pg_upsert_feedback(tally_pg *pg, const tally_feedback *f, const char *event_id,
                                    tally_pg_version v, tally_err *err);

/* Whether PostgreSQL knows this IANA zone name (cached after the first call). */
bool tally_pg_timezone_known(tally_pg *pg, const char *zone);

/* ---- API keys (relational/api_keys.c) -----------------------------------
 * Tenant keys of the HTTP report service, kept only as the SHA-256 hex of the
 * key (schemas/postgres/004_api_keys.sql), and a zone conversion it needs. */

/* Store a new key: key_hash is 64 lower-case hex digits. */
tally_code tally_pg_api_key_insert(tally_pg *pg, const char *key_hash, const char *tenant_id,
                                   tally_err *err);

/* The tenant a key hash belongs to, copied into tenant_id (len bytes; 513
 * holds any id): TALLY_OK, or TALLY_ENOTFOUND when no key has that hash. */
tally_code tally_pg_api_key_tenant(tally_pg *pg, const char *key_hash, char *tenant_id,
                                   size_t len, tally_err *err);

/* The instant of the local midnight that starts `date` (YYYY-MM-DD) in the
 * IANA `zone`. TALLY_EINVAL when PostgreSQL refuses the date or the zone. */
tally_code tally_pg_local_midnight(tally_pg *pg, const char *date, const char *zone,
                                   tally_usec *out, tally_err *err);

#endif
