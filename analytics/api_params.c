/*
 * api_params — what a request may carry, before any of it goes near a store:
 * query parameters decoded by hand (libmicrohttpd is told not to decode, so
 * that "%00" or a bad escape is seen and refused rather than silently cut),
 * text rules for ids and values, and the two time forms of from/to.
 *
 * Every value must be valid UTF-8 without control characters and at most
 * API_VALUE_MAX bytes; a name not in the route's list, a name given twice
 * or more than API_PARAMS_MAX parameters are refused too. The stores get
 * only values that passed, and only as bound parameters.
 *
 * A list entry "prefix[]" (the usage report's "filter[]") admits every name
 * "prefix[<key>]" whose key is 1 to 32 letters, digits or '_'; what the key
 * means is the handler's to judge. Such names and "group_by" may be given
 * more than once (a list: the handler collects every value in order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tally_common.h"

#define API_VALUE_MAX 2048 /* bytes of one decoded value */
#define API_NAME_SHOWN 64  /* bytes of an unknown name quoted back */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t tally__api_url_decode(const char *in, size_t len, char *out, bool plus_is_space) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = plus_is_space && in[i] == '+' ? ' ' : in[i];
            continue;
        }
        if (i + 2 >= len) return (size_t)-1;
        int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
        if (hi < 0 || lo < 0) return (size_t)-1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    return o;
}

/* ---- text rules ------------------------------------------------------------ */

/* ---- query parameters ---------------------------------------------------- */

typedef struct {
    const char *const *allowed;
    api_params *out;
    char *msg;
    size_t msg_len;
    bool failed;
} collect_state;

/* Whether name matches the list entry a: equal, or "prefix[key]" for an
 * entry "prefix[]". */
static bool name_allowed(const char *a, const char *name) {
    size_t al = strlen(a), nl = strlen(name);
    if (al < 2 || strcmp(a + al - 2, "[]")) return !strcmp(a, name);
    size_t pl = al - 1; /* the prefix and its '[' */
    if (nl < pl + 2 || strncmp(a, name, pl) || name[nl - 1] != ']') return false;
    size_t kl = nl - pl - 1;
    if (kl > 32) return false;
    for (size_t i = pl; i < nl - 1; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", name[i]))
            return false;
    return true;
}

/* The names that may be given more than once: a list, in order. */
static bool repeatable(const char *name) {
    return !strcmp(name, "group_by") || (strlen(name) > 1 && name[strlen(name) - 1] == ']');
}

static enum MHD_Result collect_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_len, const char *value, size_t value_len) {
    (void)kind;
    collect_state *st = cls;
    if (key_len == 0 && (!value || value_len == 0)) return MHD_YES; /* "a=1&&b=2", "?&a=1" */
    char shown[API_NAME_SHOWN + 8];
    tally_text_quote(key, key_len, shown, sizeof shown, false);
    if (st->out->n == API_PARAMS_MAX) {
        snprintf(st->msg, st->msg_len, "too many query parameters (at most %d)", API_PARAMS_MAX);
        goto fail;
    }
    /* Names are short and plain; decode to compare them with the list. */
    char name[API_NAME_SHOWN + 1] = "";
    size_t nlen = key_len <= API_NAME_SHOWN ? tally__api_url_decode(key, key_len, name, true)
                                            : (size_t)-1;
    bool known = false;
    if (nlen != (size_t)-1 && nlen == strlen(name)) /* decoded, and no NUL inside */
        for (const char *const *a = st->allowed; a && *a && !known; a++)
            known = name_allowed(*a, name);
    if (!known) {
        snprintf(st->msg, st->msg_len, "%s: unknown query parameter", shown);
        goto fail;
    }
    if (!repeatable(name) && tally__api_param_get(st->out, name)) {
        snprintf(st->msg, st->msg_len, "%s: given more than once", name);
        goto fail;
    }
    if (!value) value = "", value_len = 0;
    if (value_len > 3 * API_VALUE_MAX) {
        snprintf(st->msg, st->msg_len, "%s: too long (at most %d bytes)", name, API_VALUE_MAX);
        goto fail;
    }
    char *v = malloc(value_len + 1);
    size_t vlen = v ? tally__api_url_decode(value, value_len, v, true) : (size_t)-1;
    const char *why = NULL;
    if (vlen == (size_t)-1)
        why = "malformed percent-encoding";
    else if (vlen == 0)
        why = "must not be empty";
    else if (vlen > API_VALUE_MAX)
        why = "too long (at most 2048 bytes)";
    else
        why = tally_text_problem(v, vlen);
    if (why) {
        free(v);
        snprintf(st->msg, st->msg_len, "%s: %s", name, why);
        goto fail;
    }
    api_param *p = &st->out->item[st->out->n];
    p->name = strdup(name);
    p->value = v;
    if (!p->name) {
        free(v);
        snprintf(st->msg, st->msg_len, "out of memory");
        goto fail;
    }
    st->out->n++;
    return MHD_YES;
fail:
    st->failed = true;
    return MHD_NO;
}

bool tally__api_params_collect(struct MHD_Connection *c, const char *const *allowed,
                               api_params *out, char *msg, size_t msg_len) {
    collect_state st = {allowed, out, msg, msg_len, false};
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_one, &st);
    return !st.failed;
}

const char *tally__api_param_get(const api_params *p, const char *name) {
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->item[i].name, name)) return p->item[i].value;
    return NULL;
}

void tally__api_params_free(api_params *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->item[i].name);
        free(p->item[i].value);
    }
    p->n = 0;
}

/* ---- from / to ------------------------------------------------------------ */

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static bool parse_date(const char *s) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1) return false;
    return d <= days[m - 1] + (m == 2 && is_leap(y));
}

api_time_kind tally__api_time_parse(const char *s, int64_t *instant) {
    if (parse_date(s)) return API_TIME_DATE;
    tally_usec t;
    if (strlen(s) <= 64 && tally_time_parse_rfc3339(s, &t)) {
        *instant = t;
        return API_TIME_INSTANT;
    }
    return API_TIME_BAD;
}

/* ---- paging ---------------------------------------------------------------- */

static bool parse_limit(const char *s, int max, int *out) {
    size_t digits = 1;
    for (int m = max; m >= 10; m /= 10) digits++;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > digits || s[n]) return false;
    int v = atoi(s);
    if (v < 1 || v > max) return false;
    *out = v;
    return true;
}

bool tally__api_page_params(api_request *r, const api_page_rules *rules, api_page *out) {
    *out = (api_page){.limit = rules->limit_default, .b = {{.name = "from"}, {.name = "to"}}};
    const char *s = tally__api_param_get(&r->params, "limit");
    if (s && !parse_limit(s, rules->limit_max, &out->limit)) {
        tally__api_reply_error(r, 400, "limit: must be an integer from 1 to %d", rules->limit_max);
        return false;
    }
    for (const char *const *id = rules->ids; id && *id; id++) {
        const char *v = tally__api_param_get(&r->params, *id);
        const char *why = v ? tally_text_id_problem(v, strlen(v)) : NULL;
        if (why) {
            tally__api_reply_error(r, 400, "%s: %s", *id, why);
            return false;
        }
    }
    const char *c = tally__api_param_get(&r->params, "cursor");
    if (c && (strspn(c, "0123456789abcdefABCDEF") != strlen(c) || strlen(c) % 2 ||
              strlen(c) > rules->cursor_max)) {
        tally__api_reply_error(r, 400, "cursor: malformed");
        return false;
    }
    for (int i = 0; i < 2; i++) {
        api_time_bound *b = &out->b[i];
        b->text = tally__api_param_get(&r->params, b->name);
        if (!b->text) continue;
        b->kind = tally__api_time_parse(b->text, &b->at);
        if (b->kind == API_TIME_BAD) {
            tally__api_reply_error(r, 400, "%s: must be a date (YYYY-MM-DD) or an RFC 3339 time",
                                   b->name);
            return false;
        }
    }
    return true;
}

tally_code tally__api_page_resolve(tally_pg *pg, const char *zone, api_page *p, tally_err *err) {
    api_time_bound *b = p->b;
    for (int i = 0; i < 2; i++) {
        if (b[i].kind != API_TIME_DATE) continue;
        tally_code rc = tally_pg_local_midnight(pg, b[i].text, zone, &b[i].at, err);
        if (rc == TALLY_EINVAL)
            tally_err_set(err, TALLY_EINVAL, "%s: not a date in %s", b[i].name, zone);
        if (rc != TALLY_OK) return rc;
    }
    if (b[0].text && b[1].text && b[0].at >= b[1].at)
        return tally_err_set(err, TALLY_EINVAL, "from: must be before to");
    return TALLY_OK;
}
