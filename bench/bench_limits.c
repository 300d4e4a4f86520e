/*
 * bench_limits — latency of the limits answer, the gateway's question before
 * each model call (bench/limits.sh; docs/benchmarks.md, "Limits").
 *
 *   bench_limits --pg-url URL --load N        count N interactions of one tenant
 *   bench_limits --pg-url URL --api-url URL --reps R   measure
 *
 * --load: tenant `bench-big` (America/Manaus) with four budgets set on
 * 2025-12-01 — tokens daily, weekly and monthly, and BRL monthly — a plan with request and token
 * limits for the whole tenant and one for user u1, a price per model and a BRL
 * rate; then N interactions spread over 2026-01-01..2026-04-01 (200 users,
 * 4 models), counted through tally_rollup_apply — the aggregator's own
 * transaction, with its limit counting — in batches of 2 000. Prints the
 * rate (the counting's cost with limits on) and the alerts raised.
 *
 * Measure: R rounds, each of (1) GET /limits of the tenant at 2026-03-18,
 * (2) the same for user u1, (3) the usage report of March by day and model
 * over HTTP (the figure the usage report benchmark measures), (4) the limits
 * answer in process — interleaved, one keep-alive connection, so all share
 * the machine's load. RESULT lines with p50/p99/max in ms (nearest rank).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "tally_analytics.h"
#include "tally_pg.h"

#define TENANT "bench-big"
#define AT "2026-03-18T14:02:11-04:00"
#define BATCH 2000

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_limits: %s: %s\n", what, msg);
    exit(1);
}

/* The entities, written as the ingester stores them (libpq directly: a
 * benchmark's setup, not an interface of Tally's). */
static void exec_sql(const char *pg_url, const char *sql) {
    PGconn *c = PQconnectdb(pg_url);
    if (PQstatus(c) != CONNECTION_OK) die(pg_url, PQerrorMessage(c));
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) die("setup", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void load(tally_pg *pg, const char *pg_url, long n) {
    exec_sql(pg_url,
             "INSERT INTO tenants (tenant_id, name, status, timezone, ev_time, ev_offset) VALUES"
             " ('" TENANT "', 'Bench Big', 'active', 'America/Manaus', now(), 0);"
             "INSERT INTO fx_rates (currency, effective_from, per_usd, ev_time, ev_offset)"
             " VALUES ('BRL', '2025-01-01T00:00:00Z', 5.1, now(), 0);"
             "INSERT INTO model_prices (model_id, tenant_key, effective_from, input_usd_per_1m,"
             " output_usd_per_1m, cached_input_usd_per_1m, minutes_saved_per_100_output_tokens,"
             " ev_time, ev_offset) SELECT 'bench/m' || i, '', '2025-01-01T00:00:00Z', 0.15 * i,"
             " 0.6 * i, 0.075 * i, 1, now(), 0 FROM generate_series(1, 4) i;"
             "INSERT INTO budgets (tenant_id, budget_id, kind, period, token_limit, brl_limit,"
             " thresholds, pause_at_limit, ev_time, ev_offset) VALUES"
             " ('" TENANT "', 'dia', 'tokens', 'daily', 20000000, NULL, '{80,90,100}', false,"
             " '2025-12-01T00:00:00Z', 0), ('" TENANT
             "', 'semana', 'tokens', 'weekly', 100000000, NULL,"
             " '{80,90,100}', false, '2025-12-01T00:00:00Z', 0), ('" TENANT
             "', 'mes', 'tokens', 'monthly',"
             " 400000000, NULL, '{80,90,100}', true, '2025-12-01T00:00:00Z', 0), ('" TENANT
             "', 'reais', 'brl',"
             " 'monthly', NULL, 2500, '{50,80,100}', true, '2025-12-01T00:00:00Z', 0);"
             "INSERT INTO plans (plan_id, name, monthly_request_limit, monthly_token_limit,"
             " ev_time, ev_offset) VALUES ('pro', 'Pro', 400000, 1000000000, now(), 0),"
             " ('aluno', 'Aluno', 1000, NULL, now(), 0);"
             "INSERT INTO subscriptions (subscription_id, tenant_id, user_id, plan_id, starts_at,"
             " status, ev_time, ev_offset) VALUES ('s-pro', '" TENANT "', NULL, 'pro',"
             " '2025-01-01', 'active', now(), 0), ('s-u1', '" TENANT "', 'u1', 'aluno',"
             " '2025-01-01', 'active', now(), 0);");
    int changes;
    tally_err err;
    if (tally_limits_reevaluate(pg, &changes, &err) != TALLY_OK) die("reevaluate", err.msg);

    static tally_rollup_item items[BATCH];
    static char ids[BATCH][24], users[BATCH][8], models[BATCH][12];
    tally_usec start, span = 90LL * 86400 * 1000000;
    tally_time_parse_rfc3339("2026-01-01T00:00:00Z", &start);
    int64_t alerts = 0;
    double t0 = bench_now_ms();
    for (long done = 0; done < n;) {
        int k = 0;
        for (; k < BATCH && done < n; k++, done++) {
            snprintf(ids[k], sizeof ids[k], "x%ld", done);
            snprintf(users[k], sizeof users[k], "u%d", (int)(next_rand() % 200) + 1);
            snprintf(models[k], sizeof models[k], "bench/m%d", (int)(next_rand() % 4) + 1);
            items[k] = (tally_rollup_item){
                .interaction_id = ids[k],
                .tenant_id = TENANT,
                .model_id = models[k],
                .user_id = users[k],
                .kind = "chat",
                /* in time order, as a stream mostly is */
                .time = start + (tally_usec)((double)span * (double)done / (double)n),
                .input_tokens = 100 + (int64_t)(next_rand() % 1900),
                .output_tokens = 50 + (int64_t)(next_rand() % 750),
            };
        }
        tally_rollup_batch batch = {.items = items, .n_items = (size_t)k};
        tally_rollup_result res;
        if (tally_rollup_apply(pg, "bench-limits", &batch, &res, &err) != TALLY_OK)
            die("count", err.msg);
        alerts += res.alerts_raised;
        if (done % 100000 == 0) fprintf(stderr, "bench_limits: counted %ld\n", done);
    }
    double s = (bench_now_ms() - t0) / 1000;
    printf("RESULT load interactions=%ld seconds=%.1f per_second=%.0f alerts_raised=%lld\n", n, s,
           (double)n / s, (long long)alerts);
}

static double http_get(CURL *c, const char *url) {
    bench_body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    double t0 = bench_now_ms();
    CURLcode rc = curl_easy_perform(c);
    double ms = bench_now_ms() - t0;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200)
        die(url, rc != CURLE_OK ? curl_easy_strerror(rc) : (b.data ? b.data : "no body"));
    free(b.data);
    return ms;
}

static void print_result(const char *label, double *v, size_t n) {
    bench_summary s = bench_summarize(v, n);
    printf("RESULT %-16s n=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f\n", label, s.n,
           s.p50, s.p99, s.max, s.mean);
}

static void measure(tally_pg *pg, const char *api, int reps) {
    const char *key = getenv("TALLY_ADMIN_KEY");
    if (!key || !*key) die("--api-url", "TALLY_ADMIN_KEY is not set");
    char auth[600], url[4][512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    snprintf(url[0], sizeof url[0], "%s/v1/tenants/" TENANT "/limits?at=2026-03-18T18:02:11Z", api);
    snprintf(url[1], sizeof url[1],
             "%s/v1/tenants/" TENANT "/limits?user_id=u1&at=2026-03-18T18:02:11Z", api);
    snprintf(url[2], sizeof url[2],
             "%s/v1/tenants/" TENANT
             "/usage?from=2026-03-01&to=2026-04-01&granularity=day&group_by=model",
             api);
    double *t[4];
    for (int s = 0; s < 4; s++) t[s] = calloc((size_t)reps, sizeof(double));
    for (int s = 0; s < 3; s++) http_get(c, url[s]); /* warm: connection, prepared statements */
    tally_limits_request req = {TENANT, NULL, AT};
    for (int r = 0; r < reps; r++) {
        for (int s = 0; s < 3; s++) t[s][r] = http_get(c, url[s]);
        json_t *out;
        tally_err err;
        double t0 = bench_now_ms();
        if (tally_limits_report(pg, &req, 0, &out, &err) != TALLY_OK) die("in process", err.msg);
        t[3][r] = bench_now_ms() - t0;
        json_decref(out);
    }
    print_result("limits_http", t[0], (size_t)reps);
    print_result("limits_user_http", t[1], (size_t)reps);
    print_result("usage_http", t[2], (size_t)reps);
    print_result("limits_inproc", t[3], (size_t)reps);
    for (int s = 0; s < 4; s++) free(t[s]);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
}

int main(int argc, char **argv) {
    const char *pg_url = NULL, *api = NULL;
    long n = 0;
    int reps = 2000;
    static const struct option opts[] = {{"pg-url", required_argument, 0, 'p'},
                                         {"api-url", required_argument, 0, 'a'},
                                         {"load", required_argument, 0, 'l'},
                                         {"reps", required_argument, 0, 'r'},
                                         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'p': pg_url = optarg; break;
        case 'a': api = optarg; break;
        case 'l': n = atol(optarg); break;
        case 'r': reps = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench_limits --pg-url URL (--load N | --api-url URL"
                            " [--reps R])\n");
            return 2;
        }
    }
    if (!pg_url || (!n && !api) || reps < 1) die("usage", "--pg-url and --load or --api-url");
    tally_err err;
    tally_pg *pg = tally_pg_open(pg_url, &err);
    if (!pg) die(pg_url, err.msg);
    if (n) load(pg, pg_url, n);
    if (api) measure(pg, api, reps);
    tally_pg_close(pg);
    return 0;
}
