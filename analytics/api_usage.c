/*
 * api_usage — GET /v1/tenants/{tenant_id}/usage: the usage report of
 * CONTRACT.md §3. The parameters were already collected and checked as text
 * (api_params.c); what they mean — dates, granularity, groups, the window —
 * is report.c's to judge, and its codes map to statuses here.
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_analytics.h"

/* Whether the answer should be CSV: format=csv, or no format and an Accept
 * header that names text/csv. false with a reply queued for a bad format. */
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
    *csv = accept && strstr(accept, "text/csv");
    return true;
}

void tally__api_handle_usage(api_request *r) {
    bool csv = false;
    if (!wants_csv(r, &csv)) return;
    tally_usage_request req = {
        .tenant_id = r->tenant_id,
        .from = tally__api_param_get(&r->params, "from"),
        .to = tally__api_param_get(&r->params, "to"),
        .granularity = tally__api_param_get(&r->params, "granularity"),
        .group_by = tally__api_param_get(&r->params, "group_by"),
    };
    int64_t pending = tally__api_lag_pending(r->api->lag, r->api->pool);
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    json_t *report = NULL;
    tally_code rc = pg ? tally_report_usage(pg, &req, &report, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    /* How fresh the numbers are: events not counted yet (docs/api.md). */
    json_object_set_new(report, "pending_events",
                        pending >= 0 ? json_integer(pending) : json_null());
    char *text = csv ? tally_report_usage_csv(report) : tally_report_json_text(report);
    json_decref(report);
    if (!csv) {
        tally__api_reply_json_text(r, 200, text);
        return;
    }
    if (!text) {
        tally__api_reply_error(r, 500, "cannot write the report as CSV");
        return;
    }
    tally__api_reply(r, 200, "text/csv; charset=utf-8", text, strlen(text));
}
