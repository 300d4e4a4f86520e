/*
 * limits_table — render a limits answer as a standing block and an aligned
 * table (text_table.h).
 */
#include "limits_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_table.h"

static const char *const COLUMNS[] = {"limit_id",  "user",    "period",  "used",  "limit",
                                      "remaining", "percent", "reached", "paused"};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])
#define FIRST_NUMBER 3 /* used, limit, remaining, percent are right-aligned */
#define LAST_NUMBER 6

/* A string member made safe for the terminal, or `absent` when it is not a string. */
static char *text_of(const json_t *obj, const char *key, const char *absent) {
    const char *s = json_string_value(json_object_get(obj, key));
    return tally__clean_text(s ? s : absent);
}

/* An amount of the limit's metric: BRL with 6 decimals, counts as integers. */
static char *amount_text(const json_t *v, bool brl) {
    if (!json_is_number(v)) return strdup("-");
    if (brl) return tally__dupf("%.6f", json_number_value(v));
    if (json_is_integer(v)) return tally__dupf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return tally__dupf("%.0f", json_number_value(v));
}

/* "80,90"; "-" when none. */
static char *reached_text(const json_t *list) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        fprintf(f, "%s%" JSON_INTEGER_FORMAT, i ? "," : "", json_integer_value(v));
    }
    if (json_array_size(list) == 0) fputs("-", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* "monthly 2026-03-01": the period and the local date it started. */
static char *period_text(const json_t *limit) {
    const char *period = json_string_value(json_object_get(limit, "period"));
    const char *start = json_string_value(json_object_get(limit, "period_start"));
    char *raw = tally__dupf("%s %.10s", period ? period : "?", start ? start : "?");
    char *text = raw ? tally__clean_text(raw) : NULL;
    free(raw);
    return text;
}

static void fill_limit(text_table *t, size_t r, const json_t *limit) {
    const char *metric = json_string_value(json_object_get(limit, "metric"));
    bool brl = metric && !strcmp(metric, "brl");
    const json_t *percent = json_object_get(limit, "percent");
    tally__table_put(t, r, 0, text_of(limit, "limit_id", "?"));
    tally__table_put(t, r, 1, text_of(limit, "user_id", "(tenant)"));
    tally__table_put(t, r, 2, period_text(limit));
    tally__table_put(t, r, 3, amount_text(json_object_get(limit, "used"), brl));
    tally__table_put(t, r, 4, amount_text(json_object_get(limit, "limit"), brl));
    tally__table_put(t, r, 5, amount_text(json_object_get(limit, "remaining"), brl));
    tally__table_put(t, r, 6,
                     json_is_number(percent) ? tally__dupf("%.2f", json_number_value(percent))
                                             : strdup("-"));
    tally__table_put(t, r, 7, reached_text(json_object_get(limit, "reached")));
    tally__table_put(t, r, 8,
                     strdup(json_is_true(json_object_get(limit, "paused")) ? "yes" : "no"));
}

/* The standing, one "label  value" line each; reasons one line each. */
static bool fill_standing(text_table *t, const json_t *answer) {
    const json_t *reasons = json_object_get(answer, "reasons");
    const json_t *pending = json_object_get(answer, "pending_events");
    if (!tally__table_init(t, 6 + json_array_size(reasons), 2)) return false;
    static const char *const labels[] = {"tenant", "timezone",       "user",
                                         "at",     "pending events", "ALLOWED"};
    for (size_t r = 0; r < 6; r++) tally__table_put(t, r, 0, strdup(labels[r]));
    tally__table_put(t, 0, 1, text_of(answer, "tenant_id", "?"));
    tally__table_put(t, 1, 1, text_of(answer, "timezone", "?"));
    tally__table_put(t, 2, 1, text_of(answer, "user_id", "(whole tenant)"));
    tally__table_put(t, 3, 1, text_of(answer, "at", "?"));
    tally__table_put(t, 4, 1,
                     json_is_integer(pending)
                         ? tally__dupf("%" JSON_INTEGER_FORMAT, json_integer_value(pending))
                         : strdup("unknown (Kafka did not answer)"));
    tally__table_put(t, 5, 1,
                     strdup(json_is_true(json_object_get(answer, "allowed")) ? "yes" : "no"));
    size_t i;
    const json_t *reason;
    json_array_foreach(reasons, i, reason) {
        const char *s = json_string_value(reason);
        tally__table_put(t, 6 + i, 0, strdup("reason"));
        tally__table_put(t, 6 + i, 1, tally__clean_text(s ? s : "?"));
    }
    return !t->oom;
}

static bool fill_limits(text_table *t, const json_t *limits, tally_err *err) {
    if (!tally__table_init(t, 1 + json_array_size(limits), N_COLUMNS)) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return false;
    }
    for (size_t c = 0; c < N_COLUMNS; c++) {
        tally__table_put(t, 0, c, strdup(COLUMNS[c]));
        t->right[c] = c >= FIRST_NUMBER && c <= LAST_NUMBER;
    }
    size_t i;
    const json_t *limit;
    json_array_foreach(limits, i, limit) {
        if (!json_is_object(limit)) {
            tally_err_set(err, TALLY_EINVAL, "not a limits answer: limits[%zu] is not an object",
                          i);
            return false;
        }
        fill_limit(t, 1 + i, limit);
    }
    if (t->oom) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return false;
    }
    return true;
}

char *tally__limits_table(const json_t *answer, tally_err *err) {
    const json_t *limits = json_object_get(answer, "limits");
    if (!json_is_object(answer) || !json_is_array(limits)) {
        tally_err_set(err, TALLY_EINVAL, "not a limits answer: no \"limits\" array");
        return NULL;
    }
    text_table standing = {0}, table = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *out = NULL;
    if (!fill_limits(&table, limits, err)) goto done;
    if (!fill_standing(&standing, answer)) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        goto done;
    }
    tally__table_measure(&standing);
    tally__table_measure(&table);
    out = open_memstream(&text, &len);
    if (!out) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < standing.nrows; r++) tally__table_emit_line(out, &standing, r);
    fputc('\n', out);
    tally__table_emit_line(out, &table, 0);
    tally__table_emit_rule(out, &table);
    for (size_t r = 1; r < table.nrows; r++) tally__table_emit_line(out, &table, r);
    if (table.nrows == 1) fputs("(no limits in force)\n", out);
    if (fclose(out) != 0) {
        free(text);
        text = NULL;
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
    }
done:
    tally__table_free(&standing);
    tally__table_free(&table);
    return text;
}
