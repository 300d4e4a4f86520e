/*
 * api_client — one GET from a Tally API for a `tally` subcommand, with the
 * shared options and failure messages (see api_client.h).
 */
#include "api_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_common.h"
#include "text_output.h"

/* An answer larger than this is not one these commands can print. */
#define MAX_BODY (256u << 20)

const char tally__api_conn_help[] =
    "      --api URL           the API (default http://$TALLY_HTTP_ADDR, which\n"
    "                          defaults to http://127.0.0.1:8080)\n"
    "      --key KEY           API key (default $TALLY_API_KEY; prefer the variable:\n"
    "                          a flag is visible to other users in ps)\n"
    "      --timeout S         give up after S seconds (default 30)\n";

void tally__api_conn_defaults(api_conn *c, const char *command) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    *c = (api_conn){
        .command = command, .api = cfg.http_addr, .key = getenv("TALLY_API_KEY"), .timeout_s = 30};
}

int tally__api_conn_option(api_conn *c, int opt, const char *arg) {
    char *end;
    switch (opt) {
    case API_OPT_API: c->api = arg; return -1;
    case API_OPT_KEY: c->key = arg; return -1;
    case API_OPT_TIMEOUT:
        c->timeout_s = strtod(arg, &end);
        if (*arg == '\0' || *end != '\0' || !(c->timeout_s > 0 && c->timeout_s <= 86400)) {
            fprintf(stderr, "tally %s: --timeout: expected seconds in (0, 86400], got '%s'\n",
                    c->command, arg);
            return 2;
        }
        return -1;
    default: return 0;
    }
}

int tally__api_conn_other_option(api_conn *c, int opt, const char *arg, void (*usage)(FILE *)) {
    int rc = tally__api_conn_option(c, opt, arg);
    if (rc == 0) {
        usage(stderr);
        return 2;
    }
    return rc;
}

const char *tally__api_tenant_operand(const api_conn *c, int argc, char **argv,
                                      void (*usage)(FILE *)) {
    if (argc - optind != 1 || !*argv[optind]) {
        fprintf(stderr, "tally %s: give exactly one TENANT id\n\n", c->command);
        usage(stderr);
        return NULL;
    }
    return argv[optind];
}

int tally__api_conn_check(api_conn *c) {
    if (!c->key || !*c->key) {
        fprintf(stderr, "tally %s: no API key: set TALLY_API_KEY or give --key\n", c->command);
        return 2;
    }
    if (strpbrk(c->key, "\r\n")) {
        fprintf(stderr, "tally %s: the API key contains a line break\n", c->command);
        return 2;
    }
    /* "host:port" or a URL; no trailing slash, so paths join cleanly. */
    char *api = NULL;
    if (asprintf(&api, "%s%s", strstr(c->api, "://") ? "" : "http://", c->api) < 0) {
        fprintf(stderr, "tally %s: out of memory\n", c->command);
        return 1;
    }
    free(c->api_buf);
    c->api_buf = api;
    size_t n = strlen(api);
    while (n > 0 && api[n - 1] == '/') api[--n] = '\0';
    if (!strcmp(api, "http:") || !strcmp(api, "https:") || !*c->api) {
        fprintf(stderr, "tally %s: --api: no host in '%s'\n", c->command, c->api);
        return 2;
    }
    c->api = api;
    return -1;
}

void tally__api_conn_free(api_conn *c) {
    free(c->api_buf);
    c->api_buf = NULL;
}

void tally__api_body_free(api_body *b) {
    free(b->data);
    *b = (api_body){0};
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    api_body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > MAX_BODY) {
        b->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* The request URL: api, the escaped path segments, the query (caller frees);
 * NULL when out of memory. */
static char *build_url(CURL *curl, const char *api, const api_request *req) {
    char *url = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&url, &len);
    if (!f) return NULL;
    bool ok = fputs(api, f) >= 0;
    for (const char *const *seg = req->path; ok && *seg; seg++) {
        char *esc = curl_easy_escape(curl, *seg, 0);
        ok = esc != NULL;
        if (ok) fprintf(f, "/%s", esc);
        curl_free(esc);
    }
    bool first = true;
    for (const api_param *p = req->query; ok && p && p->name; p++) {
        if (!p->value) continue;
        char *esc = curl_easy_escape(curl, p->value, 0);
        ok = esc != NULL;
        if (ok) fprintf(f, "%c%s=%s", first ? '?' : '&', p->name, esc);
        first = false;
        curl_free(esc);
    }
    if (fclose(f) != 0 || !ok) {
        free(url);
        return NULL;
    }
    return url;
}

/* The first line of text s, at most cap - 1 bytes (not cutting a UTF-8
 * sequence), with control characters as '?': the API's words are printed
 * on a terminal and must not drive it. */
static void first_line(const char *s, char *out, size_t cap) {
    const char *src = s ? s : "";
    size_t n = 0;
    while (src[n] && src[n] != '\n' && src[n] != '\r' && n + 1 < cap) {
        unsigned char c = (unsigned char)src[n];
        out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--; /* never half a character */
    out[n] = '\0';
}

static void report_http_error(const api_conn *c, const api_body *b, long status, const char *url) {
    json_t *doc = b->data ? json_loads(b->data, 0, NULL) : NULL;
    /* an RFC 9457 problem's detail (older servers: {"error": "..."}) */
    const char *msg = json_string_value(json_object_get(doc, "detail"));
    if (!msg) msg = json_string_value(json_object_get(doc, "error"));
    char line[301];
    first_line(msg ? msg : b->data, line, sizeof line);
    if (msg)
        fprintf(stderr, "tally %s: %s (HTTP %ld from %s)\n", c->command, line, status, url);
    else
        fprintf(stderr, "tally %s: HTTP %ld from %s%s%s\n", c->command, status, url,
                *line ? ": " : "", line);
    if (status == 401 || status == 403)
        fprintf(stderr, "tally %s: check the key (--key or TALLY_API_KEY)\n", c->command);
    json_decref(doc);
}

/* What went wrong with a finished transfer, said on stderr; 0 when nothing. */
static int judge(const api_conn *c, const api_request *req, const api_body *b, CURLcode cc,
                 long status, const char *url, const char *errbuf) {
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        fprintf(stderr, "tally %s: no complete answer from the Tally API at %s within %g s\n",
                c->command, c->api, c->timeout_s);
    } else if (b->too_big) {
        fprintf(stderr, "tally %s: the answer from %s exceeds %u MiB%s%s\n", c->command, url,
                MAX_BODY >> 20, req->too_big_hint ? "; " : "",
                req->too_big_hint ? req->too_big_hint : "");
    } else if (cc != CURLE_OK) {
        fprintf(stderr,
                "tally %s: cannot reach the Tally API at %s: %s\n"
                "  (GET %s; is tally-api running there? see --api and TALLY_HTTP_ADDR)\n",
                c->command, c->api, *errbuf ? errbuf : curl_easy_strerror(cc), url);
    } else if (status < 200 || status > 299) {
        report_http_error(c, b, status, url);
    } else {
        return 0;
    }
    return 1;
}

static int get(const api_conn *c, const api_request *req, api_body *b) {
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "tally %s: cannot initialise libcurl\n", c->command);
        return 1;
    }
    int rc = 1;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char *auth = NULL, *accept = NULL, *agent = NULL;
    char *url = build_url(curl, c->api, req);
    if (!url || asprintf(&auth, "Authorization: Bearer %s", c->key) < 0) auth = NULL;
    if (auth && asprintf(&accept, "Accept: %s", req->accept) < 0) accept = NULL;
    if (accept && asprintf(&agent, "tally-%s/%s", c->command, TALLY_VERSION) < 0) agent = NULL;
    headers = agent ? curl_slist_append(NULL, auth) : NULL;
    if (!headers || !curl_slist_append(headers, accept)) {
        fprintf(stderr, "tally %s: out of memory\n", c->command);
        goto done;
    }
    long timeout_ms = (long)(c->timeout_s * 1000.0);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif

    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    rc = judge(c, req, b, cc, status, url, errbuf);
done:
    curl_slist_free_all(headers);
    free(agent);
    free(accept);
    free(auth);
    free(url);
    curl_easy_cleanup(curl);
    return rc;
}

int tally__api_get(const api_conn *c, const api_request *req, api_body *b) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tally %s: cannot initialise libcurl\n", c->command);
        return 1;
    }
    int rc = get(c, req, b);
    curl_global_cleanup();
    return rc;
}

json_t *tally__api_body_json(const api_conn *c, const api_body *b) {
    json_error_t jerr;
    json_t *doc = json_loads(b->data ? b->data : "", 0, &jerr);
    if (!doc)
        fprintf(stderr, "tally %s: the API's answer is not JSON (%s, line %d)\n", c->command,
                jerr.text, jerr.line);
    return doc;
}

char *tally__api_json_text(const api_conn *c, const json_t *doc) {
    /* 15 significant digits print every 6-decimal amount below 10^9 exactly
     * as sent, where jansson's default 17 would print 1.2466 as
     * 1.2466000000000001. */
    char *dumped = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    char *text = NULL;
    if (dumped && asprintf(&text, "%s\n", dumped) < 0) text = NULL;
    free(dumped);
    if (!text) fprintf(stderr, "tally %s: out of memory\n", c->command);
    return text;
}

char *tally__api_render_json(const api_conn *c, const api_body *b, bool json,
                             char *(*table)(const json_t *doc, tally_err *err)) {
    json_t *doc = tally__api_body_json(c, b);
    if (!doc) return NULL;
    char *text = NULL;
    if (json) {
        text = tally__api_json_text(c, doc);
    } else {
        tally_err err = {0};
        text = table(doc, &err);
        if (!text) fprintf(stderr, "tally %s: %s\n", c->command, err.msg);
    }
    json_decref(doc);
    return text;
}

int tally__api_fetch_print(const api_conn *c, const api_request *req,
                           char *(*render)(const void *arg, const api_body *b), const void *arg,
                           const char *output) {
    api_body body = {0};
    int rc = tally__api_get(c, req, &body);
    if (rc == 0) {
        char *text = render(arg, &body);
        rc = text ? tally__write_text(c->command, output, text) : 1;
        free(text);
    }
    tally__api_body_free(&body);
    return rc;
}
