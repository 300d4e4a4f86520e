/*
 * alert_event — an alert as the world sees it: the CloudEvents 1.0 object of
 * one alert_outbox row (schemas/postgres/008_limits.sql), and its JSON text.
 *
 * The same row always gives the same bytes: the event is made from the row's
 * columns alone (never from the clock or from later state such as
 * published_at), jansson keeps keys in insertion order, and numbers are
 * written the one way reports write them. That is what lets the topic, the
 * webhook bodies and the API agree on every byte of an alert.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* An amount: brl (money) rounded half-even to 6 places and written as a JSON
 * real with 15 significant digits (analytics/report.c's rule); requests and
 * tokens as integers. A count that is not a whole number (it cannot be, but
 * the column is numeric) is written like money rather than cut. */
json_t *tally_limit_amount_json(const char *metric, const char *text) {
    if (!text) return json_null();
    bool whole = strcmp(metric, "brl") != 0 && text[strspn(text, "-0123456789")] == '\0';
    if (whole) return json_integer(strtoll(text, NULL, 10));
    return tally_decimal_json(text, 6);
}

json_t *tally_alert_event(const tally_alert_row *r) {
    /* The contract's event types: reaching 100 % is "the limit is reached". */
    const char *type = r->threshold >= 100 ? "limit.reached" : "limit.threshold_reached";
    json_t *data = json_object();
    json_t *ev = json_object();
    if (!data || !ev) {
        json_decref(data);
        json_decref(ev);
        return NULL;
    }
    json_object_set_new(data, "tenant_id", json_string(r->tenant_id));
    json_object_set_new(data, "limit_id", json_string(r->limit_id));
    json_object_set_new(data, "user_id", r->user_id ? json_string(r->user_id) : json_null());
    json_object_set_new(data, "metric", json_string(r->metric));
    json_object_set_new(data, "period", json_string(r->period));
    json_object_set_new(data, "period_start", json_string(r->period_start));
    json_object_set_new(data, "period_end", json_string(r->period_end));
    json_object_set_new(data, "threshold", json_integer(r->threshold));
    json_object_set_new(data, "limit", tally_limit_amount_json(r->metric, r->limit_value));
    json_object_set_new(data, "used", tally_limit_amount_json(r->metric, r->used));
    json_object_set_new(data, "paused", json_boolean(r->paused));
    json_object_set_new(data, "crossed_at", json_string(r->crossed_at_local));

    json_object_set_new(ev, "specversion", json_string("1.0"));
    json_object_set_new(ev, "id", json_string(r->alert_id));
    json_object_set_new(ev, "source", json_string("tally"));
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "subject", json_string(r->tenant_id));
    json_object_set_new(ev, "time", json_string(r->crossed_at_utc));
    json_object_set_new(ev, "datacontenttype", json_string("application/json"));
    json_object_set_new(ev, "data", data);
    return ev;
}

char *tally_alert_event_text(const json_t *event) {
    /* 15 significant digits print every 6-place amount below 10^9 exactly;
     * the API answers with the same flags (api_reply.c). */
    return event ? json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
}
