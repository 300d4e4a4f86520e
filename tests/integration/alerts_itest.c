#include "alerts_itest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <cmocka.h>

void alerts_insert(const itest_ctx *ctx, const alerts_row *r) {
    PGconn *c = PQconnectdb(ctx->pg_url);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("postgresql: %s", PQerrorMessage(c));
    char threshold[16];
    snprintf(threshold, sizeof threshold, "%d", r->threshold);
    const char *p[] = {r->alert_id, r->tenant_id,   r->limit_id, r->user_id,    r->metric,
                       threshold,   r->limit_value, r->used,     r->crossed_at, r->webhook_url};
    PGresult *res = PQexecParams(
        c,
        "WITH o AS (INSERT INTO alert_outbox (alert_id, tenant_id, limit_id, user_id, metric,"
        "   period, period_start, period_end, zone, threshold, limit_value, used, paused,"
        "   crossed_at, webhook_url)"
        " VALUES ($1, $2, $3, $4, $5, 'monthly', '2026-03-01T03:00:00Z', '2026-04-01T03:00:00Z',"
        "   'America/Sao_Paulo', $6::int, $7::numeric, $8::numeric, $6::int >= 100, $9, $10)"
        " RETURNING alert_id, tenant_id, webhook_url)"
        " INSERT INTO webhook_deliveries (alert_id, tenant_id, url)"
        " SELECT alert_id, tenant_id, webhook_url FROM o WHERE webhook_url IS NOT NULL",
        10, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail_msg("insert alert %s: %s", r->alert_id, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}
