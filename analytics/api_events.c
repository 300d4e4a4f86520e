/*
 * api_events — POST /v1/events: CloudEvents over HTTP, for services that
 * would rather not run a Kafka producer of their own.
 *
 *   Content-Type: application/cloudevents+json        one event (structured mode)
 *   Content-Type: application/cloudevents-batch+json  a JSON array of 1..1000 events
 *
 * Every event is checked by the decoder the consumers use
 * (tally_event_decode) on its own bytes, exactly as sent, and published
 * unchanged to the events topic keyed by tally_event_key(): what reaches
 * Kafka is what a producer of its own would have written. The answer (202)
 * waits until Kafka has acknowledged every event published for this request
 * (api_producer.c); when it did not (Kafka down, a delivery failed), the
 * answer is 503 with Retry-After for the whole request, and the client sends
 * it again: the event ids make the repeat harmless.
 *
 * A batch answers per event: the valid ones are published, each invalid one
 * comes back with the decoder's reason, and none of them is half-published
 * (either all the valid ones were acknowledged, or the answer is a 503).
 *
 * Tenant keys publish only their own tenant's events: `subject` must be the
 * key's tenant, and so must `data.tenant_id` where the type has one (the
 * decoder holds the two equal on interactions and feedback only). Global
 * events (no subject; global plans and prices; exchange rates) are for the
 * admin key alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "tally_common.h"
#include "tally_stream.h"

#define BATCH_MAX 1000
#define TYPE_ONE "application/cloudevents+json"
#define TYPE_BATCH "application/cloudevents-batch+json"
#define REASON_MAX sizeof(((tally_err *)0)->msg)

typedef enum { MODE_NONE, MODE_ONE, MODE_BATCH } body_mode;

/* ---- the producer's life, with the server's ------------------------------- */

bool tally__api_events_open(tally_api *api, tally_err *err) {
    api->producer = NULL;
    if (!api->opt.brokers || !*api->opt.brokers || !api->opt.topic || !*api->opt.topic)
        return true; /* nowhere to publish: the route answers 503 */
    api->producer = tally__api_producer_new(api->opt.brokers, api->opt.topic, err);
    return api->producer != NULL;
}

void tally__api_events_close(tally_api *api) {
    tally__api_producer_free(api->producer);
    api->producer = NULL;
}

/* ---- what may be published ------------------------------------------------- */

/* The media type of the request (parameters such as "; charset=utf-8" are
 * fine); MODE_NONE with a 415 queued when it is neither of ours. */
static body_mode mode_of(api_request *r) {
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *p = ct ? ct : "";
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, "; \t");
    const char *rest = p + n;
    while (*rest == ' ' || *rest == '\t') rest++;
    if (!*rest || *rest == ';') {
        if (n == strlen(TYPE_ONE) && !strncasecmp(p, TYPE_ONE, n)) return MODE_ONE;
        if (n == strlen(TYPE_BATCH) && !strncasecmp(p, TYPE_BATCH, n)) return MODE_BATCH;
    }
    char got[80];
    tally_text_quote(p, strlen(p), got, sizeof got, true);
    tally__api_reply_error(r, 415,
                           "Content-Type: must be " TYPE_ONE " (one event) or " TYPE_BATCH
                           " (a JSON array of events)%s%s%s",
                           ct ? ", not \"" : " (none was sent)", ct ? got : "", ct ? "\"" : "");
    return MODE_NONE;
}

/* data.tenant_id of an event whose type has one (NULL: absent, a global
 * plan or price); *has is false for types without the field (fx.rate_set). */
static const char *data_tenant(const tally_event *ev, bool *has) {
    *has = true;
    switch (ev->type) {
    case TALLY_EV_TENANT_UPSERTED: return ev->u.tenant.tenant_id;
    case TALLY_EV_USER_UPSERTED: return ev->u.user.tenant_id;
    case TALLY_EV_PLAN_UPSERTED: return ev->u.plan.tenant_id;
    case TALLY_EV_SUBSCRIPTION_UPSERTED: return ev->u.subscription.tenant_id;
    case TALLY_EV_MODEL_PRICED: return ev->u.price.tenant_id;
    case TALLY_EV_BUDGET_SET: return ev->u.budget.tenant_id;
    case TALLY_EV_INTERACTION_RECORDED: return ev->u.interaction.tenant_id;
    case TALLY_EV_FEEDBACK_RECORDED: return ev->u.feedback.tenant_id;
    case TALLY_EV_USER_ERASED: return ev->u.erased.tenant_id;
    case TALLY_EV_FX_RATE_SET:
    case TALLY_EV__COUNT: break;
    }
    *has = false;
    return NULL;
}

/* Whether a key of `tenant` may publish ev; when not, why (naming the
 * field) in why. */
static bool tenant_may_publish(const tally_event *ev, const char *tenant, char *why,
                               size_t why_len) {
    char mine[160], theirs[160]; /* quoted ids, cut when longer */
    tally_text_quote(tenant, strlen(tenant), mine, sizeof mine, true);
    const char *type = tally_event_type_name(ev->type);
    if (ev->type == TALLY_EV_USER_ERASED) {
        /* its time bounds what is erased (everything of the user before it,
         * and every replayed event before it, for good): the erasure route
         * sets it on the server, a tenant key does not choose it */
        snprintf(why, why_len,
                 "type: a tenant key requests an erasure with POST "
                 "/v1/tenants/{tenant_id}/users/{user_id}/erasure, not as an event");
        return false;
    }
    if (!ev->subject) {
        snprintf(why, why_len,
                 "subject: is required with a tenant key (an event without one is global, for "
                 "the admin key only)");
        return false;
    }
    if (strcmp(ev->subject, tenant)) {
        tally_text_quote(ev->subject, strlen(ev->subject), theirs, sizeof theirs, true);
        snprintf(why, why_len,
                 "subject: a tenant key publishes only its own tenant's events (\"%s\" is not "
                 "\"%s\")",
                 theirs, mine);
        return false;
    }
    bool has;
    const char *t = data_tenant(ev, &has);
    if (!has) {
        snprintf(why, why_len, "type: %s is global, for the admin key only", type);
        return false;
    }
    if (!t) {
        snprintf(why, why_len,
                 "data.tenant_id: is required with a tenant key (without it the %s is global, "
                 "for the admin key only)",
                 type);
        return false;
    }
    if (strcmp(t, tenant)) {
        tally_text_quote(t, strlen(t), theirs, sizeof theirs, true);
        snprintf(why, why_len,
                 "data.tenant_id: a tenant key publishes only its own tenant's events (\"%s\" is "
                 "not \"%s\")",
                 theirs, mine);
        return false;
    }
    return true;
}

/* Decode one event's bytes and hold it to the caller's key; false with the
 * reason (naming the field) and *forbidden when only the key is at fault. */
static bool check_event(const api_request *r, const char *buf, size_t len, tally_event *ev,
                        char *why, size_t why_len, bool *forbidden) {
    tally_err err = {0};
    *forbidden = false;
    if (tally_event_decode(buf, len, ev, &err) != TALLY_OK) {
        snprintf(why, why_len, "%s", err.msg);
        return false;
    }
    if (r->who == API_WHO_TENANT && !tenant_may_publish(ev, r->who_tenant, why, why_len)) {
        tally_event_free(ev);
        *forbidden = true;
        return false;
    }
    return true;
}

/* ---- publishing ------------------------------------------------------------ */

/* 503 with Retry-After: Kafka did not take everything (or there is none). */
static void reply_unavailable(api_request *r, const char *detail, size_t events) {
    char safe[600];
    tally_text_quote(detail, strlen(detail), safe, sizeof safe, true);
    tally_warn("events not published", "path=\"%s\" events=%zu error=\"%s\"", r->log_path, events,
               safe);
    r->extra_header = "Retry-After";
    r->extra_value = tally__api_producer_retry_after();
    tally__api_reply_error(r, 503,
                           "the events topic did not acknowledge the events in time, send them "
                           "again later (their ids make a repeat harmless)");
}

bool tally__api_events_publish(api_request *r, const api_message *m, size_t n) {
    if (n == 0) return true; /* every event of the batch rejected: nothing to wait for */
    if (!r->api->producer) {
        reply_unavailable(r, "no Kafka brokers or events topic configured", n);
        return false;
    }
    tally_err err = {0};
    if (tally__api_producer_send(r->api->producer, m, n, &err) != TALLY_OK) {
        reply_unavailable(r, err.msg, n);
        return false;
    }
    return true;
}

static void publish_one(api_request *r) {
    const char *body = r->body.data ? r->body.data : "";
    tally_event ev;
    char why[REASON_MAX];
    bool forbidden;
    if (!check_event(r, body, r->body.len, &ev, why, sizeof why, &forbidden)) {
        tally__api_reply_error(r, forbidden ? 403 : 400, "%s", why);
        return;
    }
    api_message m = {tally_event_key(&ev), body, r->body.len};
    if (tally__api_events_publish(r, &m, 1)) {
        tally_debug("events published", "mode=one events=1 accepted=1 rejected=0 who=%s",
                    r->who == API_WHO_ADMIN ? "admin" : "tenant");
        json_t *doc = json_object();
        json_object_set_new(doc, "id", json_string(ev.id));
        json_object_set_new(doc, "status", json_string("accepted"));
        tally__api_reply_json(r, 202, doc);
    }
    tally_event_free(&ev);
}

typedef struct {
    size_t off, len;
} span;

static size_t skip_space(const char *s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* The closing quote of the string opening at s[open], or len. memchr finds
 * each candidate quote (most of a body is the text of strings); a quote
 * after an odd run of backslashes is escaped, and the search goes on. */
static size_t string_end(const char *s, size_t len, size_t open) {
    size_t i = open + 1;
    for (;;) {
        const char *q = i < len ? memchr(s + i, '"', len - i) : NULL;
        if (!q) return len;
        size_t at = (size_t)(q - s), slashes = 0;
        while (at - slashes > open + 1 && s[at - slashes - 1] == '\\') slashes++;
        if (slashes % 2 == 0) return at;
        i = at + 1;
    }
}

/* The end (one past) of the JSON value starting at s[i], judged only as far
 * as finding where it ends: strings with their escapes, brackets balanced
 * outside strings. Whether the value itself is valid JSON is the decoder's
 * to say, per event. 0 when it does not end within the body. */
static size_t value_end(const char *s, size_t len, size_t i) {
    int depth = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            i = string_end(s, len, i);
            if (i >= len) return 0;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return i; /* the batch's own ']' ends a scalar */
            if (--depth == 0) return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            return i;
        }
        if (depth == 0 && c == '"') return i + 1;
    }
    return depth == 0 ? i : 0;
}

/* The bytes of each element of the batch, a JSON array, without parsing the
 * elements: the body is parsed once, element by element, by the decoder
 * (which names what is wrong with each), not a second time as a whole.
 * false with why when the body is not an array of values; *n may exceed
 * cap (then only cap spans are filled: the caller refuses the batch). */
static bool split_batch(const char *s, size_t len, span *out, size_t cap, size_t *n, char *why,
                        size_t why_len) {
    size_t i = skip_space(s, len, 0);
    *n = 0;
    if (i >= len || s[i] != '[') {
        snprintf(why, why_len, "body: must be a JSON array of events");
        return false;
    }
    i = skip_space(s, len, i + 1);
    if (i < len && s[i] == ']')
        return skip_space(s, len, i + 1) == len ||
               (snprintf(why, why_len, "body: text after the array"), false);
    for (;;) {
        size_t end = i < len ? value_end(s, len, i) : 0;
        if (end <= i) {
            snprintf(why, why_len, "body: invalid JSON: element %zu does not end", *n);
            return false;
        }
        if (*n < cap) out[*n] = (span){i, end - i};
        (*n)++;
        i = skip_space(s, len, end);
        if (i < len && s[i] == ',') {
            i = skip_space(s, len, i + 1);
            continue;
        }
        if (i < len && s[i] == ']') break;
        snprintf(why, why_len, "body: invalid JSON: expected ',' or ']' after element %zu", *n - 1);
        return false;
    }
    if (skip_space(s, len, i + 1) != len) {
        snprintf(why, why_len, "body: text after the array");
        return false;
    }
    return true;
}

/* One event of a batch: its verdict, and where its id and key (accepted) or
 * its reason (rejected) are kept in the batch's `names`. Each event is freed
 * as soon as it is judged, so the decoder reuses one document's memory for
 * the whole batch. */
typedef struct {
    bool valid;
    size_t id, key, why; /* offsets into names */
} batch_item;

static size_t keep_name(tally_buf *names, const char *s) {
    size_t at = names->len;
    tally_buf_append(names, s, strlen(s) + 1); /* the NUL too */
    return at;
}

/* The result entry of item i: index, id (the decoded one, else a string
 * "id" member of the element if it parses as an object with one, else
 * null), status, error. Accepted entries — nearly all of them — are written
 * straight as text; a rejected one goes through jansson, which escapes
 * whatever the element held. */
static void put_result(tally_buf *out, size_t i, const batch_item *it, const char *names,
                       const char *elem, size_t elem_len) {
    if (it->valid) { /* an id has no control characters (the decoder's rule) */
        tally_buf_printf(out, "{\"index\":%zu,\"id\":\"", i);
        for (const char *c = names + it->id; *c; c++) {
            if (*c == '"' || *c == '\\') tally_buf_putc(out, '\\');
            tally_buf_putc(out, *c);
        }
        tally_buf_puts(out, "\",\"status\":\"accepted\"}");
        return;
    }
    json_t *res = json_object();
    json_object_set_new(res, "index", json_integer((json_int_t)i));
    json_t *id = json_null();
    json_t *parsed = json_loadb(elem, elem_len, JSON_DECODE_ANY, NULL);
    json_t *raw_id = json_object_get(parsed, "id"); /* NULL unless an object */
    if (json_is_string(raw_id)) id = json_incref(raw_id);
    json_decref(parsed);
    json_object_set_new(res, "id", id);
    json_object_set_new(res, "status", json_string("rejected"));
    json_object_set_new(res, "error", json_string(names + it->why));
    char *text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    if (text)
        tally_buf_puts(out, text);
    else /* out of memory: the entry still says what happened, without detail */
        tally_buf_printf(out,
                         "{\"index\":%zu,\"id\":null,\"status\":\"rejected\","
                         "\"error\":\"out of memory while describing the error\"}",
                         i);
    free(text);
}

static void publish_batch(api_request *r) {
    const char *body = r->body.data ? r->body.data : "";
    span *spans = calloc(BATCH_MAX, sizeof *spans);
    batch_item *items = NULL;
    api_message *msgs = NULL;
    tally_buf names = {0};
    size_t n = 0;
    char why[REASON_MAX];
    if (!spans) {
        tally__api_reply_error(r, 500, "out of memory");
        goto done;
    }
    if (!split_batch(body, r->body.len, spans, BATCH_MAX, &n, why, sizeof why))
        tally__api_reply_error(r, 400, "%s", why);
    else if (n == 0)
        tally__api_reply_error(r, 400, "body: a batch must hold at least one event");
    else if (n > BATCH_MAX)
        tally__api_reply_error(r, 400, "body: a batch holds at most %d events (this one has %zu)",
                               BATCH_MAX, n);
    else if (!(items = calloc(n, sizeof *items)) || !(msgs = calloc(n, sizeof *msgs)))
        tally__api_reply_error(r, 500, "out of memory");
    if (r->status) goto done;
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        bool forbidden;
        tally_event ev;
        batch_item *it = &items[i];
        it->valid = check_event(r, body + spans[i].off, spans[i].len, &ev, why, sizeof why,
                                &forbidden);
        if (it->valid) {
            it->id = keep_name(&names, ev.id);
            it->key = keep_name(&names, tally_event_key(&ev));
            tally_event_free(&ev);
            accepted++;
        } else {
            it->why = keep_name(&names, why);
        }
    }
    /* names no longer grows: its strings can be pointed at */
    for (size_t i = 0, k = 0; i < n; i++)
        if (items[i].valid)
            msgs[k++] = (api_message){names.data + items[i].key, body + spans[i].off, spans[i].len};
    tally_debug("events published", "mode=batch events=%zu accepted=%zu rejected=%zu who=%s", n,
                accepted, n - accepted, r->who == API_WHO_ADMIN ? "admin" : "tenant");
    if (!tally__api_events_publish(r, msgs, accepted)) goto done;
    tally_buf out = {0};
    tally_buf_printf(&out, "{\"accepted\":%zu,\"rejected\":%zu,\"results\":[", accepted,
                     n - accepted);
    for (size_t i = 0; i < n; i++) {
        if (i) tally_buf_putc(&out, ',');
        put_result(&out, i, &items[i], names.data, body + spans[i].off, spans[i].len);
    }
    tally_buf_puts(&out, "]}");
    tally__api_reply_json_text(r, 202, out.data);
done:
    tally_buf_free(&names);
    free(msgs);
    free(items);
    free(spans);
}

void tally__api_handle_events(api_request *r) {
    if (r->body_too_large) {
        tally__api_reply_error(r, 413, "body: too large");
        return;
    }
    switch (mode_of(r)) {
    case MODE_NONE: return; /* 415 queued */
    case MODE_ONE: publish_one(r); return;
    case MODE_BATCH: publish_batch(r); return;
    }
}
