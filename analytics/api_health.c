/*
 * api_health — the routes for operators and orchestrators, all without a key:
 *   GET /livez    the process answers (liveness: restart it when this fails)
 *   GET /readyz   PostgreSQL, MongoDB and Kafka answer (readiness: send it
 *                 traffic only then; POST /v1/events needs Kafka)
 *   GET /healthz  PostgreSQL and MongoDB answer (kept as it was)
 *   GET /metrics  request counts and latencies, consumer lag, alerts, in
 *                 Prometheus text format
 * None says more than "unavailable" about a failing part; the reason goes
 * to the log.
 */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_common.h"

static bool pg_alive(tally_api *api, char *why, size_t len) {
    tally_err err = {0};
    tally_pg *pg = tally__api_pool_get(api->pool, &err);
    tally_code rc = pg ? tally_pg_ping(pg, &err) : TALLY_ESTORE;
    tally__api_pool_put(api->pool, pg, rc != TALLY_OK);
    if (rc != TALLY_OK) tally_text_quote(err.msg, strlen(err.msg), why, len, true);
    return rc == TALLY_OK;
}

static bool mongo_alive(tally_api *api, char *why, size_t len) {
    tally_err err = {0};
    tally_code rc = api->docs ? tally_docs_ping(api->docs, &err) : TALLY_ESTORE;
    if (rc != TALLY_OK) tally_text_quote(err.msg, strlen(err.msg), why, len, true);
    return rc == TALLY_OK;
}

void tally__api_handle_healthz(api_request *r) {
    char pg_why[300] = "", mongo_why[300] = "";
    bool pg = pg_alive(r->api, pg_why, sizeof pg_why);
    bool mongo = mongo_alive(r->api, mongo_why, sizeof mongo_why);
    if (!pg || !mongo)
        tally_warn("unhealthy", "postgresql=\"%s\" mongodb=\"%s\"", pg ? "ok" : pg_why,
                   mongo ? "ok" : mongo_why);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "status", pg && mongo ? "ok" : "unavailable",
                            "postgresql", pg ? "ok" : "unavailable", "mongodb",
                            mongo ? "ok" : "unavailable");
    tally__api_reply_json(r, pg && mongo ? 200 : 503, doc);
}

void tally__api_handle_metrics(api_request *r) {
    tally_buf out = {0};
    tally__api_metrics_render(r->api->metrics, &out);
    tally_buf_puts(&out, "# HELP tally_api_requests_in_flight Requests being served now.\n"
                         "# TYPE tally_api_requests_in_flight gauge\n");
    tally_buf_printf(&out, "tally_api_requests_in_flight %d\n", atomic_load(&r->api->in_flight));
    tally__api_lag_render(r->api->lag, r->api->pool, &out);
    tally__api_alerts_render(r->api->pool, &out);
    tally__api_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
}

void tally__api_handle_livez(api_request *r) {
    tally__api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void tally__api_handle_readyz(api_request *r) {
    char pg_why[300] = "", mongo_why[300] = "", kafka_why[300] = "";
    bool pg = pg_alive(r->api, pg_why, sizeof pg_why);
    bool mongo = mongo_alive(r->api, mongo_why, sizeof mongo_why);
    bool kafka = tally__api_lag_kafka_ready(r->api->lag, kafka_why, sizeof kafka_why);
    bool ready = pg && mongo && kafka;
    if (!ready)
        tally_warn("not ready", "postgresql=\"%s\" mongodb=\"%s\" kafka=\"%s\"", pg ? "ok" : pg_why,
                   mongo ? "ok" : mongo_why, kafka ? "ok" : kafka_why);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "status", ready ? "ok" : "unavailable",
                            "postgresql", pg ? "ok" : "unavailable", "mongodb",
                            mongo ? "ok" : "unavailable", "kafka", kafka ? "ok" : "unavailable");
    tally__api_reply_json(r, ready ? 200 : 503, doc);
}
