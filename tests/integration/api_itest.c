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

typedef struct {
    const char *data;
    size_t len, off;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *arg) {
    upload *u = arg;
    size_t take = size * n < u->len - u->off ? size * n : u->len - u->off;
    memcpy(buf, u->data + u->off, take);
    u->off += take;
    return take;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    api_http *r = arg;
    size_t len = size * n;
    size_t have = r->headers ? strlen(r->headers) : 0;
    r->headers = realloc(r->headers, have + len + 1);
    memcpy(r->headers + have, p, len);
    r->headers[have + len] = '\0';
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
    char acc[128];
    const char *headers[] = {acc, NULL};
    snprintf(acc, sizeof acc, "Accept: %s", accept ? accept : "");
    return api_http_do_h(base, method, path, key, body, body ? strlen(body) : 0,
                         accept ? headers : NULL);
}

api_http api_http_do_h(const char *base, const char *method, const char *path, const char *key,
                       const char *body, size_t body_len, const char *const *headers) {
    api_http r = {0};
    r.body = calloc(1, 1);
    char url[16384], auth[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (key) {
        bool whole = !strncmp(key, "Authorization:", 14);
        snprintf(auth, sizeof auth, "%s%s", whole ? "" : "Authorization: Bearer ", key);
        h = curl_slist_append(h, auth);
    }
    bool ctype_given = false, chunked = false;
    for (size_t i = 0; headers && headers[i]; i++) {
        h = curl_slist_append(h, headers[i]);
        ctype_given |= !strncasecmp(headers[i], "Content-Type:", 13);
        chunked |= !strcasecmp(headers[i], "Transfer-Encoding: chunked");
    }
    if (body && !ctype_given) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    upload up = {body, body_len, 0};
    if (body && chunked) { /* no Content-Length: the body read as it goes */
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
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
    free(r->headers);
    r->body = NULL;
    r->headers = NULL;
}

bool api_http_header(const api_http *r, const char *name, char *out, size_t len) {
    bool found = false;
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        size_t line = strcspn(p, "\r\n");
        if (line > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            snprintf(out, len, "%.*s", (int)(line - (size_t)(v - p)), v);
            found = true;
        }
        p += line;
        while (*p == '\r' || *p == '\n') p++;
    }
    return found;
}

void api_expect_problem(const api_http *r, long status, const char *needle,
                        const char *param_expected) {
    if (r->status != status)
        fail_msg("status %ld, expected %ld: %.300s", r->status, status, r->body);
    if (strncmp(r->ctype, "application/problem+json", 24))
        fail_msg("content type \"%s\", expected application/problem+json", r->ctype);
    json_t *j = api_http_json(r);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *title = json_string_value(json_object_get(j, "title"));
    const char *detail = json_string_value(json_object_get(j, "detail"));
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    json_t *param = json_object_get(j, "param");
    if (!type || !title || !*title || !detail || !rid || !param ||
        json_integer_value(json_object_get(j, "status")) != status)
        fail_msg("not a whole problem: %.300s", r->body);
    if (needle && !strstr(detail, needle))
        fail_msg("detail \"%s\" does not name \"%s\"", detail, needle);
    if (param_expected && (*param_expected ? !json_is_string(param) ||
                                                 strcmp(json_string_value(param), param_expected)
                                           : !json_is_null(param)))
        fail_msg("param of %.300s: expected \"%s\"", r->body, param_expected);
    char header[160];
    if (!api_http_header(r, "X-Request-Id", header, sizeof header) || strcmp(header, rid))
        fail_msg("X-Request-Id header \"%s\" is not the problem's request_id \"%s\"", header, rid);
    json_decref(j);
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
