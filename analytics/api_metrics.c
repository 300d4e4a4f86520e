/*
 * api_metrics — the request series of /metrics: a counter of requests by
 * route and status and a latency histogram by route. The route label is the
 * route's path template (or "unmatched"), never the request path, so the
 * number of series stays fixed whatever clients send.
 *
 * One mutex guards the numbers: an observation is a few additions, far
 * cheaper than the request it records.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_pg.h"

/* Upper bounds of the latency buckets, in seconds (+Inf is implied). */
static const double BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0])
#define STATUS_SLOTS 24 /* distinct statuses kept per route; the rest count as 0 */

typedef struct {
    int status[STATUS_SLOTS];
    unsigned long long count[STATUS_SLOTS];
    size_t n_status;
    unsigned long long bucket[N_BUCKETS + 1]; /* per bucket, not cumulative; last = +Inf */
    unsigned long long total;
    double sum;
} route_series;

struct api_metrics {
    pthread_mutex_t mu;
    const char *const *labels;
    size_t n;
    route_series *series;
};

api_metrics *tally__api_metrics_new(const char *const *labels, size_t n) {
    api_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->series = calloc(n, sizeof *m->series);
    if (!m->series || pthread_mutex_init(&m->mu, NULL)) {
        free(m->series);
        free(m);
        return NULL;
    }
    m->labels = labels;
    m->n = n;
    return m;
}

void tally__api_metrics_free(api_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m->series);
    free(m);
}

void tally__api_metrics_observe(api_metrics *m, size_t label, int status, double seconds) {
    if (label >= m->n) return;
    pthread_mutex_lock(&m->mu);
    route_series *s = &m->series[label];
    size_t i = 0;
    while (i < s->n_status && s->status[i] != status) i++;
    if (i == s->n_status) {
        if (s->n_status < STATUS_SLOTS) {
            s->status[s->n_status++] = status;
        } else {
            i = STATUS_SLOTS - 1;
            s->status[i] = 0;
        }
    }
    s->count[i]++;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > BUCKETS[b]) b++;
    s->bucket[b]++;
    s->total++;
    s->sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

void tally__api_prom_label(tally_buf *out, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') tally_buf_putc(out, '\\');
        if (*v == '\n') {
            tally_buf_puts(out, "\\n");
            continue;
        }
        tally_buf_putc(out, *v);
    }
}

static void render_counts(api_metrics *m, tally_buf *out) {
    tally_buf_puts(out, "# HELP tally_api_requests_total HTTP requests answered, by route and"
                        " status.\n# TYPE tally_api_requests_total counter\n");
    for (size_t r = 0; r < m->n; r++) {
        const route_series *s = &m->series[r];
        for (size_t i = 0; i < s->n_status; i++) {
            tally_buf_puts(out, "tally_api_requests_total{route=\"");
            tally__api_prom_label(out, m->labels[r]);
            tally_buf_printf(out, "\",status=\"%d\"} %llu\n", s->status[i], s->count[i]);
        }
    }
}

static void render_histograms(api_metrics *m, tally_buf *out) {
    tally_buf_puts(out, "# HELP tally_api_request_duration_seconds Time from the request's"
                        " headers to its answer, by route.\n"
                        "# TYPE tally_api_request_duration_seconds histogram\n");
    for (size_t r = 0; r < m->n; r++) {
        const route_series *s = &m->series[r];
        unsigned long long cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += s->bucket[b];
            tally_buf_puts(out, "tally_api_request_duration_seconds_bucket{route=\"");
            tally__api_prom_label(out, m->labels[r]);
            if (b < N_BUCKETS)
                tally_buf_printf(out, "\",le=\"%g\"} %llu\n", BUCKETS[b], cum);
            else
                tally_buf_printf(out, "\",le=\"+Inf\"} %llu\n", cum);
        }
        tally_buf_puts(out, "tally_api_request_duration_seconds_sum{route=\"");
        tally__api_prom_label(out, m->labels[r]);
        tally_buf_printf(out, "\"} %.6f\n", s->sum);
        tally_buf_puts(out, "tally_api_request_duration_seconds_count{route=\"");
        tally__api_prom_label(out, m->labels[r]);
        tally_buf_printf(out, "\"} %llu\n", s->total);
    }
}

/* Which rollup the usage reports were read from (docs/architecture.md,
 * "Three rollups"). */
static void render_report_sources(tally_buf *out) {
    tally_buf_puts(out, "# HELP tally_usage_reports_total Usage reports computed, by the rollup"
                        " they were read from.\n# TYPE tally_usage_reports_total counter\n");
    for (int src = 0; src < TALLY_USAGE__SOURCES; src++)
        tally_buf_printf(out, "tally_usage_reports_total{rollup=\"%s\"} %lld\n",
                         tally_usage_source_names[src],
                         tally_usage_source_count((tally_usage_source)src));
}

void tally__api_metrics_render(api_metrics *m, tally_buf *out) {
    pthread_mutex_lock(&m->mu);
    render_counts(m, out);
    render_histograms(m, out);
    pthread_mutex_unlock(&m->mu);
    render_report_sources(out);
}

/* The alert series, counted in PostgreSQL at scrape time: the outbox and
 * webhook_attempts are the record, so every tally-api answers the same and a
 * restart loses nothing. A scrape that cannot reach PostgreSQL leaves the
 * series out (absent, not zero: a dashboard shows a gap, not a drop). */
void tally__api_alerts_render(api_pool *pool, tally_buf *out) {
    tally_err err = {0};
    tally_pg_alert_counts c = {0};
    tally_pg *pg = tally__api_pool_get(pool, &err);
    tally_code rc = pg ? tally_pg_alert_counts_read(pg, &c, &err) : TALLY_ESTORE;
    tally__api_pool_put(pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) return;
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"tally_alerts_raised_total", "counter", "Alerts recorded (alert outbox rows)."},
        {"tally_alerts_published_total", "counter", "Alerts committed to the alerts topic."},
        {"tally_alerts_outbox_backlog", "gauge", "Alerts recorded, not yet published."},
        {"tally_webhook_attempts_total", "counter", "Webhook tries made."},
        {"tally_webhook_failures_total", "counter", "Webhook tries without a 2xx answer."},
    };
    const int64_t value[] = {c.raised, c.published, c.raised - c.published, c.attempts, c.failures};
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++)
        tally_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", series[i].name,
                         series[i].help, series[i].name, series[i].type, series[i].name,
                         (long long)value[i]);
}
