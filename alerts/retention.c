/*
 * retention — the retention pass (docs/arithmetic.md, "Retention and
 * erasure"; docs/operations.md, "Retention"): for every tenant with a bound,
 * the content of its interactions older than content_retention_days is
 * removed from the history (documents/docs_retention.c) and the personal
 * fields of its users idle for user_retention_days are cleared
 * (relational/retention.c). The rollups, and so every report, are not
 * touched.
 *
 * It lives in the alerts layer because tally-alerts is the daemon that runs
 * it every day; `tally retain` runs the very same function by hand. A pass is
 * one lifecycle_runs row: inserted first, its `touched` counts rewritten as
 * the pass goes, finished_at set at the end — a pass that was killed or
 * failed stays unfinished. The bounds are measured from the row's
 * started_at, fixed for the whole pass. Nothing needs resuming: each batch
 * removes only what is still there and older than the bound, so the next
 * pass finishes what a killed one left.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally_alerts.h"
#include "tally_docs.h"

#define USEC_PER_DAY 86400000000LL
/* A bound longer than this reaches before anything Tally could have stored. */
#define DAYS_BEYOND_ANY_DATA 1000000
/* How often the run's row is brought up to date inside a long step. */
#define RECORD_EVERY_US 5000000LL

typedef struct {
    tally_pg *pg;
    const tally_alerts_retention_options *o;
    tally_alerts_retention_result *r;
    json_t *touched; /* {"interactions": {tenant: n}, "users": {tenant: n}} */
    int64_t next_record_us;
} pass;

static bool stopping(const pass *p) { return p->o->stop && *p->o->stop; }

/* Rewrite the run's touched counts (and its end when finished). */
static tally_code record(pass *p, bool finished, tally_err *err) {
    if (p->o->dry_run) return TALLY_OK;
    char *text = json_dumps(p->touched, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) return tally_err_set(err, TALLY_ENOMEM, "retention: out of memory");
    tally_code rc = tally_pg_lifecycle_record(p->pg, p->r->run_id, text, finished, err);
    free(text);
    p->next_record_us = tally_time_monotonic_us() + RECORD_EVERY_US;
    return rc;
}

static void count(pass *p, const char *table, const char *tenant_id, int64_t n) {
    json_object_set_new(json_object_get(p->touched, table), tenant_id, json_integer(n));
}

static void report(const pass *p, const tally_alerts_retention_tenant *t, const char *step,
                   bool step_done) {
    if (p->o->progress) p->o->progress(p->o->progress_arg, t, step, step_done);
}

/* After a batch: tell, record now and then, pause when asked (tests). */
static tally_code between_batches(pass *p, const tally_alerts_retention_tenant *t, const char *step,
                                  tally_err *err) {
    report(p, t, step, false);
    if (!p->o->dry_run && tally_time_monotonic_us() >= p->next_record_us) {
        tally_code rc = record(p, false, err);
        if (rc != TALLY_OK) return rc;
    }
    if (p->o->pause_ms > 0) tally_sleep_ms(p->o->pause_ms);
    return TALLY_OK;
}

static tally_code strip_history(pass *p, tally_docs *docs, tally_alerts_retention_tenant *t,
                                tally_usec older_than, tally_err *err) {
    if (p->o->dry_run) {
        tally_code rc = tally_docs_count_content(docs, t->tenant_id, older_than, &t->documents,
                                                 err);
        report(p, t, "interactions", true);
        return rc;
    }
    tally_docs_retention_pos pos = {0};
    bool done = false;
    while (!done && !stopping(p)) {
        tally_code rc = tally_docs_strip_content_batch(docs, t->tenant_id, older_than, p->o->batch,
                                                       &pos, &t->documents, &done, err);
        if (rc != TALLY_OK) return rc;
        count(p, "interactions", t->tenant_id, t->documents);
        if (!done && (rc = between_batches(p, t, "interactions", err)) != TALLY_OK) return rc;
    }
    report(p, t, "interactions", done);
    return TALLY_OK;
}

static tally_code forget_idle_users(pass *p, tally_alerts_retention_tenant *t,
                                    tally_usec idle_before, tally_err *err) {
    if (p->o->dry_run) {
        tally_code rc = tally_pg_retention_users_batch(p->pg, t->tenant_id, idle_before, 1, true,
                                                       &t->users, err);
        report(p, t, "users", true);
        return rc;
    }
    bool done = false;
    while (!done && !stopping(p)) {
        int64_t n = 0;
        tally_code rc = tally_pg_retention_users_batch(p->pg, t->tenant_id, idle_before,
                                                       p->o->batch, false, &n, err);
        if (rc != TALLY_OK) return rc;
        t->users += n;
        done = n < p->o->batch;
        count(p, "users", t->tenant_id, t->users);
        if (!done && (rc = between_batches(p, t, "users", err)) != TALLY_OK) return rc;
    }
    report(p, t, "users", done);
    return TALLY_OK;
}

/* now - days, or false when the bound reaches before any data. */
static bool bound(tally_usec now, tally_opt_i64 days, tally_usec *out) {
    if (!days.set || days.v >= DAYS_BEYOND_ANY_DATA) return false;
    *out = now - days.v * USEC_PER_DAY;
    return true;
}

static tally_code run_tenants(pass *p, tally_docs *docs, const tally_pg_retention_tenant *bounds,
                              tally_err *err) {
    tally_alerts_retention_result *r = p->r;
    for (size_t i = 0; i < r->n_tenants && !stopping(p); i++) {
        tally_alerts_retention_tenant *t = &r->tenants[i];
        tally_usec before;
        tally_code rc = TALLY_OK;
        if (bound(r->started_at, bounds[i].content_days, &before)) {
            t->content_before = before;
            count(p, "interactions", t->tenant_id, 0);
            rc = strip_history(p, docs, t, before, err);
        }
        if (rc == TALLY_OK && !stopping(p) && bound(r->started_at, bounds[i].user_days, &before)) {
            t->users_before = before;
            count(p, "users", t->tenant_id, 0);
            rc = forget_idle_users(p, t, before, err);
        }
        if (rc == TALLY_OK) rc = record(p, false, err);
        if (rc != TALLY_OK) return rc;
    }
    return TALLY_OK;
}

void tally_alerts_retention_result_free(tally_alerts_retention_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_tenants; i++) free(r->tenants[i].tenant_id);
    free(r->tenants);
    memset(r, 0, sizeof *r);
}

/* The result's tenants, one per bound read. */
static tally_code copy_tenants(tally_alerts_retention_result *r,
                               const tally_pg_retention_tenant *bounds, size_t n, tally_err *err) {
    r->tenants = calloc(n ? n : 1, sizeof *r->tenants);
    if (!r->tenants) return tally_err_set(err, TALLY_ENOMEM, "retention: out of memory");
    for (size_t i = 0; i < n; i++) {
        r->tenants[i].tenant_id = strdup(bounds[i].tenant_id);
        if (!r->tenants[i].tenant_id)
            return tally_err_set(err, TALLY_ENOMEM, "retention: out of memory");
        r->n_tenants = i + 1;
        r->tenants[i].content_days = bounds[i].content_days;
        r->tenants[i].user_days = bounds[i].user_days;
    }
    return TALLY_OK;
}

tally_code tally_alerts_retention_run(tally_pg *pg, tally_docs *docs,
                                      const tally_alerts_retention_options *o,
                                      tally_alerts_retention_result *r, tally_err *err) {
    memset(r, 0, sizeof *r);
    if (o->batch < 1) return tally_err_set(err, TALLY_EINVAL, "batch: must be at least 1");
    tally_pg_retention_tenant *bounds = NULL;
    size_t n = 0;
    tally_code rc = tally_pg_retention_tenants(pg, o->only_tenant, &bounds, &n, err);
    if (rc != TALLY_OK) return rc;
    rc = copy_tenants(r, bounds, n, err);
    pass p = {
        .pg = pg, .o = o, .r = r, .touched = json_pack("{s:{}, s:{}}", "interactions", "users")};
    if (rc == TALLY_OK && !p.touched)
        rc = tally_err_set(err, TALLY_ENOMEM, "retention: out of memory");
    if (rc == TALLY_OK && o->dry_run) r->started_at = tally_time_now_us();
    if (rc == TALLY_OK && !o->dry_run)
        rc = tally_pg_lifecycle_start(pg, TALLY_LIFECYCLE_RETENTION, o->requested_by,
                                      o->only_tenant, NULL, &r->run_id, &r->started_at, err);
    if (rc == TALLY_OK) {
        p.next_record_us = tally_time_monotonic_us() + RECORD_EVERY_US;
        rc = run_tenants(&p, docs, bounds, err);
    }
    r->stopped = rc == TALLY_OK && stopping(&p);
    if (rc == TALLY_OK && !r->stopped) {
        rc = record(&p, true, err);
        r->finished = rc == TALLY_OK && !o->dry_run;
    } else if (r->run_id) {
        tally_err ignored = {0};
        record(&p, false, &ignored); /* the counts so far; the run stays unfinished */
    }
    json_decref(p.touched);
    tally_pg_retention_tenants_free(bounds, n);
    return rc;
}
