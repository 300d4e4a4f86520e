/*
 * api_limits — GET /v1/tenants/{tenant_id}/limits: what a gateway asks
 * before it calls a model ("may this tenant, this user, go on?"). The answer
 * is limits_report.c's; pending_events comes from the cached consumer lag so
 * that the hot path never waits on Kafka.
 */
#include "api_internal.h"
#include "tally_analytics.h"

void tally__api_handle_limits(api_request *r) {
    tally_limits_request req = {
        .tenant_id = r->tenant_id,
        .user_id = tally__api_param_get(&r->params, "user_id"),
        .at = tally__api_param_get(&r->params, "at"),
    };
    /* Before taking a handle: a refresh of the lag takes one of its own. */
    int64_t pending = tally__api_lag_pending(r->api->lag, r->api->pool);
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(r->api->pool, &err);
    json_t *answer = NULL;
    tally_code rc = pg ? tally_limits_report(pg, &req, pending, &answer, &err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    tally__api_reply_json_text(r, 200, tally_report_json_text(answer));
    json_decref(answer);
}
