/*
 * tally_alerts — the `tally-alerts` daemon's own logic: publishing the alert
 * outbox to the alerts topic exactly once (sender.c) and delivering webhooks
 * (deliver.c, over webhook.c), and the daily retention pass it runs
 * (retention.c, also `tally retain`). Outside alerts/, include this header
 * only.
 *
 * docs/architecture.md, "Alerts exactly once", says why the sender's
 * guarantee holds through kill -9 at any instant.
 */
#ifndef TALLY_ALERTS_H
#define TALLY_ALERTS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tally_common.h"
#include "tally_docs.h"
#include "tally_pg.h"

/*
 * sender — one transactional producer per alerts topic (transactional.id
 * "tally-alerts.<topic>": a second sender fences the first). Each batch of
 * unpublished outbox rows (seq order) is one Kafka transaction, key = tenant
 * id, value = the alert's event, header tally-alert-id = its id; after the
 * commit the rows are marked published in PostgreSQL. Opening reads back the
 * committed tail of every partition and marks what a crash between the Kafka
 * commit and the mark left unmarked.
 */

#define TALLY_ALERTS_TXN_PREFIX "tally-alerts."
#define TALLY_ALERTS_ID_HEADER "tally-alert-id"

typedef struct tally_alerts_sender tally_alerts_sender;

typedef struct {
    int64_t published; /* alerts committed to the topic by this process */
    int64_t batches;   /* transactions committed */
    int64_t recovered; /* marked at open: on the topic, not yet marked */
    int64_t aborted;   /* transactions aborted (the batch is sent again) */
} tally_alerts_sender_stats;

/* Start the transactional producer (fencing an earlier sender of the topic
 * and aborting what it left open) and recover. pg is borrowed and must
 * outlive the sender. NULL with err set when Kafka or PostgreSQL fail:
 * try again later. */
tally_alerts_sender *tally_alerts_sender_open(const char *brokers, const char *topic, tally_pg *pg,
                                              tally_err *err);

/* Publish up to max unpublished alerts in one transaction and mark them;
 * *n: how many (0: none was waiting). TALLY_ESTORE: nothing or everything of
 * the batch is on the topic, try again later (a batch committed but not yet
 * marked is marked first on the next call, never sent twice); TALLY_EIO:
 * this producer can go on no more (fenced by another sender): stop. */
tally_code tally_alerts_sender_publish(tally_alerts_sender *s, int max, int *n, tally_err *err);

const tally_alerts_sender_stats *tally_alerts_sender_stats_of(const tally_alerts_sender *s);
void tally_alerts_sender_free(tally_alerts_sender *s);

/*
 * deliver — webhook deliveries of published alerts: claim the due ones a few
 * dozen at a time, POST them concurrently (signed with the tenant's secret),
 * record every try; retries back off 1 s doubling to 10 min, and stop 24 h
 * after the first try. A tenant without a secret gets no webhooks: its
 * deliveries are marked "no secret" and never tried.
 */

typedef struct {
    bool allow_private; /* TALLY_WEBHOOK_ALLOW_PRIVATE=1: loopback and private targets too */
    int batch;          /* deliveries claimed at once */
    int timeout_ms;     /* of one try (0: webhook.c's default) */
} tally_alerts_deliver_options;

typedef struct {
    int64_t tries;     /* POSTs made */
    int64_t delivered; /* of them, answered 2xx */
    int64_t failed;    /* of them, not */
    int64_t no_secret; /* deliveries marked "no secret" */
} tally_alerts_deliver_stats;

/* One round: claim, POST, record. *n: deliveries claimed (0: none due). */
tally_code tally_alerts_deliver_batch(tally_pg *pg, const tally_alerts_deliver_options *opt,
                                      tally_alerts_deliver_stats *st, size_t *n, tally_err *err);

/* Rounds on a connection of its own until *stop: at once while deliveries
 * are due, every ~200 ms when none is, with backoff while PostgreSQL fails;
 * a progress line every stats_interval_s (0: never). For a thread. */
void tally_alerts_deliver_run(const char *pg_url, const tally_alerts_deliver_options *opt,
                              int stats_interval_s, volatile sig_atomic_t *stop,
                              tally_alerts_deliver_stats *st);

/*
 * retention — the retention pass (retention.c): the history's content older
 * than each tenant's content_retention_days, and the personal fields of users
 * idle past user_retention_days, removed in batches; recorded as a
 * lifecycle_runs row. Run by `tally retain` and daily by tally-alerts.
 */

/* One tenant of a pass and what it touched. */
typedef struct {
    char *tenant_id;                         /* owned by the result */
    tally_opt_i64 content_days, user_days;   /* the bounds read at the start */
    tally_usec content_before, users_before; /* the bounds as instants (0: no bound) */
    int64_t documents; /* history documents stripped (dry run: that would be) */
    int64_t users;     /* users whose name/email were cleared (dry run: that would be) */
} tally_alerts_retention_tenant;

typedef struct {
    const char *only_tenant;  /* NULL: every tenant with a bound */
    const char *requested_by; /* lifecycle_runs.requested_by: "tally retain", "schedule" */
    int batch;                /* documents, and users, changed per batch (>= 1) */
    int pause_ms;             /* a pause after each batch (tests make a pass killable) */
    bool dry_run;             /* count only: nothing changed, no run recorded */
    /* Called after each batch (step_done false) and at the end of each step
     * ("interactions", "users"; step_done true); may be NULL. */
    void (*progress)(void *arg, const tally_alerts_retention_tenant *t, const char *step,
                     bool step_done);
    void *progress_arg;
    volatile sig_atomic_t *stop; /* may be NULL; when set, stop after the batch in hand */
} tally_alerts_retention_options;

typedef struct {
    int64_t run_id;                         /* the lifecycle_runs row (0: dry run) */
    tally_usec started_at;                  /* the bounds are measured from here */
    tally_alerts_retention_tenant *tenants; /* owned */
    size_t n_tenants;
    bool finished; /* the row's finished_at was set */
    bool stopped;  /* *stop ended the pass early: the row stays unfinished */
} tally_alerts_retention_result;

/* Run one pass. TALLY_ENOTFOUND: only_tenant is unknown; TALLY_ESTORE: a
 * store failed (the row stays unfinished; what was done is done, the next
 * pass does the rest). r holds the tenants and counts in every case; free it
 * with tally_alerts_retention_result_free. */
tally_code tally_alerts_retention_run(tally_pg *pg, tally_docs *docs,
                                      const tally_alerts_retention_options *o,
                                      tally_alerts_retention_result *r, tally_err *err);
void tally_alerts_retention_result_free(tally_alerts_retention_result *r);

#endif
