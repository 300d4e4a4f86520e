/*
 * alerts_itest — what the alerts tests share besides itest.h: HTTP requests
 * (libcurl), tally-api started on a free loopback port, and alert outbox
 * rows written straight with SQL (as tally-aggregate would insert them).
 */
#ifndef TALLY_ALERTS_ITEST_H
#define TALLY_ALERTS_ITEST_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "itest.h"

typedef struct {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
} alerts_http;

/* One request (body NULL: none); key NULL: no Authorization header. */
alerts_http alerts_http_do(const char *base, const char *method, const char *path, const char *key,
                           const char *body);
/* The body as JSON (the test fails when it is not); caller decrefs. */
json_t *alerts_http_json(const alerts_http *r);
void alerts_http_free(alerts_http *r);
/* GET path as admin, expect 200, return the JSON; caller decrefs. */
json_t *alerts_get_json(const char *base, const char *path, const char *key);

/* tally-api on 127.0.0.1:<free port> with admin_key; base gets its URL. */
pid_t alerts_start_api(const itest_ctx *ctx, const char *admin_key, const char *log, char *base,
                       size_t base_len);

/* One outbox row. webhook_url NULL: no delivery row; else a
 * webhook_deliveries row too (due now). user_id NULL: the tenant's limit. */
typedef struct {
    const char *alert_id, *tenant_id, *limit_id, *user_id, *metric;
    int threshold;
    const char *limit_value, *used, *crossed_at, *webhook_url;
} alerts_row;
void alerts_insert(const itest_ctx *ctx, const alerts_row *r);

void alerts_sleep_ms(int ms);

#endif
