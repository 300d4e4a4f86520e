/*
 * event — decoding one CloudEvents 1.0 event (CONTRACT.md §1): the size
 * limit, the JSON parse, the envelope; event_types.c then checks `data`.
 *
 * Cost: one tally_json_parse (common/tally_json.c), then one lookup per field
 * of the contract. Nothing is allocated besides the parsed document; every
 * string handed out is borrowed from it, and the event owns it until
 * tally_event_free().
 */
#include "tally_stream.h"

#include <string.h>

#include "event_fields.h"

const char *tally_event_key(const tally_event *ev) {
    return ev && ev->subject ? ev->subject : "_global";
}

void tally_event_free(tally_event *ev) {
    if (!ev) return;
    tally_json_free(ev->doc);
    memset(ev, 0, sizeof *ev);
}

/* Keep the parser's message to printable ASCII, so the reason fits on one
 * line of a DLQ header whatever bytes it quotes. */
static void ascii_only(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E) *s = '?';
}

static bool parse(const char *buf, size_t len, tally_event *ev, tally_err *err) {
    if (len > TALLY_EVENT_MAX_BYTES) {
        tally_err_set(err, TALLY_EINVAL, "event: %zu bytes is over the %d-byte limit", len,
                      TALLY_EVENT_MAX_BYTES);
        return false;
    }
    tally_json_error jerr;
    /* Any value parses, so the message below can say what is wrong with a
     * scalar. Duplicate keys are refused: {"tenant_id":"a","tenant_id":"b"}
     * is ambiguous, and readers of the stored JSON might pick the other one. */
    ev->doc = tally_json_parse(buf, buf ? len : 0, &jerr);
    if (!ev->doc) {
        ascii_only(jerr.text);
        if (jerr.invalid_utf8)
            tally_err_set(err, TALLY_EINVAL, "event: invalid UTF-8 at byte %zu (%s)", jerr.position,
                          jerr.text);
        else
            tally_err_set(err, TALLY_EINVAL,
                          "event: invalid JSON at line %d, column %d (byte %zu): %s", jerr.line,
                          jerr.column, jerr.position, jerr.text);
        return false;
    }
    ev->root = tally_json_root(ev->doc);
    if (!tally_json_is_object(ev->root)) {
        tally_err_set(err, TALLY_EINVAL, "event: must be a JSON object");
        return false;
    }
    return true;
}

static bool read_specversion(const tally_fields *f) {
    const tally_json *v = tally__tf_get(f, "specversion");
    if (!v) return tally__tf_missing(f, "specversion");
    if (tally_json_is_string(v) && strcmp(tally_json_string(v), "1.0") == 0) return true;
    if (!tally_json_is_string(v)) return tally__tf_fail(f, "specversion", "must be \"1.0\"");
    char got[64];
    tally_text_quote(tally_json_string(v), tally_json_string_length(v), got, sizeof got, true);
    return tally__tf_fail(f, "specversion", "must be \"1.0\" (got \"%s\")", got);
}

static bool read_type(const tally_fields *f, tally_event_type *out) {
    const tally_json *v = tally__tf_get(f, "type");
    if (!v) return tally__tf_missing(f, "type");
    if (!tally_json_is_string(v)) return tally__tf_fail(f, "type", "must be a string");
    if (tally_event_type_parse(tally_json_string(v), out)) return true;
    char got[64];
    tally_text_quote(tally_json_string(v), tally_json_string_length(v), got, sizeof got, true);
    return tally__tf_fail(f, "type", "unknown event type \"%s\"", got);
}

static bool read_envelope(tally_event *ev, tally_err *err) {
    const tally_fields f = {ev->root, "", err};
    const char *datacontenttype;
    if (!read_specversion(&f) || !tally__tf_id(&f, "id", TF_REQUIRED, &ev->id) ||
        !read_type(&f, &ev->type) || !tally__tf_time(&f, "time", TF_REQUIRED, NULL, &ev->time) ||
        !tally__tf_string(&f, "source", TF_OPTIONAL, &ev->source) ||
        !tally__tf_id(&f, "subject", TF_OPTIONAL, &ev->subject) ||
        !tally__tf_string(&f, "datacontenttype", TF_OPTIONAL, &datacontenttype))
        return false;
    ev->time_text = tally_json_string(tally_json_get(ev->root, "time"));
    if (!ev->subject &&
        (ev->type == TALLY_EV_INTERACTION_RECORDED || ev->type == TALLY_EV_FEEDBACK_RECORDED))
        return tally__tf_fail(&f, "subject", "is required for %s", tally_event_type_name(ev->type));
    ev->data = tally__tf_get(&f, "data");
    if (!ev->data) return tally__tf_missing(&f, "data");
    if (!tally_json_is_object(ev->data)) return tally__tf_fail(&f, "data", "must be an object");
    return true;
}

tally_code tally_event_decode(const char *buf, size_t len, tally_event *ev, tally_err *err) {
    if (!ev) return tally_err_set(err, TALLY_EINVAL, "event: no event to fill");
    memset(ev, 0, sizeof *ev);
    tally_err_clear(err);
    if (parse(buf, len, ev, err) && read_envelope(ev, err) && tally_event_decode_data(ev, err))
        return TALLY_OK;
    tally_json_free(ev->doc);
    memset(ev, 0, sizeof *ev);
    if (err && err->code == TALLY_OK) /* every failing path writes err; keep the promise anyway */
        tally_err_set(err, TALLY_EINVAL, "event: rejected");
    return TALLY_EINVAL;
}
