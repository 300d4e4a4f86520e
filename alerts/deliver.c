/*
 * deliver — webhook deliveries: claim the due ones (of alerts already on the
 * topic), POST them all at once through webhook.c, record every try.
 *
 * Delivery is at least once: a try is recorded after its POST, so a process
 * killed in between leaves the delivery claimed until its lease ends, and it
 * is tried again. Receivers tell repeats apart by the event id (also the
 * Tally-Event-Id header). A retry waits 1 s, doubling per try up to 10 min,
 * and stops 24 h after the first try (relational/alert_outbox.c keeps those
 * rules in the one statement that records a try).
 *
 * It runs in a thread of its own in tally-alerts, with its own PostgreSQL
 * connection, so that a slow receiver (up to the time limit of a try) never
 * holds up publishing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally_alerts.h"
#include "webhook.h"

/* How long a claim keeps other claimers off a delivery: longer than any
 * try can take, so a delivery is tried by one process at a time. */
#define LEASE_EXTRA_S 60
#define IDLE_MS 200

tally_code tally_alerts_deliver_batch(tally_pg *pg, const tally_alerts_deliver_options *opt,
                                      tally_alerts_deliver_stats *st, size_t *n, tally_err *err) {
    *n = 0;
    int timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : TALLY_WEBHOOK_TIMEOUT_MS;
    tally_webhook_due *due = NULL;
    size_t count = 0;
    tally_code rc = tally_pg_webhooks_claim(pg, opt->batch > 0 ? opt->batch : 1,
                                            timeout_ms / 1000 + LEASE_EXTRA_S, &due, &count, err);
    if (rc != TALLY_OK || count == 0) return rc;

    tally_webhook_request *reqs = calloc(count, sizeof *reqs);
    tally_webhook_result *results = calloc(count, sizeof *results);
    tally_webhook_outcome *out = calloc(count, sizeof *out);
    size_t *which = calloc(count, sizeof *which); /* reqs[k] is due[which[k]] */
    if (!reqs || !results || !out || !which) {
        free(reqs), free(results), free(out), free(which);
        tally_pg_webhooks_free(due, count);
        return tally_err_set(err, TALLY_ENOMEM, "out of memory (%zu deliveries)", count);
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        if (!due[i].secret) continue; /* no secret, no webhook (see below) */
        reqs[k] = (tally_webhook_request){
            .url = due[i].url,
            .alert_id = due[i].alert_id,
            .secret = due[i].secret,
            .body = due[i].event,
            .body_len = due[i].event_len,
            .timeout_ms = timeout_ms,
        };
        which[k++] = i;
    }
    tally_usec started = tally_time_now_us();
    if (k) tally__webhook_post_many(reqs, k, opt->allow_private, started / 1000000, results);

    for (size_t i = 0; i < count; i++) /* the contract: no secret, no try, marked so */
        out[i] = (tally_webhook_outcome){
            .alert_id = due[i].alert_id, .at = started, .status = "no secret", .final = true};
    for (size_t j = 0; j < k; j++) {
        size_t i = which[j];
        out[i].attempt = due[i].attempts + 1;
        out[i].status = results[j].status[0] ? results[j].status : "failed";
        out[i].duration_ms = results[j].duration_ms;
        out[i].delivered = results[j].delivered;
        out[i].final = false;
        st->tries++;
        if (results[j].delivered)
            st->delivered++;
        else
            st->failed++;
    }
    st->no_secret += (int64_t)(count - k);
    /* The POSTs are made: keep their outcomes until PostgreSQL has them (a
     * lost outcome would only mean a repeated POST after the lease). */
    tally_backoff b;
    tally_backoff_init(&b);
    static volatile sig_atomic_t never;
    while ((rc = tally_pg_webhooks_record(pg, out, count, err)) == TALLY_ESTORE && b.attempts < 8)
        tally_backoff_wait(&b, &never, 0);
    *n = count;
    free(reqs), free(results), free(out), free(which);
    tally_pg_webhooks_free(due, count);
    return rc;
}

void tally_alerts_deliver_run(const char *pg_url, const tally_alerts_deliver_options *opt,
                              int stats_interval_s, volatile sig_atomic_t *stop,
                              tally_alerts_deliver_stats *st) {
    tally_pg *pg = NULL;
    tally_backoff b;
    tally_backoff_init(&b);
    int64_t next_stats = tally_time_monotonic_us() + (int64_t)stats_interval_s * 1000000;
    tally_alerts_deliver_stats last = *st;
    while (!*stop) {
        tally_err err = {0};
        size_t n = 0;
        if (!pg) pg = tally_pg_open(pg_url, &err);
        tally_code rc = pg ? tally_alerts_deliver_batch(pg, opt, st, &n, &err) : TALLY_ESTORE;
        if (rc != TALLY_OK) {
            char why[600];
            tally_text_quote(err.msg, strlen(err.msg), why, sizeof why, true);
            tally_warn("webhook deliveries failed, retrying", "error=\"%s\"", why);
            if (!tally_backoff_wait(&b, stop, 0)) break;
            continue;
        }
        tally_backoff_init(&b);
        if (stats_interval_s > 0 && tally_time_monotonic_us() >= next_stats) {
            if (st->tries != last.tries || st->no_secret != last.no_secret)
                tally_info("webhook deliveries",
                           "tries=%lld delivered=%lld failed=%lld no_secret=%lld",
                           (long long)st->tries, (long long)st->delivered, (long long)st->failed,
                           (long long)st->no_secret);
            last = *st;
            next_stats = tally_time_monotonic_us() + (int64_t)stats_interval_s * 1000000;
        }
        if (n == 0) tally_sleep_ms(IDLE_MS);
    }
    tally_pg_close(pg);
}
