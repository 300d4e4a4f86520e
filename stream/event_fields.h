/*
 * event_fields — internal to the event decoder: readers of one JSON field
 * that apply one rule of CONTRACT.md §1 each and, on a violation, write a
 * message that names the field's path and the rule:
 *     "data.input_tokens: must be a non-negative integer below 2^53"
 *
 * Every reader takes the object to read from (a tally_fields) and a key. A
 * missing key and a JSON null are the same thing: absent. Readers never
 * allocate; strings they hand out are borrowed from the JSON tree.
 */
#ifndef TALLY_EVENT_FIELDS_H
#define TALLY_EVENT_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "tally_stream.h"
#include "tally_common.h"

/* Where fields are read from, and where their errors go. */
typedef struct {
    const tally_json *obj; /* the object holding the fields */
    const char *prefix;    /* its path, ready to prepend: "" (envelope), "data." */
    tally_err *err;        /* may be NULL */
} tally_fields;

enum { TF_OPTIONAL = 0, TF_REQUIRED = 1 };

/* The value at key, or NULL when absent or JSON null. */
const tally_json *tally__tf_get(const tally_fields *f, const char *key);

/* Write "<prefix><key>: <message>" into f->err; always returns false. */
bool tally__tf_fail(const tally_fields *f, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<prefix><key>: is required". */
bool tally__tf_missing(const tally_fields *f, const char *key);

/* An id: a string of 1–128 printable characters (no C0/C1 control or DEL). */
bool tally__tf_id(const tally_fields *f, const char *key, bool required, const char **out);

/* Any string (free text). */
bool tally__tf_string(const tally_fields *f, const char *key, bool required, const char **out);

/* One of `values` (NULL-terminated). *out gets the table's own literal; when
 * absent it gets `def`, and a NULL `def` makes the field required. */
bool tally__tf_enum(const tally_fields *f, const char *key, const char *const *values,
                    const char *def, const char **out);

/* A non-negative JSON integer below 2^53 (a real such as 10.5 or 1e3 is not). */
bool tally__tf_count(const tally_fields *f, const char *key, bool required, tally_opt_i64 *out);

/* A number of days: a JSON integer from 1 to TALLY_RETENTION_DAYS_MAX, or
 * absent/null (out->set false: no bound). */
bool tally__tf_days(const tally_fields *f, const char *key, tally_opt_i64 *out);

/* A decimal: a JSON number, or a string matching -?digits[.digits]; never
 * negative, and > 0 when `positive`. */
bool tally__tf_decimal(const tally_fields *f, const char *key, bool required, bool positive,
                       tally_decimal *out);

/* An RFC 3339 time. *has (when non-NULL) tells whether it was present. */
bool tally__tf_time(const tally_fields *f, const char *key, bool required, bool *has,
                    tally_usec *out);

/* true/false: *out = 1 or 0, and is left alone when absent. */
bool tally__tf_bool(const tally_fields *f, const char *key, int *out);

/* An object (any content), when present. */
bool tally__tf_object(const tally_fields *f, const char *key);

/* Text rules and quoting: common/tally_text.h. */

/* event_types.c: check ev->data against the rules of ev->type and fill ev->u.
 * ev->type, ev->data and ev->subject are set. */
bool tally_event_decode_data(tally_event *ev, tally_err *err);

#endif
