/*
 * report_table — render a usage report as an aligned text table.
 *
 * The report is first turned into a grid of cell strings (header, one line
 * per row, the totals), then every column is padded to its widest cell.
 * Decimal columns (money, minutes) are also padded to a common number of
 * decimal places so that their points line up.
 *
 * Numbers: JSON integers print exactly. Decimals that jansson parsed into a
 * double print with at most 6 places (the report's own precision, CONTRACT.md
 * §2), which is exact for any amount of up to 15 significant digits; a
 * decimal the API sends as a string prints as sent.
 */
#include "report_table.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_table.h"

typedef struct {
    const char *key;  /* field of a row and of the totals */
    int min_decimals; /* 0 for counts */
} metric;

static const metric metrics[] = {
    {"requests", 0},      {"errors", 0},   {"input_tokens", 0}, {"cached_tokens", 0},
    {"output_tokens", 0}, {"cost_usd", 2}, {"cost_brl", 2},     {"time_saved_minutes", 1},
    {"likes", 0},         {"dislikes", 0},
};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

/* The table (text_table.h): row 0 is the header; the totals, when present,
 * are last. Columns: the period (its start, and its end when the rows carry
 * one), the ngroups grouped fields, the metrics. */
typedef struct {
    text_table t;
    size_t ngroups;
    size_t lead; /* the period columns: 1, or 2 with period_end */
    bool has_totals;
} grid;

size_t tally_report_text_width(const char *s) { return tally__text_width(s); }

/* "-12.5", "3", "0.000123": what a decimal string from the API may look like. */
static bool looks_decimal(const char *s) {
    if (*s == '-') s++;
    size_t digits = strspn(s, "0123456789");
    if (digits == 0) return false;
    s += digits;
    if (*s == '.') {
        s++;
        if (strspn(s, "0123456789") == 0) return false;
        s += strspn(s, "0123456789");
    }
    return *s == '\0';
}

/* A metric's text before column alignment; "-" when absent or null (a
 * cost_brl without an FX rate). */
static char *number_text(const json_t *v) {
    if (json_is_integer(v)) return tally__dupf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_string(v) && looks_decimal(json_string_value(v)))
        return strdup(json_string_value(v));
    if (!json_is_real(v)) return strdup("-");
    char *s = tally__dupf("%.6f", json_real_value(v));
    if (!s) return NULL;
    char *end = s + strlen(s);
    while (end[-1] == '0') *--end = '\0';
    if (end[-1] == '.') *--end = '\0';
    if (!strcmp(s, "-0")) strcpy(s, "0");
    return s;
}

static char *group_text(const json_t *v) {
    if (!v || json_is_null(v)) return strdup("(none)"); /* the interactions without it */
    if (json_is_string(v)) return tally__clean_text(json_string_value(v));
    char *dumped = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!dumped) return NULL;
    char *s = tally__clean_text(dumped);
    free(dumped);
    return s;
}

/* A period bound; with date_only (day, week, month) a local midnight is
 * shortened to its date, any other time (a period clipped to the window)
 * is written in full. */
static char *period_text(const json_t *v, bool date_only) {
    if (!json_is_string(v)) return strdup("-");
    const char *s = json_string_value(v);
    if (date_only && strlen(s) >= 19 && !strncmp(s + 10, "T00:00:00", 9)) {
        char date[11];
        memcpy(date, s, 10);
        date[10] = '\0';
        return tally__clean_text(date);
    }
    return tally__clean_text(s);
}

static void put(grid *g, size_t r, size_t c, char *text) { tally__table_put(&g->t, r, c, text); }

/* One line of the table: a report row, or the totals (group cells blank). */
static void fill_line(grid *g, size_t r, const json_t *row, const json_t *group_by, bool date_only,
                      bool is_totals) {
    put(g, r, 0,
        is_totals ? strdup("total") : period_text(json_object_get(row, "period_start"), date_only));
    if (g->lead > 1)
        put(g, r, 1,
            is_totals ? strdup("") : period_text(json_object_get(row, "period_end"), date_only));
    const json_t *groups = json_object_get(row, "group");
    for (size_t i = 0; i < g->ngroups; i++) {
        const char *name = json_string_value(json_array_get(group_by, i));
        put(g, r, g->lead + i,
            is_totals ? strdup("") : group_text(name ? json_object_get(groups, name) : NULL));
    }
    for (size_t m = 0; m < N_METRICS; m++)
        put(g, r, g->lead + g->ngroups + m, number_text(json_object_get(row, metrics[m].key)));
}

/* Give every number of a decimal column the same count of decimal places. */
static void align_decimals(text_table *t, size_t col, int min_decimals) {
    size_t want = (size_t)min_decimals;
    for (size_t r = 1; r < t->nrows; r++) {
        const char *dot = strchr(t->cells[r * t->ncols + col], '.');
        if (dot && strlen(dot + 1) > want) want = strlen(dot + 1);
    }
    if (want == 0) return;
    for (size_t r = 1; r < t->nrows && !t->oom; r++) {
        char **cell = &t->cells[r * t->ncols + col];
        if (!strcmp(*cell, "-")) continue;
        const char *dot = strchr(*cell, '.');
        size_t have = dot ? strlen(dot + 1) : 0;
        if (have >= want || want - have > 32) continue; /* absurdly many places: as sent */
        char *padded = tally__dupf("%s%s%.*s", *cell, dot ? "" : ".", (int)(want - have),
                                   "00000000000000000000000000000000");
        if (!padded) {
            t->oom = true;
            return;
        }
        free(*cell);
        *cell = padded;
    }
}

static bool grid_build(grid *g, const json_t *report, const json_t *group_by, tally_err *err) {
    const json_t *rows = json_object_get(report, "rows");
    const json_t *totals = json_object_get(report, "totals");
    const char *gran = json_string_value(json_object_get(report, "granularity"));
    bool date_only = gran &&
                     (!strcmp(gran, "day") || !strcmp(gran, "week") || !strcmp(gran, "month"));

    g->ngroups = json_array_size(group_by);
    g->has_totals = json_is_object(totals);
    g->lead = 1;
    for (size_t i = 0; i < json_array_size(rows) && g->lead == 1; i++)
        if (json_object_get(json_array_get(rows, i), "period_end")) g->lead = 2;
    text_table *t = &g->t;
    if (!tally__table_init(t, 1 + json_array_size(rows) + g->has_totals,
                           g->lead + g->ngroups + N_METRICS)) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return false;
    }
    for (size_t c = g->lead + g->ngroups; c < t->ncols; c++) t->right[c] = true; /* the metrics */

    put(g, 0, 0, strdup("period_start"));
    if (g->lead > 1) put(g, 0, 1, strdup("period_end"));
    for (size_t i = 0; i < g->ngroups; i++)
        put(g, 0, g->lead + i, group_text(json_array_get(group_by, i)));
    for (size_t m = 0; m < N_METRICS; m++)
        put(g, 0, g->lead + g->ngroups + m, strdup(metrics[m].key));

    for (size_t i = 0; i < json_array_size(rows); i++) {
        const json_t *row = json_array_get(rows, i);
        if (!json_is_object(row)) {
            tally_err_set(err, TALLY_EINVAL, "not a usage report: rows[%zu] is not an object", i);
            return false;
        }
        fill_line(g, 1 + i, row, group_by, date_only, false);
    }
    if (g->has_totals) fill_line(g, t->nrows - 1, totals, group_by, date_only, true);
    if (t->oom) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return false;
    }
    for (size_t m = 0; m < N_METRICS; m++)
        if (metrics[m].min_decimals > 0)
            align_decimals(t, g->lead + g->ngroups + m, metrics[m].min_decimals);
    if (t->oom) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        return false;
    }
    tally__table_measure(t);
    return true;
}

/* "tenant (zone)" and "from X to Y, granularity G[, grouped by a, b]". */
static void emit_title(FILE *out, const json_t *report, const json_t *group_by) {
    const char *fields[] = {"tenant_id", "timezone", "from", "to", "granularity"};
    char *v[5];
    for (size_t i = 0; i < 5; i++) {
        const char *s = json_string_value(json_object_get(report, fields[i]));
        v[i] = tally__clean_text(s ? s : "?");
    }
    if (v[0] && v[1] && v[2] && v[3] && v[4]) {
        fprintf(out, "Usage of %s (%s)\nfrom %s to %s, granularity %s", v[0], v[1], v[2], v[3],
                v[4]);
        for (size_t i = 0; i < json_array_size(group_by); i++) {
            char *name = group_text(json_array_get(group_by, i));
            fprintf(out, "%s%s", i ? ", " : ", grouped by ", name ? name : "?");
            free(name);
        }
        fputs("\n\n", out);
    }
    for (size_t i = 0; i < 5; i++) free(v[i]);
}

char *tally_report_table(const json_t *report, tally_err *err) {
    if (!json_is_object(report) || !json_is_array(json_object_get(report, "rows"))) {
        tally_err_set(err, TALLY_EINVAL, "not a usage report: no \"rows\" array");
        return NULL;
    }
    /* The grouped fields: as the report names them, else the first row's. */
    json_t *group_by = json_incref(json_object_get(report, "group_by"));
    if (!json_is_array(group_by)) {
        json_decref(group_by);
        group_by = json_array();
        const json_t *first = json_object_get(json_array_get(json_object_get(report, "rows"), 0),
                                              "group");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)first, key, val) {
            (void)val;
            json_array_append_new(group_by, json_string(key));
        }
    }

    grid g = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *out = NULL;
    if (!group_by || !grid_build(&g, report, group_by, err)) goto done;
    out = open_memstream(&text, &len);
    if (!out) {
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
        goto done;
    }
    emit_title(out, report, group_by);
    tally__table_emit_line(out, &g.t, 0);
    tally__table_emit_rule(out, &g.t);
    size_t data_rows = g.t.nrows - 1 - g.has_totals;
    for (size_t r = 1; r <= data_rows; r++) tally__table_emit_line(out, &g.t, r);
    if (data_rows == 0) fputs("(no usage in this window)\n", out);
    if (g.has_totals) {
        tally__table_emit_rule(out, &g.t);
        tally__table_emit_line(out, &g.t, g.t.nrows - 1);
    }
    if (fclose(out) != 0) {
        free(text);
        text = NULL;
        tally_err_set(err, TALLY_ENOMEM, "out of memory");
    }
done:
    if (!group_by) tally_err_set(err, TALLY_ENOMEM, "out of memory");
    json_decref(group_by);
    tally__table_free(&g.t);
    return text;
}
