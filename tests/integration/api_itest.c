#include "api_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <cmocka.h>

void api_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    api_http *r = arg;
    size_t add = size * n;
    r->body = realloc(r->body, r->len + add + 1);
    memcpy(r->body + r->len, p, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    api_http *r = arg;
    size_t len = size * n;
    if (len > 6 && !strncasecmp(p, "Allow:", 6)) {
        const char *v = p + 6;
        while (*v == ' ') v++;
        size_t vl = len - (size_t)(v - p);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
        snprintf(r->allow, sizeof r->allow, "%.*s", (int)vl, v);
    }
    return len;
}

api_http api_http_do(const char *base, const char *method, const char *path, const char *key,
                     const char *body, const char *accept) {
    api_http r = {0};
    r.body = calloc(1, 1);
    char url[16384], auth[512], acc[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (key) {
        bool whole = !strncmp(key, "Authorization:", 14);
        snprintf(auth, sizeof auth, "%s%s", whole ? "" : "Authorization: Bearer ", key);
        h = curl_slist_append(h, auth);
    }
    if (accept) {
        snprintf(acc, sizeof acc, "Accept: %s", accept);
        h = curl_slist_append(h, acc);
    }
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

json_t *api_http_json(const api_http *r) {
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    if (!j) fail_msg("not JSON (%s): %.300s", e.text, r->body);
    return j;
}

void api_http_free(api_http *r) {
    free(r->body);
    r->body = NULL;
}

json_t *api_get_json(const char *base, const char *path, const char *key) {
    api_http r = api_http_do(base, "GET", path, key, NULL, NULL);
    if (r.status != 200) fail_msg("GET %s: status %ld: %.300s", path, r.status, r.body);
    json_t *j = api_http_json(&r);
    api_http_free(&r);
    return j;
}

pid_t api_start(const itest_ctx *ctx, const char *admin_key, const char *log, char *base,
                size_t base_len) {
    if (admin_key)
        setenv("TALLY_ADMIN_KEY", admin_key, 1);
    else
        unsetenv("TALLY_ADMIN_KEY");
    remove(log);
    const char *args[] = {"--http-addr", "127.0.0.1:0", "--threads", "4", NULL};
    pid_t pid = itest_spawn_logged(ctx, "analytics/tally-api", args, log);
    unsetenv("TALLY_ADMIN_KEY");
    long long port = -1;
    for (int i = 0; i < 500 && port <= 0; i++) {
        api_sleep_ms(20);
        port = itest_log_last_value(log, " port=");
    }
    if (port <= 0) fail_msg("tally-api did not start; see %s", log);
    snprintf(base, base_len, "http://127.0.0.1:%lld", port);
    return pid;
}
