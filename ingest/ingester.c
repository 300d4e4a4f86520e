#include "tally_ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"
#include "tally_common.h"
#include "tally_docs.h"
#include "tally_pg.h"

struct tally_ingester {
    tally_ingest_config cfg;
    tally_pg *pg;
    tally_docs *docs;
    tally_docs_interaction *docs_items;    /* the batch's interactions ... */
    int *docs_item;                        /* ... and the batch item each came from */
    bool entities_done, interactions_done; /* of the batch in hand, across store retries */
    bool erasures_done;
    tally_erasures *erasures;        /* the erasure records, refreshed per batch */
    tally_pg_erasure_result *erased; /* per batch item: a user.erased's record and run */
    tally_ingest_stats stats;
};

static void screen(void *ctx, tally_batch *b);
static tally_code store(void *ctx, tally_batch *b, tally_err *err);
static void stored(void *ctx, const tally_batch *b);
static void describe(void *ctx, char *buf, size_t len);

tally_ingester *tally_ingester_open(const tally_ingest_config *cfg,
                                    const tally_consumer_options *opt, tally_consumer_handlers *h,
                                    tally_err *err) {
    tally_ingester *ing = calloc(1, sizeof *ing);
    if (!ing) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    ing->cfg = *cfg;
    ing->docs_items = calloc((size_t)opt->batch_size, sizeof *ing->docs_items);
    ing->docs_item = calloc((size_t)opt->batch_size, sizeof *ing->docs_item);
    ing->erased = calloc((size_t)opt->batch_size, sizeof *ing->erased);
    ing->erasures = tally_erasures_from_env();
    if (!ing->docs_items || !ing->docs_item || !ing->erased || !ing->erasures) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory for a batch of %d", opt->batch_size);
        goto fail;
    }
    if (!(ing->pg = tally_pg_open(cfg->pg_url, err))) goto fail;
    int applied = 0;
    if (tally_pg_migrate(ing->pg, &applied, err) != TALLY_OK) goto fail;
    if (applied) tally_info("migrations applied", "count=%d", applied);
    if (!(ing->docs = tally_docs_open(cfg->mongo_url, err))) goto fail;
    if (tally_docs_ensure_indexes(ing->docs, NULL, err) != TALLY_OK) goto fail;
    *h = (tally_consumer_handlers){
        .screen = screen, .store = store, .stored = stored, .describe = describe};
    tally_info("dead letters go to", "dlq=%s", cfg->dlq_topic);
    return ing;
fail:
    tally_ingester_close(ing);
    return NULL;
}

void tally_ingester_close(tally_ingester *ing) {
    if (!ing) return;
    tally_docs_close(ing->docs);
    tally_pg_close(ing->pg);
    free(ing->docs_items);
    free(ing->docs_item);
    free(ing->erased);
    tally_erasures_free(ing->erasures);
    free(ing);
}

/* A tenant whose time zone PostgreSQL does not know is rejected before any
 * store sees it (reports compute its periods in that zone). */
static void screen(void *ctx, tally_batch *b) {
    tally_ingester *ing = ctx;
    ing->entities_done = ing->interactions_done = ing->erasures_done = false; /* a new batch */
    for (int i = 0; i < b->n; i++) {
        tally_batch_item *it = &b->items[i];
        if (it->valid && it->ev.type == TALLY_EV_TENANT_UPSERTED &&
            !tally_pg_timezone_known(ing->pg, it->ev.u.tenant.timezone)) {
            char reason[256];
            snprintf(reason, sizeof reason, "data.timezone: unknown IANA time zone \"%.100s\"",
                     it->ev.u.tenant.timezone);
            tally_batch_reject(it, reason);
        }
    }
}

/* Erasure (docs/architecture.md, "Erasure"): the records are refreshed and
 * the batch's own erasures added before anything is stored, so that every
 * event of an erased user from before the erasure — earlier in this batch,
 * or replayed long after — is stored under the pseudonym and without its
 * personal fields and texts. */
static tally_code prepare_erasures(tally_ingester *ing, tally_batch *b, tally_err *err) {
    tally_code rc = tally_erasures_refresh(ing->erasures, ing->pg, err);
    for (int i = 0; i < b->n && rc == TALLY_OK; i++) {
        const tally_batch_item *it = &b->items[i];
        if (!it->valid || it->ev.type != TALLY_EV_USER_ERASED) continue;
        rc = tally_erasures_pending(ing->erasures, it->ev.u.erased.tenant_id,
                                    it->ev.u.erased.user_id, it->ev.time, ing->erased[i].pseudonym,
                                    err);
    }
    return rc;
}

static const char *pseudonym_of(const tally_ingester *ing, const char *tenant, const char *user,
                                tally_usec time) {
    return tally_erasures_lookup(ing->erasures, tenant, user, time);
}

static tally_code upsert_entity(tally_ingester *ing, const tally_event *ev, int64_t offset,
                                tally_pg_erasure_result *erased, tally_err *err) {
    tally_pg *pg = ing->pg;
    tally_pg_version v = {ev->time, offset};
    const char *pseudo;
    switch (ev->type) {
    case TALLY_EV_TENANT_UPSERTED: return tally_pg_upsert_tenant(pg, &ev->u.tenant, v, err);
    case TALLY_EV_USER_UPSERTED: {
        tally_user u = ev->u.user;
        if ((pseudo = pseudonym_of(ing, u.tenant_id, u.user_id, ev->time))) {
            u.user_id = pseudo;
            u.name = u.email = NULL; /* personal fields */
        }
        return tally_pg_upsert_user(pg, &u, v, err);
    }
    case TALLY_EV_PLAN_UPSERTED: return tally_pg_upsert_plan(pg, &ev->u.plan, v, err);
    case TALLY_EV_SUBSCRIPTION_UPSERTED: {
        tally_subscription s = ev->u.subscription;
        if (s.user_id && (pseudo = pseudonym_of(ing, s.tenant_id, s.user_id, ev->time)))
            s.user_id = pseudo;
        return tally_pg_upsert_subscription(pg, &s, v, err);
    }
    case TALLY_EV_MODEL_PRICED: return tally_pg_upsert_price(pg, &ev->u.price, v, err);
    case TALLY_EV_FX_RATE_SET: return tally_pg_upsert_fx(pg, &ev->u.fx, v, err);
    case TALLY_EV_BUDGET_SET: return tally_pg_upsert_budget(pg, &ev->u.budget, v, err);
    case TALLY_EV_FEEDBACK_RECORDED: {
        tally_feedback f = ev->u.feedback;
        if ((pseudo = pseudonym_of(ing, f.tenant_id, f.user_id, ev->time))) f.user_id = pseudo;
        return tally_pg_upsert_feedback(pg, &f, ev->id, v, err);
    }
    case TALLY_EV_USER_ERASED: {
        const tally_pg_erasure x = {ev->id, ev->u.erased.tenant_id, ev->u.erased.user_id, ev->time};
        return tally_pg_erasure_apply(pg, ing->erasures, TALLY_ERASURE_INGEST, &x, erased, err);
    }
    default: return TALLY_OK;
    }
}

/* All entity upserts of the batch in one transaction. A row the database
 * refuses (TALLY_EINVAL) rejects that event only: roll back, mark it, redo. */
static bool is_entity(const tally_batch_item *it) {
    return it->valid && it->ev.type != TALLY_EV_INTERACTION_RECORDED;
}

static tally_code store_entities(tally_ingester *ing, tally_batch *b, tally_err *err) {
    for (;;) {
        bool any = false;
        for (int i = 0; i < b->n && !any; i++) any = is_entity(&b->items[i]);
        if (!any) return TALLY_OK;
        tally_code rc = tally_pg_begin(ing->pg, err);
        if (rc != TALLY_OK) return rc;
        int failed_at = -1;
        for (int i = 0; i < b->n && rc == TALLY_OK; i++) {
            tally_batch_item *it = &b->items[i];
            if (!is_entity(it)) continue;
            rc = upsert_entity(ing, &it->ev, it->msg->offset, &ing->erased[i], err);
            if (rc != TALLY_OK) failed_at = i;
        }
        if (rc == TALLY_OK) return tally_pg_commit(ing->pg, err);
        tally_pg_rollback(ing->pg);
        if (rc != TALLY_EINVAL) return rc;
        tally_batch_reject(&b->items[failed_at], err->msg);
    }
}

/* One unordered bulk insert of the batch's interactions. A document the
 * history store cannot take (TALLY_EINVAL) rejects that event only. */
static tally_code store_interactions(tally_ingester *ing, tally_batch *b, tally_err *err) {
    for (;;) {
        size_t n = 0;
        for (int i = 0; i < b->n; i++) {
            const tally_batch_item *it = &b->items[i];
            if (!it->valid || it->ev.type != TALLY_EV_INTERACTION_RECORDED) continue;
            ing->docs_item[n] = i;
            ing->docs_items[n++] = (tally_docs_interaction){
                .id = it->ev.id,
                .time_us = it->ev.time,
                .time_text = it->ev.time_text,
                .source = it->ev.source,
                .subject = it->ev.subject,
                .data = it->ev.data,
                .pseudonym = pseudonym_of(ing, it->ev.u.interaction.tenant_id,
                                          it->ev.u.interaction.user_id, it->ev.time),
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
                tally_batch_reject(&b->items[ing->docs_item[k]], why.msg);
        }
    }
}

/* The history part of the batch's erasures, after its interactions: MongoDB
 * is not in PostgreSQL's transaction, so this runs on every attempt of the
 * batch until its offsets commit (an update that finds nothing left to do
 * changes nothing), then finishes the erasure's lifecycle run. */
static tally_code erase_history(tally_ingester *ing, tally_batch *b, tally_err *err) {
    for (int i = 0; i < b->n; i++) {
        const tally_batch_item *it = &b->items[i];
        if (!it->valid || it->ev.type != TALLY_EV_USER_ERASED) continue;
        const tally_pg_erasure_result *r = &ing->erased[i];
        int64_t n = 0;
        tally_code rc = tally_docs_erase_user(ing->docs, it->ev.u.erased.tenant_id,
                                              it->ev.u.erased.user_id, r->pseudonym, it->ev.time,
                                              &n, err);
        if (rc == TALLY_OK)
            rc = tally_pg_erasure_finish(ing->pg, r->run_id, "interactions", n, err);
        if (rc != TALLY_OK) return rc;
        if (r->fresh || n)
            tally_info("user erased", "tenant=%s pseudonym=%s event=%s run=%lld documents=%lld",
                       it->ev.u.erased.tenant_id, r->pseudonym, it->ev.id, (long long)r->run_id,
                       (long long)n);
    }
    return TALLY_OK;
}

/* The batch's rejects to the DLQ, inside the batch's Kafka transaction: they
 * become visible when the batch commits, once, whatever retries came before. */
static tally_code send_rejects(tally_ingester *ing, tally_batch *b, tally_err *err) {
    int sent = 0;
    for (int i = 0; i < b->n; i++) {
        const tally_batch_item *it = &b->items[i];
        if (it->valid) continue;
        tally_code rc = tally_dlq_send(b->producer, ing->cfg.dlq_topic, it->msg, it->reason, err);
        if (rc != TALLY_OK) return rc;
        sent++;
    }
    /* Until the commit that follows, these dead letters are invisible to
     * read-committed readers (and a crash aborts them). */
    if (sent) tally_debug("dead letters produced, committing", "count=%d", sent);
    return TALLY_OK;
}

/* The loop's store(): entities, then interactions, then the rejects. The loop
 * calls it again with the same batch after a failure; a step that succeeded
 * is not redone (each is idempotent all the same). */
static tally_code store(void *ctx, tally_batch *b, tally_err *err) {
    tally_ingester *ing = ctx;
    tally_code rc = prepare_erasures(ing, b, err);
    if (rc == TALLY_OK && !ing->entities_done && (rc = store_entities(ing, b, err)) == TALLY_OK)
        ing->entities_done = true;
    if (rc == TALLY_OK && !ing->interactions_done &&
        (rc = store_interactions(ing, b, err)) == TALLY_OK)
        ing->interactions_done = true;
    if (rc == TALLY_OK && !ing->erasures_done && (rc = erase_history(ing, b, err)) == TALLY_OK)
        ing->erasures_done = true;
    if (rc == TALLY_OK) rc = send_rejects(ing, b, err);
    return rc;
}

static void stored(void *ctx, const tally_batch *b) {
    tally_ingester *ing = ctx;
    for (int i = 0; i < b->n; i++) {
        const tally_batch_item *it = &b->items[i];
        if (!it->valid) {
            ing->stats.rejected++;
            tally_warn("event rejected to the dlq", "offset=%s/%d/%lld reason=\"%s\"",
                       rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
                       (long long)it->msg->offset, it->reason);
        } else if (it->ev.type != TALLY_EV_INTERACTION_RECORDED) {
            ing->stats.entities++;
        }
    }
}

static void describe(void *ctx, char *buf, size_t len) {
    const tally_ingest_stats *st = &((tally_ingester *)ctx)->stats;
    snprintf(buf, len, "interactions=%lld duplicates=%lld entities=%lld rejected=%lld",
             (long long)st->interactions, (long long)st->duplicates, (long long)st->entities,
             (long long)st->rejected);
}
