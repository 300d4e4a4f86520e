/*
 * Erasure of a user (user.erased; docs/architecture.md, "Erasure"): the
 * pseudonym, the erasure record (schemas/postgres/011_erasure.sql) and the
 * rewrite of each consumer's PostgreSQL tables.
 *
 * The pseudonym of (tenant, user) is "erased-" and the first 16 hex digits of
 * HMAC-SHA256(secret, tenant || 0x00 || user); the record keeps the whole
 * HMAC (never the id) and which secret made it (key_id), so that both
 * consumers can tell, for every event they store, whether its user was
 * erased after the event's time — also when the topic is replayed — and
 * store it under the pseudonym. The records are few: each consumer keeps all
 * of them in memory (tally_erasures) and reloads them when the table grew,
 * one small query per batch; only events of a tenant that has records cost
 * an HMAC.
 *
 * Both consumers insert the record (ON CONFLICT DO NOTHING on the event id)
 * and mark their own application of it (ingest_run / aggregate_run) in the
 * transaction that rewrites their tables, so each rewrite happens once per
 * database and commits with the consumer's batch.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"
#include "tally_common.h"
#include "tally_pg.h"

#define MAX_SECRETS 8 /* the current one and up to 7 previous ones */
#define KEY_ID_LEN 8

typedef struct {
    char *tenant_id;    /* owned */
    char user_hash[65]; /* HMAC hex */
    int secret;         /* index into secrets[], -1: made by a secret not configured */
    char pseudonym[TALLY_PSEUDONYM_SIZE];
    tally_usec erased_at;
} erasure_rec;

struct tally_erasures {
    const char *secrets[MAX_SECRETS]; /* borrowed (the environment); [0] the current one */
    char key_ids[MAX_SECRETS][KEY_ID_LEN + 1];
    char *previous_copy; /* owned: the comma list, split in place */
    int n_secrets;
    erasure_rec **recs; /* owned, sorted by tenant_id after a load (pending ones appended) */
    size_t n, cap, n_sorted;
    long long db_count, db_max_seq; /* of the table when loaded */
    bool unmatched_warned;
};

static void hex(const unsigned char *b, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void tally_pg_pseudonym(const char *secret, const char *tenant_id, const char *user_id,
                        char hash_hex[65], char pseudonym[TALLY_PSEUDONYM_SIZE]) {
    size_t nt = strlen(tenant_id), nu = strlen(user_id);
    unsigned char *msg = malloc(nt + 1 + nu), mac[EVP_MAX_MD_SIZE];
    if (!msg) tally_oom("pseudonym");
    memcpy(msg, tenant_id, nt);
    msg[nt] = 0;
    memcpy(msg + nt + 1, user_id, nu);
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, nt + 1 + nu, mac, &len))
        tally_oom("HMAC-SHA256");
    free(msg);
    char h[65];
    hex(mac, 32, h);
    if (hash_hex) memcpy(hash_hex, h, 65);
    snprintf(pseudonym, TALLY_PSEUDONYM_SIZE, "erased-%.16s", h);
}

static void key_id(const char *secret, char out[KEY_ID_LEN + 1]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
    char h[65];
    hex(md, 32, h);
    memcpy(out, h, KEY_ID_LEN);
    out[KEY_ID_LEN] = '\0';
}

tally_erasures *tally_erasures_from_env(void) {
    tally_config env;
    tally_config_from_env(&env);
    tally_erasures *e = tally_erasures_new(env.pseudonym_secret, env.pseudonym_secret_previous);
    if (e && !tally_erasures_configured(e))
        tally_warn("TALLY_PSEUDONYM_SECRET is not set", "%s",
                   "effect=\"a user.erased event will wait until it is set\"");
    return e;
}

tally_erasures *tally_erasures_new(const char *secret, const char *previous) {
    tally_erasures *e = calloc(1, sizeof *e);
    if (!e) tally_oom("erasures");
    e->db_count = e->db_max_seq = -1;
    if (secret && *secret) e->secrets[e->n_secrets++] = secret;
    if (secret && *secret && previous && *previous) {
        if (!(e->previous_copy = strdup(previous))) tally_oom("erasures");
        for (char *s = strtok(e->previous_copy, ","); s && e->n_secrets < MAX_SECRETS;
             s = strtok(NULL, ","))
            if (*s) e->secrets[e->n_secrets++] = s;
    }
    for (int i = 0; i < e->n_secrets; i++) key_id(e->secrets[i], e->key_ids[i]);
    return e;
}

static void clear(tally_erasures *e) {
    for (size_t i = 0; i < e->n; i++) {
        free(e->recs[i]->tenant_id);
        free(e->recs[i]);
    }
    e->n = e->n_sorted = 0;
}

void tally_erasures_free(tally_erasures *e) {
    if (!e) return;
    clear(e);
    free(e->recs);
    free(e->previous_copy);
    free(e);
}

bool tally_erasures_configured(const tally_erasures *e) { return e->n_secrets > 0; }

static void add(tally_erasures *e, const char *tenant, const char *hash, int secret,
                const char *pseudonym, tally_usec at) {
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 16;
        if (!(e->recs = realloc(e->recs, e->cap * sizeof *e->recs))) tally_oom("erasures");
    }
    erasure_rec *r = calloc(1, sizeof *r);
    if (!r || !(r->tenant_id = strdup(tenant))) tally_oom("erasures");
    snprintf(r->user_hash, sizeof r->user_hash, "%s", hash);
    snprintf(r->pseudonym, sizeof r->pseudonym, "%s", pseudonym);
    r->secret = secret;
    r->erased_at = at;
    e->recs[e->n++] = r;
}

static int cmp_rec(const void *a, const void *b) {
    return strcmp((*(erasure_rec *const *)a)->tenant_id, (*(erasure_rec *const *)b)->tenant_id);
}

static int secret_of(const tally_erasures *e, const char *kid) {
    for (int i = 0; i < e->n_secrets; i++)
        if (!strcmp(e->key_ids[i], kid)) return i;
    return -1;
}

tally_code tally_erasures_refresh(tally_erasures *e, tally_pg *pg, tally_err *err) {
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    PGresult *res = PQexec(pg->conn, "SELECT count(*), coalesce(max(seq), 0) FROM erasures");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read erasures", err);
    long long count = atoll(PQgetvalue(res, 0, 0)), max = atoll(PQgetvalue(res, 0, 1));
    PQclear(res);
    /* pending records (a batch's own erasures) are dropped by a reload: the
     * batch adds them again, and the committed ones come from the table */
    if (count == e->db_count && max == e->db_max_seq && e->n == e->n_sorted) return TALLY_OK;
    if (count > 0 && e->n_secrets == 0)
        return tally_err_set(err, TALLY_ESTORE,
                             "%lld erasures are recorded and TALLY_PSEUDONYM_SECRET is not set:"
                             " cannot tell which events they cover",
                             count);
    res = PQexec(pg->conn, "SELECT tenant_id, user_hash, key_id, pseudonym,"
                           " (extract(epoch FROM erased_at) * 1000000)::bigint FROM erasures"
                           " ORDER BY tenant_id");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "load erasures", err);
    clear(e);
    int unmatched = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        int s = secret_of(e, PQgetvalue(res, i, 2));
        if (s < 0) unmatched++;
        add(e, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), s, PQgetvalue(res, i, 3),
            atoll(PQgetvalue(res, i, 4)));
    }
    PQclear(res);
    if (e->n > 1) qsort(e->recs, e->n, sizeof *e->recs, cmp_rec); /* recs NULL when none */
    e->n_sorted = e->n;
    e->db_count = count;
    e->db_max_seq = max;
    if (unmatched && !e->unmatched_warned) {
        e->unmatched_warned = true;
        tally_warn("erasure records made by a secret no longer configured",
                   "count=%d hint=\"add it to TALLY_PSEUDONYM_SECRET_PREVIOUS\"", unmatched);
    }
    return TALLY_OK;
}

/* The record of (tenant, user) with the latest erased_at, or NULL. */
static const erasure_rec *find(const tally_erasures *e, const char *tenant, const char *user) {
    const erasure_rec *best = NULL;
    char hashes[MAX_SECRETS][65];
    bool hashed[MAX_SECRETS] = {false};
    /* the loaded records by binary search on the tenant, pending ones by scan */
    size_t lo = 0, hi = e->n_sorted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(e->recs[mid]->tenant_id, tenant) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < e->n; i++) {
        const erasure_rec *r = e->recs[i];
        int c = strcmp(r->tenant_id, tenant);
        if (c != 0) {
            if (i < e->n_sorted) i = e->n_sorted - 1; /* past the tenant: the pending ones */
            continue;
        }
        if (r->secret < 0) continue;
        if (!hashed[r->secret]) {
            char pseudo[TALLY_PSEUDONYM_SIZE];
            tally_pg_pseudonym(e->secrets[r->secret], tenant, user, hashes[r->secret], pseudo);
            hashed[r->secret] = true;
        }
        if (strcmp(hashes[r->secret], r->user_hash) != 0) continue;
        if (!best || r->erased_at > best->erased_at) best = r;
    }
    return best;
}

const char *tally_erasures_lookup(const tally_erasures *e, const char *tenant, const char *user,
                                  tally_usec time) {
    if (e->n == 0 || !tenant || !user) return NULL;
    const erasure_rec *r = find(e, tenant, user);
    return r && time < r->erased_at ? r->pseudonym : NULL;
}

tally_code tally_erasures_pending(tally_erasures *e, const char *tenant, const char *user,
                                  tally_usec erased_at, char pseudonym[TALLY_PSEUDONYM_SIZE],
                                  tally_err *err) {
    if (e->n_secrets == 0)
        return tally_err_set(err, TALLY_ESTORE,
                             "user.erased: TALLY_PSEUDONYM_SECRET is not set; set it (the same"
                             " for every Tally process) and restart");
    const erasure_rec *r = find(e, tenant, user);
    char hash[65];
    tally_pg_pseudonym(e->secrets[0], tenant, user, hash, pseudonym);
    if (r) snprintf(pseudonym, TALLY_PSEUDONYM_SIZE, "%s", r->pseudonym); /* stable */
    add(e, tenant, hash, 0, pseudonym, erased_at);
    return TALLY_OK;
}

/* One parameterised statement's first column as a number. */
static tally_code scalar(tally_pg *pg, const char *what, const char *sql, int n,
                         const char *const *p, long long *out, tally_err *err) {
    PGresult *res = PQexecParams(pg->conn, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return tally__pg_result_error(pg, res, what, err);
    *out = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return TALLY_OK;
}

/* Move the rows of (tenant $1, user $2) older than $4 to the pseudonym $3:
 * "DELETE … RETURNING" feeding an upsert that merges into the pseudonym's
 * row. `older` is the condition on the deleted row, `select` the values of
 * `cols` taken from it, `merge` the SET list (and WHERE) of a conflict. */
static void move_sql(tally_buf *sql, const char *table, const char *cols, const char *select,
                     const char *older, const char *conflict, const char *merge) {
    tally_buf_printf(sql,
                     "WITH moved AS (DELETE FROM %s WHERE tenant_id = $1 AND user_id = $2"
                     " AND %s RETURNING *), put AS (INSERT INTO %s AS t (user_id, %s)"
                     " SELECT $3, %s FROM moved ON CONFLICT (%s) DO UPDATE SET %s RETURNING 1)"
                     " SELECT count(*) FROM moved",
                     table, older, table, cols, select, conflict, merge);
}

#define NEWER_ROW " WHERE (t.ev_time, t.ev_offset) <= (EXCLUDED.ev_time, EXCLUDED.ev_offset)"

/* The rewrite of the ingester's tables: the user (personal fields gone; the
 * newest version wins when the pseudonym's row exists), the ratings (newest
 * wins), the subscriptions. */
static tally_code erase_entities(tally_pg *pg, const char *const *p, tally_buf *touched,
                                 tally_err *err) {
    long long users = 0, ratings = 0, subs = 0;
    tally_buf sql = {0};
    move_sql(&sql, "users", "tenant_id, name, email, role, active, ev_time, ev_offset",
             "tenant_id, NULL, NULL, role, active, ev_time, ev_offset", "ev_time < $4",
             "tenant_id, user_id",
             "name = NULL, email = NULL, role = EXCLUDED.role, active = EXCLUDED.active,"
             " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset,"
             " updated_at = now()" NEWER_ROW);
    tally_code rc = scalar(pg, "erase users", sql.data, 4, p, &users, err);
    tally_buf_free(&sql);
    if (rc == TALLY_OK) {
        static const char COLS[] =
            "interaction_id, tenant_id, rating, event_id, ev_time, ev_offset";
        move_sql(&sql, "feedback", COLS, COLS, "ev_time < $4", "interaction_id, user_id",
                 "tenant_id = EXCLUDED.tenant_id, rating = EXCLUDED.rating,"
                 " event_id = EXCLUDED.event_id, ev_time = EXCLUDED.ev_time,"
                 " ev_offset = EXCLUDED.ev_offset" NEWER_ROW);
        rc = scalar(pg, "erase feedback", sql.data, 4, p, &ratings, err);
        tally_buf_free(&sql);
    }
    if (rc == TALLY_OK)
        rc = scalar(pg, "erase subscriptions",
                    "WITH s AS (UPDATE subscriptions SET user_id = $3, updated_at = now()"
                    " WHERE tenant_id = $1 AND user_id = $2 AND ev_time < $4 RETURNING 1)"
                    " SELECT count(*) FROM s",
                    4, p, &subs, err);
    tally_buf_printf(touched,
                     "{\"consumer\": \"ingest\", \"users\": %lld, \"feedback\": %lld,"
                     " \"subscriptions\": %lld}",
                     users, ratings, subs);
    return rc;
}

/* The rewrite of the aggregator's tables: the 15-minute rollup (the hourly
 * ones have no user), the de-duplication record, the ratings, limit usage.
 * A rollup row moves when its bucket starts before the erasure. */
static tally_code erase_rollups(tally_pg *pg, const char *const *p, tally_buf *touched,
                                tally_err *err) {
    /* built per call (erasures are rare): no shared state between threads */
    tally_buf rollup_sql = {0};
    {
        tally_buf cols = {0}, merge = {0};
        tally_buf_puts(&cols, "tenant_id, bucket, model_id, agent_id, kind, channel");
        for (size_t i = 0; i < TALLY_ROLLUP__COUNT; i++) {
            const char *c = tally_rollup_metrics[i].column;
            tally_buf_printf(&cols, ", %s", c);
            tally_buf_printf(&merge, "%s%s = t.%s + EXCLUDED.%s", i ? ", " : "", c, c, c);
        }
        move_sql(&rollup_sql, "usage_rollup", cols.data, cols.data, "bucket < $4",
                 "tenant_id, bucket, model_id, user_id, agent_id, kind, channel", merge.data);
        tally_buf_free(&cols);
        tally_buf_free(&merge);
    }
    long long rows = 0, ids = 0, ratings = 0, days = 0;
    tally_code rc = scalar(pg, "erase usage_rollup", rollup_sql.data, 4, p, &rows, err);
    tally_buf_free(&rollup_sql);
    if (rc == TALLY_OK)
        rc = scalar(pg, "erase agg_interactions",
                    "WITH s AS (UPDATE agg_interactions SET user_id = $3 WHERE tenant_id = $1"
                    " AND user_id = $2 AND bucket < $4 RETURNING 1) SELECT count(*) FROM s",
                    4, p, &ids, err);
    /* A pair the pseudonym already holds (a second erasure of one person who
     * rated the same interaction before each) keeps the newer rating; the
     * counts in the rollups stay as they are, so no total changes. */
    if (rc == TALLY_OK)
        rc = scalar(pg, "erase agg_feedback",
                    "WITH moved AS (DELETE FROM agg_feedback WHERE tenant_id = $1"
                    " AND user_id = $2 AND ev_time < $4 RETURNING *), put AS ("
                    " INSERT INTO agg_feedback AS t (interaction_id, user_id, tenant_id, rating,"
                    " ev_time, ev_offset) SELECT interaction_id, $3, tenant_id, rating, ev_time,"
                    " ev_offset FROM moved ON CONFLICT (interaction_id, user_id) DO UPDATE SET"
                    " tenant_id = EXCLUDED.tenant_id, rating = EXCLUDED.rating,"
                    " ev_time = EXCLUDED.ev_time, ev_offset = EXCLUDED.ev_offset"
                    " WHERE (t.ev_time, t.ev_offset) <= (EXCLUDED.ev_time, EXCLUDED.ev_offset)"
                    " RETURNING 1) SELECT count(*) FROM moved",
                    4, p, &ratings, err);
    /* limit usage: the days (in the tenant's zone) that start before it */
    if (rc == TALLY_OK)
        rc = scalar(pg, "erase limit_usage",
                    "WITH z AS (SELECT coalesce((SELECT timezone FROM tenants WHERE tenant_id ="
                    " $1), 'America/Sao_Paulo') AS zone), moved AS (DELETE FROM limit_usage"
                    " WHERE tenant_id = $1 AND user_id = $2 AND (day::timestamp AT TIME ZONE"
                    " (SELECT zone FROM z)) < $4 RETURNING *), put AS (INSERT INTO limit_usage"
                    " AS t (tenant_id, user_id, day, requests, tokens, brl, unpriced)"
                    " SELECT tenant_id, $3, day, requests, tokens, brl, unpriced FROM moved"
                    " ON CONFLICT (tenant_id, user_id, day) DO UPDATE SET"
                    " requests = t.requests + EXCLUDED.requests, tokens = t.tokens +"
                    " EXCLUDED.tokens, brl = t.brl + EXCLUDED.brl, unpriced = t.unpriced +"
                    " EXCLUDED.unpriced RETURNING 1) SELECT count(*) FROM moved",
                    4, p, &days, err);
    tally_buf_printf(touched,
                     "{\"consumer\": \"aggregate\", \"usage_rollup\": %lld,"
                     " \"agg_interactions\": %lld, \"agg_feedback\": %lld, \"limit_usage\": %lld}",
                     rows, ids, ratings, days);
    return rc;
}

tally_code tally_pg_erasure_apply(tally_pg *pg, tally_erasures *e, tally_erasure_consumer who,
                                  const tally_pg_erasure *x, tally_pg_erasure_result *out,
                                  tally_err *err) {
    memset(out, 0, sizeof *out);
    if (e->n_secrets == 0)
        return tally_err_set(err, TALLY_ESTORE,
                             "user.erased: TALLY_PSEUDONYM_SECRET is not set; set it (the same"
                             " for every Tally process) and restart");
    tally_code rc = tally__pg_ensure_connected(pg, err);
    if (rc != TALLY_OK) return rc;
    char hash[65], pseudo[TALLY_PSEUDONYM_SIZE], at[40];
    tally_pg_pseudonym(e->secrets[0], x->tenant_id, x->user_id, hash, pseudo);
    const erasure_rec *prior = find(e, x->tenant_id, x->user_id);
    if (prior) snprintf(pseudo, sizeof pseudo, "%s", prior->pseudonym); /* stable */
    tally_time_format_utc(x->erased_at, at, sizeof at);
    const char *ins[] = {x->event_id, x->tenant_id, hash, e->key_ids[0], pseudo, at};
    /* Two statements: when the other consumer inserts the same record at
     * once, the insert waits for it and does nothing, and only a statement
     * started after that sees its row. FOR UPDATE: the two consumers mark
     * their runs one after the other. */
    rc = tally__pg_exec_params(pg, "record erasure",
                               "INSERT INTO erasures (event_id, tenant_id, user_hash, key_id,"
                               " pseudonym, erased_at) VALUES ($1, $2, $3, $4, $5, $6)"
                               " ON CONFLICT (event_id) DO NOTHING",
                               6, ins, err);
    if (rc != TALLY_OK) return rc;
    PGresult *res = PQexecParams(pg->conn,
                                 "SELECT pseudonym, ingest_run, aggregate_run FROM erasures"
                                 " WHERE event_id = $1 FOR UPDATE",
                                 1, NULL, ins, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return tally__pg_result_error(pg, res, "read erasure", err);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return tally_err_set(err, TALLY_ESTORE, "erasure %.128s: record not found", x->event_id);
    }
    /* the record's pseudonym wins: the other consumer may have written it */
    snprintf(out->pseudonym, sizeof out->pseudonym, "%s", PQgetvalue(res, 0, 0));
    int col = who == TALLY_ERASURE_INGEST ? 1 : 2;
    bool applied = !PQgetisnull(res, 0, col);
    if (applied) out->run_id = atoll(PQgetvalue(res, 0, col));
    PQclear(res);
    if (applied) return TALLY_OK;
    out->fresh = true;
    const char *p[] = {x->tenant_id, x->user_id, out->pseudonym, at};
    tally_buf touched = {0};
    rc = who == TALLY_ERASURE_INGEST ? erase_entities(pg, p, &touched, err)
                                     : erase_rollups(pg, p, &touched, err);
    if (rc == TALLY_OK) {
        char requested_by[160];
        snprintf(requested_by, sizeof requested_by, "event:%s", x->event_id);
        /* the ingester finishes its run after the history (MongoDB) */
        const char *lp[] = {requested_by,
                            x->tenant_id,
                            out->pseudonym,
                            touched.data,
                            who == TALLY_ERASURE_INGEST ? "f" : "t",
                            x->event_id};
        long long run = 0;
        rc = scalar(pg, "record erasure run",
                    who == TALLY_ERASURE_INGEST
                        ? "WITH r AS (INSERT INTO lifecycle_runs (kind, requested_by, tenant_id,"
                          " subject, touched, finished_at) VALUES ('erasure', $1, $2, $3, $4,"
                          " CASE WHEN $5::boolean THEN now() END) RETURNING run_id)"
                          " UPDATE erasures SET ingest_run = (SELECT run_id FROM r)"
                          " WHERE event_id = $6 RETURNING ingest_run"
                        : "WITH r AS (INSERT INTO lifecycle_runs (kind, requested_by, tenant_id,"
                          " subject, touched, finished_at) VALUES ('erasure', $1, $2, $3, $4,"
                          " CASE WHEN $5::boolean THEN now() END) RETURNING run_id)"
                          " UPDATE erasures SET aggregate_run = (SELECT run_id FROM r)"
                          " WHERE event_id = $6 RETURNING aggregate_run",
                    6, lp, &run, err);
        out->run_id = run;
    }
    tally_buf_free(&touched);
    return rc;
}

tally_code tally_pg_erasure_finish(tally_pg *pg, int64_t run_id, const char *store, long long n,
                                   tally_err *err) {
    char run[24], count[24];
    snprintf(run, sizeof run, "%lld", (long long)run_id);
    snprintf(count, sizeof count, "%lld", n);
    const char *p[] = {run, store, count};
    return tally__pg_exec_params(pg, "finish erasure run",
                                 "UPDATE lifecycle_runs SET touched = touched ||"
                                 " jsonb_build_object($2::text, $3::bigint), finished_at = now()"
                                 " WHERE run_id = $1 AND finished_at IS NULL",
                                 3, p, err);
}
