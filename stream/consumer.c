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
 *   - Kafka's (the handlers have no load_offset): the group's committed
 *     offsets, committed here after every stored batch (tally-ingest);
 *   - the daemon's own store (load_offset set): every assigned partition is
 *     sought to what load_offset returns, the batch in hand is dropped on a
 *     revocation, and nothing is committed to Kafka: store() writes the
 *     offsets with the batch (tally-aggregate, in its PostgreSQL transaction).
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

/* Offsets kept by the daemon: on assignment, start every partition where its
 * store says (the beginning when it has nothing); Kafka's committed offsets
 * are never used. Blocks, retrying, while that store is down: reading from
 * anywhere else could count twice or skip. */
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
    for (int i = 0; i < parts->cnt; i++) {
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
    c->rk = tally_kafka_consumer_new(opt->brokers, opt->group, NULL, 0,
                                     h->load_offset ? on_rebalance : NULL, c, err);
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
    tally_kafka_poll_batch(c->rk, c->msgs, &n, room, c->opt.batch_ms, stop,
                           c->h.load_offset ? &c->revoked : NULL);
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

/* Store the batch in hand, retrying with backoff while a store is down. */
static tally_code store_batch(tally_consumer *c, volatile sig_atomic_t *stop, tally_err *err) {
    tally_backoff backoff;
    tally_backoff_init(&backoff);
    for (;;) {
        tally_code rc = c->h.store(c->ctx, &c->batch, err);
        if (rc == TALLY_OK) {
            if (backoff.attempts)
                tally_info("store is back, batch stored", "attempts=%d", backoff.attempts + 1);
            return TALLY_OK;
        }
        c->stats.store_retries++;
        tally_warn("store failed, will retry", "attempt=%d backoff_ms=%d error=\"%s\"",
                   backoff.attempts + 1, backoff.delay_ms, err->msg);
        if (!tally_backoff_wait(&backoff, stop, c->opt.drain_timeout_ms))
            return rc; /* give up: nothing committed, the batch will be redelivered */
    }
}

/* Commit to Kafka, per partition, the offset after the batch's last message. */
static void commit_offsets(tally_consumer *c) {
    tally_partition_offset offs[TALLY_MAX_BATCH_PARTITIONS];
    size_t n = tally_batch_offsets(&c->batch, offs, TALLY_MAX_BATCH_PARTITIONS);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, offs[i].topic, offs[i].partition)->offset =
            offs[i].next_offset;
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, list, 0);
    if (e) /* Harmless for correctness: the batch will be redelivered and is idempotent. */
        tally_warn("offset commit failed", "error=\"%s\"", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

static void log_progress(const tally_consumer *c, double rate) {
    char own[512] = "";
    if (c->h.describe) c->h.describe(c->ctx, own, sizeof own);
    const tally_consumer_stats *s = &c->stats;
    tally_info("progress", "events=%lld %s%sbatches=%lld retries=%lld rebalances=%lld rate=%.0f/s",
               (long long)s->events, own, *own ? " " : "", (long long)s->batches,
               (long long)s->store_retries, (long long)s->rebalances, rate);
}

tally_code tally_consumer_run(tally_consumer *c, volatile sig_atomic_t *stop, tally_err *err) {
    int64_t last_log = tally_time_monotonic_us(), events_at_last_log = 0;
    tally_code rc = TALLY_OK;
    while (!*stop) {
        fill_batch(c, stop);
        if (c->batch.n > 0) {
            rc = store_batch(c, stop, err);
            if (rc != TALLY_OK) {
                release_batch(c);
                break;
            }
            if (!c->h.load_offset) commit_offsets(c);
            c->stats.batches++;
            c->stats.events += c->batch.n;
            if (c->h.stored) c->h.stored(c->ctx, &c->batch);
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
