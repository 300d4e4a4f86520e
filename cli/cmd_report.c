/*
 * tally report — pull a tenant's usage report from a Tally API
 * (`GET /v1/tenants/{id}/usage`, CONTRACT.md §3) and print it: an aligned
 * table for people, the API's JSON pretty-printed, or its CSV as sent.
 *
 * This is the distributor's side of the API, so it talks HTTP only (libcurl)
 * and needs none of the stores. The output file is written only once the
 * whole answer has arrived and made sense: a failed pull never clobbers the
 * previous report.
 *
 * Exit status: 0 printed; 1 the API refused or could not be reached, or the
 * output could not be written; 2 bad usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_table.h"
#include "tally_cli.h"
#include "tally_common.h"

/* An answer larger than this is not a report this tool can print. */
#define MAX_BODY (256u << 20)

typedef struct {
    const char *tenant, *from, *to, *granularity, *group_by, *format, *output, *api, *key;
    double timeout_s;
} report_opts;

/* The response body, grown as it arrives; NUL-terminated. Owner: run(). */
typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} body_buf;

static void usage(FILE *out) {
    fprintf(out,
            "usage: tally report TENANT [options]\n\n"
            "Pull TENANT's usage report from a Tally API (GET /v1/tenants/TENANT/usage)\n"
            "and print it.\n\n"
            "Options:\n"
            "      --from D            start of the window, inclusive: YYYY-MM-DD (midnight in\n"
            "                          the tenant's time zone) or an RFC 3339 time\n"
            "      --to D              end of the window, exclusive (default: the API's, the\n"
            "                          current month in the tenant's zone)\n"
            "  -g, --granularity G     total (default) | day | week | month\n"
            "  -G, --group-by LIST     comma list of model, user, agent, kind, channel\n"
            "  -f, --format F          table (default) | csv | json\n"
            "  -o, --output FILE       write there instead of stdout (only on success)\n"
            "      --api URL           the API (default http://$TALLY_HTTP_ADDR, which\n"
            "                          defaults to http://127.0.0.1:8080)\n"
            "      --key KEY           API key (default $TALLY_API_KEY; prefer the variable:\n"
            "                          a flag is visible to other users in ps)\n"
            "      --timeout S         give up after S seconds (default 30)\n"
            "  -h, --help              this text\n\n"
            "Exit status: 0 printed; 1 the API answered an error or could not be reached;\n"
            "2 bad usage.\n");
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    body_buf *b = userdata;
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

/* Append "name=escaped(value)" to the query when value was given. */
static bool add_param(FILE *url, CURL *curl, bool *first, const char *name, const char *value) {
    if (!value) return true;
    char *esc = curl_easy_escape(curl, value, 0);
    if (!esc) return false;
    fprintf(url, "%c%s=%s", *first ? '?' : '&', name, esc);
    *first = false;
    curl_free(esc);
    return true;
}

/* The request URL (caller frees), or NULL when out of memory. */
static char *build_url(CURL *curl, const report_opts *o) {
    char *url = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&url, &len);
    if (!f) return NULL;
    char *tenant = curl_easy_escape(curl, o->tenant, 0);
    bool first = true, ok = tenant != NULL;
    if (ok) fprintf(f, "%s/v1/tenants/%s/usage", o->api, tenant);
    curl_free(tenant);
    ok = ok && add_param(f, curl, &first, "from", o->from) &&
         add_param(f, curl, &first, "to", o->to) &&
         add_param(f, curl, &first, "granularity", o->granularity) &&
         add_param(f, curl, &first, "group_by", o->group_by) &&
         add_param(f, curl, &first, "format", strcmp(o->format, "csv") ? NULL : "csv");
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

static void report_http_error(const body_buf *b, long status, const char *url) {
    json_t *doc = b->data ? json_loads(b->data, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(doc, "error"));
    char line[301];
    first_line(msg ? msg : b->data, line, sizeof line);
    if (msg)
        fprintf(stderr, "tally report: %s (HTTP %ld from %s)\n", line, status, url);
    else
        fprintf(stderr, "tally report: HTTP %ld from %s%s%s\n", status, url, *line ? ": " : "",
                line);
    if (status == 401 || status == 403)
        fprintf(stderr, "tally report: check the key (--key or TALLY_API_KEY)\n");
    json_decref(doc);
}

/* GET the report into b. Returns 0, or 1 after saying why on stderr. */
static int fetch(const report_opts *o, body_buf *b) {
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "tally report: cannot initialise libcurl\n");
        return 1;
    }
    int rc = 1;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char *auth = NULL;
    char *url = build_url(curl, o);
    if (!url || asprintf(&auth, "Authorization: Bearer %s", o->key) < 0) {
        auth = NULL;
        fprintf(stderr, "tally report: out of memory\n");
        goto done;
    }
    const char *accept = strcmp(o->format, "csv") ? "Accept: application/json" : "Accept: text/csv";
    headers = curl_slist_append(NULL, auth);
    if (!headers || !curl_slist_append(headers, accept)) {
        fprintf(stderr, "tally report: out of memory\n");
        goto done;
    }
    long timeout_ms = (long)(o->timeout_s * 1000.0);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tally-report/0.1.0");
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
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        fprintf(stderr, "tally report: no complete answer from the Tally API at %s within %g s\n",
                o->api, o->timeout_s);
    } else if (b->too_big) {
        fprintf(stderr, "tally report: the answer from %s exceeds %u MiB; narrow the window\n", url,
                MAX_BODY >> 20);
    } else if (cc != CURLE_OK) {
        fprintf(stderr,
                "tally report: cannot reach the Tally API at %s: %s\n"
                "  (GET %s; is tally-api running there? see --api and TALLY_HTTP_ADDR)\n",
                o->api, *errbuf ? errbuf : curl_easy_strerror(cc), url);
    } else if (status < 200 || status > 299) {
        report_http_error(b, status, url);
    } else {
        rc = 0;
    }
done:
    curl_slist_free_all(headers);
    free(auth);
    free(url);
    curl_easy_cleanup(curl);
    return rc;
}

/* The text to print for a 2xx body (caller frees), or NULL after saying why. */
static char *render(const report_opts *o, const body_buf *b) {
    if (!strcmp(o->format, "csv")) return strdup(b->data ? b->data : "");
    json_error_t jerr;
    json_t *doc = json_loads(b->data ? b->data : "", 0, &jerr);
    if (!doc) {
        fprintf(stderr, "tally report: the API's answer is not JSON (%s, line %d)\n", jerr.text,
                jerr.line);
        return NULL;
    }
    char *text = NULL;
    if (!strcmp(o->format, "json")) {
        /* 15 significant digits print every 6-decimal amount below 10^9
         * exactly as sent, where jansson's default 17 would print
         * 1.2466 as 1.2466000000000001. */
        char *dumped = json_dumps(doc,
                                  JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        if (dumped && asprintf(&text, "%s\n", dumped) < 0) text = NULL;
        free(dumped);
        if (!text) fprintf(stderr, "tally report: out of memory\n");
    } else {
        tally_err err = {0};
        text = tally_report_table(doc, &err);
        if (!text) fprintf(stderr, "tally report: %s\n", err.msg);
    }
    json_decref(doc);
    return text;
}

static int write_output(const char *path, const char *text) {
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "tally report: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, out) == n;
    ok = (path ? fclose(out) == 0 : fflush(out) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "tally report: cannot write %s: %s\n", path ? path : "stdout",
                strerror(errno));
        return 1;
    }
    return 0;
}

static bool one_of(const char *s, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (!strcmp(s, *allowed)) return true;
    return false;
}

/* Fill o from the arguments. Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, report_opts *o, char **api_buf) {
    enum { O_FROM = 256, O_TO, O_API, O_KEY, O_TIMEOUT };
    static const struct option opts[] = {{"from", required_argument, 0, O_FROM},
                                         {"to", required_argument, 0, O_TO},
                                         {"granularity", required_argument, 0, 'g'},
                                         {"group-by", required_argument, 0, 'G'},
                                         {"format", required_argument, 0, 'f'},
                                         {"output", required_argument, 0, 'o'},
                                         {"api", required_argument, 0, O_API},
                                         {"key", required_argument, 0, O_KEY},
                                         {"timeout", required_argument, 0, O_TIMEOUT},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    static const char *const granularities[] = {"total", "day", "week", "month", NULL};
    static const char *const formats[] = {"table", "csv", "json", NULL};
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "g:G:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case O_FROM: o->from = optarg; break;
        case O_TO: o->to = optarg; break;
        case 'g': o->granularity = optarg; break;
        case 'G': o->group_by = optarg; break;
        case 'f': o->format = optarg; break;
        case 'o': o->output = optarg; break;
        case O_API: o->api = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_TIMEOUT:
            o->timeout_s = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o->timeout_s > 0 && o->timeout_s <= 86400)) {
                fprintf(stderr,
                        "tally report: --timeout: expected seconds in (0, 86400], got "
                        "'%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1 || !*argv[optind]) {
        fprintf(stderr, "tally report: give exactly one TENANT id\n\n");
        usage(stderr);
        return 2;
    }
    o->tenant = argv[optind];
    if (o->granularity && !one_of(o->granularity, granularities)) {
        fprintf(stderr, "tally report: --granularity: one of total, day, week, month\n");
        return 2;
    }
    if (!one_of(o->format, formats)) {
        fprintf(stderr, "tally report: --format: one of table, csv, json\n");
        return 2;
    }
    if (!o->key || !*o->key) {
        fprintf(stderr, "tally report: no API key: set TALLY_API_KEY or give --key\n");
        return 2;
    }
    if (strpbrk(o->key, "\r\n")) {
        fprintf(stderr, "tally report: the API key contains a line break\n");
        return 2;
    }
    /* "host:port" or a URL; no trailing slash, so paths join cleanly. */
    if (asprintf(api_buf, "%s%s", strstr(o->api, "://") ? "" : "http://", o->api) < 0) {
        *api_buf = NULL;
        fprintf(stderr, "tally report: out of memory\n");
        return 1;
    }
    size_t n = strlen(*api_buf);
    while (n > 0 && (*api_buf)[n - 1] == '/') (*api_buf)[--n] = '\0';
    if (!strcmp(*api_buf, "http:") || !strcmp(*api_buf, "https:") || !*o->api) {
        fprintf(stderr, "tally report: --api: no host in '%s'\n", o->api);
        return 2;
    }
    o->api = *api_buf;
    return -1;
}

int tally_cmd_report(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    const char *env_key = getenv("TALLY_API_KEY");
    report_opts o = {.format = "table", .api = cfg.http_addr, .key = env_key, .timeout_s = 30};
    char *api_buf = NULL;
    int rc = parse_args(argc, argv, &o, &api_buf);
    if (rc >= 0) {
        free(api_buf);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tally report: cannot initialise libcurl\n");
        free(api_buf);
        return 1;
    }
    body_buf body = {0};
    rc = fetch(&o, &body);
    if (rc == 0) {
        char *text = render(&o, &body);
        rc = text ? write_output(o.output, text) : 1;
        free(text);
    }
    free(body.data);
    free(api_buf);
    curl_global_cleanup();
    return rc;
}
