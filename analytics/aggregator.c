#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_analytics.h"
#include "tally_common.h"
#include "tally_pg.h"
#include "tally_stream.h"

struct tally_aggregator {
    tally_pg *pg;
    const char *group; /* the consumer group, whose offsets are stored with the rollups */
    tally_rollup_item *items;
    tally_rollup_rating *ratings;
    tally_pg_erasure *erasures; /* the batch's user.erased events */
    tally_erasures *erased;     /* the erasure records, refreshed per batch */
    tally_aggregate_stats stats;
};

static tally_code load_offset(void *ctx, const char *topic, int32_t partition, int64_t *next,
                              tally_err *err);
static tally_code store(void *ctx, tally_batch *b, tally_err *err);
static void describe(void *ctx, char *buf, size_t len);

tally_aggregator *tally_aggregator_open(const char *pg_url, const tally_consumer_options *opt,
                                        tally_consumer_handlers *h, tally_err *err) {
    tally_aggregator *a = calloc(1, sizeof *a);
    if (!a) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    a->group = opt->group;
    a->items = calloc((size_t)opt->batch_size, sizeof *a->items);
    a->ratings = calloc((size_t)opt->batch_size, sizeof *a->ratings);
    a->erasures = calloc((size_t)opt->batch_size, sizeof *a->erasures);
    a->erased = tally_erasures_from_env();
    if (!a->items || !a->ratings || !a->erasures || !a->erased) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory for a batch of %d", opt->batch_size);
        goto fail;
    }
    if (!(a->pg = tally_pg_open(pg_url, err))) goto fail;
    int applied = 0;
    if (tally_pg_migrate(a->pg, &applied, err) != TALLY_OK) goto fail;
    if (applied) tally_info("migrations applied", "count=%d", applied);
    *h = (tally_consumer_handlers){
        .load_offset = load_offset, .store = store, .describe = describe};
    return a;
fail:
    tally_aggregator_close(a);
    return NULL;
}

void tally_aggregator_close(tally_aggregator *a) {
    if (!a) return;
    tally_pg_close(a->pg);
    free(a->items);
    free(a->ratings);
    free(a->erasures);
    tally_erasures_free(a->erased);
    free(a);
}

/* Partitions start where the rollups say, never at Kafka's offsets. */
static tally_code load_offset(void *ctx, const char *topic, int32_t partition, int64_t *next,
                              tally_err *err) {
    tally_aggregator *a = ctx;
    return tally_rollup_load_offset(a->pg, a->group, topic, partition, next, err);
}

/* The batch's erasures: known to the cache before the batch's events are
 * mapped (docs/architecture.md, "Erasure"), applied first in its
 * transaction. */
static tally_code collect_erasures(tally_aggregator *a, const tally_batch *b,
                                   tally_rollup_batch *out, tally_err *err) {
    size_t n = 0;
    tally_code rc = tally_erasures_refresh(a->erased, a->pg, err);
    for (int i = 0; i < b->n && rc == TALLY_OK; i++) {
        const tally_event *ev = &b->items[i].ev;
        if (!b->items[i].valid || ev->type != TALLY_EV_USER_ERASED) continue;
        char pseudonym[TALLY_PSEUDONYM_SIZE];
        rc = tally_erasures_pending(a->erased, ev->u.erased.tenant_id, ev->u.erased.user_id,
                                    ev->time, pseudonym, err);
        a->erasures[n++] = (tally_pg_erasure){ev->id, ev->u.erased.tenant_id, ev->u.erased.user_id,
                                              ev->time};
    }
    out->erasures = a->erasures;
    out->n_erasures = n;
    out->erasure_cache = a->erased;
    return rc;
}

/* The user id an event is counted under: the pseudonym when the user was
 * erased after the event's time. */
static const char *counted_user(const tally_aggregator *a, const char *tenant, const char *user,
                                tally_usec time) {
    const char *pseudonym = tally_erasures_lookup(a->erased, tenant, user, time);
    return pseudonym ? pseudonym : user;
}

/* The batch's interactions and ratings for the rollups; invalid events are
 * the ingester's to reject (it sends them to the DLQ), here they are skipped. */
static void collect_batch(tally_aggregator *a, const tally_batch *b, tally_rollup_batch *out,
                          size_t *skipped) {
    size_t n = 0, n_ratings = 0;
    *skipped = 0;
    for (int i = 0; i < b->n; i++) {
        if (!b->items[i].valid) {
            ++*skipped;
            continue;
        }
        const tally_event *ev = &b->items[i].ev;
        if (ev->type == TALLY_EV_FEEDBACK_RECORDED) {
            const tally_feedback *f = &ev->u.feedback;
            a->ratings[n_ratings++] = (tally_rollup_rating){
                .interaction_id = f->interaction_id,
                .user_id = counted_user(a, f->tenant_id, f->user_id, ev->time),
                .tenant_id = f->tenant_id,
                .like = f->like,
                .time = ev->time,
                .offset = b->items[i].msg->offset,
            };
            continue;
        }
        if (ev->type != TALLY_EV_INTERACTION_RECORDED) continue;
        const tally_interaction *x = &ev->u.interaction;
        a->items[n++] = (tally_rollup_item){
            .interaction_id = ev->id,
            .tenant_id = x->tenant_id,
            .model_id = x->model_id,
            .user_id = counted_user(a, x->tenant_id, x->user_id, ev->time),
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
    out->items = a->items;
    out->n_items = n;
    out->ratings = a->ratings;
    out->n_ratings = n_ratings;
}

/* The loop's store(): one transaction holds the batch's rollups, the ids and
 * ratings it counted and the offsets after it. A failed attempt left nothing
 * behind, so the loop may simply call it again. */
static tally_code store(void *ctx, tally_batch *b, tally_err *err) {
    tally_aggregator *a = ctx;
    tally_rollup_batch batch = {0};
    size_t skipped;
    tally_code rc = collect_erasures(a, b, &batch, err);
    if (rc != TALLY_OK) return rc;
    collect_batch(a, b, &batch, &skipped);
    tally_partition_offset offsets[TALLY_MAX_BATCH_PARTITIONS];
    batch.offsets = offsets;
    batch.n_offsets = tally_batch_offsets(b, offsets, TALLY_MAX_BATCH_PARTITIONS);
    tally_rollup_result res;
    rc = tally_rollup_apply(a->pg, a->group, &batch, &res, err);
    if (rc != TALLY_OK) return rc;
    a->stats.counted += res.counted;
    a->stats.duplicates += (int64_t)batch.n_items - res.counted;
    a->stats.ratings += res.ratings_accepted;
    a->stats.alerts += res.alerts_raised;
    a->stats.skipped_invalid += (int64_t)skipped;
    return TALLY_OK;
}

static void describe(void *ctx, char *buf, size_t len) {
    const tally_aggregate_stats *s = &((tally_aggregator *)ctx)->stats;
    snprintf(buf, len, "counted=%lld duplicates=%lld ratings=%lld alerts=%lld skipped_invalid=%lld",
             (long long)s->counted, (long long)s->duplicates, (long long)s->ratings,
             (long long)s->alerts, (long long)s->skipped_invalid);
}
