/*
 * generate_estimate — how much traffic each tenant is expected to get, in
 * the periods limits count (see generate_internal.h): its busiest calendar
 * month, its busiest week from Monday, its busiest day and a mean day, all
 * in the tenant's zone, and what one of its interactions uses. Plan limits
 * and budgets are sized from these (generate_entities.c) so that the
 * generated month reaches some of them and not others.
 *
 * The counts are exact expectations of the time line: the interaction times
 * are drawn with density cum[] (generate.c), so the expected number in local
 * day d of tenant t is N × (class weight in d / all weight) × (t's weight /
 * its class's weight). What one interaction uses is the mean of a sample of
 * interactions built from streams the real ones never use.
 */
#include "generate_internal.h"

#include <stdlib.h>

enum { SAMPLES = 256 };

/* The sample: mean tokens and BRL of one interaction of tenant t. */
static void per_interaction(gen *g, uint32_t t, gen_volume *v) {
    irec rec, *x = &rec;
    double tokens = 0, cost_e12 = 0;
    for (uint64_t k = 0; k < SAMPLES; k++) {
        /* n from 2^62 on: far above any real interaction's stream */
        tally__gen_build_interaction(g, x, (1ULL << 62) + k, g->start_ms + 12 * MS_HOUR, t);
        int64_t p[3];
        tokens += (double)(x->in + x->out);
        if (x->has_cost)
            cost_e12 += (double)x->cost_e12;
        else if (tally__gen_price_at(g, t, x->model, x->ms, p))
            cost_e12 += (double)tally__gen_cost_e12(p, x);
    }
    v->tokens = tokens / SAMPLES;
    v->brl = cost_e12 / SAMPLES * (FX_V1 / 1e6) / 1e12;
}

/* The largest sum of day[] over runs of days sharing a key (days are in
 * order, so a month or a week is one run). */
static double busiest(const double *day, const int64_t *key, uint32_t days) {
    double best = 0, run = 0;
    for (uint32_t d = 0; d < days; d++) {
        if (d > 0 && key[d] != key[d - 1]) run = 0;
        run += day[d];
        if (run > best) best = run;
    }
    return best;
}

bool tally__gen_estimate(gen *g) {
    const uint32_t days = g->o->days;
    double *day = malloc(sizeof(double) * days);
    int64_t *month = malloc(sizeof(int64_t) * days), *week = malloc(sizeof(int64_t) * days);
    bool ok = day && month && week;
    int64_t first_day = floordiv(g->start_ms, MS_DAY);
    for (uint32_t d = 0; ok && d < days; d++) {
        int y;
        unsigned m, dd;
        tally__gen_civil_from_days(first_day + d, &y, &m, &dd);
        month[d] = (int64_t)y * 12 + m;
        week[d] = floordiv(first_day + d + 3, 7); /* 1970-01-01 was a Thursday */
    }
    for (unsigned c = 0; ok && c < g->n_classes; c++) {
        const tclass *k = &g->classes[c];
        int offset_h = tally__gen_zones[k->zone].offset_h;
        /* the class's weight per local day (build_timeline puts none outside the days) */
        for (uint32_t d = 0; d < days; d++) day[d] = 0;
        for (size_t b = 0; b < g->n_hours; b++) {
            double w = g->class_w[b * g->n_classes + c];
            int64_t lh = (int64_t)b + offset_h;
            if (w > 0 && lh >= 0 && lh < (int64_t)days * 24) day[lh / 24] += w;
        }
        double total = g->cum[g->n_hours], max_day = 0, sum = 0;
        for (uint32_t d = 0; d < days; d++) {
            day[d] = total > 0 ? day[d] / total * (double)g->o->events : 0;
            sum += day[d];
            if (day[d] > max_day) max_day = day[d];
        }
        double busy_month = busiest(day, month, days), busy_week = busiest(day, week, days);
        for (unsigned i = 0; i < k->n; i++) {
            uint32_t t = k->members[i];
            tenant *tn = &g->tenants[t];
            double share = tn->weight / k->cum[k->n - 1];
            tn->expect.month = busy_month * share;
            tn->expect.week = busy_week * share;
            tn->expect.day_max = max_day * share;
            tn->expect.day_mean = sum / days * share;
            /* only token and BRL limits need the sample (distributors' plans,
             * bots' budgets): the others count requests */
            if (tn->shape == TALLY_GEN_IXC || tn->shape == TALLY_GEN_WHATSAPP)
                per_interaction(g, t, &tn->expect);
        }
    }
    free(day);
    free(month);
    free(week);
    return ok;
}
