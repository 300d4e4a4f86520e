/*
 * The usage report: request rules (CONTRACT.md §3) and the JSON/CSV shapes.
 * The numbers come from relational/usage_query.c; money and minutes are
 * rounded half-even to 6 places here, on exact decimal text, and only here.
 */
#include "tally_analytics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally_common.h"
#include "tally_pg.h"


/* The id rule of common/ (characters, not bytes). */
static bool valid_id(const char *s) { return s && !tally_text_id_problem(s, strlen(s)); }

static tally_code parse_bound(const char *name, const char *s, tally_bound *b, tally_err *err) {
    memset(b, 0, sizeof *b);
    if (!s) return TALLY_OK;
    tally_usec t;
    if (strlen(s) == 10) {
        char probe[32];
        snprintf(probe, sizeof probe, "%sT00:00:00Z", s);
        if (tally_time_parse_rfc3339(probe, &t)) {
            b->kind = TALLY_BOUND_DATE;
            memcpy(b->date, s, 11);
            return TALLY_OK;
        }
    } else if (tally_time_parse_rfc3339(s, &t)) {
        /* Counting is by 15-minute buckets: a bound inside one would not
         * be the window counted (docs/arithmetic.md, the 15-minute grain). */
        if ((t % TALLY_BUCKET_USEC + TALLY_BUCKET_USEC) % TALLY_BUCKET_USEC != 0)
            return tally_err_set(err, TALLY_EINVAL,
                                 "%s: must be on a 15-minute boundary (…:00, :15, :30, :45,"
                                 " no seconds)",
                                 name);
        b->kind = TALLY_BOUND_INSTANT;
        b->instant = t;
        return TALLY_OK;
    }
    return tally_err_set(err, TALLY_EINVAL, "%s: must be a date (YYYY-MM-DD) or an RFC 3339 time",
                         name);
}

static tally_code parse_granularity(const char *s, tally_granularity *g, tally_err *err) {
    *g = TALLY_GRAN_TOTAL;
    if (!s) return TALLY_OK;
    int found = tally_granularity_find(s);
    if (found >= 0) {
        *g = (tally_granularity)found;
        return TALLY_OK;
    }
    return tally_err_set(err, TALLY_EINVAL,
                         "granularity: must be one of total, day, week, month, hour");
}

static tally_code parse_groups(const char *s, tally_group *groups, int *n, tally_err *err) {
    *n = 0;
    if (!s || !*s) return TALLY_OK;
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = tally_group_find(p, len);
        if (found < 0)
            return tally_err_set(err, TALLY_EINVAL,
                                 "group_by: unknown group \"%.*s\" (use model, user, agent, kind,"
                                 " channel)",
                                 (int)(len > 40 ? 40 : len), p);
        for (int i = 0; i < *n; i++)
            if (groups[i] == (tally_group)found)
                return tally_err_set(err, TALLY_EINVAL, "group_by: \"%s\" given twice",
                                     tally_groups[found].name);
        groups[(*n)++] = (tally_group)found;
        if (!end) return TALLY_OK;
        p = end + 1;
    }
}

/* The filters of a request as one comma list per dimension (NULL: none),
 * each value held to the id rule; two filters of one dimension are one
 * list (OR). lists[g] is malloc'd; free with free_filters. */
static void free_filters(char **lists) {
    for (int g = 0; g < TALLY_GROUP__COUNT; g++) free(lists[g]);
}

static tally_code parse_filters(const tally_usage_request *req, char **lists, tally_err *err) {
    for (size_t i = 0; i < req->n_filters; i++) {
        const tally_usage_filter *f = &req->filters[i];
        const char *name = f->name ? f->name : "";
        int g = tally_group_find(name, strlen(name));
        if (g < 0) {
            free_filters(lists); /* the lists of the filters before this one */
            return tally_err_set(err, TALLY_EINVAL,
                                 "filter[%.40s]: unknown dimension (use model, user, agent, kind,"
                                 " channel)",
                                 name);
        }
        const char *p = f->values ? f->values : "";
        for (;;) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            const char *why = tally_text_id_problem(p, len);
            if (why) {
                free_filters(lists);
                return tally_err_set(err, TALLY_EINVAL, "filter[%s]: a value %s", name, why);
            }
            if (!end) break;
            p = end + 1;
        }
        char *joined = NULL;
        if (lists[g]) {
            size_t n = strlen(lists[g]) + 1 + strlen(f->values) + 1;
            if ((joined = malloc(n))) snprintf(joined, n, "%s,%s", lists[g], f->values);
        } else {
            joined = strdup(f->values);
        }
        if (!joined) {
            free_filters(lists);
            return tally_err_set(err, TALLY_ENOMEM, "out of memory");
        }
        free(lists[g]);
        lists[g] = joined;
    }
    return TALLY_OK;
}

/* A metric as JSON: counts as integers, decimals rounded to 6 places. */
static json_t *metric_json(int m, const char *text) {
    if (!text) return json_null();
    switch (m) {
    case TALLY_M_AUDIO_SECONDS:
    case TALLY_M_COST_USD:
    case TALLY_M_COST_BRL:
    case TALLY_M_TIME_SAVED: return tally_decimal_json(text, 6);
    default: return json_integer(strtoll(text, NULL, 10));
    }
}

typedef struct {
    const tally_usage_query *q;
    json_t *rows, *totals;
} build_ctx;

static json_t *metrics_object(const tally_usage_row *row, json_t *into) {
    bool empty = row->metric[TALLY_M_REQUESTS] == NULL; /* a total over no usage */
    for (int m = 0; m < TALLY_M__COUNT; m++)
        json_object_set_new(into, tally_metric_names[m],
                            metric_json(m, empty ? "0" : row->metric[m]));
    return into;
}

static void on_row(const tally_usage_row *row, void *arg) {
    build_ctx *c = arg;
    if (row->is_total) {
        c->totals = metrics_object(row, json_object());
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "period_start", json_string(row->period_start));
    json_object_set_new(o, "period_end", json_string(row->period_end));
    json_t *group = json_object();
    for (int g = 0; g < c->q->n_groups; g++)
        json_object_set_new(group, tally_groups[c->q->groups[g]].name,
                            row->group[g] ? json_string(row->group[g]) : json_null());
    json_object_set_new(o, "group", group);
    json_array_append_new(c->rows, metrics_object(row, o));
}

static tally_code report_usage(tally_pg *pg, const tally_usage_request *req,
                               const tally_bound *from, const tally_bound *to,
                               tally_granularity gran, const tally_group *groups, int n_groups,
                               char *const *filters, json_t **out, tally_err *err) {
    tally_code rc;

    bool known;
    char zone[128];
    if ((rc = tally_usage_tenant(pg, req->tenant_id, &known, zone, sizeof zone, err)) != TALLY_OK)
        return rc;
    if (!known) return tally_err_set(err, TALLY_ENOTFOUND, "tenant not found");

    tally_window w;
    if ((rc = tally_usage_window(pg, zone, from, to, gran, &w, err)) != TALLY_OK) return rc;
    if (w.from >= w.to)
        return tally_err_set(err, TALLY_EINVAL, "from: must be before to (%s >= %s)", w.from_text,
                             w.to_text);
    if (w.periods > 1000)
        return tally_err_set(err, TALLY_EINVAL,
                             "granularity: the window holds %lld %s buckets, more than 1000",
                             (long long)w.periods, tally_granularities[gran].name);

    tally_usage_query q = {.tenant_id = req->tenant_id,
                           .zone = zone,
                           .window = &w,
                           .granularity = gran,
                           .groups = groups,
                           .n_groups = n_groups};
    for (int g = 0; g < TALLY_GROUP__COUNT; g++) q.filter[g] = filters[g];
    build_ctx c = {.q = &q, .rows = json_array(), .totals = NULL};
    rc = tally_usage_rows(pg, &q, on_row, &c, err);
    if (rc != TALLY_OK) {
        json_decref(c.rows);
        json_decref(c.totals);
        return rc;
    }
    json_t *report = json_object();
    json_object_set_new(report, "tenant_id", json_string(req->tenant_id));
    json_object_set_new(report, "timezone", json_string(zone));
    json_object_set_new(report, "from", json_string(w.from_text));
    json_object_set_new(report, "to", json_string(w.to_text));
    json_object_set_new(report, "granularity", json_string(tally_granularities[gran].name));
    json_t *gb = json_array();
    for (int g = 0; g < n_groups; g++)
        json_array_append_new(gb, json_string(tally_groups[groups[g]].name));
    json_object_set_new(report, "group_by", gb);
    /* The filters applied, each dimension's values as given (in order). */
    json_t *fo = json_object();
    for (int g = 0; g < TALLY_GROUP__COUNT; g++) {
        if (!filters[g]) continue;
        json_t *vals = json_array();
        for (const char *p = filters[g];;) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            json_array_append_new(vals, json_stringn(p, len));
            if (!end) break;
            p = end + 1;
        }
        json_object_set_new(fo, tally_groups[g].name, vals);
    }
    json_object_set_new(report, "filters", fo);
    json_object_set_new(report, "rows", c.rows);
    json_object_set_new(report, "totals", c.totals ? c.totals : json_object());
    *out = report;
    return TALLY_OK;
}

tally_code tally_report_usage(tally_pg *pg, const tally_usage_request *req, json_t **out,
                              tally_err *err) {
    tally_bound from, to;
    tally_granularity gran;
    tally_group groups[TALLY_GROUP__COUNT];
    int n_groups;
    tally_code rc;
    if (!valid_id(req->tenant_id)) return tally_err_set(err, TALLY_ENOTFOUND, "tenant not found");
    if ((rc = parse_bound("from", req->from, &from, err)) != TALLY_OK ||
        (rc = parse_bound("to", req->to, &to, err)) != TALLY_OK ||
        (rc = parse_granularity(req->granularity, &gran, err)) != TALLY_OK ||
        (rc = parse_groups(req->group_by, groups, &n_groups, err)) != TALLY_OK)
        return rc;
    char *filters[TALLY_GROUP__COUNT] = {0};
    if ((rc = parse_filters(req, filters, err)) != TALLY_OK) return rc;
    rc = report_usage(pg, req, &from, &to, gran, groups, n_groups, filters, out, err);
    free_filters(filters);
    return rc;
}

char *tally_report_json_text(const json_t *report) {
    /* 15 significant digits print every 6-place amount below 10^9 exactly. */
    return json_dumps(report, JSON_REAL_PRECISION(15) | JSON_COMPACT);
}

/* One CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(tally_buf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        tally_buf_puts(b, s);
        return;
    }
    tally_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"') tally_buf_putc(b, '"');
        tally_buf_putc(b, *s);
    }
    tally_buf_putc(b, '"');
}

/* A text cell (a group value): one that a spreadsheet would take for a
 * formula — starting with =, +, -, @, a tab or a CR — gets a leading '
 * (the OWASP rule for CSV injection); it is then quoted as any other. */
static void csv_text(tally_buf *b, const json_t *v) {
    const char *s = json_string_value(v);
    if (!s) return; /* null: an empty field */
    if (!*s || !strchr("=+-@\t\r", *s)) {
        csv_field(b, s);
        return;
    }
    size_t n = strlen(s) + 2;
    char *quoted = malloc(n);
    if (!quoted) return;
    snprintf(quoted, n, "'%s", s);
    csv_field(b, quoted);
    free(quoted);
}

static void csv_value(tally_buf *b, const json_t *v) {
    char num[64];
    if (json_is_string(v)) {
        csv_field(b, json_string_value(v));
    } else if (json_is_integer(v)) {
        tally_buf_printf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
        tally_buf_puts(b, num);
    }
    /* null: an empty field */
}

char *tally_report_usage_csv(const json_t *report) {
    tally_buf b = {0};
    const json_t *gb = json_object_get(report, "group_by");
    size_t i;
    const json_t *g;
    json_array_foreach(gb, i, g) {
        csv_field(&b, json_string_value(g));
        tally_buf_putc(&b, ',');
    }
    tally_buf_puts(&b, "period_start,period_end");
    for (int m = 0; m < TALLY_M__COUNT; m++) tally_buf_printf(&b, ",%s", tally_metric_names[m]);
    tally_buf_puts(&b, "\r\n");
    const json_t *row;
    json_array_foreach(json_object_get(report, "rows"), i, row) {
        const json_t *group = json_object_get(row, "group");
        size_t k;
        json_array_foreach(gb, k, g) {
            csv_text(&b, json_object_get(group, json_string_value(g)));
            tally_buf_putc(&b, ',');
        }
        csv_value(&b, json_object_get(row, "period_start"));
        tally_buf_putc(&b, ',');
        csv_value(&b, json_object_get(row, "period_end"));
        for (int m = 0; m < TALLY_M__COUNT; m++) {
            tally_buf_putc(&b, ',');
            csv_value(&b, json_object_get(row, tally_metric_names[m]));
        }
        tally_buf_puts(&b, "\r\n");
    }
    if (!b.data) tally_buf_puts(&b, "");
    return b.data;
}
