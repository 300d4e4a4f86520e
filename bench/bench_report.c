/*
 * bench_report — how long a tenant's monthly usage report takes, three ways,
 * measured side by side in one run (bench/report.sh, docs/benchmarks.md):
 *
 *   rollup  tally_report_usage() in process over PostgreSQL's rollups: the
 *           tenant lookup, the window and the report query, rows built as
 *           JSON (not serialised);
 *   http    GET /v1/tenants/{id}/usage against a running tally-api, one
 *           keep-alive libcurl connection, the whole body read;
 *   naive   naive_report_usage() over the raw interaction history in the
 *           MongoDB-wire store (requests and tokens per model over the month;
 *           the window resolved in the tenant's zone beforehand, untimed).
 *
 *     bench_report --pg-url URL --tenants FILE [--reps K]
 *                  [--api-url URL] [--naive-tenants FILE --mongo-url URL
 *                   --naive-reps K] [--from D --to D --granularity G
 *                   --group-by G]
 *
 * The admin key for --api-url is read from TALLY_ADMIN_KEY. Each tenant is
 * first run once each way untimed (connections, caches, plans), and the
 * naive per-model sums are checked against the rollup report's rows summed
 * per model, so that both sides are known to count the same interactions.
 * Then K rounds: in each, every tenant once per side, in turn, so that any
 * load from elsewhere falls on all sides alike. Every call is timed with
 * CLOCK_MONOTONIC. A call that fails because a store restarted (other
 * people's tests restart the shared stack's servers) is retried untimed until
 * the store answers, then timed afresh; the failed attempts are counted and
 * printed. Output: a line per tenant, then RESULT lines with p50/p99/max
 * (nearest rank) in ms that report.sh reads.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "tally_analytics.h"
#include "naive_report.h"
#include "tally_docs.h"
#include "tally_pg.h"

#define MAX_TENANTS 1000

typedef struct {
    const char *pg_url, *tenants_file, *naive_file, *mongo_url, *api_url;
    const char *from, *to, *granularity, *group_by;
    int reps, naive_reps;
} options;

/* A tenant under test and what its first, untimed, run found. */
typedef struct {
    char *id;
    bool naive;             /* also measured the naive way */
    int64_t from_us, to_us; /* the window in the tenant's zone */
    long long requests;     /* interactions in the window (rollup totals) */
    size_t rows;            /* rows of the rollup report */
    int64_t docs;           /* its interactions in the history store */
    double *t[3];           /* per side, the reps' times in ms */
} tenant;

enum { SIDE_ROLLUP, SIDE_HTTP, SIDE_NAIVE };

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_report: %s: %s\n", what, msg);
    exit(1);
}

/* ---- tenants ------------------------------------------------------------ */

/* Read ids, one a line, appending to ts; returns the new count. */
static int read_tenants(const char *path, tenant *ts, int n, bool naive) {
    FILE *f = fopen(path, "r");
    if (!f) die(path, "cannot open");
    char line[600];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        int i = 0;
        while (i < n && strcmp(ts[i].id, line)) i++;
        if (i == n) {
            if (n == MAX_TENANTS) die(path, "too many tenants");
            ts[n++] = (tenant){.id = strdup(line)};
        }
        ts[i].naive |= naive;
    }
    fclose(f);
    return n;
}

/* ---- the three sides ---------------------------------------------------- */

/* A store failure is worth a retry: the shared stack's servers are restarted
 * by other people's tests. Says so on stderr; the caller retries. */
static void *store_failed(const char *side, const char *tenant_id, const char *msg) {
    fprintf(stderr, "bench_report: %s %s: %s (retrying)\n", side, tenant_id, msg);
    return NULL;
}

/* The report, or NULL after a store failure (any other failure ends the run). */
static json_t *run_rollup(tally_pg *pg, const options *o, const char *tenant_id) {
    tally_usage_request req = {.tenant_id = tenant_id,
                               .from = o->from,
                               .to = o->to,
                               .granularity = o->granularity,
                               .group_by = o->group_by};
    json_t *report = NULL;
    tally_err err = {0};
    tally_code rc = tally_report_usage(pg, &req, &report, &err);
    if (rc == TALLY_ESTORE) return store_failed("rollup", tenant_id, err.msg);
    if (rc != TALLY_OK) die(tenant_id, err.msg);
    return report;
}

static json_t *run_naive(naive_report *nr, const tenant *t) {
    json_t *rows = NULL;
    tally_err err = {0};
    tally_code rc = naive_report_usage(nr, t->id, t->from_us, t->to_us, &rows, &err);
    if (rc == TALLY_ESTORE) return store_failed("naive", t->id, err.msg);
    if (rc != TALLY_OK) die(t->id, err.msg);
    return rows;
}

/* GET the report: the body of a 200 (caller frees), NULL after a 503 or a
 * failed connection (the store or the service restarting); anything else
 * ends the run. */
static char *run_http(CURL *c, const options *o, const char *tenant_id) {
    char *id = curl_easy_escape(c, tenant_id, 0);
    char url[2048];
    snprintf(url, sizeof url, "%s/v1/tenants/%s/usage?from=%s&to=%s&granularity=%s&group_by=%s",
             o->api_url, id, o->from, o->to, o->granularity, o->group_by);
    curl_free(id);
    bench_body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status == 200) return b.data;
    char msg[600];
    const char *why = b.data ? b.data : "";
    if (rc != CURLE_OK) why = curl_easy_strerror(rc);
    snprintf(msg, sizeof msg, "HTTP %ld %s", status, why);
    free(b.data);
    if (rc != CURLE_OK || status == 503) return store_failed("http", tenant_id, msg);
    die(url, msg);
    return NULL;
}

static CURL *http_open(struct curl_slist **headers) {
    const char *key = getenv("TALLY_ADMIN_KEY");
    if (!key || !*key) die("--api-url", "TALLY_ADMIN_KEY is not set");
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    *headers = curl_slist_append(NULL, auth);
    CURL *c = curl_easy_init();
    if (!c) die("libcurl", "curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    return c;
}

/* ---- calls that survive store restarts ---------------------------------- */

typedef struct {
    tally_pg *pg;
    tally_docs *d;
    naive_report *naive;
    CURL *c;
    const options *o;
    long long retries[3]; /* failed attempts per side */
} bench;

static void *attempt(bench *b, int side, const tenant *t) {
    switch (side) {
    case SIDE_ROLLUP: return run_rollup(b->pg, b->o, t->id);
    case SIDE_HTTP: return run_http(b->c, b->o, t->id);
    default: return run_naive(b->naive, t);
    }
}

static void release(int side, void *result) {
    if (side == SIDE_HTTP)
        free(result);
    else
        json_decref(result);
}

/* One call of a side, timed into *ms (NULL: untimed). After a failure the
 * call is repeated untimed every second until the store answers again
 * (reconnecting, cold caches), and only then timed afresh: a restart on the
 * shared stack costs retries, counted apart, not a sample. */
static void *call(bench *b, int side, const tenant *t, double *ms) {
    bool recovering = false;
    for (int failures = 0;;) {
        double t0 = bench_now_ms();
        void *r = attempt(b, side, t);
        if (r && (!recovering || !ms)) {
            if (ms) *ms = bench_now_ms() - t0;
            return r;
        }
        if (r) { /* the store is back: time a clean attempt */
            release(side, r);
            recovering = false;
            continue;
        }
        b->retries[side]++;
        if (++failures > 60) die(t->id, "the store did not come back within a minute");
        recovering = true;
        sleep(1);
    }
}

/* ---- the first, untimed run: windows and the cross-check ---------------- */

static long long int_of(const json_t *o, const char *k) {
    return (long long)json_integer_value(json_object_get(o, k));
}

/* The rollup report's rows summed per model, in the naive rows' shape. */
static json_t *per_model(const json_t *report) {
    json_t *by = json_object(), *row;
    size_t i;
    static const char *const m[] = {"requests", "input_tokens", "output_tokens", "cached_tokens"};
    json_array_foreach(json_object_get(report, "rows"), i, row) {
        const json_t *g = json_object_get(json_object_get(row, "group"), "model");
        const char *model = json_is_string(g) ? json_string_value(g) : "(null)";
        json_t *acc = json_object_get(by, model);
        if (!acc) json_object_set_new(by, model, acc = json_object());
        for (size_t k = 0; k < 4; k++)
            json_object_set_new(acc, m[k], json_integer(int_of(acc, m[k]) + int_of(row, m[k])));
    }
    return by;
}

/* Whether the naive rows hold the same sums as the rollup report; says why not. */
static bool same_sums(const tenant *t, const json_t *report, const json_t *naive) {
    json_t *by = per_model(report), *row;
    size_t i;
    bool same = json_array_size(naive) == json_object_size(by);
    json_array_foreach(naive, i, row) {
        const json_t *mid = json_object_get(row, "model_id");
        const json_t *acc = json_object_get(by, json_is_string(mid) ? json_string_value(mid)
                                                                    : "(null)");
        static const char *const m[] = {"requests", "input_tokens", "output_tokens",
                                        "cached_tokens"};
        for (size_t k = 0; k < 4 && same; k++)
            if (!acc || int_of(acc, m[k]) != int_of(row, m[k])) {
                fprintf(stderr, "bench_report: %s: %s of model %s: rollup %lld, naive %lld\n",
                        t->id, m[k], json_is_string(mid) ? json_string_value(mid) : "null",
                        acc ? int_of(acc, m[k]) : -1, int_of(row, m[k]));
                same = false;
            }
    }
    json_decref(by);
    return same;
}

/* The tenant's window [from, to) in its zone, as the report resolves it. */
static void resolve_window(tally_pg *pg, const options *o, tenant *t) {
    bool known;
    char zone[128];
    tally_err err = {0};
    if (tally_usage_tenant(pg, t->id, &known, zone, sizeof zone, &err) != TALLY_OK)
        die(t->id, err.msg);
    if (!known) die(t->id, "unknown tenant in PostgreSQL");
    tally_bound from = {.kind = TALLY_BOUND_DATE}, to = {.kind = TALLY_BOUND_DATE};
    snprintf(from.date, sizeof from.date, "%s", o->from);
    snprintf(to.date, sizeof to.date, "%s", o->to);
    tally_window w;
    if (tally_usage_window(pg, zone, &from, &to, TALLY_GRAN_TOTAL, &w, &err) != TALLY_OK)
        die(t->id, err.msg);
    t->from_us = w.from;
    t->to_us = w.to;
}

/* Returns how many naive tenants' sums differ from the rollups'. */
static int warm_up(bench *b, tenant *ts, int n) {
    int mismatches = 0;
    for (int i = 0; i < n; i++) {
        tenant *t = &ts[i];
        json_t *report = call(b, SIDE_ROLLUP, t, NULL);
        t->requests = int_of(json_object_get(report, "totals"), "requests");
        t->rows = json_array_size(json_object_get(report, "rows"));
        if (b->c) {
            char *text = call(b, SIDE_HTTP, t, NULL);
            json_t *got = json_loads(text, 0, NULL);
            if (!got || int_of(json_object_get(got, "totals"), "requests") != t->requests ||
                json_array_size(json_object_get(got, "rows")) != t->rows)
                die(t->id, "the HTTP report differs from the in-process one");
            json_decref(got);
            free(text);
        }
        if (t->naive) {
            tally_err err = {0};
            resolve_window(b->pg, b->o, t);
            if (tally_docs_count_interactions(b->d, t->id, &t->docs, &err) != TALLY_OK)
                die(t->id, err.msg);
            json_t *rows = call(b, SIDE_NAIVE, t, NULL);
            mismatches += !same_sums(t, report, rows);
            json_decref(rows);
        }
        json_decref(report);
    }
    return mismatches;
}

/* ---- the timed rounds and their statistics ----------------------------- */

/* REPS rounds; in each, every tenant once per side, in turn. */
static void timed_rounds(bench *b, tenant *ts, int n) {
    for (int r = 0; r < b->o->reps; r++) {
        for (int i = 0; i < n; i++) {
            tenant *t = &ts[i];
            release(SIDE_ROLLUP, call(b, SIDE_ROLLUP, t, &t->t[SIDE_ROLLUP][r]));
            if (b->c) release(SIDE_HTTP, call(b, SIDE_HTTP, t, &t->t[SIDE_HTTP][r]));
            if (t->naive && r < b->o->naive_reps)
                release(SIDE_NAIVE, call(b, SIDE_NAIVE, t, &t->t[SIDE_NAIVE][r]));
        }
        fprintf(stderr, "bench_report: round %d/%d done\n", r + 1, b->o->reps);
    }
}

/* The times of one side over the tenants chosen (all, or the naive ones). */
static bench_summary side_summary(const tenant *ts, int n, int side, int reps, bool naive_only) {
    double *v = malloc(sizeof(double) * (size_t)(n * reps + 1));
    size_t k = 0;
    for (int i = 0; i < n; i++)
        if (!naive_only || ts[i].naive)
            for (int r = 0; r < reps; r++) v[k++] = ts[i].t[side][r];
    bench_summary s = bench_summarize(v, k);
    free(v);
    return s;
}

static void print_result(const char *label, int tenants, bench_summary s) {
    printf("RESULT %-14s tenants=%d calls=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f\n",
           label, tenants, s.n, s.p50, s.p99, s.max, s.mean);
}

static void print_tenants(const tenant *ts, int n, const options *o, bool http) {
    printf("%-34s %9s %5s %7s %11s %11s %11s\n", "tenant", "interact.", "rows", "docs",
           "rollup p50", "http p50", "naive p50");
    for (int i = 0; i < n; i++) {
        const tenant *t = &ts[i];
        double tmp[1024];
        char cell[3][32];
        for (int side = 0; side < 3; side++) {
            int reps = side == SIDE_NAIVE  ? (t->naive ? o->naive_reps : 0)
                       : side == SIDE_HTTP ? (http ? o->reps : 0)
                                           : o->reps;
            memcpy(tmp, t->t[side], sizeof(double) * (size_t)reps);
            bench_summary s = bench_summarize(tmp, (size_t)reps);
            if (reps)
                snprintf(cell[side], sizeof cell[side], "%.2f ms", s.p50);
            else
                snprintf(cell[side], sizeof cell[side], "-");
        }
        char docs[24] = "-";
        if (t->naive) snprintf(docs, sizeof docs, "%lld", (long long)t->docs);
        printf("%-34s %9lld %5zu %7s %11s %11s %11s\n", t->id, t->requests, t->rows, docs, cell[0],
               cell[1], cell[2]);
    }
}

static void report_results(const tenant *ts, int n, const options *o, bool http, bool naive) {
    int n_naive = 0;
    long long docs = 0, naive_requests = 0, all_requests = 0;
    for (int i = 0; i < n; i++) {
        all_requests += ts[i].requests;
        if (ts[i].naive) n_naive++, docs += ts[i].docs, naive_requests += ts[i].requests;
    }
    print_tenants(ts, n, o, http);
    printf("\n");
    print_result("rollup", n, side_summary(ts, n, SIDE_ROLLUP, o->reps, false));
    if (http) print_result("http", n, side_summary(ts, n, SIDE_HTTP, o->reps, false));
    printf("interactions in the reports: %lld over %d tenants\n", all_requests, n);
    if (!naive) return;
    bench_summary r = side_summary(ts, n, SIDE_ROLLUP, o->reps, true);
    bench_summary h = http ? side_summary(ts, n, SIDE_HTTP, o->reps, true) : (bench_summary){0};
    bench_summary v = side_summary(ts, n, SIDE_NAIVE, o->naive_reps, true);
    print_result("rollup@naive", n_naive, r);
    if (http) print_result("http@naive", n_naive, h);
    print_result("naive", n_naive, v);
    printf("naive side: %d tenants, %lld interactions in their windows, %lld docs of theirs in "
           "the history store\n",
           n_naive, naive_requests, docs);
    printf("RESULT ratio          naive/rollup p50=%.1fx p99=%.1fx", v.p50 / r.p50, v.p99 / r.p99);
    if (http) printf("  naive/http p50=%.1fx p99=%.1fx", v.p50 / h.p50, v.p99 / h.p99);
    printf("\n");
}

static void report_retries(const bench *b) {
    printf("store failures: rollup %lld, http %lld, naive %lld failed attempts%s\n",
           b->retries[SIDE_ROLLUP], b->retries[SIDE_HTTP], b->retries[SIDE_NAIVE],
           b->retries[0] + b->retries[1] + b->retries[2]
               ? " (a server restarted on the shared stack; retried, not timed: stderr)"
               : "");
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *out) {
    fprintf(out, "usage: bench_report --pg-url URL --tenants FILE [--reps K] [--api-url URL]\n"
                 "                    [--naive-tenants FILE --mongo-url URL --naive-reps K]\n"
                 "                    [--from YYYY-MM-DD --to YYYY-MM-DD --granularity G "
                 "--group-by G]\n"
                 "Times tenants' usage reports from the rollups (in process and over HTTP) and\n"
                 "from the raw history (naive); TALLY_ADMIN_KEY is the key for --api-url.\n");
}

static void parse_args(int argc, char **argv, options *o) {
    static const struct option longs[] = {{"pg-url", 1, 0, 'p'},
                                          {"tenants", 1, 0, 't'},
                                          {"naive-tenants", 1, 0, 'n'},
                                          {"mongo-url", 1, 0, 'm'},
                                          {"api-url", 1, 0, 'a'},
                                          {"reps", 1, 0, 'k'},
                                          {"naive-reps", 1, 0, 'K'},
                                          {"from", 1, 0, 'f'},
                                          {"to", 1, 0, 'T'},
                                          {"granularity", 1, 0, 'g'},
                                          {"group-by", 1, 0, 'G'},
                                          {"help", 0, 0, 'h'},
                                          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': o->pg_url = optarg; break;
        case 't': o->tenants_file = optarg; break;
        case 'n': o->naive_file = optarg; break;
        case 'm': o->mongo_url = optarg; break;
        case 'a': o->api_url = optarg; break;
        case 'k': o->reps = atoi(optarg); break;
        case 'K': o->naive_reps = atoi(optarg); break;
        case 'f': o->from = optarg; break;
        case 'T': o->to = optarg; break;
        case 'g': o->granularity = optarg; break;
        case 'G': o->group_by = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (!o->pg_url || !o->tenants_file || optind != argc || o->reps < 1 || o->reps > 1024 ||
        o->naive_reps < 1 || o->naive_reps > o->reps || (o->naive_file && !o->mongo_url)) {
        usage(stderr);
        exit(2);
    }
}

int main(int argc, char **argv) {
    options o = {.reps = 20,
                 .naive_reps = 5,
                 .from = "2026-03-01",
                 .to = "2026-04-01",
                 .granularity = "day",
                 .group_by = "model"};
    parse_args(argc, argv, &o);
    static tenant ts[MAX_TENANTS];
    int n = read_tenants(o.tenants_file, ts, 0, false);
    if (o.naive_file) n = read_tenants(o.naive_file, ts, n, true);
    if (!n) die(o.tenants_file, "no tenants");
    for (int i = 0; i < n; i++)
        for (int s = 0; s < 3; s++) ts[i].t[s] = calloc((size_t)o.reps, sizeof(double));

    tally_err err = {0};
    bench b = {.o = &o};
    if (!(b.pg = tally_pg_open(o.pg_url, &err))) die("--pg-url", err.msg);
    if (o.naive_file && (!(b.d = tally_docs_open(o.mongo_url, &err)) ||
                         !(b.naive = naive_report_open(o.mongo_url, &err))))
        die("--mongo-url", err.msg);
    struct curl_slist *headers = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (o.api_url) b.c = http_open(&headers);

    int mismatches = warm_up(&b, ts, n);
    fprintf(stderr, "bench_report: warm-up done, %d tenants; timing %d rounds\n", n, o.reps);
    timed_rounds(&b, ts, n);
    report_results(ts, n, &o, b.c != NULL, b.d != NULL);
    report_retries(&b);
    if (b.d)
        printf("check: naive per-model sums %s the rollup report's for the naive tenants%s\n",
               mismatches ? "DIFFER from" : "equal", mismatches ? " (stderr names them)" : "");

    if (b.c) curl_easy_cleanup(b.c);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    naive_report_close(b.naive);
    if (b.d) tally_docs_close(b.d);
    tally_pg_close(b.pg);
    for (int i = 0; i < n; i++) {
        free(ts[i].id);
        for (int s = 0; s < 3; s++) free(ts[i].t[s]);
    }
    return mismatches ? 1 : 0;
}
