/*
 * tally_alerts — the `tally-alerts` daemon's own logic: publishing the alert
 * outbox to the alerts topic exactly once (sender.c) and delivering webhooks
 * (deliver.c, over webhook.c). Outside alerts/, include this header only.
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

#endif
