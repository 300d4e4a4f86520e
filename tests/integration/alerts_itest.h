/*
 * alerts_itest — what the alerts tests share besides api_itest.h (HTTP
 * requests, tally-api on a free loopback port): alert outbox rows written
 * straight with SQL (as tally-aggregate would insert them).
 */
#ifndef TALLY_ALERTS_ITEST_H
#define TALLY_ALERTS_ITEST_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "api_itest.h"

/* One outbox row. webhook_url NULL: no delivery row; else a
 * webhook_deliveries row too (due now). user_id NULL: the tenant's limit. */
typedef struct {
    const char *alert_id, *tenant_id, *limit_id, *user_id, *metric;
    int threshold;
    const char *limit_value, *used, *crossed_at, *webhook_url;
} alerts_row;
void alerts_insert(const itest_ctx *ctx, const alerts_row *r);

#endif
