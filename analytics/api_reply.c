/*
 * tally__api_reply — every response of tally-api goes out through here: JSON
 * unless CSV or Prometheus text was asked for, never cached, gzip-compressed
 * when the client accepts it, with the request's X-Request-Id and the CORS
 * headers of an allowed origin, and the status remembered for the request
 * log and the metrics.
 *
 * Errors are RFC 9457 problem details (application/problem+json):
 *   {"type": "about:blank", "title": "Bad Request", "status": 400,
 *    "detail": "from: must be before to (…)", "param": "from",
 *    "request_id": "…"}
 * `type` is about:blank (the status says it all, RFC 9457 §4.2.1), `title`
 * the status's reason phrase. Every message of the service names what is at
 * fault first ("<name>: <rule>"), so `param` is that leading name, or null
 * when the message does not start with one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_common.h"

void tally__api_reply(api_request *r, int status, const char *content_type, char *body,
                      size_t len) {
    if (r->status) { /* a handler answered twice: keep the first answer */
        free(body);
        return;
    }
    const char *ae = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_ACCEPT_ENCODING);
    char *packed;
    size_t packed_len;
    bool varies = body && len >= API_GZIP_MIN_BYTES; /* compressed for some clients */
    bool gzipped = body && tally__api_accepts_gzip(ae) &&
                   tally__api_gzip(body, len, &packed, &packed_len);
    if (gzipped) {
        free(body);
        body = packed;
        len = packed_len;
    }
    struct MHD_Response *res =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!res) {
        free(body);
        r->status = 500;
        r->mhd = MHD_NO; /* MHD closes the connection */
        return;
    }
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (gzipped) MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (varies) MHD_add_response_header(res, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(res, "X-Request-Id", r->request_id);
    tally__api_cors_headers(r, res);
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
    if (r->extra_header) MHD_add_response_header(res, r->extra_header, r->extra_value);
    if (atomic_load(&r->api->draining))
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    r->mhd = MHD_queue_response(r->conn, (unsigned)status, res);
    MHD_destroy_response(res);
    /* Counted when queued, not when sent: a client that got its answer
     * finds it counted on its next scrape. */
    double secs = (double)(tally_time_monotonic_us() - r->start_us) / 1e6;
    size_t label = r->route ? tally__api_route_index(r->route) : tally_api_routes_count;
    tally__api_metrics_observe(r->api->metrics, label, status, secs);
}

/* 15 significant digits: a decimal that came in as text (a cost, say) goes
 * out as the same text, not as the binary double's 17-digit expansion. */
void tally__api_reply_json(api_request *r, int status, json_t *doc) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(doc);
    tally__api_reply_json_text(r, status, text);
}

/* Queue JSON text (malloc'd, taken over) as one newline-terminated line:
 * curl and shells print it nicely. */
static void reply_json_line(api_request *r, int status, const char *content_type, char *text) {
    size_t len = strlen(text);
    char *body = realloc(text, len + 2);
    if (body) {
        body[len++] = '\n';
        body[len] = '\0';
    } else {
        body = text;
    }
    tally__api_reply(r, status, content_type, body, len);
}

void tally__api_reply_json_text(api_request *r, int status, char *text) {
    if (!text) {
        tally__api_reply_error(r, 500, "cannot encode the answer");
        return;
    }
    reply_json_line(r, status, "application/json", text);
}

/* The leading "<name>: " of a message, when it names a parameter or field:
 * letters, digits and _ . [ ] - only (so "from/to: …" names none). */
static json_t *param_of(const char *msg) {
    size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]-");
    if (n == 0 || n > 64 || msg[n] != ':' || msg[n + 1] != ' ') return json_null();
    return json_stringn(msg, n);
}

void tally__api_reply_error(api_request *r, int status, const char *fmt, ...) {
    char raw[1024], safe[320];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof raw) n = (int)sizeof raw - 1;
    tally_text_quote(raw, (size_t)n, safe, sizeof safe, false);
    const char *title = MHD_get_reason_phrase_for((unsigned)status);
    json_t *doc = json_pack("{s:s, s:s, s:i, s:s, s:o, s:s}", "type", "about:blank", "title",
                            title && *title ? title : "Error", "status", status, "detail", safe,
                            "param", param_of(safe), "request_id", r->request_id);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) { /* out of memory: MHD closes the connection */
        r->status = 500;
        r->mhd = MHD_NO;
        return;
    }
    reply_json_line(r, status, "application/problem+json", text);
}

void tally__api_reply_no_tenant(api_request *r) {
    tally__api_reply_error(r, 404, "tenant not found");
}

void tally__api_reply_failure(api_request *r, const tally_err *err) {
    char why[600];
    tally_text_quote(err->msg, strlen(err->msg), why, sizeof why, true);
    switch (err->code) {
    case TALLY_EINVAL: tally__api_reply_error(r, 400, "%s", err->msg); return;
    case TALLY_ENOTFOUND: tally__api_reply_no_tenant(r); return;
    case TALLY_ESTORE:
        tally_warn("store unavailable", "path=\"%s\" error=\"%s\"", r->log_path, why);
        tally__api_reply_error(r, 503, "a store is unavailable, try again later");
        return;
    default:
        tally_error("request failed", "path=\"%s\" error=\"%s\"", r->log_path, why);
        tally__api_reply_error(r, 500, "internal error");
        return;
    }
}

void tally__api_reply_page(api_request *r, json_t *items, char *next) {
    json_t *doc = json_object();
    json_object_set_new(doc, "items", items);
    json_object_set_new(doc, "next_cursor", next ? json_string(next) : json_null());
    free(next);
    tally__api_reply_json(r, 200, doc);
}
