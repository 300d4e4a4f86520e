#include "tally_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"
#include "tally_common.h"
#include "tally_docs.h"
#include "tally_pg.h"

/* What the batch decided for one consumed message. */
typedef enum { SLOT_STORE, SLOT_REJECT } slot_fate;

typedef struct {
    rd_kafka_message_t *msg; /* owned */
    tally_event ev;          /* valid when fate == SLOT_STORE */
    slot_fate fate;
    char reason[sizeof(((tally_err *)0)->msg)];
} slot;

struct tally_ingester {
    tally_ingest_options opt;
    rd_kafka_t *consumer, *producer;
    tally_kafka_deliveries dlq_deliveries;
    tally_pg *pg;
    tally_docs *docs;
    slot *slots; /* opt.batch_size of them */
    int n;
    rd_kafka_message_t **msgs;          /* the batch as polled, then owned by slots */
    tally_docs_interaction *docs_items; /* the batch's interactions ... */
    int *docs_slot;                     /* ... and the slot each came from */
    tally_ingest_stats stats;
};

static void reject(slot *s, const char *reason) {
    if (s->fate == SLOT_STORE) tally_event_free(&s->ev);
    s->fate = SLOT_REJECT;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
}

tally_ingester *tally_ingester_new(const tally_ingest_options *opt, tally_err *err) {
    tally_ingester *ing = calloc(1, sizeof *ing);
    if (!ing) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    ing->opt = *opt;
    ing->slots = calloc((size_t)opt->batch_size, sizeof *ing->slots);
    ing->docs_items = calloc((size_t)opt->batch_size, sizeof *ing->docs_items);
    ing->docs_slot = calloc((size_t)opt->batch_size, sizeof *ing->docs_slot);
    ing->msgs = calloc((size_t)opt->batch_size, sizeof *ing->msgs);
    if (!ing->slots || !ing->docs_items || !ing->docs_slot || !ing->msgs) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory for a batch of %d", opt->batch_size);
        goto fail;
    }
    if (!(ing->pg = tally_pg_open(opt->pg_url, err))) goto fail;
    int applied = 0;
    if (tally_pg_migrate(ing->pg, &applied, err) != TALLY_OK) goto fail;
    if (applied) tally_info("migrations applied", "count=%d", applied);
    if (!(ing->docs = tally_docs_open(opt->mongo_url, err))) goto fail;
    if (tally_docs_ensure_indexes(ing->docs, NULL, err) != TALLY_OK) goto fail;
    if (!(ing->producer = tally_kafka_producer_new(opt->brokers, &ing->dlq_deliveries, err)))
        goto fail;
    if (!(ing->consumer = tally_kafka_consumer_new(opt->brokers, opt->group, NULL, 0, NULL,
                                                   NULL, err)))
        goto fail;
    if (tally_kafka_subscribe(ing->consumer, opt->topic, err) != TALLY_OK) goto fail;
    return ing;
fail:
    tally_ingester_free(ing);
    return NULL;
}

void tally_ingester_free(tally_ingester *ing) {
    if (!ing) return;
    if (ing->consumer) {
        rd_kafka_consumer_close(ing->consumer);
        rd_kafka_destroy(ing->consumer);
    }
    if (ing->producer) {
        rd_kafka_flush(ing->producer, 5000);
        rd_kafka_destroy(ing->producer);
    }
    tally_docs_close(ing->docs);
    tally_pg_close(ing->pg);
    free(ing->slots);
    free(ing->docs_items);
    free(ing->docs_slot);
    free(ing->msgs);
    free(ing);
}

const tally_ingest_stats *tally_ingester_stats(const tally_ingester *ing) { return &ing->stats; }

/* How many more events this run may take (--max-events), capped at a batch. */
static int batch_room(const tally_ingester *ing) {
    int64_t room = ing->opt.batch_size;
    if (ing->opt.max_events && ing->opt.max_events - ing->stats.events < room)
        room = ing->opt.max_events - ing->stats.events;
    return (int)room;
}

/* Fill the batch (up to batch_size messages, waiting at most batch_ms) and
 * decide each message's fate. */
static void fill_batch(tally_ingester *ing, volatile sig_atomic_t *stop) {
    tally_kafka_poll_batch(ing->consumer, ing->msgs, &ing->n, batch_room(ing), ing->opt.batch_ms,
                           stop, NULL);
    for (int i = 0; i < ing->n; i++) {
        slot *s = &ing->slots[i];
        memset(s, 0, sizeof *s);
        s->msg = ing->msgs[i];
        tally_err err;
        if (tally_event_decode(s->msg->payload, s->msg->len, &s->ev, &err) != TALLY_OK) {
            s->fate = SLOT_REJECT;
            snprintf(s->reason, sizeof s->reason, "%s", err.msg);
        } else if (s->ev.type == TALLY_EV_TENANT_UPSERTED &&
                   !tally_pg_timezone_known(ing->pg, s->ev.u.tenant.timezone)) {
            char reason[256];
            snprintf(reason, sizeof reason, "data.timezone: unknown IANA time zone \"%.100s\"",
                     s->ev.u.tenant.timezone);
            reject(s, reason);
        }
    }
}

static tally_code upsert_entity(tally_pg *pg, const tally_event *ev, int64_t offset,
                                tally_err *err) {
    tally_pg_version v = {ev->time, offset};
    switch (ev->type) {
    case TALLY_EV_TENANT_UPSERTED: return tally_pg_upsert_tenant(pg, &ev->u.tenant, v, err);
    case TALLY_EV_USER_UPSERTED: return tally_pg_upsert_user(pg, &ev->u.user, v, err);
    case TALLY_EV_PLAN_UPSERTED: return tally_pg_upsert_plan(pg, &ev->u.plan, v, err);
    case TALLY_EV_SUBSCRIPTION_UPSERTED:
        return tally_pg_upsert_subscription(pg, &ev->u.subscription, v, err);
    case TALLY_EV_MODEL_PRICED: return tally_pg_upsert_price(pg, &ev->u.price, v, err);
    case TALLY_EV_FX_RATE_SET: return tally_pg_upsert_fx(pg, &ev->u.fx, v, err);
    case TALLY_EV_BUDGET_SET: return tally_pg_upsert_budget(pg, &ev->u.budget, v, err);
    case TALLY_EV_FEEDBACK_RECORDED:
        return tally_pg_upsert_feedback(pg, &ev->u.feedback, ev->id, v, err);
    default: return TALLY_OK;
    }
}

/* All entity upserts of the batch in one transaction. A row the database
 * refuses (TALLY_EINVAL) rejects that event only: roll back, mark it, redo. */
static tally_code store_entities(tally_ingester *ing, tally_err *err) {
    for (;;) {
        bool any = false;
        for (int i = 0; i < ing->n && !any; i++)
            any = ing->slots[i].fate == SLOT_STORE &&
                  ing->slots[i].ev.type != TALLY_EV_INTERACTION_RECORDED;
        if (!any) return TALLY_OK;
        tally_code rc = tally_pg_begin(ing->pg, err);
        if (rc != TALLY_OK) return rc;
        int failed_at = -1;
        for (int i = 0; i < ing->n && rc == TALLY_OK; i++) {
            slot *s = &ing->slots[i];
            if (s->fate != SLOT_STORE || s->ev.type == TALLY_EV_INTERACTION_RECORDED) continue;
            rc = upsert_entity(ing->pg, &s->ev, s->msg->offset, err);
            if (rc != TALLY_OK) failed_at = i;
        }
        if (rc == TALLY_OK) return tally_pg_commit(ing->pg, err);
        tally_pg_rollback(ing->pg);
        if (rc != TALLY_EINVAL) return rc;
        reject(&ing->slots[failed_at], err->msg);
    }
}

/* One unordered bulk insert of the batch's interactions. A document the
 * history store cannot take (TALLY_EINVAL) rejects that event only. */
static tally_code store_interactions(tally_ingester *ing, tally_err *err) {
    for (;;) {
        size_t n = 0;
        for (int i = 0; i < ing->n; i++) {
            slot *s = &ing->slots[i];
            if (s->fate != SLOT_STORE || s->ev.type != TALLY_EV_INTERACTION_RECORDED) continue;
            ing->docs_slot[n] = i;
            ing->docs_items[n++] = (tally_docs_interaction){
                .id = s->ev.id,
                .time_us = s->ev.time,
                .time_text = s->ev.time_text,
                .source = s->ev.source,
                .subject = s->ev.subject,
                .data = s->ev.data,
            };
        }
        if (n == 0) return TALLY_OK;
        size_t inserted = 0, duplicates = 0;
        tally_code rc = tally_docs_insert_interactions(ing->docs, ing->docs_items, n, &inserted,
                                                       &duplicates, err);
        if (rc == TALLY_OK) {
            ing->stats.interactions += (int64_t)inserted;
            ing->stats.duplicates += (int64_t)duplicates;
        }
        if (rc != TALLY_EINVAL) return rc;
        for (size_t k = 0; k < n; k++) {
            tally_err why;
            if (tally_docs_check_interaction(&ing->docs_items[k], &why) != TALLY_OK)
                reject(&ing->slots[ing->docs_slot[k]], why.msg);
        }
    }
}

static tally_code send_rejects(tally_ingester *ing, tally_err *err) {
    long long failed_before = ing->dlq_deliveries.failed;
    int n = 0;
    for (int i = 0; i < ing->n; i++) {
        slot *s = &ing->slots[i];
        if (s->fate != SLOT_REJECT) continue;
        tally_code rc = tally_dlq_send(ing->producer, ing->opt.dlq_topic, s->msg, s->reason, err);
        if (rc != TALLY_OK) return rc;
        tally_warn("event rejected to the dlq", "offset=%s/%d/%lld reason=\"%s\"",
                   rd_kafka_topic_name(s->msg->rkt), (int)s->msg->partition,
                   (long long)s->msg->offset, s->reason);
        n++;
    }
    if (n == 0) return TALLY_OK;
    return tally_dlq_flush(ing->producer, &ing->dlq_deliveries, failed_before, 30000, err);
}

/* Commit, per partition, the offset after the last message of the batch. */
static void commit_offsets(tally_ingester *ing) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < ing->n; i++) {
        rd_kafka_message_t *m = ing->slots[i].msg;
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(list, rd_kafka_topic_name(m->rkt), m->partition);
        if (!p) p = rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(m->rkt), m->partition);
        if (m->offset + 1 > p->offset) p->offset = m->offset + 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(ing->consumer, list, 0);
    if (e)  /* Harmless for correctness: the batch will be redelivered and is idempotent. */
        tally_warn("offset commit failed", "error=\"%s\"", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

/* Store the batch in hand, retrying with backoff while a store is down. */
static tally_code store_batch(tally_ingester *ing, volatile sig_atomic_t *stop, tally_err *err) {
    bool entities_done = false, interactions_done = false;
    tally_backoff backoff;
    tally_backoff_init(&backoff);
    for (;;) {
        tally_code rc = TALLY_OK;
        if (!entities_done && (rc = store_entities(ing, err)) == TALLY_OK) entities_done = true;
        if (rc == TALLY_OK && !interactions_done &&
            (rc = store_interactions(ing, err)) == TALLY_OK)
            interactions_done = true;
        if (rc == TALLY_OK) rc = send_rejects(ing, err);
        if (rc == TALLY_OK) {
            if (backoff.attempts)
                tally_info("store is back, batch stored", "attempts=%d", backoff.attempts + 1);
            return TALLY_OK;
        }
        ing->stats.store_retries++;
        tally_warn("store failed, will retry", "attempt=%d backoff_ms=%d error=\"%s\"",
                   backoff.attempts + 1, backoff.delay_ms, err->msg);
        if (!tally_backoff_wait(&backoff, stop, ing->opt.drain_timeout_ms))
            return rc; /* give up: nothing committed, the batch will be redelivered */
    }
}

static void release_batch(tally_ingester *ing) {
    for (int i = 0; i < ing->n; i++) {
        slot *s = &ing->slots[i];
        if (s->fate == SLOT_STORE) tally_event_free(&s->ev);
        rd_kafka_message_destroy(s->msg);
    }
    ing->n = 0;
}

static void count_batch(tally_ingester *ing) {
    ing->stats.batches++;
    ing->stats.events += ing->n;
    for (int i = 0; i < ing->n; i++) {
        const slot *s = &ing->slots[i];
        if (s->fate == SLOT_REJECT)
            ing->stats.rejected++;
        else if (s->ev.type != TALLY_EV_INTERACTION_RECORDED)
            ing->stats.entities++;
    }
}

static void log_stats(const tally_ingester *ing, double rate) {
    const tally_ingest_stats *st = &ing->stats;
    tally_info("progress",
               "events=%lld interactions=%lld duplicates=%lld entities=%lld rejected=%lld "
               "batches=%lld retries=%lld rate=%.0f/s",
               (long long)st->events, (long long)st->interactions, (long long)st->duplicates,
               (long long)st->entities, (long long)st->rejected, (long long)st->batches,
               (long long)st->store_retries, rate);
}

tally_code tally_ingester_run(tally_ingester *ing, volatile sig_atomic_t *stop, tally_err *err) {
    int64_t last_log = tally_time_monotonic_us();
    int64_t events_at_last_log = 0;
    tally_code rc = TALLY_OK;
    while (!*stop) {
        fill_batch(ing, stop);
        if (ing->n > 0) {
            rc = store_batch(ing, stop, err);
            if (rc != TALLY_OK) {
                release_batch(ing);
                break;
            }
            commit_offsets(ing);
            count_batch(ing);
            release_batch(ing);
        }
        int64_t now = tally_time_monotonic_us();
        if (ing->opt.stats_interval_s > 0 &&
            now - last_log >= (int64_t)ing->opt.stats_interval_s * 1000000) {
            log_stats(ing, (double)(ing->stats.events - events_at_last_log) * 1e6 /
                               (double)(now - last_log));
            last_log = now;
            events_at_last_log = ing->stats.events;
        }
        if (ing->opt.max_events && ing->stats.events >= ing->opt.max_events) break;
    }
    log_stats(ing, 0);
    return rc;
}
