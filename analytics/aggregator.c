#include "tally_analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"
#include "tally_common.h"
#include "tally_pg.h"

struct tally_aggregator {
    tally_aggregate_options opt;
    rd_kafka_t *consumer;
    tally_pg *pg;
    rd_kafka_message_t **msgs; /* the batch in hand, owned */
    tally_event *events;       /* decoded twins of msgs */
    bool *decoded;
    tally_rollup_item *items;
    tally_rollup_rating *ratings;
    int n;
    bool revoked; /* set by the rebalance callback: drop the batch in hand */
    tally_aggregate_stats stats;
};

/* On assignment, start every partition at the offset stored in PostgreSQL
 * with the rollups (the beginning when there is none). Kafka's own committed
 * offsets are never used. Blocks, retrying, while PostgreSQL is down: reading
 * from anywhere else could count twice or skip. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    tally_aggregator *a = opaque;
    a->stats.rebalances++;
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        a->revoked = true;
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
        while (tally_rollup_load_offset(a->pg, a->opt.group, p->topic, p->partition, &next, &e) !=
               TALLY_OK) {
            tally_warn("cannot read stored offsets, will retry", "error=\"%s\"", e.msg);
            tally_backoff_wait(&backoff, &never, 0);
        }
        p->offset = next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, parts);
    tally_info("partitions assigned", "count=%d", parts->cnt);
}

tally_aggregator *tally_aggregator_new(const tally_aggregate_options *opt, tally_err *err) {
    tally_aggregator *a = calloc(1, sizeof *a);
    if (!a) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    a->opt = *opt;
    size_t n = (size_t)opt->batch_size;
    a->msgs = calloc(n, sizeof *a->msgs);
    a->events = calloc(n, sizeof *a->events);
    a->decoded = calloc(n, sizeof *a->decoded);
    a->items = calloc(n, sizeof *a->items);
    a->ratings = calloc(n, sizeof *a->ratings);
    if (!a->msgs || !a->events || !a->decoded || !a->items || !a->ratings) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory for a batch of %d", opt->batch_size);
        goto fail;
    }
    if (!(a->pg = tally_pg_open(opt->pg_url, err))) goto fail;
    int applied = 0;
    if (tally_pg_migrate(a->pg, &applied, err) != TALLY_OK) goto fail;
    if (applied) tally_info("migrations applied", "count=%d", applied);
    if (!(a->consumer = tally_kafka_consumer_new(opt->brokers, opt->group, NULL, 0, on_rebalance,
                                                 a, err)))
        goto fail;
    if (tally_kafka_subscribe(a->consumer, opt->topic, err) != TALLY_OK) goto fail;
    return a;
fail:
    tally_aggregator_free(a);
    return NULL;
}

static void release_batch(tally_aggregator *a) {
    for (int i = 0; i < a->n; i++) {
        if (a->decoded[i]) tally_event_free(&a->events[i]);
        rd_kafka_message_destroy(a->msgs[i]);
    }
    a->n = 0;
}

void tally_aggregator_free(tally_aggregator *a) {
    if (!a) return;
    release_batch(a);
    if (a->consumer) {
        rd_kafka_consumer_close(a->consumer);
        rd_kafka_destroy(a->consumer);
    }
    tally_pg_close(a->pg);
    free(a->msgs);
    free(a->events);
    free(a->decoded);
    free(a->items);
    free(a->ratings);
    free(a);
}

const tally_aggregate_stats *tally_aggregator_stats(const tally_aggregator *a) { return &a->stats; }

static void fill_batch(tally_aggregator *a, volatile sig_atomic_t *stop) {
    int room = a->opt.batch_size;
    if (a->opt.max_events && a->opt.max_events - a->stats.events < room)
        room = (int)(a->opt.max_events - a->stats.events);
    /* A revocation drops what is in hand; the next assignment seeks to the
     * offsets stored with the rollups, so nothing is lost or counted twice. */
    tally_kafka_poll_batch(a->consumer, a->msgs, &a->n, room, a->opt.batch_ms, stop, &a->revoked);
    for (int i = 0; i < a->n; i++) {
        tally_err err;
        a->decoded[i] =
            tally_event_decode(a->msgs[i]->payload, a->msgs[i]->len, &a->events[i], &err) == TALLY_OK;
    }
}

/* The batch's interactions and ratings for the rollups; invalid events are
 * the ingester's to reject (it sends them to the DLQ), here they are skipped. */
static void collect_batch(tally_aggregator *a, tally_rollup_batch *b) {
    size_t n = 0, n_ratings = 0;
    for (int i = 0; i < a->n; i++) {
        if (!a->decoded[i]) {
            a->stats.skipped_invalid++;
            continue;
        }
        const tally_event *ev = &a->events[i];
        if (ev->type == TALLY_EV_FEEDBACK_RECORDED) {
            const tally_feedback *f = &ev->u.feedback;
            a->ratings[n_ratings++] = (tally_rollup_rating){
                .interaction_id = f->interaction_id,
                .user_id = f->user_id,
                .tenant_id = f->tenant_id,
                .like = f->like,
                .time = ev->time,
                .offset = a->msgs[i]->offset,
            };
            continue;
        }
        if (ev->type != TALLY_EV_INTERACTION_RECORDED) continue;
        const tally_interaction *x = &ev->u.interaction;
        a->items[n++] = (tally_rollup_item){
            .interaction_id = ev->id,
            .tenant_id = x->tenant_id,
            .model_id = x->model_id,
            .user_id = x->user_id,
            .kind = x->kind,
            .agent_id = x->agent_id,
            .channel = x->channel,
            .time = ev->time,
            .is_error = !strcmp(x->status, "error"),
            .input_tokens = x->input_tokens,
            .cached_tokens = x->cached_tokens,
            .output_tokens = x->output_tokens,
            .audio_seconds = x->audio_seconds.set ? x->audio_seconds.text : NULL,
            .cost_usd = x->cost_usd.set ? x->cost_usd.text : NULL,
            .time_saved_minutes = x->time_saved_minutes.set ? x->time_saved_minutes.text : NULL,
        };
    }
    b->items = a->items;
    b->n_items = n;
    b->ratings = a->ratings;
    b->n_ratings = n_ratings;
}

/* Per partition, the offset after the last message of the batch. */
static size_t collect_offsets(tally_aggregator *a, tally_rollup_offset *out, size_t cap) {
    size_t n = 0;
    for (int i = 0; i < a->n; i++) {
        const rd_kafka_message_t *m = a->msgs[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        size_t k = 0;
        while (k < n && !(out[k].partition == m->partition && !strcmp(out[k].topic, topic))) k++;
        if (k == n) {
            if (n == cap) continue; /* cannot happen with sane partition counts */
            out[n++] = (tally_rollup_offset){topic, m->partition, m->offset + 1};
        } else if (m->offset + 1 > out[k].next_offset) {
            out[k].next_offset = m->offset + 1;
        }
    }
    return n;
}

static tally_code store_batch(tally_aggregator *a, volatile sig_atomic_t *stop, tally_err *err) {
    tally_rollup_batch batch;
    collect_batch(a, &batch);
    tally_rollup_offset offsets[256];
    batch.offsets = offsets;
    batch.n_offsets = collect_offsets(a, offsets, 256);
    tally_backoff backoff;
    tally_backoff_init(&backoff);
    for (;;) {
        tally_rollup_result res;
        tally_code rc = tally_rollup_apply(a->pg, a->opt.group, &batch, &res, err);
        if (rc == TALLY_OK) {
            a->stats.counted += res.counted;
            a->stats.duplicates += (int64_t)batch.n_items - res.counted;
            a->stats.ratings += res.ratings_accepted;
            if (backoff.attempts)
                tally_info("store is back, batch counted", "attempts=%d", backoff.attempts + 1);
            return TALLY_OK;
        }
        a->stats.store_retries++;
        tally_warn("rollup commit failed, will retry", "attempt=%d backoff_ms=%d error=\"%s\"",
                   backoff.attempts + 1, backoff.delay_ms, err->msg);
        if (!tally_backoff_wait(&backoff, stop, a->opt.drain_timeout_ms)) return rc;
    }
}

static void log_stats(const tally_aggregator *a, double rate) {
    const tally_aggregate_stats *s = &a->stats;
    tally_info("progress",
               "events=%lld counted=%lld duplicates=%lld ratings=%lld skipped_invalid=%lld "
               "batches=%lld retries=%lld rebalances=%lld rate=%.0f/s",
               (long long)s->events, (long long)s->counted, (long long)s->duplicates,
               (long long)s->ratings,
               (long long)s->skipped_invalid, (long long)s->batches, (long long)s->store_retries,
               (long long)s->rebalances, rate);
}

tally_code tally_aggregator_run(tally_aggregator *a, volatile sig_atomic_t *stop, tally_err *err) {
    int64_t last_log = tally_time_monotonic_us(), events_at_last_log = 0;
    tally_code rc = TALLY_OK;
    while (!*stop) {
        fill_batch(a, stop);
        if (a->n > 0) {
            rc = store_batch(a, stop, err);
            if (rc != TALLY_OK) {
                release_batch(a);
                break;
            }
            a->stats.batches++;
            a->stats.events += a->n;
            release_batch(a);
        }
        int64_t now = tally_time_monotonic_us();
        if (a->opt.stats_interval_s > 0 &&
            now - last_log >= (int64_t)a->opt.stats_interval_s * 1000000) {
            log_stats(a, (double)(a->stats.events - events_at_last_log) * 1e6 /
                             (double)(now - last_log));
            last_log = now;
            events_at_last_log = a->stats.events;
        }
        if (a->opt.max_events && a->stats.events >= a->opt.max_events) break;
    }
    log_stats(a, 0);
    return rc;
}
