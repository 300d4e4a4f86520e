/*
 * event_fields — the rules of CONTRACT.md §1 for one field at a time (see
 * event_fields.h). Only the error paths format text; the success paths do a
 * tally_json_get and a few comparisons, so decoding stays close to the cost
 * of parsing.
 */
#include "event_fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_SAFE_INTEGER ((long long)1 << 53)

const tally_json *tally__tf_get(const tally_fields *f, const char *key) {
    const tally_json *v = tally_json_get(f->obj, key);
    return tally_json_is_null(v) ? NULL : v;
}

bool tally__tf_fail(const tally_fields *f, const char *key, const char *fmt, ...) {
    if (!f->err) return false;
    char rule[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof rule, fmt, ap);
    va_end(ap);
    tally_err_set(f->err, TALLY_EINVAL, "%s%s: %s", f->prefix, key, rule);
    return false;
}

bool tally__tf_missing(const tally_fields *f, const char *key) {
    return tally__tf_fail(f, key, "is required");
}


bool tally__tf_id(const tally_fields *f, const char *key, bool required, const char **out) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) {
        *out = NULL;
        return required ? tally__tf_missing(f, key) : true;
    }
    if (!tally_json_is_string(v))
        return tally__tf_fail(
            f, key, "must be a string of 1-" TALLY_STR(TALLY_ID_MAX_LEN) " printable characters");
    const char *problem = tally_text_id_problem(tally_json_string(v), tally_json_string_length(v));
    if (problem) return tally__tf_fail(f, key, "%s", problem);
    *out = tally_json_string(v);
    return true;
}

bool tally__tf_string(const tally_fields *f, const char *key, bool required, const char **out) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) {
        *out = NULL;
        return required ? tally__tf_missing(f, key) : true;
    }
    if (!tally_json_is_string(v)) return tally__tf_fail(f, key, "must be a string");
    *out = tally_json_string(v);
    return true;
}

bool tally__tf_enum(const tally_fields *f, const char *key, const char *const *values,
                    const char *def, const char **out) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) {
        *out = def;
        return def ? true : tally__tf_missing(f, key);
    }
    if (tally_json_is_string(v)) {
        const char *s = tally_json_string(v);
        for (const char *const *e = values; *e; e++) {
            if (strcmp(s, *e) == 0) {
                *out = *e;
                return true;
            }
        }
    }
    char list[160], got[64];
    size_t n = 0;
    list[0] = '\0';
    for (const char *const *e = values; *e && n < sizeof list; e++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s\"%s\"", e == values ? "" : ", ", *e);
    if (!tally_json_is_string(v)) return tally__tf_fail(f, key, "must be one of %s", list);
    tally_text_quote(tally_json_string(v), tally_json_string_length(v), got, sizeof got, true);
    return tally__tf_fail(f, key, "must be one of %s (got \"%s\")", list, got);
}

bool tally__tf_count(const tally_fields *f, const char *key, bool required, tally_opt_i64 *out) {
    const tally_json *v = tally__tf_get(f, key);
    out->set = false;
    out->v = 0;
    if (!v) return required ? tally__tf_missing(f, key) : true;
    long long i = tally_json_is_integer(v) ? tally_json_integer(v) : -1;
    if (i < 0 || i >= MAX_SAFE_INTEGER)
        return tally__tf_fail(f, key, "must be a non-negative integer below 2^53");
    out->set = true;
    out->v = (int64_t)i;
    return true;
}

bool tally__tf_days(const tally_fields *f, const char *key, tally_opt_i64 *out) {
    const tally_json *v = tally__tf_get(f, key);
    out->set = false;
    out->v = 0;
    if (!v) return true;
    long long i = tally_json_is_integer(v) ? tally_json_integer(v) : 0;
    if (i < 1) return tally__tf_fail(f, key, "must be an integer >= 1 or null");
    if (i > TALLY_RETENTION_DAYS_MAX)
        return tally__tf_fail(f, key, "must be at most " TALLY_STR(TALLY_RETENTION_DAYS_MAX));
    out->set = true;
    out->v = (int64_t)i;
    return true;
}

/* Write d (finite, >= 0) with 15 significant digits and no exponent, as
 * PostgreSQL's numeric and humans read it. False when that takes more than
 * TALLY_DECIMAL_MAX_CHARS characters (1e-39, 1e40 and beyond). */
static bool format_plain(double d, char out[48]) {
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", d == 0 ? 0.0 : d); /* -0 prints as 0 */
    const char *e = strchr(tmp, 'e');
    if (!e) {
        if (strlen(tmp) > TALLY_DECIMAL_MAX_CHARS) return false;
        memcpy(out, tmp, strlen(tmp) + 1);
        return true;
    }
    /* tmp is d0[.d1d2...]e±X: the digits, then the exponent of d0. */
    char digits[24];
    size_t nd = 0;
    for (const char *p = tmp; p < e && nd < sizeof digits; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    long exp = strtol(e + 1, NULL, 10);
    size_t o = 0;
    if (exp < 0) {
        size_t zeros = (size_t)(-exp - 1);
        if (2 + zeros + nd > TALLY_DECIMAL_MAX_CHARS) return false;
        out[o++] = '0';
        out[o++] = '.';
        memset(out + o, '0', zeros);
        o += zeros;
        memcpy(out + o, digits, nd);
        o += nd;
    } else if ((size_t)exp + 1 >= nd) {
        size_t zeros = (size_t)exp + 1 - nd;
        if (nd + zeros > TALLY_DECIMAL_MAX_CHARS) return false;
        memcpy(out, digits, nd);
        o = nd;
        memset(out + o, '0', zeros);
        o += zeros;
    } else {
        return false; /* %g writes d.ddde+X only when X >= 15 >= the digits it has */
    }
    out[o] = '\0';
    return true;
}

/* A decimal string: -?digits[.digits], at most TALLY_DECIMAL_MAX_CHARS long. */
static bool decimal_string(const tally_fields *f, const char *key, const char *s, size_t n,
                           bool positive, tally_decimal *out) {
    size_t i = s[0] == '-', int_digits = 0, frac_digits = 0;
    bool nonzero = false, point = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) nonzero |= s[i] != '0';
    if (i < n && s[i] == '.') {
        point = true;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++) nonzero |= s[i] != '0';
    }
    if (i != n || int_digits == 0 || (point && frac_digits == 0))
        return tally__tf_fail(f, key,
                              "must be a decimal: a number, or a string of digits like \"0.15\"");
    if (n > TALLY_DECIMAL_MAX_CHARS)
        return tally__tf_fail(f, key, "must be a decimal of at most %d characters",
                              TALLY_DECIMAL_MAX_CHARS);
    if (s[0] == '-' && nonzero) return tally__tf_fail(f, key, "must not be negative");
    if (positive && !nonzero) return tally__tf_fail(f, key, "must be greater than 0");
    if (s[0] == '-') { /* "-0.00" is zero: drop the sign */
        s++;
        n--;
    }
    memcpy(out->text, s, n);
    out->text[n] = '\0';
    out->set = true;
    return true;
}

bool tally__tf_decimal(const tally_fields *f, const char *key, bool required, bool positive,
                       tally_decimal *out) {
    const tally_json *v = tally__tf_get(f, key);
    out->set = false;
    out->text[0] = '\0';
    if (!v) return required ? tally__tf_missing(f, key) : true;
    if (tally_json_is_string(v))
        return decimal_string(f, key, tally_json_string(v), tally_json_string_length(v), positive,
                              out);
    if (tally_json_is_integer(v)) {
        long long i = tally_json_integer(v);
        if (i < 0) return tally__tf_fail(f, key, "must not be negative");
        if (positive && i == 0) return tally__tf_fail(f, key, "must be greater than 0");
        snprintf(out->text, sizeof out->text, "%lld", (long long)i);
    } else if (tally_json_is_real(v)) {
        double d = tally_json_real(v);
        if (d < 0) return tally__tf_fail(f, key, "must not be negative");
        if (positive && !(d > 0)) return tally__tf_fail(f, key, "must be greater than 0");
        if (!format_plain(d, out->text))
            return tally__tf_fail(f, key,
                                  "is out of range: more than %d digits without an exponent",
                                  TALLY_DECIMAL_MAX_CHARS);
    } else {
        return tally__tf_fail(f, key,
                              "must be a decimal: a number, or a string of digits like \"0.15\"");
    }
    out->set = true;
    return true;
}

bool tally__tf_time(const tally_fields *f, const char *key, bool required, bool *has,
                    tally_usec *out) {
    const tally_json *v = tally__tf_get(f, key);
    if (has) *has = v != NULL;
    if (!v) return required ? tally__tf_missing(f, key) : true;
    if (tally_json_is_string(v) && tally_time_parse_rfc3339(tally_json_string(v), out)) return true;
    if (!tally_json_is_string(v))
        return tally__tf_fail(f, key, "must be an RFC 3339 time (a string)");
    char got[64];
    tally_text_quote(tally_json_string(v), tally_json_string_length(v), got, sizeof got, true);
    return tally__tf_fail(
        f, key, "must be an RFC 3339 time like \"2026-03-14T12:00:00Z\" (got \"%s\")", got);
}

bool tally__tf_bool(const tally_fields *f, const char *key, int *out) {
    const tally_json *v = tally__tf_get(f, key);
    if (!v) return true;
    if (!tally_json_is_bool(v)) return tally__tf_fail(f, key, "must be true or false");
    *out = tally_json_bool(v);
    return true;
}

bool tally__tf_object(const tally_fields *f, const char *key) {
    const tally_json *v = tally__tf_get(f, key);
    return !v || tally_json_is_object(v) || tally__tf_fail(f, key, "must be an object");
}
