/*
 * Reports against an independent recomputation. The events (a generated
 * month plus hand-made edge cases) go through the real pipeline — Kafka,
 * tally-ingest, tally-aggregate, PostgreSQL — and every report, for every
 * tenant, granularity and a spread of group_by sets, must equal what this
 * file computes from the raw events by CONTRACT.md §2 alone: exact integer
 * arithmetic on scaled decimals, the price/FX version in force at each
 * interaction's own time, tenant zones as fixed offsets (all of Brazil's
 * zones have had no DST since 2019).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "tally_stream.h"
#include "itest.h"
#include "tally_analytics.h"
#include "tally_pg.h"

typedef __int128 i128;

/* --- the model of the contract ----------------------------------------- */

#define MAX_N 8192

typedef struct {
    char model[96], tenant[160]; /* tenant "" = global */
    tally_usec from, ev_time;
    i128 pi, pc, po, ms; /* per 1M tokens ×1e6; minutes per 100 tokens ×1e6 */
} price_v;

typedef struct {
    tally_usec from, ev_time;
    i128 rate; /* ×1e6 */
} fx_v;

typedef struct {
    char id[160], tenant[160], user[160], model[160], kind[16], agent[160], channel[64];
    bool has_agent, has_channel, error;
    tally_usec time;
    int64_t in, cached, out;
    i128 audio; /* ×1e6 */
    bool has_cost, has_saved;
    i128 cost;  /* ×1e12 */
    i128 saved; /* ×1e8 */
} inter;

typedef struct {
    char interaction[160], user[160], tenant[160];
    bool like;
    tally_usec ev_time;
} rating;

typedef struct {
    char tenant[160], zone[64];
    tally_usec ev_time;
} tenant_zone;

typedef struct {
    price_v prices[256];
    int n_prices;
    fx_v fx[16];
    int n_fx;
    inter *inters;
    int n_inters;
    rating *ratings;
    int n_ratings;
    tenant_zone zones[64];
    int n_zones;
} model_state;

/* A decimal text scaled by 10^scale into an integer (exact for the test data). */
static i128 scaled(const char *s, int scale) {
    i128 v = 0;
    int frac = -1;
    bool neg = *s == '-';
    if (neg) s++;
    for (; *s; s++) {
        if (*s == '.') {
            frac = 0;
            continue;
        }
        if (*s < '0' || *s > '9') break;
        if (frac >= 0) {
            if (frac == scale) continue;
            frac++;
        }
        v = v * 10 + (*s - '0');
    }
    for (int f = frac < 0 ? 0 : frac; f < scale; f++) v *= 10;
    return neg ? -v : v;
}

/* UTC offsets in minutes of the zones the test uses (none has DST in 2026). */
static int zone_offset_minutes(const char *zone) {
    if (!strcmp(zone, "America/Manaus") || !strcmp(zone, "America/Porto_Velho") ||
        !strcmp(zone, "America/Cuiaba") || !strcmp(zone, "America/Boa_Vista"))
        return -4 * 60;
    if (!strcmp(zone, "America/Rio_Branco") || !strcmp(zone, "America/Eirunepe")) return -5 * 60;
    if (!strcmp(zone, "America/Noronha")) return -2 * 60;
    if (!strcmp(zone, "Asia/Kolkata")) return 5 * 60 + 30; /* midnights on half hours */
    if (!strcmp(zone, "UTC")) return 0;
    return -3 * 60; /* São Paulo and the rest of Brazil */
}

static const char *zone_of(const model_state *s, const char *tenant) {
    for (int i = 0; i < s->n_zones; i++)
        if (!strcmp(s->zones[i].tenant, tenant)) return s->zones[i].zone;
    return "America/Sao_Paulo";
}

/* Field readers over the raw JSON, independent of the decoder's typed view
 * (the decoder only tells the event type and envelope here). */
static const char *str(const json_t *d, const char *k) {
    const json_t *v = json_object_get(d, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t num(const json_t *d, const char *k) {
    const json_t *v = json_object_get(d, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool has(const json_t *d, const char *k) {
    const json_t *v = json_object_get(d, k);
    return v && !json_is_null(v);
}

/* A decimal field (JSON number or string) scaled by 10^scale. */
static i128 dec(const json_t *d, const char *k, int scale) {
    const json_t *v = json_object_get(d, k);
    if (json_is_string(v)) return scaled(json_string_value(v), scale);
    if (!json_is_number(v)) return 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%.12f", json_number_value(v));
    return scaled(buf, scale);
}

static tally_usec when(const json_t *d, const char *k) {
    tally_usec t = 0;
    if (!tally_time_parse_rfc3339(str(d, k), &t)) fail_msg("bad time in %s", k);
    return t;
}

static void copy(char *dst, size_t len, const char *src) {
    snprintf(dst, len, "%s", src ? src : "");
}

static void absorb(model_state *s, const tally_event *ev, const json_t *d) {
    switch (ev->type) {
    case TALLY_EV_TENANT_UPSERTED: {
        const char *tenant = str(d, "tenant_id");
        int i = 0;
        while (i < s->n_zones && strcmp(s->zones[i].tenant, tenant)) i++;
        if (i == s->n_zones) {
            s->n_zones++;
            copy(s->zones[i].tenant, sizeof s->zones[i].tenant, tenant);
        } else if (s->zones[i].ev_time > ev->time) {
            return;
        }
        copy(s->zones[i].zone, sizeof s->zones[i].zone,
             has(d, "timezone") ? str(d, "timezone") : "America/Sao_Paulo");
        s->zones[i].ev_time = ev->time;
        break;
    }
    case TALLY_EV_MODEL_PRICED: {
        const char *model = str(d, "model_id"),
                   *tk = has(d, "tenant_id") ? str(d, "tenant_id") : "";
        tally_usec from = when(d, "effective_from");
        int i = 0;
        while (i < s->n_prices &&
               !(strcmp(s->prices[i].model, model) == 0 && strcmp(s->prices[i].tenant, tk) == 0 &&
                 s->prices[i].from == from))
            i++;
        if (i < s->n_prices && s->prices[i].ev_time > ev->time) return;
        if (i == s->n_prices) s->n_prices++;
        price_v *v = &s->prices[i];
        copy(v->model, sizeof v->model, model);
        copy(v->tenant, sizeof v->tenant, tk);
        v->from = from;
        v->ev_time = ev->time;
        v->pi = dec(d, "input_usd_per_1m", 6);
        v->po = dec(d, "output_usd_per_1m", 6);
        v->pc = has(d, "cached_input_usd_per_1m") ? dec(d, "cached_input_usd_per_1m", 6) : v->pi;
        v->ms = dec(d, "minutes_saved_per_100_output_tokens", 6);
        break;
    }
    case TALLY_EV_FX_RATE_SET: {
        if (strcmp(str(d, "currency"), "BRL")) return;
        tally_usec from = when(d, "effective_from");
        int i = 0;
        while (i < s->n_fx && s->fx[i].from != from) i++;
        if (i < s->n_fx && s->fx[i].ev_time > ev->time) return;
        if (i == s->n_fx) s->n_fx++;
        s->fx[i] = (fx_v){from, ev->time, dec(d, "per_usd", 6)};
        break;
    }
    case TALLY_EV_INTERACTION_RECORDED: {
        for (int i = s->n_inters - 1; i >= 0; i--)
            if (!strcmp(s->inters[i].id, ev->id)) return; /* counted once */
        inter *it = &s->inters[s->n_inters++];
        memset(it, 0, sizeof *it);
        copy(it->id, sizeof it->id, ev->id);
        copy(it->tenant, sizeof it->tenant, str(d, "tenant_id"));
        copy(it->user, sizeof it->user, str(d, "user_id"));
        copy(it->model, sizeof it->model, str(d, "model_id"));
        copy(it->kind, sizeof it->kind, has(d, "kind") ? str(d, "kind") : "chat");
        if ((it->has_agent = has(d, "agent_id")))
            copy(it->agent, sizeof it->agent, str(d, "agent_id"));
        if ((it->has_channel = has(d, "channel")))
            copy(it->channel, sizeof it->channel, str(d, "channel"));
        it->error = has(d, "status") && !strcmp(str(d, "status"), "error");
        it->time = ev->time;
        it->in = num(d, "input_tokens");
        it->cached = num(d, "cached_tokens");
        it->out = num(d, "output_tokens");
        it->audio = dec(d, "audio_seconds", 6);
        if ((it->has_cost = has(d, "cost_usd"))) it->cost = dec(d, "cost_usd", 12);
        if ((it->has_saved = has(d, "time_saved_minutes")))
            it->saved = dec(d, "time_saved_minutes", 8);
        break;
    }
    case TALLY_EV_FEEDBACK_RECORDED: {
        const char *inter_id = str(d, "interaction_id"), *user = str(d, "user_id");
        int i = 0;
        while (i < s->n_ratings && !(strcmp(s->ratings[i].interaction, inter_id) == 0 &&
                                     strcmp(s->ratings[i].user, user) == 0))
            i++;
        if (i < s->n_ratings && s->ratings[i].ev_time > ev->time) return;
        if (i == s->n_ratings) s->n_ratings++;
        rating *r = &s->ratings[i];
        copy(r->interaction, sizeof r->interaction, inter_id);
        copy(r->user, sizeof r->user, user);
        copy(r->tenant, sizeof r->tenant, str(d, "tenant_id"));
        r->like = !strcmp(str(d, "rating"), "like");
        r->ev_time = ev->time;
        break;
    }
    default: break;
    }
}

/* The model reads the line's data with jansson, not through the decoder. */
static void absorb_line(model_state *s, const tally_event *ev, const char *line) {
    json_t *root = json_loads(line, 0, NULL);
    absorb(s, ev, json_object_get(root, "data"));
    json_decref(root);
}

/* A count in the line's data, read with jansson. */
static int64_t line_num(const char *line, const char *k) {
    json_t *root = json_loads(line, 0, NULL);
    int64_t n = num(json_object_get(root, "data"), k);
    json_decref(root);
    return n;
}

/* The version in force at t: the latest effective_from <= t. */
static const price_v *price_at(const model_state *s, const char *model, const char *tenant,
                               tally_usec t) {
    const price_v *best = NULL;
    for (int pass = 0; pass < 2 && !best; pass++) {
        const char *tk = pass == 0 ? tenant : "";
        for (int i = 0; i < s->n_prices; i++) {
            const price_v *p = &s->prices[i];
            if (strcmp(p->model, model) || strcmp(p->tenant, tk) || p->from > t) continue;
            if (!best || p->from > best->from) best = p;
        }
    }
    return best;
}

static const fx_v *fx_at(const model_state *s, tally_usec t) {
    const fx_v *best = NULL;
    for (int i = 0; i < s->n_fx; i++)
        if (s->fx[i].from <= t && (!best || s->fx[i].from > best->from)) best = &s->fx[i];
    return best;
}

/* --- expected rows --------------------------------------------------------- */

typedef struct {
    tally_usec period, end; /* clipped to the window */
    const char *group[5];   /* NULL = null */
    int64_t requests, errors, in, cached, out, likes, dislikes;
    i128 audio, cost /* ×1e12 */, brl /* ×1e18 */, saved /* ×1e8 */;
    bool brl_null;
} expect_row;

static const char *const GROUP_NAMES[] = {"model", "user", "agent", "kind", "channel"};

static const char *group_value(const inter *it, int g) {
    switch (g) {
    case 0: return it->model;
    case 1: return it->user;
    case 2: return it->has_agent ? it->agent : NULL;
    case 3: return it->kind;
    default: return it->has_channel ? it->channel : NULL;
    }
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + (int64_t)(yoe * 365 + yoe / 4 - yoe / 100 + doy) - 719468;
}

/* Start of the period holding t, in a zone of fixed offset (minutes). */
static tally_usec period_start(tally_usec t, int off_m, const char *gran, tally_usec from) {
    if (!strcmp(gran, "total")) return from;
    const int64_t day = 86400LL * 1000000;
    tally_usec local = t + (int64_t)off_m * 60 * 1000000;
    int64_t d = local >= 0 ? local / day : (local - day + 1) / day;
    if (!strcmp(gran, "week")) d -= ((d % 7) + 7 + 3) % 7; /* 1970-01-01 was a Thursday */
    if (!strcmp(gran, "month")) {
        time_t secs = (time_t)(d * 86400);
        struct tm tm;
        gmtime_r(&secs, &tm);
        d = days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, 1);
    }
    return d * day - (int64_t)off_m * 60 * 1000000;
}

/* End of the period starting at ps (its next one's start), clipped to to. */
static tally_usec period_end(tally_usec ps, int off_m, const char *gran, tally_usec to) {
    const int64_t day = 86400LL * 1000000;
    tally_usec end = to;
    if (!strcmp(gran, "day")) end = ps + day;
    if (!strcmp(gran, "week")) end = ps + 7 * day;
    if (!strcmp(gran, "month")) end = period_start(ps + 32 * day, off_m, gran, ps);
    return end < to ? end : to;
}

static bool same_group(const expect_row *r, const char *const *g, int n) {
    for (int i = 0; i < n; i++) {
        if (!r->group[i] != !g[i]) return false;
        if (g[i] && strcmp(r->group[i], g[i])) return false;
    }
    return true;
}

static expect_row *find_row(expect_row *rows, int *n, tally_usec period, const char *const *g,
                            int ng) {
    for (int i = 0; i < *n; i++)
        if (rows[i].period == period && same_group(&rows[i], g, ng)) return &rows[i];
    expect_row *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    r->period = period;
    for (int i = 0; i < ng; i++) r->group[i] = g[i];
    return r;
}

static void add_inter(const model_state *s, expect_row *r, const inter *it) {
    r->requests++;
    r->errors += it->error;
    r->in += it->in;
    r->cached += it->cached;
    r->out += it->out;
    r->audio += it->audio;
    const price_v *p = price_at(s, it->model, it->tenant, it->time);
    i128 cost = it->has_cost ? it->cost
                : p          ? ((i128)(it->in - it->cached) * p->pi + (i128)it->cached * p->pc +
                       (i128)it->out * p->po)
                             : 0;
    r->cost += cost;
    r->saved += it->has_saved ? it->saved : (p ? (i128)it->out * p->ms : 0);
    const fx_v *fx = fx_at(s, it->time);
    if (fx)
        r->brl += cost * fx->rate;
    else
        r->brl_null = true;
}

/* Expected rows (and the totals, last) of one report. */
static int expected(const model_state *s, const char *tenant, tally_usec from, tally_usec to,
                    const char *gran, const int *groups, int ng, expect_row *rows,
                    expect_row *totals) {
    int n = 0;
    int off = zone_offset_minutes(zone_of(s, tenant));
    memset(totals, 0, sizeof *totals);
    for (int i = 0; i < s->n_inters; i++) {
        const inter *it = &s->inters[i];
        if (strcmp(it->tenant, tenant) || it->time < from || it->time >= to) continue;
        const char *g[5];
        for (int k = 0; k < ng; k++) g[k] = group_value(it, groups[k]);
        /* A row's period is clipped to the window: it starts at from at
         * the earliest. */
        tally_usec ps = period_start(it->time, off, gran, from);
        expect_row *r = find_row(rows, &n, ps < from ? from : ps, g, ng);
        r->end = period_end(ps, off, gran, to);
        add_inter(s, r, it);
        add_inter(s, totals, it);
        for (int k = 0; k < s->n_ratings; k++) {
            const rating *ra = &s->ratings[k];
            if (strcmp(ra->interaction, it->id) || strcmp(ra->tenant, it->tenant)) continue;
            r->likes += ra->like;
            r->dislikes += !ra->like;
            totals->likes += ra->like;
            totals->dislikes += !ra->like;
        }
    }
    return n;
}

/* --- comparing -------------------------------------------------------------- */

static void i128_text(i128 v, int scale, char *out, size_t len) {
    char digits[64];
    int n = 0;
    bool neg = v < 0;
    if (neg) v = -v;
    do {
        digits[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v > 0 || n <= scale);
    size_t o = 0;
    if (neg) out[o++] = '-';
    for (int i = n - 1; i >= 0 && o + 2 < len; i--) {
        out[o++] = digits[i];
        if (i == scale && scale > 0) out[o++] = '.';
    }
    out[o] = '\0';
}

static void check_decimal(const char *what, const json_t *got, i128 want, int scale,
                          const char *where) {
    char exact[80], rounded[80];
    i128_text(want, scale, exact, sizeof exact);
    assert_true(tally_decimal_round(exact, 6, rounded, sizeof rounded));
    if (!json_is_number(got) || json_number_value(got) != strtod(rounded, NULL))
        fail_msg("%s: %s is %.17g, expected %s (exact %s)", where, what,
                 json_is_number(got) ? json_number_value(got) : -1.0, rounded, exact);
}

static void check_int(const char *what, const json_t *got, int64_t want, const char *where) {
    if (!json_is_integer(got) || json_integer_value(got) != want)
        fail_msg("%s: %s is %lld, expected %lld", where, what,
                 json_is_integer(got) ? (long long)json_integer_value(got) : -1LL, (long long)want);
}

static void check_metrics(const json_t *got, const expect_row *e, const char *where) {
    check_int("requests", json_object_get(got, "requests"), e->requests, where);
    check_int("errors", json_object_get(got, "errors"), e->errors, where);
    check_int("input_tokens", json_object_get(got, "input_tokens"), e->in, where);
    check_int("cached_tokens", json_object_get(got, "cached_tokens"), e->cached, where);
    check_int("output_tokens", json_object_get(got, "output_tokens"), e->out, where);
    check_int("likes", json_object_get(got, "likes"), e->likes, where);
    check_int("dislikes", json_object_get(got, "dislikes"), e->dislikes, where);
    check_decimal("audio_seconds", json_object_get(got, "audio_seconds"), e->audio, 6, where);
    check_decimal("cost_usd", json_object_get(got, "cost_usd"), e->cost, 12, where);
    check_decimal("time_saved_minutes", json_object_get(got, "time_saved_minutes"), e->saved, 8,
                  where);
    if (e->brl_null) {
        if (!json_is_null(json_object_get(got, "cost_brl")))
            fail_msg("%s: cost_brl should be null (no FX rate)", where);
    } else {
        check_decimal("cost_brl", json_object_get(got, "cost_brl"), e->brl, 18, where);
    }
}

static int cmp_rows(const void *a, const void *b, int ng) {
    const expect_row *x = a, *y = b;
    if (x->period != y->period) return x->period < y->period ? -1 : 1;
    for (int i = 0; i < ng; i++) {
        if (!x->group[i] || !y->group[i]) {
            if (x->group[i] != y->group[i]) return x->group[i] ? -1 : 1; /* nulls last */
            continue;
        }
        int c = strcmp(x->group[i], y->group[i]);
        if (c) return c;
    }
    return 0;
}

static int sort_ng;
static int cmp_rows_q(const void *a, const void *b) { return cmp_rows(a, b, sort_ng); }

/* The rollup a report should be read from: an hourly one when every
 * boundary is on a whole UTC hour — the window's ends and (in a whole-hour
 * zone) its periods; edge-co has a price version at 10:15Z inside all of its
 * windows — and no group needs the user: usage_rollup_model_hourly for no
 * group or model alone, usage_rollup_hourly for the others. */
static tally_usage_source expected_source(const char *tenant, int off_m, tally_usec from,
                                          tally_usec to, const int *groups, int ng) {
    const tally_usec hour = 3600LL * 1000000;
    if (off_m % 60 != 0 || from % hour != 0 || to % hour != 0 || !strcmp(tenant, "edge-co"))
        return TALLY_USAGE_FULL;
    bool model_only = true;
    for (int i = 0; i < ng; i++) {
        if (groups[i] == 1) return TALLY_USAGE_FULL; /* user */
        if (groups[i] != 0) model_only = false;
    }
    return model_only ? TALLY_USAGE_MODEL_HOURLY : TALLY_USAGE_HOURLY;
}

static void check_report(tally_pg *pg, const model_state *s, const char *tenant, const char *from_s,
                         const char *to_s, tally_usec from, tally_usec to, const char *gran,
                         const int *groups, int ng) {
    tally_usage_source want = expected_source(tenant, zone_offset_minutes(zone_of(s, tenant)), from,
                                              to, groups, ng);
    long long before[TALLY_USAGE__SOURCES];
    for (int k = 0; k < TALLY_USAGE__SOURCES; k++) before[k] = tally_usage_source_count(k);
    char group_by[64] = "";
    for (int i = 0; i < ng; i++)
        snprintf(group_by + strlen(group_by), sizeof group_by - strlen(group_by), "%s%s",
                 i ? "," : "", GROUP_NAMES[groups[i]]);
    char where[256];
    snprintf(where, sizeof where, "%s %s..%s granularity=%s group_by=%s", tenant, from_s, to_s,
             gran, group_by);
    tally_usage_request req = {tenant, from_s, to_s, gran, ng ? group_by : NULL, NULL, 0};
    json_t *rep = NULL;
    tally_err err;
    if (tally_report_usage(pg, &req, &rep, &err) != TALLY_OK) fail_msg("%s: %s", where, err.msg);
    int used = -1;
    for (int k = 0; k < TALLY_USAGE__SOURCES; k++)
        if (tally_usage_source_count(k) > before[k]) used = k;
    if (used != (int)want)
        fail_msg("%s: read from the %s rollup, expected the %s one", where,
                 used < 0 ? "no" : tally_usage_source_names[used], tally_usage_source_names[want]);

    static expect_row rows[MAX_N];
    expect_row totals;
    int n = expected(s, tenant, from, to, gran, groups, ng, rows, &totals);
    sort_ng = ng;
    qsort(rows, (size_t)n, sizeof rows[0], cmp_rows_q);
    const json_t *got_rows = json_object_get(rep, "rows");
    if ((int)json_array_size(got_rows) != n)
        fail_msg("%s: %zu rows, expected %d", where, json_array_size(got_rows), n);
    for (int i = 0; i < n; i++) {
        const json_t *g = json_array_get(got_rows, (size_t)i);
        char at[320];
        snprintf(at, sizeof at, "%s row %d", where, i);
        tally_usec p;
        assert_true(
            tally_time_parse_rfc3339(json_string_value(json_object_get(g, "period_start")), &p));
        if (p != rows[i].period)
            fail_msg("%s: period_start %s", at,
                     json_string_value(json_object_get(g, "period_start")));
        const char *end = json_string_value(json_object_get(g, "period_end"));
        if (!end || !tally_time_parse_rfc3339(end, &p) || p != rows[i].end)
            fail_msg("%s: period_end %s", at, end ? end : "missing");
        const json_t *grp = json_object_get(g, "group");
        for (int k = 0; k < ng; k++) {
            const json_t *v = json_object_get(grp, GROUP_NAMES[groups[k]]);
            const char *want = rows[i].group[k];
            if (want ? !json_is_string(v) || strcmp(json_string_value(v), want) : !json_is_null(v))
                fail_msg("%s: group %s is %s, expected %s", at, GROUP_NAMES[groups[k]],
                         json_is_string(v) ? json_string_value(v) : "null", want ? want : "null");
        }
        check_metrics(g, &rows[i], at);
    }
    check_metrics(json_object_get(rep, "totals"), &totals, where);
    json_decref(rep);
}

/* --- the pipeline -------------------------------------------------------------- */

typedef struct {
    long long want;
} rollup_goal;

static bool counted_all(const itest_ctx *ctx, void *arg) {
    return itest_pg_scalar(ctx, "SELECT count(*) FROM agg_interactions") >=
           ((rollup_goal *)arg)->want;
}

/* The ingester has stored every price version and every rating. */
static bool entities_in(const itest_ctx *ctx, void *arg) {
    const model_state *s = arg;
    return itest_pg_scalar(ctx, "SELECT count(*) FROM model_prices") >= s->n_prices &&
           itest_pg_scalar(ctx, "SELECT count(*) FROM fx_rates") >= s->n_fx &&
           itest_pg_scalar(ctx, "SELECT count(*) FROM feedback") >= s->n_ratings;
}

/* Edge cases on top of the generated month, for tenant "edge-co" (São Paulo). */
static const char *const EDGE[] = {
    "{\"specversion\":\"1.0\",\"id\":\"edge-t\",\"type\":\"tenant.upserted\",\"time\":\"2026-02-01T00:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"name\":\"Edge Co\"}}",
    /* 02:30Z on April 1st is March 31st, 23:30 in São Paulo. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-1\",\"type\":\"interaction.recorded\",\"time\":\"2026-04-01T02:30:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u1\",\"model_id\":\"late/model\",\"input_tokens\":1000,\"cached_tokens\":400,\"output_tokens\":500}}",
    /* Before the late price's effective_from: no price, cost 0. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-2\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-09T12:00:00-03:00\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u2\",\"model_id\":\"late/model\",\"input_tokens\":333,\"output_tokens\":777,\"agent_id\":\"a1\",\"channel\":\"web\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-3\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-20T12:00:00-03:00\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u2\",\"model_id\":\"late/model\",\"input_tokens\":1234567,\"cached_tokens\":234567,\"output_tokens\":345678,\"status\":\"error\",\"kind\":\"chat\"}}",
    /* Supplied cost and time saved win over the computed ones. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-4\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-20T13:00:00-03:00\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u1\",\"model_id\":\"late/model\",\"input_tokens\":10,\"output_tokens\":10,\"cost_usd\":\"0.0000125\",\"time_saved_minutes\":2.5,\"kind\":\"tts\",\"audio_seconds\":12.25}}",
    /* The same id again: counted once. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-3\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-20T12:00:00-03:00\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u2\",\"model_id\":\"late/model\",\"input_tokens\":1234567,\"cached_tokens\":234567,\"output_tokens\":345678,\"status\":\"error\",\"kind\":\"chat\"}}",
    /* A rating that arrives before its interaction, and one revised. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-f1\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-21T10:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"interaction_id\":\"edge-5\",\"user_id\":\"u1\",\"rating\":\"dislike\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-5\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-21T09:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u1\",\"model_id\":\"late/model\",\"input_tokens\":5,\"output_tokens\":5}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-f2\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-21T11:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"interaction_id\":\"edge-4\",\"user_id\":\"u1\",\"rating\":\"like\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-f3\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-21T12:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"interaction_id\":\"edge-4\",\"user_id\":\"u1\",\"rating\":\"dislike\"}}",
    /* Published last, in force from the 15th (São Paulo): re-prices the past. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-p1\",\"type\":\"model.priced\",\"time\":\"2026-04-02T00:00:00Z\",\"data\":{\"model_id\":\"late/model\",\"input_usd_per_1m\":\"1.234567\",\"output_usd_per_1m\":3.5,\"cached_input_usd_per_1m\":0.5,\"minutes_saved_per_100_output_tokens\":0.75,\"effective_from\":\"2026-03-15T00:00:00-03:00\"}}",
    /* edge-co's own price of quarter/model changes at 10:15Z, inside an hour:
     * edge-co's reports must not come from the hourly rollup. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-p2\",\"type\":\"model.priced\",\"time\":\"2026-03-01T00:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"model_id\":\"quarter/model\",\"input_usd_per_1m\":2,\"output_usd_per_1m\":8,\"minutes_saved_per_100_output_tokens\":1,\"effective_from\":\"2026-03-15T10:00:00Z\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-p3\",\"type\":\"model.priced\",\"time\":\"2026-03-01T00:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"model_id\":\"quarter/model\",\"input_usd_per_1m\":3,\"output_usd_per_1m\":12,\"minutes_saved_per_100_output_tokens\":2,\"effective_from\":\"2026-03-15T10:15:00Z\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-q1\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-15T10:05:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u1\",\"model_id\":\"quarter/model\",\"input_tokens\":1000,\"output_tokens\":100}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-q2\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-15T10:20:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"user_id\":\"u2\",\"model_id\":\"quarter/model\",\"input_tokens\":1000,\"output_tokens\":100}}",
    /* A tenant whose midnights fall on half hours (+05:30): 18:15Z is 23:45
     * on the 10th there, 18:45Z is 00:15 on the 11th; 18:45Z on March 31st
     * is April. Its reports must not come from the hourly rollup. */
    "{\"specversion\":\"1.0\",\"id\":\"edge-in-t\",\"type\":\"tenant.upserted\",\"time\":\"2026-02-01T00:00:00Z\",\"subject\":\"edge-in\",\"data\":{\"tenant_id\":\"edge-in\",\"name\":\"Edge India\",\"timezone\":\"Asia/Kolkata\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-in-1\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-10T18:15:00Z\",\"subject\":\"edge-in\",\"data\":{\"tenant_id\":\"edge-in\",\"user_id\":\"u1\",\"model_id\":\"late/model\",\"input_tokens\":100,\"output_tokens\":10}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-in-2\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-10T18:45:00Z\",\"subject\":\"edge-in\",\"data\":{\"tenant_id\":\"edge-in\",\"user_id\":\"u1\",\"model_id\":\"late/model\",\"input_tokens\":200,\"output_tokens\":20}}",
    "{\"specversion\":\"1.0\",\"id\":\"edge-in-3\",\"type\":\"interaction.recorded\",\"time\":\"2026-03-31T18:45:00Z\",\"subject\":\"edge-in\",\"data\":{\"tenant_id\":\"edge-in\",\"user_id\":\"u2\",\"model_id\":\"late/model\",\"input_tokens\":400,\"output_tokens\":40}}",
};

/* Ratings that reach interactions already counted, in a later run of the
 * aggregator: a newer one moves a count, an older one changes nothing, new
 * pairs add one, and one naming another tenant than its interaction's never
 * counts. The last one is the sentinel the test waits for. */
static const char *const LATE_RATINGS[] = {
    "{\"specversion\":\"1.0\",\"id\":\"late-f1\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-21T13:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"interaction_id\":\"edge-4\",\"user_id\":\"u1\",\"rating\":\"like\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"late-f2\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-21T09:30:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"interaction_id\":\"edge-5\",\"user_id\":\"u1\",\"rating\":\"like\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"late-f3\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-22T00:00:00Z\",\"subject\":\"edge-co\",\"data\":{\"tenant_id\":\"edge-co\",\"interaction_id\":\"edge-2\",\"user_id\":\"u7\",\"rating\":\"like\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"late-f4\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-22T00:00:00Z\",\"subject\":\"other-co\",\"data\":{\"tenant_id\":\"other-co\",\"interaction_id\":\"edge-q1\",\"user_id\":\"u7\",\"rating\":\"like\"}}",
    "{\"specversion\":\"1.0\",\"id\":\"late-f5\",\"type\":\"feedback.recorded\",\"time\":\"2026-03-22T00:00:00Z\",\"subject\":\"edge-in\",\"data\":{\"tenant_id\":\"edge-in\",\"interaction_id\":\"edge-in-1\",\"user_id\":\"u1\",\"rating\":\"dislike\"}}",
};

static bool late_ratings_in(const itest_ctx *ctx, void *arg) {
    (void)arg;
    return itest_pg_scalar(ctx, "SELECT count(*) FROM agg_feedback"
                                " WHERE interaction_id = 'edge-in-1'") > 0;
}


/* Every tenant's reports: each granularity × each group set over March in
 * its zone, longer windows, and RFC 3339 windows in another offset (on and
 * off whole hours). Returns how many were checked. */
static int check_all_reports(tally_pg *pg, const model_state *s) {
    static const int G[][3] = {{-1}, {0}, {1}, {2}, {3}, {4}, {0, 1}, {3, 4, 2}};
    static const int NG[] = {0, 1, 1, 1, 1, 1, 2, 3};
    static const char *const GRANS[] = {"total", "day", "week", "month"};
    int reports = 0;
    for (int t = 0; t < s->n_zones; t++) {
        const char *tenant = s->zones[t].tenant;
        int off = zone_offset_minutes(s->zones[t].zone);
        /* March and the whole of February–April in the tenant's zone. */
        tally_usec mar = (days_from_civil(2026, 3, 1) * 86400 - off * 60) * 1000000LL;
        tally_usec apr = (days_from_civil(2026, 4, 1) * 86400 - off * 60) * 1000000LL;
        tally_usec feb = (days_from_civil(2026, 2, 1) * 86400 - off * 60) * 1000000LL;
        tally_usec may = (days_from_civil(2026, 5, 1) * 86400 - off * 60) * 1000000LL;
        for (int g = 0; g < 4; g++)
            for (size_t k = 0; k < sizeof NG / sizeof NG[0]; k++) {
                check_report(pg, s, tenant, "2026-03-01", "2026-04-01", mar, apr, GRANS[g], G[k],
                             NG[k]);
                reports++;
            }
        check_report(pg, s, tenant, "2026-02-01", "2026-05-01", feb, may, "month", G[6], 2);
        check_report(pg, s, tenant, "2026-02-01", "2026-05-01", feb, may, "week", G[0], 0);
        check_report(pg, s, tenant, "2026-02-01", "2026-05-01", feb, may, "day", G[1], 1);
        /* RFC 3339 ends in another offset: on quarter hours (08:15Z), and on
         * whole hours (08:00Z). */
        tally_usec mar10 = days_from_civil(2026, 3, 10) * 86400 * 1000000LL;
        tally_usec mar20 = days_from_civil(2026, 3, 20) * 86400 * 1000000LL;
        tally_usec q = 900 * 1000000LL, h8 = 8 * 3600 * 1000000LL;
        for (int k = 0; k < 3; k++) {
            check_report(pg, s, tenant, "2026-03-10T10:15:00+02:00", "2026-03-20T00:00:00Z",
                         mar10 + h8 + q, mar20, "day", G[k], NG[k]);
            check_report(pg, s, tenant, "2026-03-10T10:00:00+02:00", "2026-03-20T00:00:00Z",
                         mar10 + h8, mar20, "day", G[k], NG[k]);
        }
        reports += 9;
    }
    return reports;
}

static void reports_equal_recomputation(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "report", 6);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    const char *gen[] = {
        "--events", "3000",         "--tenants", "7",          "--users-per-tenant",
        "6",        "--duplicates", "5",         "--feedback", "10",
        "--seed",   "2026",         NULL};
    itest_generate(&ctx, path, gen);
    itest_produce_file(&ctx, path);

    size_t n_edge = sizeof EDGE / sizeof EDGE[0];
    const char **keys = calloc(n_edge, sizeof *keys);
    for (size_t i = 0; i < n_edge; i++)
        keys[i] = strstr(EDGE[i], "\"subject\"") ? "edge-co" : "_global";
    itest_produce(&ctx, ctx.topic, keys, EDGE, NULL, n_edge);
    free(keys);

    /* The model: every generated line plus the edge cases, in order. */
    model_state *s = calloc(1, sizeof *s);
    s->inters = calloc(MAX_N, sizeof *s->inters);
    s->ratings = calloc(MAX_N, sizeof *s->ratings);
    itest_lines lines = itest_read_lines(path);
    for (size_t i = 0; i < lines.n + n_edge; i++) {
        const char *l = i < lines.n ? lines.line[i] : EDGE[i - lines.n];
        tally_event ev;
        tally_err err;
        if (tally_event_decode(l, strlen(l), &ev, &err) != TALLY_OK)
            fail_msg("line %zu: %s", i, err.msg);
        absorb_line(s, &ev, l);
        tally_event_free(&ev);
    }
    itest_lines_free(&lines);

    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    const char *args[] = {"--batch-ms", "50", "--stats-interval", "0", NULL};
    pid_t ing = itest_spawn(&ctx, "ingest/tally-ingest", args);
    pid_t agg = itest_spawn(&ctx, "analytics/tally-aggregate", args);
    rollup_goal goal = {s->n_inters};
    assert_true(itest_wait_until(counted_all, &ctx, &goal, 300000));
    assert_true(itest_wait_until(entities_in, &ctx, s, 120000));
    assert_int_equal(itest_stop(ing, SIGTERM, 30000), 0);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(requests) FROM usage_rollup"), s->n_inters);

    tally_err err;
    tally_pg *pg = tally_pg_open(ctx.pg_url, &err);
    if (!pg) fail_msg("%s", err.msg);
    int reports = check_all_reports(pg, s);
    printf("  %d reports over %d tenants, %d interactions, %d ratings matched the recomputation\n",
           reports, s->n_zones, s->n_inters, s->n_ratings);
    /* The edge tenant's March really holds the 02:30Z-on-April-1st interaction. */
    tally_usage_request req = {"edge-co", "2026-03-01", "2026-04-01", "month", NULL, NULL, 0};
    json_t *rep;
    assert_int_equal(tally_report_usage(pg, &req, &rep, &err), TALLY_OK);
    const json_t *totals = json_object_get(rep, "totals");
    assert_int_equal(json_integer_value(json_object_get(totals, "requests")), 7);
    json_int_t likes = json_integer_value(json_object_get(totals, "likes"));
    json_int_t dislikes = json_integer_value(json_object_get(totals, "dislikes"));
    json_decref(rep);
    /* No from/to: the current month in the tenant's zone (a bug once made it a 503). */
    tally_usage_request dflt = {"edge-co", NULL, NULL, "day", "model", NULL, 0};
    if (tally_report_usage(pg, &dflt, &rep, &err) != TALLY_OK)
        fail_msg("default window: %s", err.msg);
    assert_non_null(strstr(json_string_value(json_object_get(rep, "from")), "-01T00:00:00-03:00"));
    json_decref(rep);
    tally_usage_request from_only = {"edge-co", "2026-03-01", NULL, NULL, NULL, NULL, 0};
    assert_int_equal(tally_report_usage(pg, &from_only, &rep, &err), TALLY_OK);
    json_decref(rep);

    /* Ratings of interactions counted long ago, in a second run. */
    size_t n_late = sizeof LATE_RATINGS / sizeof LATE_RATINGS[0];
    const char *late_keys[sizeof LATE_RATINGS / sizeof LATE_RATINGS[0]];
    for (size_t i = 0; i < n_late; i++) {
        late_keys[i] = "edge-co"; /* one partition: the last one processed means all were */
        tally_event ev;
        if (tally_event_decode(LATE_RATINGS[i], strlen(LATE_RATINGS[i]), &ev, &err) != TALLY_OK)
            fail_msg("late rating %zu: %s", i, err.msg);
        absorb_line(s, &ev, LATE_RATINGS[i]);
        tally_event_free(&ev);
    }
    itest_produce(&ctx, ctx.topic, late_keys, LATE_RATINGS, NULL, n_late);
    agg = itest_spawn(&ctx, "analytics/tally-aggregate", args);
    assert_true(itest_wait_until(late_ratings_in, &ctx, NULL, 120000));
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    assert_int_equal(tally_report_usage(pg, &req, &rep, &err), TALLY_OK);
    totals = json_object_get(rep, "totals");
    /* edge-4: dislike → like; edge-2: a new like; edge-5's older like and
     * other-co's like change nothing. */
    assert_int_equal(json_integer_value(json_object_get(totals, "likes")), likes + 2);
    assert_int_equal(json_integer_value(json_object_get(totals, "dislikes")), dislikes - 1);
    json_decref(rep);
    reports = check_all_reports(pg, s);
    printf("  after late ratings: %d reports matched again\n", reports);

    /* The server drops the connection that holds the prepared report
     * statements: one call may fail, the next reconnects, prepares again
     * and answers the same. */
    assert_true(itest_pg_scalar(&ctx,
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                " WHERE datname = current_database()"
                                " AND pid <> pg_backend_pid()") >= 1);
    if (tally_report_usage(pg, &req, &rep, &err) == TALLY_OK)
        json_decref(rep);
    else
        assert_int_equal(err.code, TALLY_ESTORE);
    int off = zone_offset_minutes("America/Sao_Paulo");
    static const int by_model[] = {0};
    check_report(pg, s, "edge-co", "2026-03-01", "2026-04-01",
                 (days_from_civil(2026, 3, 1) * 86400 - off * 60) * 1000000LL,
                 (days_from_civil(2026, 4, 1) * 86400 - off * 60) * 1000000LL, "day", by_model, 1);
    tally_pg_close(pg);
    free(s->inters);
    free(s->ratings);
    free(s);
    remove(path);
    itest_teardown(&ctx);
}

/* kill -9 of the aggregator mid-stream, then a restart: every interaction is
 * counted exactly once, tokens included. */
typedef struct {
    char *id;
    int64_t in, out;
} id_tokens;

static int cmp_id_tokens(const void *a, const void *b) {
    return strcmp(((const id_tokens *)a)->id, ((const id_tokens *)b)->id);
}

static void aggregator_kill_9_totals_exact(void **state) {
    (void)state;
    itest_ctx ctx;
    itest_setup(&ctx, "aggcrash", 6);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/%s.ndjson", TALLY_BIN_DIR, ctx.name);
    const char *gen[] = {"--events", "100000", "--tenants", "10", "--duplicates",
                         "3",        "--seed", "99",        NULL};
    itest_generate(&ctx, path, gen);
    itest_produce_file(&ctx, path);

    /* Distinct interactions and their token sums, from the raw lines. */
    itest_lines lines = itest_read_lines(path);
    id_tokens *t = calloc(lines.n, sizeof *t);
    size_t k = 0;
    for (size_t i = 0; i < lines.n; i++) {
        tally_event ev;
        tally_err err;
        if (tally_event_decode(lines.line[i], strlen(lines.line[i]), &ev, &err) != TALLY_OK)
            continue;
        if (ev.type == TALLY_EV_INTERACTION_RECORDED)
            t[k++] = (id_tokens){strdup(ev.id), line_num(lines.line[i], "input_tokens"),
                                 line_num(lines.line[i], "output_tokens")};
        tally_event_free(&ev);
    }
    itest_lines_free(&lines);
    qsort(t, k, sizeof *t, cmp_id_tokens);
    long long want = 0, want_in = 0, want_out = 0;
    for (size_t i = 0; i < k; i++) {
        if (i > 0 && !strcmp(t[i].id, t[i - 1].id)) continue; /* a copy: counted once */
        want++;
        want_in += t[i].in;
        want_out += t[i].out;
    }
    for (size_t i = 0; i < k; i++) free(t[i].id);
    free(t);
    printf("  %zu interaction lines, %lld distinct\n", k, want);

    const char *migrate[] = {"migrate", NULL};
    assert_int_equal(itest_run(&ctx, "cli/tally", migrate), 0);
    const char *args[] = {"--batch-ms", "50", "--batch-size", "2000", "--stats-interval",
                          "0",          NULL};
    pid_t agg = itest_spawn(&ctx, "analytics/tally-aggregate", args);
    rollup_goal partway = {want / 4};
    assert_true(itest_wait_until(counted_all, &ctx, &partway, 300000));
    assert_int_equal(itest_stop(agg, SIGKILL, 10000), 128 + SIGKILL);
    long long at_kill = itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions");
    printf("  killed with %lld of %lld counted\n", at_kill, want);
    assert_true(at_kill < want);
    agg = itest_spawn(&ctx, "analytics/tally-aggregate", args);
    rollup_goal all = {want};
    assert_true(itest_wait_until(counted_all, &ctx, &all, 600000));
    nanosleep(&(struct timespec){2, 0}, NULL);
    assert_int_equal(itest_stop(agg, SIGTERM, 30000), 0);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT count(*) FROM agg_interactions"), want);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(requests) FROM usage_rollup"), want);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(input_tokens) FROM usage_rollup"), want_in);
    assert_int_equal(itest_pg_scalar(&ctx, "SELECT sum(output_tokens) FROM usage_rollup"),
                     want_out);
    remove(path);
    itest_teardown(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reports_equal_recomputation),
        cmocka_unit_test(aggregator_kill_9_totals_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
