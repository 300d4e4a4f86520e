/*
 * api_producer — the one Kafka producer of tally-api (POST /v1/events), and
 * how a request learns that Kafka took *its* messages.
 *
 * librdkafka reports each message's fate once (a delivery report), on the
 * thread that polls the producer. A request must not wait for everyone
 * (rd_kafka_flush would), only for its own messages; so every message
 * carries a pointer to its request's waiter (msg_opaque), one thread polls
 * the producer for the whole server, and the delivery callback counts the
 * report on the waiter and wakes its request.
 *
 * The wait is bounded: message.timeout.ms (PUBLISH_TIMEOUT_MS) makes
 * librdkafka report every message, delivered or failed, within that time
 * (Kafka down: _MSG_TIMED_OUT). The request also stops waiting a little
 * after it on its own, and the waiter is reference-counted (the request and
 * each message still to report hold it), so a report that comes later than
 * its request never touches freed memory.
 *
 * Idempotent (acks=all, no duplicates from librdkafka's own retries): a
 * message reported delivered is in Kafka. One that failed may or may not
 * be; the client retries, and the event id de-duplicates downstream.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "tally_common.h"
#include "tally_stream.h"

#define PUBLISH_TIMEOUT_MS 5000 /* message.timeout.ms: Kafka's answer or a failure by then */
#define WAIT_SLACK_MS 2000      /* the request's own bound, past librdkafka's */
#define QUEUE_FULL_RETRY_MS 10  /* the local queue is full: wait this long and try again */

struct api_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt; /* created once: no lookup by name per message */
    pthread_t poller;
    bool poller_started;
    atomic_bool stop;
};

/* One request's messages in flight. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when `pending` reaches 0 */
    int refs;          /* the request, plus each message not reported yet */
    size_t pending, failed;
    char first_error[200];
} waiter;

static void waiter_release_locked(waiter *w) {
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (!last) return;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void waiter_fail_locked(waiter *w, const char *why) {
    if (!w->failed++) snprintf(w->first_error, sizeof w->first_error, "%s", why);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk, (void)opaque;
    waiter *w = m->_private;
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    if (m->err) waiter_fail_locked(w, rd_kafka_err2str(m->err));
    if (--w->pending == 0) pthread_cond_broadcast(&w->cv);
    waiter_release_locked(w);
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    char safe[400];
    tally_text_quote(buf, strlen(buf), safe, sizeof safe, true);
    tally_log(level <= 4 ? TALLY_LOG_WARN : TALLY_LOG_DEBUG, "kafka producer",
              "facility=%s detail=\"%s\"", fac, safe);
}

static void *poll_loop(void *arg) {
    api_producer *p = arg;
    while (!atomic_load(&p->stop)) rd_kafka_poll(p->rk, 100);
    return NULL;
}

api_producer *tally__api_producer_new(const char *brokers, const char *topic, tally_err *err) {
    const tally_kafka_setting settings[] = {
        {"bootstrap.servers", brokers},   {"client.id", "tally-api"},
        {"enable.idempotence", "true"},   {"linger.ms", "1"},
        {"message.max.bytes", "8388608"}, {"message.timeout.ms", TALLY_STR(PUBLISH_TIMEOUT_MS)},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tally_kafka_conf_apply(conf, settings, sizeof settings / sizeof settings[0], err) !=
        TALLY_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    api_producer *p = calloc(1, sizeof *p);
    if (!p) {
        rd_kafka_conf_destroy(conf);
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        tally_err_set(err, TALLY_EINVAL, "kafka producer: %s", errstr);
        return NULL;
    }
    p->rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    if (!p->rkt) {
        tally_err_set(err, TALLY_EINVAL, "kafka producer: topic %s: %s", topic,
                      rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(p->rk);
        free(p);
        return NULL;
    }
    if (pthread_create(&p->poller, NULL, poll_loop, p)) {
        rd_kafka_topic_destroy(p->rkt);
        rd_kafka_destroy(p->rk);
        free(p);
        tally_err_set(err, TALLY_ENOMEM, "cannot start the producer's poll thread");
        return NULL;
    }
    p->poller_started = true;
    return p;
}

void tally__api_producer_free(api_producer *p) {
    if (!p) return;
    atomic_store(&p->stop, true);
    if (p->poller_started) pthread_join(p->poller, NULL);
    /* Serves the last delivery reports (freeing their waiters) on this thread. */
    if (rd_kafka_flush(p->rk, PUBLISH_TIMEOUT_MS + WAIT_SLACK_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        tally_warn("kafka producer", "detail=\"%d messages not delivered at stop\"",
                   rd_kafka_outq_len(p->rk));
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
    free(p);
}

/* A retry after the time a publish may take: by then Kafka answered it. */
#define RETRY_AFTER_S 5
_Static_assert(RETRY_AFTER_S * 1000 >= PUBLISH_TIMEOUT_MS, "retry no sooner than a publish ends");

const char *tally__api_producer_retry_after(void) { return TALLY_STR(RETRY_AFTER_S); }

/* Queue one message for w, which already counts it as pending; false (w's
 * failure recorded, the message no longer counted) when librdkafka refused
 * it, its local queue staying full until the deadline included. */
static bool enqueue(api_producer *p, const api_message *m, waiter *w, int64_t deadline_us) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_KEY(m->key, strlen(m->key)),
            RD_KAFKA_V_VALUE((void *)m->value, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
        if (!e) return true;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tally_time_monotonic_us() < deadline_us) {
            tally_sleep_ms(QUEUE_FULL_RETRY_MS); /* the poll thread drains it */
            continue;
        }
        pthread_mutex_lock(&w->mu);
        waiter_fail_locked(w, rd_kafka_err2str(e));
        w->refs--, w->pending--; /* no report will come for it */
        pthread_mutex_unlock(&w->mu);
        return false;
    }
}

tally_code tally__api_producer_send(api_producer *p, const api_message *m, size_t n,
                                    tally_err *err) {
    waiter *w = calloc(1, sizeof *w);
    pthread_condattr_t ca;
    if (!w || pthread_condattr_init(&ca)) {
        free(w);
        return tally_err_set(err, TALLY_ENOMEM, "out of memory");
    }
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->refs = 1 + (int)n, w->pending = n; /* the request, and every message */
    int64_t deadline_us = tally_time_monotonic_us() +
                          (int64_t)(PUBLISH_TIMEOUT_MS + WAIT_SLACK_MS) * 1000;
    /* After a refusal the rest is not queued: the answer is a failure anyway,
     * and no report will come for them. */
    size_t queued = 0;
    while (queued < n && enqueue(p, &m[queued], w, deadline_us)) queued++;
    if (queued < n) {
        pthread_mutex_lock(&w->mu);
        w->refs -= (int)(n - queued - 1), w->pending -= n - queued - 1; /* enqueue took one */
        pthread_mutex_unlock(&w->mu);
    }

    /* tally_time_monotonic_us() is CLOCK_MONOTONIC, the condition's clock. */
    struct timespec until = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};
    pthread_mutex_lock(&w->mu);
    while (w->pending > 0)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT) break;
    size_t unanswered = w->pending, failed = w->failed;
    char why[sizeof w->first_error];
    snprintf(why, sizeof why, "%s", w->first_error);
    waiter_release_locked(w);

    if (unanswered)
        return tally_err_set(err, TALLY_ESTORE, "kafka: %zu of %zu messages not answered in time",
                             unanswered, n);
    if (failed)
        return tally_err_set(err, TALLY_ESTORE, "kafka: %zu of %zu messages not delivered (%s)",
                             failed, n, why);
    return TALLY_OK;
}
