/*
 * api_erasure — POST /v1/tenants/{tenant_id}/users/{user_id}/erasure: a
 * person asks to be forgotten (LGPD art. 18). The route publishes a
 * `user.erased` event for the pair to the events topic, keyed like any other
 * event of the tenant (so it lands after the tenant's earlier events), and
 * answers 202 {"event_id", "pseudonym"} once Kafka acknowledged it; the
 * consumers do the erasing (docs/architecture.md, "Erasure").
 *
 * The event is built here and then held to the decoder the consumers use,
 * so the route can publish nothing a consumer would refuse. Calling it again
 * publishes another event for the same pair, which changes nothing more:
 * the pseudonym of a pair is stable (an earlier erasure's is reused, even
 * after the secret was rotated), and what was erased stays erased.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "tally_common.h"
#include "tally_stream.h"

/* The pair's pseudonym: that of an earlier erasure of it, else the one the
 * current secret makes. */
static tally_code pseudonym_of(api_request *r, char out[TALLY_PSEUDONYM_SIZE], tally_err *err) {
    const tally_api_options *o = &r->api->opt;
    tally_erasures *known = tally_erasures_new(o->pseudonym_secret, o->pseudonym_secret_previous);
    if (!known) return tally_err_set(err, TALLY_ENOMEM, "out of memory");
    tally_pg *pg = tally__api_pool_get(r->api->pool, err);
    tally_code rc = pg ? tally_erasures_refresh(known, pg, err) : TALLY_ESTORE;
    tally__api_pool_put(r->api->pool, pg, rc == TALLY_ESTORE);
    if (rc == TALLY_OK) {
        /* any erasure of the pair: its time is after the earliest instant */
        const char *earlier = tally_erasures_lookup(known, r->tenant_id, r->user_id, INT64_MIN);
        if (earlier)
            snprintf(out, TALLY_PSEUDONYM_SIZE, "%s", earlier);
        else
            tally_pg_pseudonym(o->pseudonym_secret, r->tenant_id, r->user_id, NULL, out);
    }
    tally_erasures_free(known);
    return rc;
}

/* The user.erased event of the request, as JSON text (malloc'd). */
static char *erasure_event(const api_request *r, const char *event_id) {
    char at[40];
    tally_time_format_utc(tally_time_now_us(), at, sizeof at);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "specversion",
                           "1.0", "id", event_id, "source", "tally-api", "type", "user.erased",
                           "time", at, "subject", r->tenant_id, "datacontenttype",
                           "application/json", "data", "tenant_id", r->tenant_id, "user_id",
                           r->user_id);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return text;
}

void tally__api_handle_erasure(api_request *r) {
    if (!r->api->opt.pseudonym_secret || !*r->api->opt.pseudonym_secret) {
        tally_warn("erasure refused", "why=\"TALLY_PSEUDONYM_SECRET is not set\"");
        tally__api_reply_error(r, 503,
                               "erasure is not configured on this server (no pseudonym secret)");
        return;
    }
    tally_err err = {0};
    char pseudonym[TALLY_PSEUDONYM_SIZE];
    if (pseudonym_of(r, pseudonym, &err) != TALLY_OK) {
        tally__api_reply_failure(r, &err);
        return;
    }
    char event_id[64];
    char *text = tally__api_random_token("erase-", 16, event_id, sizeof event_id)
                     ? erasure_event(r, event_id)
                     : NULL;
    tally_event ev;
    if (!text || tally_event_decode(text, strlen(text), &ev, &err) != TALLY_OK) {
        tally_error("erasure event not made", "error=\"%s\"", text ? err.msg : "out of memory");
        tally__api_reply_error(r, 500, "internal error");
        free(text);
        return;
    }
    api_message m = {tally_event_key(&ev), text, strlen(text)};
    if (tally__api_events_publish(r, &m, 1)) {
        tally_info("erasure published", "event_id=%s pseudonym=%s", event_id, pseudonym);
        tally__api_reply_json(
            r, 202, json_pack("{s:s, s:s}", "event_id", event_id, "pseudonym", pseudonym));
    }
    tally_event_free(&ev);
    free(text);
}
