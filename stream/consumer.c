/*
 * consumer — the one batch-consumer loop every Tally daemon runs on:
 *
 *   poll → a batch (batch_size events or batch_ms, whichever first) → decode
 *   → the daemon's screen → store, retried with backoff while a store is
 *   down → commit → count → a progress line every stats_interval_s
 *
 * and, on SIGTERM, the batch in hand is finished (its store retried for at
 * most drain_timeout_ms) before the loop returns. Nothing is committed before
 * the daemon's store() said the batch is durable, so a crash at any instant
 * means redelivery of what was not committed; the daemons' writes are
 * idempotent, or carry their offsets in the same transaction.
 *
 * Two ways to keep offsets:
 *   - Kafka's (the handlers have no load_offset; tally-ingest): every batch
 *     is one Kafka transaction of a transactional producer. store() writes
 *     its stores and, through b->producer, its Kafka records (dead letters);
 *     the loop adds the batch's offsets (send_offsets_to_transaction) and
 *     commits. A crash before the commit leaves the records invisible to
 *     read_committed readers and the offsets where they were, so the replay
 *     writes them again in a transaction that does commit: each record is
 *     read exactly once. A store that fails aborts the transaction and is
 *     retried, the batch in hand; a commit the broker refuses (a rebalance
 *     fenced this member's generation) aborts it, and the loop rewinds to the
 *     batch's first offsets and reads it again — if its partitions are still
 *     ours. The successor of a dead process (same instance name, so the same
 *     transactional.id) aborts what it left open when it starts.
 *   - the daemon's own store (load_offset set; tally-aggregate): every
 *     assigned partition is sought to what load_offset returns, and nothing
 *     is committed to Kafka: store() writes the offsets with the batch, in
 *     its PostgreSQL transaction.
 * In both, a revocation drops the batch in hand: it may be another member's
 * now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_common.h"
#include "tally_stream.h"

struct tally_consumer {
    tally_consumer_options opt;
    tally_consumer_handlers h;
    void *ctx;
    rd_kafka_t *rk;
    rd_kafka_t *producer;      /* transactional, with Kafka offsets; else NULL */
    rd_kafka_message_t **msgs; /* the batch as polled, then owned by items */
    tally_batch batch;
    bool revoked; /* set by the rebalance callback: drop the batch in hand */
    tally_consumer_stats stats;
};

void tally_batch_reject(tally_batch_item *it, const char *reason) {
    if (it->valid) tally_event_free(&it->ev);
    it->valid = false;
    snprintf(it->reason, sizeof it->reason, "%s", reason);
}

size_t tally_batch_offsets(const tally_batch *b, tally_partition_offset *out, size_t cap) {
    size_t n = 0;
    for (int i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->items[i].msg;
        const char *topic = rd_kafka_topic_name(m->rkt);
        size_t k = 0;
        while (k < n && !(out[k].partition == m->partition && !strcmp(out[k].topic, topic))) k++;
        if (k == n) {
            if (n == cap) continue; /* more partitions in one batch than any topic of ours has */
            out[n++] = (tally_partition_offset){topic, m->partition, m->offset + 1};
        } else if (m->offset + 1 > out[k].next_offset) {
            out[k].next_offset = m->offset + 1;
        }
    }
    return n;
}

/* A revocation drops the batch in hand (the flag is read by the poll). On
 * assignment, with offsets kept by the daemon, start every partition where
 * its store says (the beginning when it has nothing); Kafka's committed
 * offsets are never used then. Blocks, retrying, while that store is down:
 * reading from anywhere else could count twice or skip. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    tally_consumer *c = opaque;
    c->stats.rebalances++;
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        c->revoked = true;
        rd_kafka_assign(rk, NULL);
        tally_info("partitions revoked", "count=%d", parts->cnt);
        return;
    }
    for (int i = 0; c->h.load_offset && i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t next = -1;
        tally_err e;
        tally_backoff backoff;
        tally_backoff_init(&backoff);
        static volatile sig_atomic_t never = 0; /* no giving up: see above */
        while (c->h.load_offset(c->ctx, p->topic, p->partition, &next, &e) != TALLY_OK) {
            tally_warn("cannot read stored offsets, will retry", "error=\"%s\"", e.msg);
            tally_backoff_wait(&backoff, &never, 0);
        }
        p->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, parts);
    tally_info("partitions assigned", "count=%d", parts->cnt);
}

tally_consumer *tally_consumer_new(const tally_consumer_options *opt,
                                   const tally_consumer_handlers *h, void *ctx, tally_err *err) {
    tally_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    c->opt = *opt;
    c->h = *h;
    c->ctx = ctx;
    c->msgs = calloc((size_t)opt->batch_size, sizeof *c->msgs);
    c->batch.items = calloc((size_t)opt->batch_size, sizeof *c->batch.items);
    if (!c->msgs || !c->batch.items) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory for a batch of %d", opt->batch_size);
        goto fail;
    }
    if (h->load_offset) {
        c->rk = tally_kafka_consumer_new(opt->brokers, opt->group, NULL, 0, on_rebalance, c, err);
    } else {
        char txn_id[512];
        /* The topic is in it so that one host's processes of one group on
         * two topics (tests, a second pipeline) never fence each other. */
        snprintf(txn_id, sizeof txn_id, "%s.%s.%s", opt->group, opt->topic, opt->instance);
        const tally_kafka_setting member[] = {{"group.instance.id", opt->instance}};
        c->producer = tally_kafka_txn_producer_new(opt->brokers, txn_id, err);
        if (!c->producer) goto fail;
        c->batch.producer = c->producer;
        c->rk = tally_kafka_consumer_new(opt->brokers, opt->group, member,
                                         opt->static_member ? 1 : 0, on_rebalance, c, err);
        tally_info("batches commit as kafka transactions", "transactional_id=%s", txn_id);
    }
    if (!c->rk || tally_kafka_subscribe(c->rk, opt->topic, err) != TALLY_OK) goto fail;
    return c;
fail:
    tally_consumer_free(c);
    return NULL;
}

static void release_batch(tally_consumer *c) {
    for (int i = 0; i < c->batch.n; i++) {
        tally_batch_item *it = &c->batch.items[i];
        if (it->valid) tally_event_free(&it->ev);
        rd_kafka_message_destroy(it->msg);
    }
    c->batch.n = 0;
}

void tally_consumer_free(tally_consumer *c) {
    if (!c) return;
    release_batch(c);
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    if (c->producer) rd_kafka_destroy(c->producer);
    free(c->msgs);
    free(c->batch.items);
    free(c);
}

/* Fill the batch (up to batch_size messages, or fewer when --max-events is
 * near, waiting at most batch_ms) and decode every message. */
static void fill_batch(tally_consumer *c, volatile sig_atomic_t *stop) {
    int room = c->opt.batch_size;
    if (c->opt.max_events && c->opt.max_events - c->stats.events < room)
        room = (int)(c->opt.max_events - c->stats.events);
    int n = 0;
    /* A revocation drops what is in hand; the next assignment seeks to the
     * stored offsets, so nothing is lost or counted twice. */
    tally_kafka_poll_batch(c->rk, c->msgs, &n, room, c->opt.batch_ms, stop, &c->revoked);
    for (int i = 0; i < n; i++) {
        tally_batch_item *it = &c->batch.items[i];
        memset(it, 0, sizeof *it);
        it->msg = c->msgs[i];
        tally_err e;
        it->valid = tally_event_decode(it->msg->payload, it->msg->len, &it->ev, &e) == TALLY_OK;
        if (!it->valid) snprintf(it->reason, sizeof it->reason, "%s", e.msg);
    }
    c->batch.n = n;
    if (n > 0 && c->h.screen) c->h.screen(c->ctx, &c->batch);
}

/* An error of a transaction call into err; true when it is fatal (this
 * producer was fenced by a newer one of its id, or the broker refuses the
 * id): nothing more can be committed by this process. */
static bool txn_error(rd_kafka_error_t *e, const char *what, tally_err *err) {
    tally_err_set(err, TALLY_ESTORE, "kafka %s: %s", what, rd_kafka_error_string(e));
    bool fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    return fatal;
}

/* The batch's offsets into its transaction, then the commit; a retriable
 * error is retried at once. TALLY_OK, or TALLY_EIO when the transaction was
 * aborted (the batch is to be read again), or TALLY_ESTORE when the producer
 * can commit nothing any more. */
static tally_code txn_commit(tally_consumer *c, tally_err *err) {
    tally_partition_offset offs[TALLY_MAX_BATCH_PARTITIONS];
    size_t n = tally_batch_offsets(&c->batch, offs, TALLY_MAX_BATCH_PARTITIONS);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, offs[i].topic, offs[i].partition)->offset =
            offs[i].next_offset;
    rd_kafka_error_t *e = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (e) rd_kafka_error_destroy(e);
        rd_kafka_consumer_group_metadata_t *member = rd_kafka_consumer_group_metadata(c->rk);
        e = rd_kafka_send_offsets_to_transaction(c->producer, list, member, 30000);
        rd_kafka_consumer_group_metadata_destroy(member);
        if (!e) e = rd_kafka_commit_transaction(c->producer, 60000);
        if (!e || !rd_kafka_error_is_retriable(e)) break;
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!e) return TALLY_OK;
    if (txn_error(e, "commit", err)) return TALLY_ESTORE;
    rd_kafka_error_t *abort_e = rd_kafka_abort_transaction(c->producer, 30000);
    if (abort_e && txn_error(abort_e, "abort", err)) return TALLY_ESTORE;
    return TALLY_EIO;
}

/* Seek every partition of the batch back to its first message, so that the
 * next polls read the batch again (a partition no longer ours is left to its
 * new owner, which starts at the committed offset). */
static void rewind_batch(tally_consumer *c) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < c->batch.n; i++) {
        const rd_kafka_message_t *m = c->batch.items[i].msg;
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(
            list, rd_kafka_topic_name(m->rkt), m->partition);
        if (!p) {
            p = rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(m->rkt), m->partition);
            p->offset = m->offset;
        }
        if (m->offset < p->offset) p->offset = m->offset;
    }
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, list, 10000);
    if (e) {
        /* The next polls go on after the batch; the group's committed offset
         * is still before it, so it is read again after the next rebalance
         * or restart, not lost. */
        tally_warn("cannot rewind", "error=\"%s\"", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(list);
    c->stats.rewinds++;
}

/* One attempt at the batch: store() and, with Kafka offsets, its transaction. */
static tally_code store_once(tally_consumer *c, tally_err *err) {
    if (c->producer) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(c->producer);
        if (e) {
            txn_error(e, "begin transaction", err);
            return TALLY_ESTORE;
        }
    }
    tally_code rc = c->h.store(c->ctx, &c->batch, err);
    if (!c->producer) return rc;
    if (rc == TALLY_OK) return txn_commit(c, err);
    /* Nothing the attempt wrote to Kafka will ever be read. */
    rd_kafka_error_t *e = rd_kafka_abort_transaction(c->producer, 30000);
    if (e) {
        tally_err why;
        if (txn_error(e, "abort", &why)) return tally_err_set(err, TALLY_ESTORE, "%s", why.msg);
    }
    return rc;
}

/* Store the batch in hand, retrying with backoff while a store is down.
 * *reread: the transaction was aborted at commit and the batch rewound. A
 * fatal transaction error is not retried. */
static tally_code store_batch(tally_consumer *c, volatile sig_atomic_t *stop, bool *reread,
                              tally_err *err) {
    tally_backoff backoff;
    tally_backoff_init(&backoff);
    *reread = false;
    for (;;) {
        tally_code rc = store_once(c, err);
        if (rc == TALLY_OK || rc == TALLY_EIO) {
            if (backoff.attempts)
                tally_info("store is back, batch stored", "attempts=%d", backoff.attempts + 1);
            if (rc == TALLY_EIO) {
                tally_warn("transaction aborted, the batch will be read again", "error=\"%s\"",
                           err->msg);
                *reread = true;
            }
            return TALLY_OK;
        }
        c->stats.store_retries++;
        if (c->producer && rc == TALLY_ESTORE && rd_kafka_fatal_error(c->producer, NULL, 0))
            return rc; /* fenced: a newer process of this instance name runs */
        tally_warn("store failed, will retry", "attempt=%d backoff_ms=%d error=\"%s\"",
                   backoff.attempts + 1, backoff.delay_ms, err->msg);
        if (!tally_backoff_wait(&backoff, stop, c->opt.drain_timeout_ms))
            return rc; /* give up: nothing committed, the batch will be redelivered */
    }
}

static void log_progress(const tally_consumer *c, double rate) {
    char own[512] = "";
    if (c->h.describe) c->h.describe(c->ctx, own, sizeof own);
    const tally_consumer_stats *s = &c->stats;
    tally_info("progress",
               "events=%lld %s%sbatches=%lld retries=%lld rebalances=%lld rewinds=%lld rate=%.0f/s",
               (long long)s->events, own, *own ? " " : "", (long long)s->batches,
               (long long)s->store_retries, (long long)s->rebalances, (long long)s->rewinds, rate);
}

tally_code tally_consumer_run(tally_consumer *c, volatile sig_atomic_t *stop, tally_err *err) {
    int64_t last_log = tally_time_monotonic_us(), events_at_last_log = 0;
    tally_code rc = TALLY_OK;
    while (!*stop) {
        fill_batch(c, stop);
        char why[256];
        if (rd_kafka_fatal_error(c->rk, why, sizeof why)) {
            /* e.g. another live process took this instance name */
            release_batch(c);
            rc = tally_err_set(err, TALLY_ESTORE, "kafka consumer: %s (instance %s)", why,
                               c->opt.instance);
            break;
        }
        if (c->batch.n > 0) {
            bool reread;
            rc = store_batch(c, stop, &reread, err);
            if (rc != TALLY_OK) {
                release_batch(c);
                break;
            }
            if (reread) {
                rewind_batch(c);
            } else {
                c->stats.batches++;
                c->stats.events += c->batch.n;
                if (c->h.stored) c->h.stored(c->ctx, &c->batch);
            }
            release_batch(c);
        }
        int64_t now = tally_time_monotonic_us();
        if (c->opt.stats_interval_s > 0 &&
            now - last_log >= (int64_t)c->opt.stats_interval_s * 1000000) {
            log_progress(c, (double)(c->stats.events - events_at_last_log) * 1e6 /
                                (double)(now - last_log));
            last_log = now;
            events_at_last_log = c->stats.events;
        }
        if (c->opt.max_events && c->stats.events >= c->opt.max_events) break;
    }
    log_progress(c, 0);
    return rc;
}
