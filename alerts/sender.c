/*
 * sender — the alert outbox to the alerts topic, exactly once.
 *
 * A batch: read up to `max` unpublished rows in seq order, produce them in
 * one Kafka transaction, commit it, then mark the rows published in
 * PostgreSQL. A kill -9 anywhere:
 *   - before the commit: the transaction is aborted (by the next sender's
 *     init_transactions, or the broker's timeout); read_committed readers
 *     never see it; the rows are still unpublished and go out again;
 *   - between the commit and the mark: the rows are on the topic but not
 *     marked. Only the last transaction can be in that state, because a new
 *     one starts only after the previous one's rows are marked. Opening
 *     therefore reads back the committed tail of every partition, newest
 *     first, and marks every id it finds, until it meets an id that was
 *     already marked (what lies before it was marked too) or the beginning;
 *   - after the mark: nothing to do.
 * A mark that fails (PostgreSQL down) is retried before anything else is
 * produced: the ids wait in `pending`.
 *
 * The transactional.id is fixed per topic, so a second sender (a restart, or
 * a second copy started by mistake) fences the first: the first one's next
 * transaction fails and it stops (TALLY_EIO), and only one ever produces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_alerts.h"
#include "tally_stream.h"

#define READBACK_WINDOW 2000    /* offsets read back at a time, per partition */
#define KAFKA_TIMEOUT_MS 10000  /* of one metadata, watermark or read-back step */
#define COMMIT_TIMEOUT_MS 60000 /* of a commit or an abort */

struct tally_alerts_sender {
    rd_kafka_t *producer; /* owned */
    char *brokers, *topic;
    tally_pg *pg; /* borrowed */
    /* Ids committed to the topic, not yet marked (owned strings). */
    char **pending;
    size_t n_pending;
    tally_alerts_sender_stats stats;
};

/* ---- marking ---------------------------------------------------------------- */

static void pending_clear(tally_alerts_sender *s) {
    for (size_t i = 0; i < s->n_pending; i++) free(s->pending[i]);
    free(s->pending);
    s->pending = NULL;
    s->n_pending = 0;
}

/* Mark the pending ids; they are forgotten only once PostgreSQL has them. */
static tally_code mark_pending(tally_alerts_sender *s, tally_err *err) {
    if (!s->n_pending) return TALLY_OK;
    tally_code rc = tally_pg_alerts_mark_published(s->pg, (const char *const *)s->pending,
                                                   s->n_pending, NULL, NULL, err);
    if (rc == TALLY_OK) pending_clear(s);
    return rc;
}

/* ---- reading back the committed tail ---------------------------------------- */

/* The ids of one read-back window, as the tally-alert-id headers give them. */
typedef struct {
    char **id;
    size_t n, cap;
} id_list;

static void ids_free(id_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->id[i]);
    free(l->id);
    memset(l, 0, sizeof *l);
}

static void ids_add(id_list *l, const char *id, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->id = realloc(l->id, l->cap * sizeof *l->id);
        if (!l->id) tally_oom("alerts read-back");
    }
    if (!(l->id[l->n] = strndup(id, len))) tally_oom("alerts read-back");
    l->n++;
}

/* Read the committed messages of partition p at offsets [start, end) into
 * ids. The consumer reads committed records only, so an aborted batch is
 * never taken for a published one; its offsets (and the transaction
 * markers) are simply skipped, which is why the end is found as "the first
 * offset >= end, or the end of the partition" rather than by counting. */
static tally_code read_window(rd_kafka_t *c, const char *topic, int32_t p, int64_t start,
                              int64_t end, id_list *ids, tally_err *err) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = start;
    rd_kafka_resp_err_t e = rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return tally_err_set(err, TALLY_ESTORE, "read back %s [%d]: assign: %s", topic, (int)p,
                             rd_kafka_err2str(e));
    int64_t deadline = tally_time_monotonic_us() + (int64_t)KAFKA_TIMEOUT_MS * 1000;
    tally_code rc = TALLY_OK;
    for (;;) {
        if (tally_time_monotonic_us() > deadline) {
            rc = tally_err_set(err, TALLY_ESTORE,
                               "read back %s [%d]: offsets %lld..%lld not read in %d ms", topic,
                               (int)p, (long long)start, (long long)end, KAFKA_TIMEOUT_MS);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m) continue;
        bool done = false;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            done = m->partition == p;
        } else if (m->err) {
            rc = tally_err_set(err, TALLY_ESTORE, "read back %s [%d]: %s", topic, (int)p,
                               rd_kafka_message_errstr(m));
            done = true;
        } else if (m->partition == p && m->offset >= end) {
            done = true;
        } else if (m->partition == p && m->offset >= start) {
            rd_kafka_headers_t *h = NULL;
            const void *v;
            size_t len;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_header_get_last(h, TALLY_ALERTS_ID_HEADER, &v, &len) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                v)
                ids_add(ids, v, len);
        }
        rd_kafka_message_destroy(m);
        if (done) break;
    }
    rd_kafka_assign(c, NULL);
    return rc;
}

/* Mark what partition p holds and PostgreSQL does not know, newest first. */
static tally_code recover_partition(tally_alerts_sender *s, rd_kafka_t *c, int32_t p,
                                    tally_err *err) {
    int64_t low, high;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c, s->topic, p, &low, &high,
                                                             KAFKA_TIMEOUT_MS);
    if (e)
        return tally_err_set(err, TALLY_ESTORE, "read back %s [%d]: watermarks: %s", s->topic,
                             (int)p, rd_kafka_err2str(e));
    for (int64_t end = high; end > low;) {
        int64_t start = end - READBACK_WINDOW > low ? end - READBACK_WINDOW : low;
        id_list ids = {0};
        tally_code rc = read_window(c, s->topic, p, start, end, &ids, err);
        int64_t marked = 0, already = 0;
        if (rc == TALLY_OK)
            rc = tally_pg_alerts_mark_published(s->pg, (const char *const *)ids.id, ids.n, &marked,
                                                &already, err);
        ids_free(&ids);
        if (rc != TALLY_OK) return rc;
        s->stats.recovered += marked;
        if (marked)
            tally_info("recovered alerts", "topic=%s partition=%d offsets=%lld..%lld marked=%lld",
                       s->topic, (int)p, (long long)start, (long long)end, (long long)marked);
        if (already) break; /* an earlier batch, marked before: so is all before it */
        end = start;
    }
    return TALLY_OK;
}

/* Read back every partition of the topic (see the top of this file). */
static tally_code recover(tally_alerts_sender *s, tally_err *err) {
    const tally_kafka_setting extra[] = {
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
        /* The tail is read once, at start: answer with what there is now
         * rather than wait for more (the default waits up to 500 ms). */
        {"fetch.wait.max.ms", "10"},
    };
    char group[300];
    snprintf(group, sizeof group, "%s%s.readback", TALLY_ALERTS_TXN_PREFIX, s->topic);
    /* assign() only: the group is never joined and nothing is committed. */
    rd_kafka_t *c = tally_kafka_consumer_new(s->brokers, group, extra,
                                             sizeof extra / sizeof extra[0], NULL, NULL, err);
    if (!c) return TALLY_ESTORE;
    rd_kafka_topic_t *t = rd_kafka_topic_new(c, s->topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = t ? rd_kafka_metadata(c, 0, t, &md, KAFKA_TIMEOUT_MS)
                              : RD_KAFKA_RESP_ERR__INVALID_ARG;
    tally_code rc = TALLY_OK;
    if (e || !md || md->topic_cnt != 1 || md->topics[0].err) {
        rc = tally_err_set(err, TALLY_ESTORE, "alerts topic %s: %s", s->topic,
                           rd_kafka_err2str(e ? e
                                            : md && md->topic_cnt
                                                ? md->topics[0].err
                                                : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    } else {
        for (int i = 0; rc == TALLY_OK && i < md->topics[0].partition_cnt; i++)
            rc = recover_partition(s, c, md->topics[0].partitions[i].id, err);
    }
    if (md) rd_kafka_metadata_destroy(md);
    if (t) rd_kafka_topic_destroy(t);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return rc;
}

/* ---- open / publish / free ---------------------------------------------------- */

tally_alerts_sender *tally_alerts_sender_open(const char *brokers, const char *topic, tally_pg *pg,
                                              tally_err *err) {
    tally_alerts_sender *s = calloc(1, sizeof *s);
    if (!s || !(s->brokers = strdup(brokers)) || !(s->topic = strdup(topic))) {
        tally_alerts_sender_free(s);
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    s->pg = pg;
    char txn_id[300];
    snprintf(txn_id, sizeof txn_id, "%s%s", TALLY_ALERTS_TXN_PREFIX, topic);
    /* init_transactions (inside) fences the previous sender of this topic
     * and aborts what it left open: after it, the topic's committed tail is
     * final, and reading it back is safe. */
    s->producer = tally_kafka_txn_producer_new(brokers, txn_id, err);
    if (!s->producer || recover(s, err) != TALLY_OK) {
        tally_alerts_sender_free(s);
        return NULL;
    }
    return s;
}

/* A Kafka transaction error: fatal ones (fenced) end this producer. */
static tally_code txn_error(rd_kafka_error_t *e, const char *what, tally_err *err) {
    tally_code rc = rd_kafka_error_is_fatal(e) ? TALLY_EIO : TALLY_ESTORE;
    tally_err_set(err, rc, "kafka %s: %s%s", what, rd_kafka_error_string(e),
                  rc == TALLY_EIO ? " (this sender is fenced or broken: stop)" : "");
    rd_kafka_error_destroy(e);
    return rc;
}

static tally_code abort_batch(tally_alerts_sender *s, tally_code rc) {
    rd_kafka_error_t *e = rd_kafka_abort_transaction(s->producer, COMMIT_TIMEOUT_MS);
    s->stats.aborted++;
    if (e) {
        tally_err ignored;
        if (txn_error(e, "abort", &ignored) == TALLY_EIO) rc = TALLY_EIO;
    }
    return rc;
}

/* Produce one alert into the open transaction, waiting while the local
 * queue is full. */
static rd_kafka_resp_err_t produce_one(tally_alerts_sender *s, const tally_alert *a) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->producer, RD_KAFKA_V_TOPIC(s->topic),
            RD_KAFKA_V_KEY(a->tenant_id, strlen(a->tenant_id)),
            RD_KAFKA_V_VALUE(a->event, a->event_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER(TALLY_ALERTS_ID_HEADER, a->alert_id, (ssize_t)strlen(a->alert_id)),
            RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) return e;
        rd_kafka_poll(s->producer, 50);
    }
}

/* Commit, retrying what the client calls retriable. */
static tally_code commit_batch(tally_alerts_sender *s, tally_err *err) {
    for (int tries = 0;; tries++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(s->producer, COMMIT_TIMEOUT_MS);
        if (!e) return TALLY_OK;
        if (rd_kafka_error_is_retriable(e) && tries < 5) {
            rd_kafka_error_destroy(e);
            continue;
        }
        bool must_abort = rd_kafka_error_txn_requires_abort(e);
        tally_code rc = txn_error(e, "commit", err);
        return rc == TALLY_EIO || !must_abort ? rc : abort_batch(s, rc);
    }
}

tally_code tally_alerts_sender_publish(tally_alerts_sender *s, int max, int *n, tally_err *err) {
    *n = 0;
    /* Never produce while a committed batch is unmarked: it would be read
     * as unpublished and go out twice. */
    tally_code rc = mark_pending(s, err);
    if (rc != TALLY_OK) return rc;
    tally_alert *a = NULL;
    size_t count = 0;
    rc = tally_pg_alerts_unpublished(s->pg, max, &a, &count, err);
    if (rc != TALLY_OK || count == 0) return rc;

    rd_kafka_error_t *e = rd_kafka_begin_transaction(s->producer);
    if (e) {
        tally_pg_alerts_free(a, count);
        return txn_error(e, "begin transaction", err);
    }
    for (size_t i = 0; i < count; i++) {
        rd_kafka_resp_err_t pe = produce_one(s, &a[i]);
        if (pe) {
            tally_err_set(err, TALLY_ESTORE, "kafka produce to %s: %s", s->topic,
                          rd_kafka_err2str(pe));
            tally_pg_alerts_free(a, count);
            return abort_batch(s, pe == RD_KAFKA_RESP_ERR__FATAL ? TALLY_EIO : TALLY_ESTORE);
        }
    }
    rc = commit_batch(s, err);
    if (rc != TALLY_OK) {
        tally_pg_alerts_free(a, count);
        return rc;
    }
    /* Committed: from here on these ids are published, whatever happens. */
    s->stats.published += (int64_t)count;
    s->stats.batches++;
    tally_debug("batch committed", "n=%zu seq=%lld..%lld", count, (long long)a[0].seq,
                (long long)a[count - 1].seq);
    s->pending = calloc(count, sizeof *s->pending);
    if (!s->pending) tally_oom("alerts sender");
    for (size_t i = 0; i < count; i++) {
        s->pending[i] = a[i].alert_id; /* moved */
        a[i].alert_id = NULL;
    }
    s->n_pending = count;
    tally_pg_alerts_free(a, count);
    *n = (int)count;
    /* A failed mark is retried by the next call, before it produces. */
    tally_err mark_err;
    if (mark_pending(s, &mark_err) != TALLY_OK)
        tally_warn("alerts published, not yet marked", "n=%zu error=\"%s\"", count, mark_err.msg);
    return TALLY_OK;
}

const tally_alerts_sender_stats *tally_alerts_sender_stats_of(const tally_alerts_sender *s) {
    return &s->stats;
}

void tally_alerts_sender_free(tally_alerts_sender *s) {
    if (!s) return;
    if (s->producer) rd_kafka_destroy(s->producer);
    pending_clear(s);
    free(s->brokers);
    free(s->topic);
    free(s);
}
