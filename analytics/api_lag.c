/*
 * api_lag — consumer lag of the two groups that read the events topic,
 * computed when /metrics is scraped (nothing runs in the background):
 *
 *   lag(partition) = high watermark − the group's next offset
 *
 * where the next offset of tally-ingest is what it committed to Kafka, and
 * that of tally-aggregate is what it committed to PostgreSQL together with
 * its rollups (consumer_offsets; it never commits to Kafka). A partition the
 * group has no offset for counts from the low watermark: everything still
 * retained is unread.
 *
 * The Kafka handle is a consumer whose group.id is the ingest group but that
 * never subscribes, so it never joins the group or disturbs its members; it
 * only asks the coordinator for committed offsets. Every call has a short
 * timeout, and a group whose lag cannot be computed is reported as
 * tally_consumer_lag_up{group} 0 rather than with stale numbers.
 */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "tally_stream.h"
#include "tally_common.h"
#include "tally_pg.h"

#define MAX_PARTITIONS 4096

struct api_lag {
    pthread_mutex_t mu; /* one scrape at a time */
    /* pending events for answers (tally__api_lag_pending): the last value
     * a refresher thread computed, under pending_mu; the thread starts with
     * the first answer that asks (it needs the pool) and stops on free. */
    pthread_mutex_t pending_mu;
    pthread_cond_t pending_stop_cv;
    int64_t pending;
    api_pool *pending_pool;
    pthread_t refresher;
    bool refresher_started, refresher_stop;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const char *topic, *ingest_group, *aggregate_group; /* borrowed from the options */
    int timeout_ms;
};

typedef struct {
    int32_t id;
    int64_t lo, hi;
    int64_t next[2]; /* per group; < 0: none stored */
} part_state;

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    tally_log(level <= 4 ? TALLY_LOG_WARN : TALLY_LOG_DEBUG, "kafka", "facility=%s detail=\"%s\"",
              fac, buf);
}

api_lag *tally__api_lag_new(const tally_api_options *opt, tally_err *err) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const tally_kafka_setting settings[] = {
        {"bootstrap.servers", opt->brokers},
        {"group.id", opt->ingest_group},
        {"client.id", "tally-api"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"allow.auto.create.topics", "false"},
    };
    if (tally_kafka_conf_apply(conf, settings, sizeof settings / sizeof settings[0], err) !=
        TALLY_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    api_lag *l = calloc(1, sizeof *l);
    if (!l || pthread_mutex_init(&l->mu, NULL) || pthread_mutex_init(&l->pending_mu, NULL) ||
        pthread_cond_init(&l->pending_stop_cv, NULL)) {
        free(l);
        rd_kafka_conf_destroy(conf);
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!l->rk) {
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&l->mu);
        free(l);
        tally_err_set(err, TALLY_ESTORE, "kafka: %s", errstr);
        return NULL;
    }
    l->rkt = rd_kafka_topic_new(l->rk, opt->topic, NULL);
    l->topic = opt->topic;
    l->ingest_group = opt->ingest_group;
    l->aggregate_group = opt->aggregate_group;
    l->timeout_ms = opt->kafka_timeout_ms > 0 ? opt->kafka_timeout_ms : 1000;
    l->pending = -1;
    return l;
}

void tally__api_lag_free(api_lag *l) {
    if (!l) return;
    pthread_mutex_lock(&l->pending_mu);
    l->refresher_stop = true;
    bool started = l->refresher_started;
    pthread_cond_signal(&l->pending_stop_cv);
    pthread_mutex_unlock(&l->pending_mu);
    if (started) pthread_join(l->refresher, NULL);
    pthread_cond_destroy(&l->pending_stop_cv);
    if (l->rkt) rd_kafka_topic_destroy(l->rkt);
    rd_kafka_consumer_close(l->rk);
    rd_kafka_destroy(l->rk);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->pending_mu);
    free(l);
}

static int cmp_part(const void *a, const void *b) {
    int32_t x = ((const part_state *)a)->id, y = ((const part_state *)b)->id;
    return (x > y) - (x < y);
}

/* The topic's partitions with their watermarks; NULL when Kafka does not
 * answer in time (*n = 0). */
static part_state *load_watermarks(api_lag *l, size_t *n) {
    *n = 0;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(l->rk, 0, l->rkt, &md, l->timeout_ms);
    if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        tally_debug("lag: no metadata", "topic=%s error=\"%s\"", l->topic,
                    rd_kafka_err2str(e                    ? e
                                     : md->topic_cnt == 1 ? md->topics[0].err
                                                          : e));
        if (md) rd_kafka_metadata_destroy(md);
        return NULL;
    }
    size_t cnt = (size_t)md->topics[0].partition_cnt;
    if (cnt > MAX_PARTITIONS) cnt = MAX_PARTITIONS;
    part_state *p = calloc(cnt, sizeof *p);
    for (size_t i = 0; p && i < cnt; i++) p[i].id = md->topics[0].partitions[i].id;
    rd_kafka_metadata_destroy(md);
    if (!p) return NULL;
    qsort(p, cnt, sizeof *p, cmp_part);
    for (size_t i = 0; i < cnt; i++) {
        e = rd_kafka_query_watermark_offsets(l->rk, l->topic, p[i].id, &p[i].lo, &p[i].hi,
                                             l->timeout_ms);
        if (e) {
            tally_debug("lag: no watermarks", "topic=%s partition=%d error=\"%s\"", l->topic,
                        (int)p[i].id, rd_kafka_err2str(e));
            free(p);
            return NULL;
        }
    }
    *n = cnt;
    return p;
}

/* Offsets tally-ingest committed to Kafka into p[].next[0]. */
static bool load_kafka_committed(api_lag *l, part_state *p, size_t n) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) rd_kafka_topic_partition_list_add(list, l->topic, p[i].id);
    rd_kafka_resp_err_t e = rd_kafka_committed(l->rk, list, l->timeout_ms);
    bool ok = !e;
    for (int i = 0; ok && i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (tp->err) ok = false;
        for (size_t j = 0; j < n; j++)
            if (p[j].id == tp->partition) p[j].next[0] = tp->offset; /* -1001: none */
    }
    if (!ok)
        tally_debug("lag: no committed offsets", "group=%s error=\"%s\"", l->ingest_group,
                    rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
    return ok;
}

/* Offsets tally-aggregate stored in PostgreSQL into p[].next[1]. */
static bool load_pg_offsets(api_lag *l, api_pool *pool, part_state *p, size_t n) {
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(pool, &err);
    tally_code rc = pg ? TALLY_OK : TALLY_ESTORE;
    for (size_t i = 0; rc == TALLY_OK && i < n; i++)
        rc = tally_rollup_load_offset(pg, l->aggregate_group, l->topic, p[i].id, &p[i].next[1],
                                      &err);
    if (pg) tally__api_pool_put(pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK)
        tally_debug("lag: no stored offsets", "group=%s error=\"%s\"", l->aggregate_group, err.msg);
    return rc == TALLY_OK;
}

static int64_t partition_lag(const part_state *p, int g) {
    int64_t from = p->next[g] < p->lo ? p->lo : p->next[g];
    return p->hi > from ? p->hi - from : 0;
}

static void put_series(tally_buf *out, const char *name, const char *group, const char *topic) {
    tally_buf_puts(out, name);
    tally_buf_puts(out, "{group=\"");
    tally__api_prom_label(out, group);
    tally_buf_puts(out, "\",topic=\"");
    tally__api_prom_label(out, topic);
    tally_buf_putc(out, '"');
}

void tally__api_lag_render(api_lag *l, api_pool *pool, tally_buf *out) {
    pthread_mutex_lock(&l->mu);
    rd_kafka_poll(l->rk, 0); /* serve queued errors and logs */
    size_t n;
    part_state *p = load_watermarks(l, &n);
    bool up[2] = {false, false};
    if (p) {
        for (size_t i = 0; i < n; i++) p[i].next[0] = p[i].next[1] = -1;
        up[0] = load_kafka_committed(l, p, n);
        up[1] = load_pg_offsets(l, pool, p, n);
    }
    const char *groups[2] = {l->ingest_group, l->aggregate_group};
    tally_buf_puts(out, "# HELP tally_consumer_lag Messages of the events topic a consumer group"
                        " has not consumed yet (high watermark - next offset), by partition.\n"
                        "# TYPE tally_consumer_lag gauge\n");
    for (int g = 0; g < 2; g++) {
        for (size_t i = 0; up[g] && i < n; i++) {
            put_series(out, "tally_consumer_lag", groups[g], l->topic);
            tally_buf_printf(out, ",partition=\"%d\"} %lld\n", (int)p[i].id,
                             (long long)partition_lag(&p[i], g));
        }
    }
    tally_buf_puts(out, "# HELP tally_consumer_lag_total The sum of tally_consumer_lag over the"
                        " partitions of the topic.\n# TYPE tally_consumer_lag_total gauge\n");
    for (int g = 0; g < 2; g++) {
        if (!up[g]) continue;
        long long total = 0;
        for (size_t i = 0; i < n; i++) total += partition_lag(&p[i], g);
        put_series(out, "tally_consumer_lag_total", groups[g], l->topic);
        tally_buf_printf(out, "} %lld\n", total);
    }
    tally_buf_puts(out, "# HELP tally_consumer_lag_up Whether the lag of the group could be"
                        " computed at this scrape (1) or not (0).\n"
                        "# TYPE tally_consumer_lag_up gauge\n");
    for (int g = 0; g < 2; g++) {
        tally_buf_puts(out, "tally_consumer_lag_up{group=\"");
        tally__api_prom_label(out, groups[g]);
        tally_buf_printf(out, "\"} %d\n", up[g] ? 1 : 0);
    }
    free(p);
    pthread_mutex_unlock(&l->mu);
}

/* Answers on the gateway's hot path never wait on Kafka: a thread of its own
 * recomputes the counting group's lag once a second (watermarks from Kafka,
 * offsets from PostgreSQL) and answers read the last value. A second's
 * staleness is within what `pending_events` means; an answer that paid for
 * the refresh itself showed in the p99 of GET /limits (docs/benchmarks.md). */
#define PENDING_REFRESH_MS 1000

static int64_t compute_pending(api_lag *l, api_pool *pool) {
    pthread_mutex_lock(&l->mu); /* one Kafka conversation at a time, with /metrics */
    size_t n;
    part_state *p = load_watermarks(l, &n);
    int64_t total = -1;
    if (p) {
        for (size_t i = 0; i < n; i++) p[i].next[0] = p[i].next[1] = -1;
        if (load_pg_offsets(l, pool, p, n)) {
            total = 0;
            for (size_t i = 0; i < n; i++) total += partition_lag(&p[i], 1);
        }
        free(p);
    }
    pthread_mutex_unlock(&l->mu);
    return total;
}

static void *refresh_pending(void *arg) {
    api_lag *l = arg;
    pthread_mutex_lock(&l->pending_mu);
    while (!l->refresher_stop) {
        pthread_mutex_unlock(&l->pending_mu);
        int64_t total = compute_pending(l, l->pending_pool);
        pthread_mutex_lock(&l->pending_mu);
        l->pending = total;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += PENDING_REFRESH_MS / 1000;
        while (!l->refresher_stop &&
               pthread_cond_timedwait(&l->pending_stop_cv, &l->pending_mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&l->pending_mu);
    return NULL;
}

int64_t tally__api_lag_pending(api_lag *l, api_pool *pool) {
    pthread_mutex_lock(&l->pending_mu);
    if (!l->refresher_started && !l->refresher_stop) {
        l->pending_pool = pool;
        l->refresher_started = pthread_create(&l->refresher, NULL, refresh_pending, l) == 0;
    }
    int64_t value = l->pending;
    pthread_mutex_unlock(&l->pending_mu);
    return value;
}

bool tally__api_lag_kafka_ready(api_lag *l, char *why, size_t len) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(l->rk, 0, l->rkt, &md, l->timeout_ms);
    bool ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && !md->topics[0].err &&
              md->topics[0].partition_cnt > 0;
    if (!ok)
        snprintf(why, len, "topic %s: %s", l->topic,
                 rd_kafka_err2str(e               ? e
                                  : md->topic_cnt ? md->topics[0].err
                                                  : e));
    if (md) rd_kafka_metadata_destroy(md);
    return ok;
}
