#include "alerts_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <cmocka.h>

void alerts_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    alerts_http *r = arg;
    size_t add = size * n;
    r->body = realloc(r->body, r->len + add + 1);
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

alerts_http alerts_http_do(const char *base, const char *method, const char *path, const char *key,
                           const char *body) {
    alerts_http r = {0};
    r.body = calloc(1, 1);
    char url[8192], auth[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

json_t *alerts_http_json(const alerts_http *r) {
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (!j) fail_msg("not JSON (%s): %.300s", e.text, r->body);
    return j;
}

void alerts_http_free(alerts_http *r) {
    free(r->body);
    r->body = NULL;
}

json_t *alerts_get_json(const char *base, const char *path, const char *key) {
    alerts_http r = alerts_http_do(base, "GET", path, key, NULL);
    if (r.status != 200) fail_msg("GET %s: status %ld: %.300s", path, r.status, r.body);
    json_t *j = alerts_http_json(&r);
    alerts_http_free(&r);
    return j;
}

pid_t alerts_start_api(const itest_ctx *ctx, const char *admin_key, const char *log, char *base,
                       size_t base_len) {
    setenv("TALLY_ADMIN_KEY", admin_key, 1);
    remove(log);
    const char *args[] = {"--http-addr", "127.0.0.1:0", "--threads", "4", NULL};
    pid_t pid = itest_spawn_logged(ctx, "analytics/tally-api", args, log);
    unsetenv("TALLY_ADMIN_KEY");
    long long port = -1;
    for (int i = 0; i < 500 && port <= 0; i++) {
        alerts_sleep_ms(20);
        port = itest_log_last_value(log, " port=");
    }
    if (port <= 0) fail_msg("tally-api did not start; see %s", log);
    snprintf(base, base_len, "http://127.0.0.1:%lld", port);
    return pid;
}

void alerts_insert(const itest_ctx *ctx, const alerts_row *r) {
    PGconn *c = PQconnectdb(ctx->pg_url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("postgresql: %s", PQerrorMessage(c));
    char threshold[16];
    snprintf(threshold, sizeof threshold, "%d", r->threshold);
    const char *p[] = {r->alert_id, r->tenant_id,   r->limit_id, r->user_id,    r->metric,
                       threshold,   r->limit_value, r->used,     r->crossed_at, r->webhook_url};
    PGresult *res = PQexecParams(
        c,
        "WITH o AS (INSERT INTO alert_outbox (alert_id, tenant_id, limit_id, user_id, metric,"
        "   period, period_start, period_end, zone, threshold, limit_value, used, paused,"
        "   crossed_at, webhook_url)"
        " VALUES ($1, $2, $3, $4, $5, 'monthly', '2026-03-01T03:00:00Z', '2026-04-01T03:00:00Z',"
        "   'America/Sao_Paulo', $6::int, $7::numeric, $8::numeric, $6::int >= 100, $9, $10)"
        " RETURNING alert_id, tenant_id, webhook_url)"
        " INSERT INTO webhook_deliveries (alert_id, tenant_id, url)"
        " SELECT alert_id, tenant_id, webhook_url FROM o WHERE webhook_url IS NOT NULL",
        10, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("insert alert %s: %s", r->alert_id, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}
