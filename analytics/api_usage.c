/*
 * api_usage — GET /v1/tenants/{tenant_id}/usage: the usage report of
 * CONTRACT.md §3. The parameters were already collected and checked as text
 * (api_params.c); what they mean — dates, granularity, groups, filters, the
 * window — is report.c's to judge, and its codes map to statuses here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "tally_analytics.h"

/* One media range of an Accept header against a type: how specific the
 * match is (3 the type itself, 2 its "type/" wildcard, 1 the any-type
 * wildcard, 0 none) and its q-value. */
static int accept_match(const char *range, size_t len, const char *type, double *q) {
    while (len && (*range == ' ' || *range == '\t')) range++, len--;
    size_t mlen = 0;
    while (mlen < len && range[mlen] != ';') mlen++;
    size_t end = mlen;
    while (end && (range[end - 1] == ' ' || range[end - 1] == '\t')) end--;
    const char *slash = strchr(type, '/');
    int spec = 0;
    if (end == strlen(type) && !strncasecmp(range, type, end))
        spec = 3;
    else if (end == (size_t)(slash - type) + 2 && !strncasecmp(range, type, end - 1) &&
             range[end - 1] == '*')
        spec = 2;
    else if (end == 3 && !strncmp(range, "*/*", 3))
        spec = 1;
    if (!spec) return 0;
    *q = 1.0;
    /* parameters: ";q=0.5" (any other is ignored) */
    for (size_t i = mlen; i < len; i++) {
        if (range[i] != ';') continue;
        size_t j = i + 1;
        while (j < len && (range[j] == ' ' || range[j] == '\t')) j++;
        if (j + 1 < len && (range[j] == 'q' || range[j] == 'Q') && range[j + 1] == '=') {
            char num[8] = "";
            size_t k = 0;
            for (j += 2; j < len && k < sizeof num - 1 && strchr("0123456789.", range[j]); j++)
                num[k++] = range[j];
            char *stop;
            double v = strtod(num, &stop);
            if (k && *stop == '\0' && v >= 0 && v <= 1) *q = v;
        }
    }
    return spec;
}

/* The q-value an Accept header gives a type: that of its most specific
 * matching range (RFC 9110 §12.5.1), 0 when none matches. */
static double accept_q(const char *accept, const char *type, int *spec) {
    double best_q = 0;
    *spec = 0;
    for (const char *p = accept;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        double q = 0;
        int s = accept_match(p, len, type, &q);
        if (s > *spec) *spec = s, best_q = q;
        if (!comma) break;
        p = comma + 1;
    }
    return best_q;
}

/* Whether the answer should be CSV: format=csv, or no format and an Accept
 * header that prefers text/csv to application/json — a higher q, or the
 * same q with text/csv named exactly (JSON is the default, also for the
 * any-type wildcard).
 * false with a reply queued for a bad format. */
static bool wants_csv(api_request *r, bool *csv) {
    const char *format = tally__api_param_get(&r->params, "format");
    if (format) {
        if (strcmp(format, "json") && strcmp(format, "csv")) {
            tally__api_reply_error(r, 400, "format: must be json or csv");
            return false;
        }
        *csv = !strcmp(format, "csv");
        return true;
    }
    const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_ACCEPT);
    *csv = false;
    if (!accept) return true;
    int spec_csv, spec_json;
    double q_csv = accept_q(accept, "text/csv", &spec_csv);
    double q_json = accept_q(accept, "application/json", &spec_json);
    *csv = q_csv > 0 && (q_csv > q_json || (q_csv == q_json && spec_csv == 3));
    return true;
}

/* A file name part: letters, digits, '-', '+', '.' and '_' kept, ':' dropped
 * (2026-03-01T00:00:00-03:00 → 2026-03-01T000000-0300), anything else '_'. */
static void filename_part(tally_buf *b, const char *s, size_t max) {
    for (size_t n = 0; *s && n < max; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ':') continue;
        tally_buf_putc(b, isalnum(c) || strchr("-+._", c) ? (char)c : '_');
        n++;
    }
}

/* The values of a list parameter given once or more, comma-joined in
 * order; NULL when absent. Caller frees. */
static char *joined(const api_params *p, const char *name) {
    tally_buf b = {0};
    bool any = false;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->item[i].name, name)) continue;
        if (any) tally_buf_putc(&b, ',');
        tally_buf_puts(&b, p->item[i].value);
        any = true;
    }
    return any ? b.data : NULL;
}

void tally__api_handle_usage(api_request *r) {
    bool csv = false;
    if (!wants_csv(r, &csv)) return;
    /* filter[<name>]: the collector let through only well-formed names. */
    tally_usage_filter filters[API_PARAMS_MAX];
    size_t n_filters = 0;
    char names[API_PARAMS_MAX][40];
    for (size_t i = 0; i < r->params.n; i++) {
        const api_param *p = &r->params.item[i];
        if (strncmp(p->name, "filter[", 7)) continue;
        snprintf(names[n_filters], sizeof names[n_filters], "%.*s", (int)(strlen(p->name) - 8),
                 p->name + 7);
        filters[n_filters] = (tally_usage_filter){names[n_filters], p->value};
        n_filters++;
    }
    char *group_by = joined(&r->params, "group_by");
    tally_usage_request req = {
        .tenant_id = r->tenant_id,
        .from = tally__api_param_get(&r->params, "from"),
        .to = tally__api_param_get(&r->params, "to"),
        .granularity = tally__api_param_get(&r->params, "granularity"),
        .group_by = group_by,
        .filters = filters,
        .n_filters = n_filters,
    };
    int64_t pending = tally__api_lag_pending(r->api->lag, r->api->pool);
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    json_t *report = NULL;
    tally_code rc = pg ? tally_report_usage(pg, &req, &report, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    free(group_by);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    /* How fresh the numbers are: events not counted yet (docs/api.md). */
    json_object_set_new(report, "pending_events",
                        pending >= 0 ? json_integer(pending) : json_null());
    if (!csv) {
        char *text = tally_report_json_text(report);
        json_decref(report);
        tally__api_reply_json_text(r, 200, text);
        return;
    }
    char *text = tally_report_usage_csv(report);
    /* attachment; filename="usage-<tenant>-<from>-<to>.csv", safe as it
     * stands in any file system and in the quoted string. */
    tally_buf name = {0};
    tally_buf_puts(&name, "attachment; filename=\"usage-");
    filename_part(&name, r->tenant_id, 64);
    tally_buf_putc(&name, '-');
    filename_part(&name, json_string_value(json_object_get(report, "from")), 32);
    tally_buf_putc(&name, '-');
    filename_part(&name, json_string_value(json_object_get(report, "to")), 32);
    tally_buf_puts(&name, ".csv\"");
    json_decref(report);
    if (!text || !name.data) {
        free(text);
        tally_buf_free(&name);
        tally__api_reply_error(r, 500, "cannot write the report as CSV");
        return;
    }
    r->extra_header = MHD_HTTP_HEADER_CONTENT_DISPOSITION;
    r->extra_value = name.data;
    tally__api_reply(r, 200, "text/csv; charset=utf-8", text, strlen(text));
    r->extra_header = r->extra_value = NULL;
    tally_buf_free(&name);
}
