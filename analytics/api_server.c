/*
 * api_server — the daemon part of tally-api: libmicrohttpd set up with a
 * pool of worker threads, one request's life (headers, body, route, auth,
 * parameters, handler, log line, metrics) and a graceful stop.
 *
 * libmicrohttpd is told not to decode URLs (an identity unescape callback):
 * the router sees the raw path, so an encoded '/' stays inside its segment,
 * and api_params.c decodes every value itself and refuses what does not
 * decode cleanly instead of cutting it at a "%00".
 *
 * A request's state (api_request) is made on the first call of the access
 * handler and freed by the completion callback, which also writes the one
 * log line per request (the metrics count an answer when it is queued).
 * Stopping: quiesce (stop listening), answer with "Connection: close", wait
 * for the requests in flight to complete, then stop the daemon.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "api_internal.h"
#include "tally_common.h"

/* Bytes of a request body, unless the route says otherwise (a batch of
 * POST /v1/events: 1 MiB). Bodies are held in memory before the key is
 * checked, so the bound stays small where nothing bigger is needed. */
#define BODY_MAX_DEFAULT (16 * 1024)
#define LABEL_UNMATCHED "unmatched"

/* ---- one request ---------------------------------------------------------- */

/* The client's X-Request-Id when it is 1-128 characters of letters, digits
 * and - _ . : / + = (what tracing systems send), else one made here: 32 hex
 * digits of randomness. */
static void request_id(struct MHD_Connection *conn, char *out, size_t size) {
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    static const char ok[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+=";
    size_t n = given ? strlen(given) : 0;
    if (n >= 1 && n <= 128 && n < size && strspn(given, ok) == n) {
        memcpy(out, given, n + 1);
        return;
    }
    if (!tally__api_random_token("", 16, out, size)) snprintf(out, size, "-");
}

static api_request *request_new(tally_api *api, struct MHD_Connection *conn, const char *method,
                                const char *url) {
    api_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->api = api;
    r->conn = conn;
    r->start_us = tally_time_monotonic_us();
    snprintf(r->method, sizeof r->method, "%s", method);
    tally_text_quote(url, strlen(url), r->log_path, sizeof r->log_path, true);
    request_id(conn, r->request_id, sizeof r->request_id);
    atomic_fetch_add(&api->in_flight, 1);
    return r;
}

/* Variable i of the path, percent-decoded into r->tenant_id ({tenant_id}),
 * r->user_id ({user_id}) or r->path_id (any other) and held to the id
 * rules; false with a 400 queued naming the variable. */
static bool decode_path_var(api_request *r, const api_path_vars *v, size_t i) {
    /* Longer than any valid id, even fully percent-encoded: the id rule's
     * own message, without decoding it. */
    static const char too_long[] = "must be at most " TALLY_STR(
        TALLY_ID_MAX_LEN) " characters long";
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)v->name_len[i], v->name[i]);
    char buf[3 * TALLY_ID_MAX_BYTES + 1];
    const char *why = NULL;
    size_t n = 0;
    if (v->raw_len[i] > 3 * TALLY_ID_MAX_BYTES)
        why = too_long;
    else if ((n = tally__api_url_decode(v->raw[i], v->raw_len[i], buf, false)) == (size_t)-1)
        why = "malformed percent-encoding";
    else if (n > TALLY_ID_MAX_BYTES)
        why = too_long;
    else
        why = tally_text_id_problem(buf, n);
    if (why) {
        tally__api_reply_error(r, 400, "%s: %s", name, why);
        return false;
    }
    char *to = !strcmp(name, "tenant_id") ? r->tenant_id
               : !strcmp(name, "user_id") ? r->user_id
                                          : r->path_id;
    memcpy(to, buf, n + 1);
    return true;
}

/* Route, authenticate, collect parameters, run the handler. */
static void dispatch(api_request *r, const char *url) {
    api_path_vars vars;
    char allow[64];
    switch (tally__api_route_match(r->method, url, &r->route, &vars, allow, sizeof allow)) {
    case API_MATCH_NO_PATH: tally__api_reply_error(r, 404, "no such route"); return;
    case API_MATCH_NO_METHOD:
        r->extra_header = MHD_HTTP_HEADER_ALLOW;
        r->extra_value = allow;              /* read only by the reply below */
        if (!strcmp(r->method, "OPTIONS")) { /* what the path takes; a CORS preflight */
            tally__api_reply(r, 204, "text/plain", NULL, 0);
            return;
        }
        tally__api_reply_error(r, 405, "method %s not allowed here (allowed: %s)", r->method,
                               allow);
        return;
    case API_MATCH_OK: break;
    }
    if (!tally__api_authenticate(r)) return;
    for (size_t i = 0; i < vars.n; i++)
        if (!decode_path_var(r, &vars, i)) return;
    if (r->route->auth == API_AUTH_TENANT && r->who == API_WHO_TENANT &&
        strcmp(r->who_tenant, r->tenant_id)) {
        tally__api_reply_no_tenant(r); /* another tenant's id: the answer of an unknown one */
        return;
    }
    char msg[300];
    if (!tally__api_params_collect(r->conn, r->route->params, &r->params, msg, sizeof msg)) {
        tally__api_reply_error(r, 400, "%s", msg);
        return;
    }
    r->route->handler(r);
    if (!r->status) tally__api_reply_error(r, 500, "no answer");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    tally_api *api = cls;
    api_request *r = *con_cls;
    if (!r) {
        if (!(r = request_new(api, conn, method, url))) return MHD_NO;
        *con_cls = r;
        const api_route *route;
        api_path_vars vars;
        r->body_max = tally__api_route_match(method, url, &route, &vars, NULL, 0) == API_MATCH_OK &&
                              route->body_max
                          ? route->body_max
                          : BODY_MAX_DEFAULT;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > r->body_max) { /* refuse before reading it */
            tally__api_reply_error(r, 413, "body: too large (at most %zu bytes)", r->body_max);
            return r->mhd;
        }
        return MHD_YES; /* the next call brings the body, or its end */
    }
    if (*upload_data_size) {
        if (r->body.len + *upload_data_size > r->body_max)
            r->body_too_large = true;
        else
            tally_buf_append(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->status) return MHD_YES; /* answered already */
    dispatch(r, url);
    return r->mhd;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    tally_api *api = cls;
    api_request *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double secs = (double)(tally_time_monotonic_us() - r->start_us) / 1e6;
    size_t label = r->route ? tally__api_route_index(r->route) : tally_api_routes_count;
    const char *who = r->who == API_WHO_ADMIN ? "admin" : r->who == API_WHO_TENANT ? "tenant" : "-";
    tally_log(r->status >= 500 ? TALLY_LOG_WARN : TALLY_LOG_INFO, "request",
              "method=%s path=\"%s\" route=\"%s\" status=%d duration_ms=%.3f auth=%s "
              "request_id=%s%s",
              r->method, r->log_path, api->labels[label], r->status, secs * 1e3, who, r->request_id,
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
    tally__api_params_free(&r->params);
    tally_buf_free(&r->body);
    free(r);
    atomic_fetch_sub(&api->in_flight, 1);
}

/* The identity: keep the URL and its arguments as they came. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = '\0';
    char safe[600];
    tally_text_quote(line, n, safe, sizeof safe, true);
    tally_warn("http", "detail=\"%s\"", safe);
}

/* ---- start and stop -------------------------------------------------------- */

/* "host:port" or "[v6]:port" into a socket address. */
static bool parse_addr(const char *addr, struct sockaddr_storage *ss, tally_err *err) {
    char host[256];
    const char *colon = strrchr(addr, ':');
    const char *port = colon ? colon + 1 : NULL;
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') addr++, hl -= 2;
    if (!colon || hl == 0 || hl >= sizeof host || !*port ||
        strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535) {
        tally_err_set(err, TALLY_EINVAL, "http address \"%s\": expected host:port", addr);
        return false;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        tally_err_set(err, TALLY_EINVAL, "http address \"%s\": %s", host, gai_strerror(rc));
        return false;
    }
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
}

static void api_free(tally_api *api) {
    if (!api) return;
    tally__api_events_close(api);
    tally__api_lag_free(api->lag);
    tally__api_metrics_free(api->metrics);
    tally_docs_close(api->docs);
    tally__api_pool_free(api->pool);
    free(api);
}

static bool open_parts(tally_api *api, tally_err *err) {
    size_t n = tally_api_routes_count;
    if (n + 1 > API_LABELS_MAX) {
        tally_err_set(err, TALLY_EINVAL, "too many routes");
        return false;
    }
    for (size_t i = 0; i < n; i++) api->labels[i] = tally_api_routes[i].path;
    api->labels[n] = LABEL_UNMATCHED;
    api->metrics = tally__api_metrics_new(api->labels, n + 1);
    api->pool = tally__api_pool_new(api->opt.pg_url, api->opt.threads);
    if (!api->metrics || !api->pool) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return false;
    }
    api->docs = tally_docs_open(api->opt.mongo_url, err);
    if (!api->docs) return false;
    api->lag = tally__api_lag_new(&api->opt, err);
    return api->lag != NULL && tally__api_events_open(api, err);
}

tally_api *tally_api_start(const tally_api_options *opt, tally_err *err) {
    tally_api *api = calloc(1, sizeof *api);
    if (!api) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return NULL;
    }
    api->opt = *opt;
    if (api->opt.threads < 1) api->opt.threads = 1;
    if (opt->admin_key && *opt->admin_key) {
        unsigned int dl = sizeof api->admin_digest;
        api->has_admin = EVP_Digest(opt->admin_key, strlen(opt->admin_key), api->admin_digest, &dl,
                                    EVP_sha256(), NULL) == 1;
    }
    struct sockaddr_storage ss;
    if (!parse_addr(opt->http_addr, &ss, err) || !open_parts(api, err)) {
        api_free(api);
        return NULL;
    }
    /* A thread per connection: a request that waits (for Kafka's answer to
     * POST /v1/events, for a store) holds up its own connection only, never
     * /livez or another client's report. PostgreSQL handles stay `threads`
     * (api_pool.c): a request beyond waits for one. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    api->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        api, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
    if (!api->daemon) {
        tally_err_set(err, TALLY_EIO, "cannot listen on %s (address in use or not ours?)",
                      opt->http_addr);
        api_free(api);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? info->port : 0;
    return api;
}

int tally_api_port(const tally_api *api) { return api->port; }

int tally_api_stop(tally_api *api) {
    atomic_store(&api->draining, true);
    MHD_socket fd = MHD_quiesce_daemon(api->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    int64_t deadline = tally_time_monotonic_us() + (int64_t)api->opt.drain_timeout_ms * 1000;
    int left;
    while ((left = atomic_load(&api->in_flight)) > 0 && tally_time_monotonic_us() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(api->daemon);
    api_free(api);
    return left;
}
