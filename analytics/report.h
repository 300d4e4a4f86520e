/*
 * report — the usage report of CONTRACT.md §3 (`GET /v1/tenants/{id}/usage`):
 * parameters in as the strings a request carries, a JSON document out (or
 * CSV made from it). The numbers come from relational/'s rollups × price and
 * FX versions (CONTRACT.md §2); this file owns parameter rules and shapes.
 */
#ifndef TALLY_REPORT_H
#define TALLY_REPORT_H

#include <jansson.h>

#include "tally_err.h"
#include "tally_pg.h"
#include "tally_usage.h"

/* The query parameters, exactly as received (NULL = absent). */
typedef struct {
    const char *tenant_id;
    const char *from, *to;     /* YYYY-MM-DD (tenant's local midnight) or RFC 3339 */
    const char *granularity;   /* total (default) | day | week | month */
    const char *group_by;      /* comma list of model,user,agent,kind,channel */
} tally_usage_request;

/* Build the report. Returns:
 *   TALLY_OK        *out = the report object (caller owns; json_decref)
 *   TALLY_EINVAL    a bad parameter; err->msg names it ("granularity: must be
 *                   one of total, day, week, month") — answer 400
 *   TALLY_ENOTFOUND no such tenant — answer 404
 *   TALLY_ESTORE    PostgreSQL failed — answer 503 */
tally_code tally_report_usage(tally_pg *pg, const tally_usage_request *req, json_t **out,
                              tally_err *err);

/* The report as JSON text: money written with the exact digits it was
 * rounded to (use this, not a bare json_dumps). Caller frees. */
char *tally_report_json_text(const json_t *report);

/* The report as CSV: one header line, then one line per row, the group
 * columns first, then period_start and the metrics. Caller frees. */
char *tally_report_usage_csv(const json_t *report);

#endif
